//! The `admin` function: what admins do (docs/ARCHITECTURE.md §3). Every route asks the one policy through
//! the operations in [`fig_shared::admin`] and [`fig_shared::users`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use fig_http::{AuthUser, Caller, JsonBody, RouteTable, json, router_of, routes_of};
use fig_shared::clients::{self, SecretRotation, ValueChange};
use fig_shared::server_config;
use fig_shared::transfer;
use fig_shared::users::{self, NewUser, UserUpdate};
use fig_shared::webhooks::{self, WebhookRequest};
use fig_shared::{App, Error, Result};

fn table() -> RouteTable {
    vec![
        (Method::GET, "/api/admin/clients", get(list_clients)),
        (Method::POST, "/api/admin/clients", post(create_client)),
        (Method::GET, "/api/admin/clients/{name}", get(get_client)),
        (
            Method::DELETE,
            "/api/admin/clients/{name}",
            delete(delete_client),
        ),
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
            Method::POST,
            "/api/admin/clients/{name}/data-key",
            post(rotate_data_key),
        ),
        (
            Method::GET,
            "/api/admin/clients/{name}/settings/{setting}/history",
            get(history),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/settings/{setting}/declassify",
            post(declassify_setting),
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
        (Method::GET, "/api/admin/audit", get(audit)),
        (Method::GET, "/api/admin/export", get(export_plain)),
        (Method::POST, "/api/admin/export", post(export_sealed)),
        (Method::POST, "/api/admin/import", post(import)),
        (Method::GET, "/api/admin/webhooks", get(list_webhooks)),
        (Method::POST, "/api/admin/webhooks", post(create_webhook)),
        (Method::PUT, "/api/admin/webhooks/{id}", put(update_webhook)),
        (
            Method::DELETE,
            "/api/admin/webhooks/{id}",
            delete(delete_webhook),
        ),
        (
            Method::POST,
            "/api/admin/webhooks/{id}/secret",
            post(rotate_webhook_secret),
        ),
        (
            Method::POST,
            "/api/admin/webhooks/{id}/test",
            post(test_webhook),
        ),
        (
            Method::GET,
            "/api/admin/webhooks/{id}/dead-letters",
            get(dead_letters),
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
            "/api/admin/users/{username}/personal-data",
            get(export_personal_data),
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
    Ok(json(
        &clients::list_clients(&app, &principal, &caller).await?,
    ))
}

async fn create_client(
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

async fn get_client(
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
fn if_match(headers: &HeaderMap) -> Result<Option<u64>> {
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

async fn delete_client(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response> {
    clients::delete_client(&app, &principal, &name, if_match(&headers)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn update_values(
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

async fn audit(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    RawQuery(query): RawQuery,
    caller: Caller,
) -> Result<Response> {
    let query: fig_shared::audit::AuditQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|_| {
            Error::bad_request(
                "INVALID_AUDIT_QUERY",
                "The query string is not valid: use from, to (RFC 3339), type, user, client, limit (a number) and cursor, each once.",
            )
        })?;
    Ok(json(
        &fig_shared::audit::query(&app, &principal, query, &caller).await?,
    ))
}

async fn list_webhooks(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    let hooks = webhooks::list(&app, &principal, &caller).await?;
    Ok(json(&serde_json::json!({ "webhooks": hooks })))
}

async fn create_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<WebhookRequest>,
) -> Result<Response> {
    let created = webhooks::create(&app, &principal, request, &caller).await?;
    let mut response = json(&created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

async fn update_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
    JsonBody(request): JsonBody<WebhookRequest>,
) -> Result<Response> {
    Ok(json(
        &webhooks::update(&app, &principal, &id, request, &caller).await?,
    ))
}

async fn rotate_webhook_secret(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &webhooks::rotate_secret(&app, &principal, &id, &caller).await?,
    ))
}

async fn delete_webhook(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    webhooks::delete(&app, &principal, &id, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn test_webhook(
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

async fn dead_letters(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Response> {
    let letters = webhooks::dead_letters(&app, &principal, &id, &caller).await?;
    Ok(json(&serde_json::json!({ "deadLetters": letters })))
}

/// Export documents are offered as a file download and never cached.
fn download(document: &transfer::ExportDocument) -> Response {
    let mut response = json(document);
    let name = format!(
        "attachment; filename=\"fig-export-{}.json\"",
        document.exported_at.get(..10).unwrap_or("export")
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn export_plain(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(download(
        &transfer::export(&app, &principal, None, &caller).await?,
    ))
}

async fn export_sealed(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<transfer::ExportRequest>,
) -> Result<Response> {
    Ok(download(
        &transfer::export(&app, &principal, Some(request.passphrase), &caller).await?,
    ))
}

async fn import(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    JsonBody(request): JsonBody<transfer::ImportRequest>,
) -> Result<Response> {
    Ok(json(
        &transfer::import(&app, &principal, request, &caller).await?,
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

async fn export_personal_data(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(username): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &fig_shared::personal_data::export(&app, &principal, &username, &caller).await?,
    ))
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
    JsonBody(changes): JsonBody<serde_json::Value>,
) -> Result<Response> {
    Ok(json(
        &server_config::write(&app, &principal, changes, &caller).await?,
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

async fn rotate_data_key(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path(name): Path<String>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &clients::rotate_data_key(&app, &principal, &name, &caller).await?,
    ))
}

async fn history(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, setting)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    let entries = clients::history(&app, &principal, &name, &setting, &caller).await?;
    Ok(json(&serde_json::json!({ "history": entries })))
}

async fn create_instance(
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

async fn delete_instance(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, instance)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    clients::delete_instance(&app, &principal, &name, &instance, &caller).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn declassify_setting(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    Path((name, setting)): Path<(String, String)>,
    caller: Caller,
) -> Result<Response> {
    Ok(json(
        &clients::declassify_setting(&app, &principal, &name, &setting, &caller).await?,
    ))
}
