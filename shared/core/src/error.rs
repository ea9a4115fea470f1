//! The error model (docs/ARCHITECTURE.md §3): a stable code, a plain message and a request id,
//! never internals.
//!
//! Every layer converts its failures into [`Error`]. One `IntoResponse` impl (the `axum`
//! feature, which the HTTP layer turns on) turns an [`Error`] into the JSON error body. The
//! message shown to callers is written by us; the detail that explains an `Unavailable` or
//! `Internal` error goes to the log only.

use http::StatusCode;
use serde::Serialize;

/// A failure that the caller sees as an HTTP error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule; the message says what to fix.
    #[error("{code}: {message}")]
    BadRequest {
        /// Stable machine-readable code.
        code: &'static str,
        /// Plain message for people; never contains a secret or an internal detail.
        message: String,
    },
    /// Missing or invalid credentials.
    #[error("{code}")]
    Unauthorized {
        /// Stable code.
        code: &'static str,
        /// Plain message.
        message: &'static str,
    },
    /// Authenticated but not allowed.
    #[error("{code}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// Plain message.
        message: &'static str,
    },
    /// The thing does not exist (or the caller may not know that it does).
    #[error("{code}")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// Plain message.
        message: &'static str,
    },
    /// A concurrent change won, or the item already exists.
    #[error("{code}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Plain message.
        message: &'static str,
    },
    /// Throttled: try again after this many seconds (`Retry-After`).
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: i64,
    },
    /// The request body is larger than the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The route exists, but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A dependency (DynamoDB, KMS, S3) failed: the request fails closed.
    #[error("unavailable: {detail}")]
    Unavailable {
        /// Logged, never shown.
        detail: String,
    },
    /// A bug or an impossible state.
    #[error("internal: {detail}")]
    Internal {
        /// Logged, never shown.
        detail: String,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 400 with a code and a message that tells the caller how to fix the request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A dependency failure; `detail` is logged, not returned.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            detail: detail.to_string(),
        }
    }

    /// An internal error; `detail` is logged, not returned.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal {
            detail: detail.to_string(),
        }
    }

    /// The 401 for any failed user authentication.
    pub fn unauthenticated() -> Self {
        Self::Unauthorized {
            code: "UNAUTHENTICATED",
            message: "A valid access token is required.",
        }
    }

    /// The 403 for a request the policy refuses.
    pub fn forbidden() -> Self {
        Self::Forbidden {
            code: "FORBIDDEN",
            message: "You are not allowed to do this.",
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable code and public message.
    pub fn public(&self) -> (&'static str, &str) {
        match self {
            Self::BadRequest { code, message } => (code, message),
            Self::Unauthorized { code, message }
            | Self::Forbidden { code, message }
            | Self::NotFound { code, message }
            | Self::Conflict { code, message } => (code, message),
            Self::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", "The request body is too large."),
            Self::MethodNotAllowed => (
                "METHOD_NOT_ALLOWED",
                "This route does not take that method.",
            ),
            Self::TooManyRequests { .. } => (
                "TOO_MANY_ATTEMPTS",
                "Too many failed attempts. Wait before trying again (see Retry-After).",
            ),
            Self::Unavailable { .. } => (
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable. Try again shortly.",
            ),
            Self::Internal { .. } => ("INTERNAL_ERROR", "Something went wrong on our side."),
        }
    }
}

/// The public part of an error, carried in response extensions until the request-id
/// middleware (`fig_shared::http::finish`) writes the final body.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: &'static str,
    /// Plain message.
    pub message: String,
    /// Filled in by the middleware.
    #[serde(rename = "requestId")]
    pub request_id: String,
}

impl ErrorBody {
    /// The JSON document `{"error": {...}}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "error": self }).to_string()
    }
}

/// The HTTP face of an error (with the `axum` feature): its status, the public body, and for a
/// 429 the `Retry-After` header. Internal details are logged here, never returned.
#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        match &self {
            Self::Unavailable { detail } => {
                tracing::warn!(error = %detail, "dependency unavailable")
            }
            Self::Internal { detail } => tracing::error!(error = %detail, "internal error"),
            _ => tracing::debug!(code = self.public().0, "request refused"),
        }
        let (code, message) = self.public();
        let body = ErrorBody {
            code,
            message: message.to_owned(),
            request_id: String::new(),
        };
        let mut response = (self.status(), body.to_json()).into_response();
        if let Self::TooManyRequests { retry_after } = self
            && let Ok(value) = retry_after.max(1).to_string().parse()
        {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(body);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_body() {
        for err in [
            Error::unavailable("DynamoDB ResourceNotFoundException: table fig-secret-name"),
            Error::internal("serde: missing field `password` at line 1"),
        ] {
            let (code, message) = err.public();
            assert!(!message.contains("DynamoDB") && !message.contains("serde"));
            assert!(code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
        assert_eq!(
            Error::unavailable("x").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Error::unauthenticated().status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn error_body_shape() {
        let body = ErrorBody {
            code: "BAD",
            message: "m".into(),
            request_id: "r".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&body.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "BAD");
        assert_eq!(v["error"]["requestId"], "r");
    }
}
