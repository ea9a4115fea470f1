//! Admin users: management, password resets, sessions, personal data (`fig_shared::users`, `fig_shared::personal_data`).

use super::*;
use fig_shared::users;

pub(crate) async fn list_users(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    let users = users::list_users(&app, &principal, &caller).await?;
    Ok(json(&serde_json::json!({ "users": users })))
}

pub(crate) async fn create_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    body: std::result::Result<JsonBody<NewUser>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ManageUsers, &caller, body).await?;
    let user = users::create_user(&app, &principal, request, &caller).await?;
    let mut response = json(&user);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub(crate) async fn export_personal_data(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &fig_shared::personal_data::export(&app, &principal, &username, &caller).await?,
    ))
}

pub(crate) async fn get_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &users::get_user(&app, &principal, &username, &caller).await?,
    ))
}

pub(crate) async fn update_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
    body: std::result::Result<JsonBody<UserUpdate>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ManageUsers, &caller, body).await?;
    Ok(json(
        &users::update_user(&app, &principal, &username, request, &caller).await?,
    ))
}

pub(crate) async fn delete_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    users::delete_user(&app, &principal, &username, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn reset_password(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &users::reset_password(&app, &principal, &username, &caller).await?,
    ))
}

pub(crate) async fn terminate_sessions(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let count = users::terminate_sessions(&app, &principal, &username, &caller).await?;
    Ok(json(&serde_json::json!({ "terminated": count })))
}
