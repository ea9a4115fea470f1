//! The `auth` function: login, sessions, password change and MFA (docs/ARCHITECTURE.md §3).
//!
//! Handlers parse the request and call one operation of [`fig_shared::auth`],
//! [`fig_shared::users`] or [`fig_shared::mfa`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fig_http::{AuthUser, Caller, JsonBody, RouteTable, json, router_of, routes_of};
use fig_shared::auth::{self, LoginRequest, Session, cookie_value, origin_allowed};
use fig_shared::mfa::{self, Confirm, Disable};
use fig_shared::secret::SecretString;
use fig_shared::users::{self, PasswordChange};
use fig_shared::{App, Error, Result};

fn table() -> RouteTable {
    vec![
        (Method::POST, "/api/auth/login", post(login)),
        (Method::POST, "/api/auth/refresh", post(refresh)),
        (Method::POST, "/api/auth/logout", post(logout)),
        (Method::POST, "/api/auth/password", post(change_password)),
        (Method::GET, "/api/auth/me", get(me)),
        (Method::POST, "/api/auth/mfa/enroll", post(mfa_enroll)),
        (Method::POST, "/api/auth/mfa/confirm", post(mfa_confirm)),
        (Method::POST, "/api/auth/mfa/disable", post(mfa_disable)),
        (Method::GET, "/api/health", get(health)),
    ]
}

/// The routes this function serves.
pub fn routes(app: Arc<App>) -> Router {
    router_of(table(), app)
}

/// Method and path of every route, for the authorization matrix and the OpenAPI check.
pub fn route_list() -> Vec<(Method, &'static str)> {
    routes_of(table())
}

fn with_cookie(mut response: Response, cookie: &SecretString) -> Response {
    if let Ok(value) = cookie.expose().parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn session_response(session: Session) -> Response {
    with_cookie(json(&session.body), &session.cookie)
}

/// Cookie endpoints refuse a foreign `Origin` (CSRF).
fn same_origin(app: &App, headers: &HeaderMap) -> Result<()> {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok());
    if origin_allowed(app, get(header::ORIGIN), get(header::HOST), forwarded) {
        Ok(())
    } else {
        Err(Error::Forbidden {
            code: "FOREIGN_ORIGIN",
            message: "This request must come from the Fig web client's own origin.",
        })
    }
}

fn refresh_cookie_of(headers: &HeaderMap) -> Option<SecretString> {
    cookie_value(headers.get(header::COOKIE).and_then(|v| v.to_str().ok()))
}

async fn login(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Response> {
    if let Err(e) = fig_shared::users::ensure_bootstrapped(&app).await {
        tracing::warn!(error = %e, "could not check for the first administrator");
    }
    Ok(session_response(auth::login(&app, request, &caller).await?))
}

async fn refresh(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    same_origin(&app, &headers)?;
    Ok(session_response(
        auth::refresh(&app, refresh_cookie_of(&headers), &caller).await?,
    ))
}

async fn logout(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response> {
    same_origin(&app, &headers)?;
    let cleared = auth::logout(&app, refresh_cookie_of(&headers), &caller).await?;
    Ok(with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &cleared,
    ))
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

async fn me(State(app): State<Arc<App>>, AuthUser(principal): AuthUser) -> Result<Response> {
    Ok(json(&users::profile(&app, &principal).await?))
}

async fn mfa_enroll(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(json(&mfa::enroll(&app, &principal, &caller).await?))
}

async fn mfa_confirm(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<Confirm>,
) -> Result<Response> {
    Ok(json(
        &mfa::confirm(&app, &principal, request, &caller).await?,
    ))
}

async fn mfa_disable(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<Disable>,
) -> Result<Response> {
    mfa::disable(&app, &principal, request, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn health() -> Response {
    json(&serde_json::json!({ "status": "ok" }))
}
