//! The server configuration (`fig_shared::server_config`).

use super::*;

pub(crate) async fn read_configuration(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(json(&server_config::read(&app, &principal, &caller).await?))
}

pub(crate) async fn write_configuration(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    body: std::result::Result<JsonBody<serde_json::Value>, Error>,
) -> Result<Response> {
    let changes = allowed_body(&app, &principal, Action::WriteConfiguration, &caller, body).await?;
    Ok(json(
        &server_config::write(&app, &principal, changes, &caller).await?,
    ))
}
