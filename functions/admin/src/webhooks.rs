//! Webhooks: configuration, secret rotation, test deliveries, dead letters (`fig_shared::webhooks`).

use super::*;
use fig_shared::webhooks;

pub(crate) async fn list_webhooks(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    let hooks = webhooks::list(&app, &principal, &caller).await?;
    Ok(json(&serde_json::json!({ "webhooks": hooks })))
}

pub(crate) async fn create_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    body: std::result::Result<JsonBody<WebhookRequest>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ManageWebhooks, &caller, body).await?;
    let created = webhooks::create(&app, &principal, request, &caller).await?;
    let mut response = json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub(crate) async fn update_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
    body: std::result::Result<JsonBody<WebhookRequest>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ManageWebhooks, &caller, body).await?;
    Ok(json(
        &webhooks::update(&app, &principal, &id, request, &caller).await?,
    ))
}

pub(crate) async fn rotate_webhook_secret(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &webhooks::rotate_secret(&app, &principal, &id, &caller).await?,
    ))
}

pub(crate) async fn delete_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    webhooks::delete(&app, &principal, &id, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn test_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let outcome = webhooks::test(&app, app.outbound()?, &principal, &id, &caller).await?;
    Ok(json(&serde_json::json!({
        "delivered": outcome.ok,
        "status": outcome.status,
        "error": outcome.error,
    })))
}

pub(crate) async fn dead_letters(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let letters = webhooks::dead_letters(&app, &principal, &id, &caller).await?;
    Ok(json(&serde_json::json!({ "deadLetters": letters })))
}
