//! The `admin` function: every `/api/admin/…` route (docs/ARCHITECTURE.md §3), one module per
//! resource, named as in `fig_shared` and in the web client's `src/api/`: [`clients`],
//! [`users`], [`webhooks`], [`audit`], [`transfer`], [`configuration`]. Each handler asks the
//! one policy through the operation it calls; the route table below is the function's whole
//! surface.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use fig_http::{AuthUser, Caller, JsonBody, RouteTable, json, router_of, routes_of};
use fig_shared::clients::{SecretRotation, ValueChange};
use fig_shared::policy::{Action, Principal, Resource};
use fig_shared::server_config;
use fig_shared::users::{NewUser, UserUpdate};
use fig_shared::webhooks::WebhookRequest;
use fig_shared::{App, Error, Result};

mod audit;
mod clients;
mod configuration;
mod transfer;
mod users;
mod webhooks;

/// The body of a request for an action that depends on the role alone, read only once the
/// policy allows `action`: a caller who may not gets the 403 and its `AccessDenied` record
/// whatever they sent, never a 400 that describes the body they would need. (The operation
/// asks the policy again; an allowed caller is not recorded twice.)
async fn allowed_body<T>(
    app: &App,
    principal: &Principal,
    action: Action,
    caller: &Caller,
    body: std::result::Result<JsonBody<T>, Error>,
) -> Result<T> {
    fig_shared::authz::require(app, principal, action, Resource::None, caller).await?;
    body.map(|JsonBody(parsed)| parsed)
}

fn table() -> RouteTable {
    vec![
        (
            Method::GET,
            "/api/admin/clients",
            get(clients::list_clients),
        ),
        (
            Method::POST,
            "/api/admin/clients",
            post(clients::create_client),
        ),
        (
            Method::GET,
            "/api/admin/clients/{name}",
            get(clients::get_client),
        ),
        (
            Method::DELETE,
            "/api/admin/clients/{name}",
            delete(clients::delete_client),
        ),
        (
            Method::PUT,
            "/api/admin/clients/{name}/settings",
            put(clients::update_values),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/secret",
            post(clients::rotate_secret),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/data-key",
            post(clients::rotate_data_key),
        ),
        (
            Method::GET,
            "/api/admin/clients/{name}/settings/{setting}/history",
            get(clients::history),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/settings/{setting}/declassify",
            post(clients::declassify_setting),
        ),
        (
            Method::POST,
            "/api/admin/clients/{name}/instances",
            post(clients::create_instance),
        ),
        (
            Method::DELETE,
            "/api/admin/clients/{name}/instances/{instance}",
            delete(clients::delete_instance),
        ),
        (Method::GET, "/api/admin/audit", get(audit::audit)),
        (
            Method::GET,
            "/api/admin/export",
            get(transfer::export_plain),
        ),
        (
            Method::POST,
            "/api/admin/export",
            post(transfer::export_sealed),
        ),
        (Method::POST, "/api/admin/import", post(transfer::import)),
        (
            Method::GET,
            "/api/admin/webhooks",
            get(webhooks::list_webhooks),
        ),
        (
            Method::POST,
            "/api/admin/webhooks",
            post(webhooks::create_webhook),
        ),
        (
            Method::PUT,
            "/api/admin/webhooks/{id}",
            put(webhooks::update_webhook),
        ),
        (
            Method::DELETE,
            "/api/admin/webhooks/{id}",
            delete(webhooks::delete_webhook),
        ),
        (
            Method::POST,
            "/api/admin/webhooks/{id}/secret",
            post(webhooks::rotate_webhook_secret),
        ),
        (
            Method::POST,
            "/api/admin/webhooks/{id}/test",
            post(webhooks::test_webhook),
        ),
        (
            Method::GET,
            "/api/admin/webhooks/{id}/dead-letters",
            get(webhooks::dead_letters),
        ),
        (Method::GET, "/api/admin/users", get(users::list_users)),
        (Method::POST, "/api/admin/users", post(users::create_user)),
        (
            Method::GET,
            "/api/admin/users/{username}",
            get(users::get_user),
        ),
        (
            Method::PUT,
            "/api/admin/users/{username}",
            put(users::update_user),
        ),
        (
            Method::DELETE,
            "/api/admin/users/{username}",
            delete(users::delete_user),
        ),
        (
            Method::POST,
            "/api/admin/users/{username}/password-reset",
            post(users::reset_password),
        ),
        (
            Method::DELETE,
            "/api/admin/users/{username}/sessions",
            delete(users::terminate_sessions),
        ),
        (
            Method::GET,
            "/api/admin/users/{username}/personal-data",
            get(users::export_personal_data),
        ),
        (
            Method::GET,
            "/api/admin/configuration",
            get(configuration::read_configuration),
        ),
        (
            Method::PUT,
            "/api/admin/configuration",
            put(configuration::write_configuration),
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
