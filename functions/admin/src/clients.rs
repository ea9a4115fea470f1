//! Setting clients as administrators manage them: list, create, read, delete, values, secret and data-key rotation, history, instances, declassification (`fig_shared::clients`).

use super::*;
use fig_shared::clients;

pub(crate) async fn list_clients(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &clients::list_clients(&app, &principal, &caller).await?,
    ))
}

pub(crate) async fn create_client(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<clients::NewClient>,
) -> Result<Response> {
    let created = clients::create_by_administrator(&app, &principal, request, &caller).await?;
    let mut response = json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub(crate) async fn get_client(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let client = clients::get_client(&app, &principal, &name, &caller).await?;
    let mut response = json(&client);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", client.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The client version from `If-Match` (`"7"` or `7`), for optimistic concurrency.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Error::bad_request(
                "INVALID_IF_MATCH",
                "If-Match must be the client version returned as ETag.",
            )
        })
}

pub(crate) async fn delete_client(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response> {
    clients::delete_client(&app, &principal, &name, if_match(&headers)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn update_values(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(mut change): JsonBody<ValueChange>,
) -> Result<Response> {
    if let Some(version) = if_match(&headers)? {
        change.version = Some(version);
    }
    Ok(json(
        &clients::update_values(&app, &principal, &name, change, &caller).await?,
    ))
}

pub(crate) async fn rotate_secret(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(request): JsonBody<SecretRotation>,
) -> Result<Response> {
    Ok(json(
        &clients::rotate_secret(&app, &principal, &name, request, &caller).await?,
    ))
}

pub(crate) async fn rotate_data_key(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &clients::rotate_data_key(&app, &principal, &name, &caller).await?,
    ))
}

pub(crate) async fn history(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, setting)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    let entries = clients::history(&app, &principal, &name, &setting, &caller).await?;
    Ok(json(&serde_json::json!({ "history": entries })))
}

pub(crate) async fn create_instance(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(request): JsonBody<clients::NewInstance>,
) -> Result<Response> {
    let created = clients::create_instance(&app, &principal, &name, request, &caller).await?;
    let mut response = json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub(crate) async fn delete_instance(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, instance)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    clients::delete_instance(&app, &principal, &name, &instance, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn declassify_setting(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, setting)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &clients::declassify_setting(&app, &principal, &name, &setting, &caller).await?,
    ))
}
