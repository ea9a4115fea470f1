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
    JsonBody(changes): JsonBody<serde_json::Value>,
) -> Result<Response> {
    Ok(json(
        &server_config::write(&app, &principal, changes, &caller).await?,
    ))
}
