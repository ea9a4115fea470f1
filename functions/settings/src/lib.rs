//! The `settings` function: service clients register and fetch their settings with their
//! client secret (docs/ARCHITECTURE.md §3).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use fig_http::{Caller, ClientSecret, JsonBody, RouteTable, json, router_of, routes_of};
use fig_shared::clients::{self, Fetch, StatusReport};
use fig_shared::model::{ClientName, Registration};
use fig_shared::{App, Result};

fn table() -> RouteTable {
    vec![
        (Method::POST, "/api/clients", post(register)),
        (Method::GET, "/api/clients/{name}/settings", get(fetch)),
        (Method::PUT, "/api/clients/{name}/status", put(status)),
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

async fn register(
    State(app): State<Arc<App>>,
    ClientSecret(secret): ClientSecret,
    caller: Caller,
    JsonBody(registration): JsonBody<Registration>,
) -> Result<Response> {
    Ok(json(
        &clients::register(&app, secret, registration, &caller).await?,
    ))
}

async fn fetch(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ClientSecret(secret): ClientSecret,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let instance = instance_param(query.as_deref())?;
    Ok(
        match clients::fetch(
            &app,
            &name,
            instance.as_ref().map(ClientName::as_str),
            &secret,
            if_none_match,
            &caller,
        )
        .await?
        {
            Fetch::Settings(body, etag) => {
                let mut response = json(&body);
                if let Ok(value) = etag.parse() {
                    response.headers_mut().insert(header::ETAG, value);
                }
                response
            }
            Fetch::NotModified(etag) => {
                (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()
            }
        },
    )
}

/// The optional `instance` query parameter (a name: letters, digits, `.`, `_`, `-`).
fn instance_param(query: Option<&str>) -> Result<Option<ClientName>> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "instance")
        .map(|(_, value)| ClientName::parse(value))
        .transpose()
}

async fn status(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ClientSecret(secret): ClientSecret,
    caller: Caller,
    JsonBody(report): JsonBody<StatusReport>,
) -> Result<Response> {
    Ok(json(
        &clients::report_status(&app, &name, &secret, report, &caller).await?,
    ))
}
