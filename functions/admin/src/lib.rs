//! The `admin` function: what admins do with clients and values (DESIGN §3). Every route asks
//! the one policy through [`fig_shared::admin`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, put};
use fig_shared::admin::{self, ValueChange};
use fig_shared::http::{AuthUser, Caller, JsonBody, json};
use fig_shared::{App, Result};

/// The routes this function serves.
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/admin/clients", get(list_clients))
        .route("/api/admin/clients/{name}/settings", put(update_values))
        .with_state(app)
}

async fn list_clients(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(json(&admin::list_clients(&app, &principal, &caller).await?))
}

async fn update_values(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(change): JsonBody<ValueChange>,
) -> Result<Response> {
    Ok(json(
        &admin::update_values(&app, &principal, &name, change, &caller).await?,
    ))
}
