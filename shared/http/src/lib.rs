//! The top of Fig's stack (docs/ARCHITECTURE.md §2): the HTTP glue shared by every function
//! (the caller's identity and origin, JSON bodies with clear errors, bearer authentication,
//! the middleware that adds the request id and the security headers to every response, the
//! route tables) and the Lambda start-up ([`lambda`]).
//!
//! It builds on the operations (`fig-shared`), which take the event [`Source`], never a type
//! from here: a handler passes `&caller` ([`Caller`] dereferences to its `Source`).

pub mod lambda;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use serde::de::DeserializeOwned;

use fig_shared::app::App;
use fig_shared::error::{Error, ErrorBody};
use fig_shared::events::Source;
use fig_shared::policy::Principal;
use fig_shared::secret::SecretString;

/// Largest request body accepted (registrations with many settings are the largest).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The request id of the current request (from API Gateway, or generated).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The viewer's address as the distribution saw it, put into a request's extensions by
/// [`origin_guard`] only after the request proved it came through the distribution.
#[derive(Clone, Debug)]
pub struct ViewerAddress(pub String);

/// Who is calling, from where: request id, source address, user agent. The address is the
/// viewer's: behind CloudFront the one the distribution saw (see [`fig_shared::origin`]), otherwise
/// the API Gateway request context's; never a header the caller controls (such as
/// `X-Forwarded-For`).
#[derive(Clone, Debug, Default)]
pub struct Caller(pub Source);

impl Caller {
    /// The event source describing this caller.
    pub fn source(&self) -> Source {
        self.0.clone()
    }
}

/// Operations take the event [`Source`], never an HTTP type: a handler passes `&caller`.
impl std::ops::Deref for Caller {
    type Target = Source;

    fn deref(&self) -> &Source {
        &self.0
    }
}

fn source_ip(parts_ext: &http::Extensions) -> Option<String> {
    if let Some(ViewerAddress(ip)) = parts_ext.get::<ViewerAddress>() {
        return Some(ip.clone());
    }
    match parts_ext.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        Ok(Self(Source {
            ip: source_ip(&parts.extensions),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: Some(
                parts
                    .extensions
                    .get::<RequestId>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default(),
            ),
        }))
    }
}

/// An authenticated admin user (`Authorization: Bearer <access token>`): a verified token whose
/// session is alive, with the user's current rights ([`fig_shared::users::live_principal`]).
#[derive(Clone, Debug)]
pub struct AuthUser(pub Principal);

impl FromRequestParts<Arc<App>> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Error> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(Error::unauthenticated)?;
        let claimed = fig_shared::tokens::verify_access_token(
            &app.keys,
            &app.config.token_issuer,
            token.trim(),
            fig_shared::clock::now(),
        )
        .await?;
        // A valid signature is not enough: the session must still be alive, and the rights are
        // the user's current ones.
        Ok(Self(fig_shared::users::live_principal(app, claimed).await?))
    }
}

/// The client secret from the `clientSecret` header (never from the URL). A missing header
/// is an empty secret, so it fails verification like a wrong one: same 401, audited, throttled.
#[derive(Debug)]
pub struct ClientSecret(pub SecretString);

impl<S: Send + Sync> FromRequestParts<S> for ClientSecret {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        Ok(Self(SecretString::new(
            parts
                .headers
                .get("clientSecret")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )))
    }
}

/// A JSON request body. Wrong content type, invalid UTF-8 or JSON, unknown fields and wrong
/// types are a 400 whose message is ours (never serde's text); a body over
/// [`MAX_BODY_BYTES`] is a 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !json {
            return Err(Error::bad_request(
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the body as JSON with Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::bad_request("INVALID_BODY", "The request body could not be read.")
            }
        })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        parse_json(&bytes).map(Self)
    }
}

pub use fig_core::json::parse_json;

/// How long before the invocation's deadline (Lambda's function timeout) a request still
/// running is answered `503 SERVICE_UNAVAILABLE` instead: time for the answer to reach the
/// Runtime API before Lambda ends the invocation with a bare timeout.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The time a request may still take under Lambda: its invocation's deadline less
/// [`DEADLINE_MARGIN`]. `None` outside Lambda (the local gateway has no deadline).
fn time_left(req: &Request) -> Option<std::time::Duration> {
    let deadline = req.extensions().get::<lambda_http::Context>()?.deadline;
    if deadline == 0 {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(
        std::time::Duration::from_millis(deadline)
            .saturating_sub(now)
            .saturating_sub(DEADLINE_MARGIN),
    )
}

/// Middleware: assigns the request id, answers `503` a request that would outlive its Lambda
/// invocation ([`DEADLINE_MARGIN`]: a stalled dependency whose retries and a warm-up wait add
/// up past the function's timeout), fills the request id into error bodies, and sets the
/// headers every API response carries (`Content-Type` with charset, `Cache-Control:
/// no-store`, `nosniff`).
pub async fn finish(mut req: Request, next: Next) -> Response {
    let request_id = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .filter(|id| !id.is_empty())
    .unwrap_or_else(|| ulid::Ulid::new().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut response = match time_left(&req) {
        Some(left) => match tokio::time::timeout(left, next.run(req)).await {
            Ok(response) => response,
            Err(_) => {
                Error::unavailable("the request ran out of its invocation's time").into_response()
            }
        },
        None => next.run(req).await,
    };
    // An error that did not come from us (the framework refusing a path or query it cannot
    // read) still gets our error body: a stable code, a plain message, the request id.
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<ErrorBody>().is_none()
    {
        let (code, message) = match status.as_u16() {
            404 => ("NOT_FOUND", "There is no such route."),
            405 => (
                "METHOD_NOT_ALLOWED",
                "This route does not take that method.",
            ),
            413 => ("PAYLOAD_TOO_LARGE", "The request body is too large."),
            415 => (
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the body as JSON with Content-Type: application/json.",
            ),
            400..=499 => (
                "INVALID_REQUEST",
                "The request could not be read: check its path, query string and headers.",
            ),
            _ => ("INTERNAL_ERROR", "Something went wrong on our side."),
        };
        response.extensions_mut().insert(ErrorBody {
            code,
            message: message.to_owned(),
            request_id: String::new(),
        });
    }
    if let Some(mut body) = response.extensions_mut().remove::<ErrorBody>() {
        body.request_id.clone_from(&request_id);
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(body.to_json()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    let headers = response.headers_mut();
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// Middleware: with `FIG_ORIGIN_VERIFY`, refuses (403) every request without an accepted origin
/// secret, so nothing but the distribution reaches the API, and takes the viewer's address from
/// the distribution's header. Without it, the distribution's headers are dropped unread.
pub async fn origin_guard(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    use fig_shared::origin::{SECRET_HEADER, VIEWER_HEADER, viewer_address};
    if app.config.origin_verify && !through_function_url(&app, &req) {
        let presented = req
            .headers()
            .get(SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let viewer = viewer_address(
            req.headers()
                .get(VIEWER_HEADER)
                .and_then(|v| v.to_str().ok()),
        );
        match app.origin.verify(presented.as_deref()).await {
            Ok(true) if viewer.is_some() => {
                if let Some(ip) = viewer {
                    req.extensions_mut().insert(ViewerAddress(ip));
                }
            }
            Ok(_) => {
                return Error::Forbidden {
                    code: "NOT_THROUGH_DISTRIBUTION",
                    message: "This API answers only requests that come through its web address.",
                }
                .into_response();
            }
            Err(e) => return e.into_response(),
        }
    }
    req.headers_mut().remove(SECRET_HEADER);
    req.headers_mut().remove(VIEWER_HEADER);
    next.run(req).await
}

/// Whether `req` is a service request (`/api/clients…`) that came through this function's
/// Lambda Function URL, and the function serves one (`FIG_FUNCTION_URL`). Such a request has no
/// proxy in front of it: its request context's source address is the caller's own, and it
/// carries no origin secret. Lambda sets the request context's domain name to the URL's host
/// (`{url-id}.lambda-url.{region}.on.aws`); a request through API Gateway has the API's, and
/// neither comes from a header the caller controls. The distribution's headers are dropped
/// unread on this path as on every other.
fn through_function_url(app: &App, req: &Request) -> bool {
    if !app.config.function_url {
        return false;
    }
    let path = req.uri().path();
    let service_route = path == "/api/clients" || path.starts_with("/api/clients/");
    let domain = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.as_deref(),
        _ => None,
    };
    service_route && domain.is_some_and(is_function_url_host)
}

/// `{url-id}.lambda-url.{region}.on.aws`.
fn is_function_url_host(host: &str) -> bool {
    let mut labels = host.split('.');
    let id = labels.next().unwrap_or_default();
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_alphanumeric())
        && labels.next() == Some("lambda-url")
        && labels.next().is_some_and(|region| !region.is_empty())
        && labels.next() == Some("on")
        && labels.next() == Some("aws")
        && labels.next().is_none()
}

async fn not_found() -> Error {
    Error::NotFound {
        code: "NOT_FOUND",
        message: "There is no such route.",
    }
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Wraps a function's routes for serving: only requests through the distribution get in (with
/// `FIG_ORIGIN_VERIFY`, [`origin_guard`]), unknown routes give a JSON 404 and known routes with
/// another method a JSON 405, every response goes through [`finish`], and bodies are limited to
/// [`MAX_BODY_BYTES`].
pub fn service(routes: Router, app: &Arc<App>) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            origin_guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(finish))
}

/// A function's routes: method, path template and handler. One table builds the router and
/// lists the routes (for the authorization matrix), so the two cannot disagree.
pub type RouteTable = Vec<(
    http::Method,
    &'static str,
    axum::routing::MethodRouter<Arc<App>>,
)>;

/// The router of a route table.
pub fn router_of(table: RouteTable, app: Arc<App>) -> Router {
    table
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .with_state(app)
}

/// Method and path of every route of a table.
pub fn routes_of(table: RouteTable) -> Vec<(http::Method, &'static str)> {
    table
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// A JSON response with status 200.
pub fn json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => Error::internal(format!("serialise response: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_function_url_host_counts_as_one() {
        assert!(is_function_url_host(
            "abcdefghij0123456789klmnopqrstuv.lambda-url.eu-west-1.on.aws"
        ));
        for host in [
            "",
            "lambda-url.eu-west-1.on.aws",
            "abc.execute-api.eu-west-1.amazonaws.com",
            "abc.lambda-url.eu-west-1.on.aws.evil.example",
            "abc.lambda-url..on.aws",
            "a-b.lambda-url.eu-west-1.on.aws",
            "abc.lambda-url.eu-west-1.on.aws.",
            "fig.example.com",
        ] {
            assert!(!is_function_url_host(host), "{host}");
        }
    }
}
