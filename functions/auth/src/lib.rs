//! The `auth` function: admin login and password change (DESIGN §3, §6).
//!
//! Handlers parse the request and call one operation of [`fig_shared::users`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fig_shared::http::{AuthUser, Caller, JsonBody, json};
use fig_shared::users::{self, LoginRequest, PasswordChange};
use fig_shared::{App, Result};

/// The routes this function serves.
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/password", post(change_password))
        .route("/api/health", get(health))
        .with_state(app)
}

async fn login(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response> {
    Ok(json(&users::login(&app, request, &caller).await?))
}

async fn change_password(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<PasswordChange>,
) -> Result<Response> {
    users::change_password(&app, &principal, request, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn health() -> Response {
    json(&serde_json::json!({ "status": "ok" }))
}
