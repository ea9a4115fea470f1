//! The `admin` function: what admins do (DESIGN §3). Every route asks the one policy through
//! the operations in [`fig_shared::admin`] and [`fig_shared::users`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use fig_shared::admin::{self, ValueChange};
use fig_shared::clients::{self, SecretRotation};
use fig_shared::http::{AuthUser, Caller, JsonBody, RouteTable, json, router_of, routes_of};
use fig_shared::server_config::{self, ServerConfig};
use fig_shared::users::{self, NewUser, UserUpdate};
use fig_shared::{App, Result};

fn table() -> RouteTable {
    vec![
        (Method::GET, "/api/admin/clients", get(list_clients)),
        (
            Method::PUT,
            "/api/admin/clients/{name}/settings",
            put(update_values),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/secret",
            post(rotate_secret),
        ),
        (
            Method::GET,
            "/api/admin/clients/{name}/settings/{setting}/history",
            get(history),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/instances",
            post(create_instance),
        ),
        (
            Method::DELETE,
            "/api/admin/clients/{name}/instances/{instance}",
            delete(delete_instance),
        ),
        (Method::GET, "/api/admin/users", get(list_users)),
        (Method::POST, "/api/admin/users", post(create_user)),
        (Method::GET, "/api/admin/users/{username}", get(get_user)),
        (Method::PUT, "/api/admin/users/{username}", put(update_user)),
        (
            Method::DELETE,
            "/api/admin/users/{username}",
            delete(delete_user),
        ),
        (
            Method::POST,
            "/api/admin/users/{username}/password-reset",
            post(reset_password),
        ),
        (
            Method::DELETE,
            "/api/admin/users/{username}/sessions",
            delete(terminate_sessions),
        ),
        (
            Method::GET,
            "/api/admin/configuration",
            get(read_configuration),
        ),
        (
            Method::PUT,
            "/api/admin/configuration",
            put(write_configuration),
        ),
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

async fn list_users(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    let users = users::list_users(&app, &principal, &caller).await?;
    Ok(json(&serde_json::json!({ "users": users })))
}

async fn create_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<NewUser>,
) -> Result<Response> {
    let user = users::create_user(&app, &principal, request, &caller).await?;
    let mut response = json(&user);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn get_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &users::get_user(&app, &principal, &username, &caller).await?,
    ))
}

async fn update_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
    JsonBody(request): JsonBody<UserUpdate>,
) -> Result<Response> {
    Ok(json(
        &users::update_user(&app, &principal, &username, request, &caller).await?,
    ))
}

async fn delete_user(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    users::delete_user(&app, &principal, &username, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reset_password(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &users::reset_password(&app, &principal, &username, &caller).await?,
    ))
}

async fn terminate_sessions(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let count = users::terminate_sessions(&app, &principal, &username, &caller).await?;
    Ok(json(&serde_json::json!({ "terminated": count })))
}

async fn read_configuration(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(json(&server_config::read(&app, &principal, &caller).await?))
}

async fn write_configuration(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(config): JsonBody<ServerConfig>,
) -> Result<Response> {
    Ok(json(
        &server_config::write(&app, &principal, config, &caller).await?,
    ))
}

async fn rotate_secret(
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

async fn history(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, setting)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    let entries = admin::history(&app, &principal, &name, &setting, &caller).await?;
    Ok(json(&serde_json::json!({ "history": entries })))
}

async fn create_instance(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(request): JsonBody<admin::NewInstance>,
) -> Result<Response> {
    let created = admin::create_instance(&app, &principal, &name, request, &caller).await?;
    let mut response = json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn delete_instance(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, instance)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    admin::delete_instance(&app, &principal, &name, &instance, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
