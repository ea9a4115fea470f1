//! The HTTP client for one setting client: register, fetch (with `If-None-Match`), heartbeat.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::ClientSecret;

/// Version of this library, sent in heartbeats.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What can go wrong talking to Fig. Messages never contain the secret or a value.
#[derive(Debug)]
pub enum FigError {
    /// 401: the client name or secret is wrong (or the secret was rotated out).
    Unauthorized,
    /// 403: refused (registrations switched off, and so on), with the server's message.
    Forbidden(String),
    /// Another error status, with the server's code and message.
    Status {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Message.
        message: String,
    },
    /// The server could not be reached or the connection failed.
    Transport(String),
    /// The server's answer was not what the protocol says.
    Protocol(String),
    /// A bad argument (URL, name).
    Invalid(String),
    /// The offline file could not be used.
    Offline(String),
}

impl fmt::Display for FigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized => f.write_str("the client name or secret is not valid (401)"),
            Self::Forbidden(m) => write!(f, "refused (403): {m}"),
            Self::Status {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
            Self::Transport(m) => write!(f, "cannot reach Fig: {m}"),
            Self::Protocol(m) => write!(f, "unexpected answer from Fig: {m}"),
            Self::Invalid(m) => write!(f, "{m}"),
            Self::Offline(m) => write!(f, "offline settings: {m}"),
        }
    }
}

impl std::error::Error for FigError {}

impl FigError {
    /// Whether the server said no (as opposed to being unreachable): the offline copy must go.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Unauthorized | Self::Forbidden(_))
    }
}

/// A setting definition, as the service declares it (Fig's fields).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    /// Name.
    pub name: String,
    /// Type: `string`, `int`, `long`, `double`, `bool`, `dateTime`, `timeSpan`, `json`, `dataGrid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Default value (not for secret settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// What it does.
    pub description: String,
    /// Secret settings never reach the web client.
    pub secret: bool,
    /// Group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Classification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Regex a value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_regex: Option<String>,
    /// What the regex means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_explanation: Option<String>,
    /// Allowed values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_values: Option<Vec<String>>,
    /// Smallest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Folded away in the web client.
    pub advanced: bool,
    /// Applied without a restart.
    pub supports_live_update: bool,
}

impl Setting {
    /// A setting of type `kind`.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            default_value: None,
            description: String::new(),
            secret: false,
            group: None,
            classification: None,
            validation_regex: None,
            validation_explanation: None,
            valid_values: None,
            minimum: None,
            maximum: None,
            advanced: false,
            supports_live_update: false,
        }
    }

    /// A text setting.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, "string")
    }

    /// A whole-number setting.
    pub fn int(name: impl Into<String>) -> Self {
        Self::new(name, "int")
    }

    /// A true/false setting.
    pub fn bool(name: impl Into<String>) -> Self {
        Self::new(name, "bool")
    }

    /// Sets the default value.
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default_value = Some(value.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Marks the setting secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Marks the setting as applied live.
    pub fn live_update(mut self) -> Self {
        self.supports_live_update = true;
        self
    }
}

/// A value the service sets from its environment (a client override).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// Setting name.
    pub name: String,
    /// The value.
    pub value: Value,
}

/// The environment variable that overrides `setting`: `FIG_OVERRIDE_` and the name in upper
/// case, with `.` and `-` as `_` (`Db.Url` → `FIG_OVERRIDE_DB_URL`).
pub fn override_variable(setting: &str) -> String {
    let name: String = setting
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("FIG_OVERRIDE_{name}")
}

/// Client overrides from the environment through `lookup` (pass `|k| std::env::var(k).ok()`):
/// text as is for `string` settings, JSON for the other types (`42`, `true`, `{"a":1}`).
pub fn overrides_from(
    settings: &[Setting],
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Override>, FigError> {
    let mut out = Vec::new();
    for setting in settings {
        let variable = override_variable(&setting.name);
        let Some(text) = lookup(&variable) else {
            continue;
        };
        let value =
            if setting.kind == "string" || setting.kind == "timeSpan" || setting.kind == "dateTime"
            {
                Value::String(text)
            } else {
                serde_json::from_str(&text).map_err(|_| {
                    FigError::Invalid(format!(
                        "{variable} is not valid JSON for a {} setting",
                        setting.kind
                    ))
                })?
            };
        out.push(Override {
            name: setting.name.clone(),
            value,
        });
    }
    Ok(out)
}

/// [`overrides_from`] the process environment.
pub fn overrides_from_env(settings: &[Setting]) -> Result<Vec<Override>, FigError> {
    overrides_from(settings, |k| std::env::var(k).ok())
}

/// The values of a client, as fetched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Client name.
    pub client: String,
    /// Version (changes with every value or definition change).
    pub version: u64,
    /// Values by name.
    pub values: BTreeMap<String, Value>,
    /// Whether an offline copy may be kept.
    pub allow_offline: bool,
    /// How often to poll, in milliseconds.
    pub poll_interval_ms: u64,
    /// Entity tag for `If-None-Match`.
    pub etag: Option<String>,
}

/// A fetch's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched {
    /// Nothing changed since the given ETag.
    NotModified,
    /// The values.
    Settings(Settings),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchBody {
    client: String,
    version: u64,
    settings: Vec<FetchedValue>,
    allow_offline: bool,
    poll_interval_ms: u64,
}

#[derive(Deserialize)]
struct FetchedValue {
    name: String,
    value: Value,
}

/// The answer to a heartbeat.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusAnswer {
    /// Newer values are waiting.
    pub update_available: bool,
    /// The server's version.
    pub current_version: u64,
    /// Whether an offline copy may be kept.
    pub allow_offline_settings: bool,
    /// Poll interval.
    pub poll_interval_ms: u64,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client of the Fig API for one setting client.
#[derive(Clone)]
pub struct FigClient {
    base: Arc<str>,
    name: Arc<str>,
    secret: ClientSecret,
    instance: Option<Arc<str>>,
    http: Client<Https, Full<Bytes>>,
    timeout: Duration,
}

impl fmt::Debug for FigClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FigClient")
            .field("base", &self.base)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or_default();
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    matches!(host, "127.0.0.1" | "localhost") || rest.starts_with("[::1]")
}

impl FigClient {
    /// A client of the Fig API at `base_url` (HTTPS; plain HTTP only to a loopback address,
    /// for local development) for setting client `name`.
    pub fn new(base_url: &str, name: &str, secret: ClientSecret) -> Result<Self, FigError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || is_loopback(base)) {
            return Err(FigError::Invalid(format!(
                "the Fig URL must use https:// (plain http only to 127.0.0.1 or localhost): {base}"
            )));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(FigError::Invalid(format!(
                "'{name}' is not a valid client name"
            )));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // TCP_NODELAY: requests are small; Nagle's algorithm would hold them back.
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| FigError::Transport(format!("TLS set-up: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            base: base.into(),
            name: name.into(),
            secret,
            instance: None,
            http: Client::builder(TokioExecutor::new()).build(https),
            timeout: Duration::from_secs(10),
        })
    }

    /// This client as instance `instance`: fetches return the instance's values, falling back
    /// to the base client's when the instance does not exist.
    pub fn with_instance(mut self, instance: &str) -> Result<Self, FigError> {
        if instance.is_empty()
            || !instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(FigError::Invalid(format!(
                "'{instance}' is not a valid instance name"
            )));
        }
        self.instance = Some(instance.into());
        Ok(self)
    }

    /// The client name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn secret(&self) -> &ClientSecret {
        &self.secret
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        etag: Option<&str>,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), FigError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("clientSecret", self.secret.expose())
            .header(header::USER_AGENT, format!("fig-sdk-rust/{VERSION}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| FigError::Invalid(format!("request: {e}")))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| FigError::Transport("timed out".into()))?
            .map_err(|e| FigError::Transport(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .map_err(|_| FigError::Transport("timed out reading the answer".into()))?
            .map_err(|e| FigError::Transport(e.to_string()))?
            .to_bytes();
        Ok((status, headers, body))
    }

    fn refusal(status: StatusCode, body: &[u8]) -> FigError {
        let error: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |k: &str| error["error"][k].as_str().unwrap_or_default().to_owned();
        match status {
            StatusCode::UNAUTHORIZED => FigError::Unauthorized,
            StatusCode::FORBIDDEN => FigError::Forbidden(text("message")),
            _ => FigError::Status {
                status: status.as_u16(),
                code: text("code"),
                message: text("message"),
            },
        }
    }

    /// Registers (or updates) the client's setting definitions. Returns the server's status:
    /// `registered`, `updated` or `unchanged`.
    pub async fn register(
        &self,
        description: &str,
        settings: &[Setting],
    ) -> Result<String, FigError> {
        self.register_with_overrides(description, settings, &[])
            .await
    }

    /// Registers with client overrides: values the service takes from its environment (see
    /// [`overrides_from_env`]). The server applies them only when it allows overrides for this
    /// client, and refuses the registration otherwise.
    pub async fn register_with_overrides(
        &self,
        description: &str,
        settings: &[Setting],
        overrides: &[Override],
    ) -> Result<String, FigError> {
        let mut body = serde_json::json!({ "name": &*self.name, "description": description, "settings": settings });
        if !overrides.is_empty() {
            body["clientSettingOverrides"] = serde_json::to_value(overrides)
                .map_err(|_| FigError::Invalid("overrides".into()))?;
        }
        let (status, _, body) = self
            .send(
                Method::POST,
                "/api/clients",
                Some(body.to_string().into_bytes()),
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(Self::refusal(status, &body));
        }
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|_| FigError::Protocol("registration answer".into()))?;
        Ok(answer["status"].as_str().unwrap_or_default().to_owned())
    }

    /// Fetches the values; with `etag`, a `304` becomes [`Fetched::NotModified`].
    pub async fn fetch(&self, etag: Option<&str>) -> Result<Fetched, FigError> {
        let path = match &self.instance {
            Some(instance) => format!("/api/clients/{}/settings?instance={instance}", self.name),
            None => format!("/api/clients/{}/settings", self.name),
        };
        let (status, headers, body) = self.send(Method::GET, &path, None, etag).await?;
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(Self::refusal(status, &body));
        }
        let parsed: FetchBody = serde_json::from_slice(&body)
            .map_err(|_| FigError::Protocol("settings answer".into()))?;
        Ok(Fetched::Settings(Settings {
            client: parsed.client,
            version: parsed.version,
            values: parsed
                .settings
                .into_iter()
                .map(|s| (s.name, s.value))
                .collect(),
            allow_offline: parsed.allow_offline,
            poll_interval_ms: parsed.poll_interval_ms,
            etag: headers
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }))
    }

    /// Sends a heartbeat for this process (`run_session_id`), with the version it has applied.
    pub async fn heartbeat(
        &self,
        run_session_id: &str,
        last_version: Option<u64>,
        offline: bool,
        uptime: Duration,
    ) -> Result<StatusAnswer, FigError> {
        let body = serde_json::json!({
            "runSessionId": run_session_id,
            "figVersion": VERSION,
            "uptimeSeconds": uptime.as_secs(),
            "lastSettingVersion": last_version,
            "offlineSettingsInUse": offline,
        });
        let path = format!("/api/clients/{}/status", self.name);
        let (status, _, body) = self
            .send(
                Method::PUT,
                &path,
                Some(body.to_string().into_bytes()),
                None,
            )
            .await?;
        if !status.is_success() {
            return Err(Self::refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| FigError::Protocol("status answer".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        let secret = || ClientSecret::new("s").unwrap();
        assert!(FigClient::new("https://fig.example.com/", "svc", secret()).is_ok());
        assert!(FigClient::new("http://127.0.0.1:8080", "svc", secret()).is_ok());
        assert!(FigClient::new("http://localhost:8080", "svc", secret()).is_ok());
        assert!(FigClient::new("http://fig.example.com", "svc", secret()).is_err());
        assert!(FigClient::new("http://127.0.0.1.evil.example", "svc", secret()).is_err());
        assert!(FigClient::new("https://fig.example.com", "a/b", secret()).is_err());
    }

    #[test]
    fn overrides_come_from_named_variables() {
        let settings = [
            Setting::string("Db.Url"),
            Setting::int("Retries"),
            Setting::bool("Fast"),
        ];
        let env = |k: &str| match k {
            "FIG_OVERRIDE_DB_URL" => Some("postgres://db".to_owned()),
            "FIG_OVERRIDE_RETRIES" => Some("5".to_owned()),
            _ => None,
        };
        let overrides = overrides_from(&settings, env).unwrap();
        assert_eq!(
            overrides,
            vec![
                Override {
                    name: "Db.Url".into(),
                    value: Value::String("postgres://db".into())
                },
                Override {
                    name: "Retries".into(),
                    value: serde_json::json!(5)
                },
            ]
        );
        assert!(
            overrides_from(&settings, |k| (k == "FIG_OVERRIDE_FAST")
                .then(|| "maybe".to_owned()))
            .is_err()
        );
    }

    #[test]
    fn settings_serialise_with_figs_field_names() {
        let s = Setting::string("DbPassword").secret().description("db");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["type"], "string");
        assert_eq!(v["secret"], true);
        assert!(v.get("defaultValue").is_none());
    }
}
