//! Typed configuration, read once from the environment at start.

use std::time::Duration;

use crate::secret::SecretString;

/// Everything a function needs to know about its deployment.
///
/// Built once in `main` (or by a test) and passed by reference. `Debug` redacts secrets.
#[derive(Clone, Debug)]
pub struct Config {
    /// Application name used in KMS encryption contexts and token audiences.
    pub app: String,
    /// The main DynamoDB table (with the stream the audit trail and webhooks consume).
    pub table: String,
    /// The identity table: users, sessions, MFA and login throttles, without a stream
    /// (`FIG_IDENTITY_TABLE`; default: the main table's name + `-identity`).
    pub identity_table: String,
    /// KMS key id, ARN or alias used for envelope encryption.
    pub kms_key_id: String,
    /// Bucket for audit objects.
    pub audit_bucket: String,
    /// Days of Object Lock retention applied to each audit object (0: bucket default only).
    pub audit_retention_days: u32,
    /// The asymmetric KMS key (ECC P-256) that signs audit digests
    /// (`FIG_AUDIT_SIGNING_KEY_ID`; default: the envelope key's alias + `-audit-signing`).
    pub audit_signing_key_id: String,
    /// Default for the "allow new registrations" server setting (deploy parameter).
    pub allow_new_registrations: bool,
    /// Password for the first administrator; random when unset.
    pub bootstrap_admin_password: Option<SecretString>,
    /// Issuer claim of access tokens.
    pub token_issuer: String,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Absolute lifetime of a session (refresh-token family).
    pub session_ttl: Duration,
    /// Whether the refresh cookie carries `Secure` (always on AWS; only a loopback gateway
    /// may turn it off, with `FIG_COOKIE_SECURE=false`).
    pub cookie_secure: bool,
    /// Origins allowed on cookie endpoints besides the request's own host (comma-separated).
    pub allowed_origins: Vec<String>,
    /// Bounds of the plaintext data-key cache.
    pub data_key_max_age: Duration,
    /// Bounds of the plaintext data-key cache.
    pub data_key_max_uses: u64,
    /// Maximum number of client data keys held in memory.
    pub data_key_cache_entries: usize,
    /// Default poll interval told to clients.
    pub poll_interval_ms: u64,
    /// Days an outbox event stays in the table (TTL) after it was written.
    pub event_ttl_days: u32,
    /// Total time one webhook delivery may take (`FIG_WEBHOOK_TIMEOUT_MS`, default 10 000).
    pub webhook_timeout: Duration,
    /// Attempts before a webhook delivery becomes a dead letter (`FIG_WEBHOOK_ATTEMPTS`, default 5).
    pub webhook_attempts: u32,
    /// First retry delay; it doubles each attempt (`FIG_WEBHOOK_BACKOFF_MS`, default 1 000).
    pub webhook_backoff: Duration,
    /// Scheduled maintenance rolls the token signing key once the newest is this many days old
    /// (`FIG_SIGNING_KEY_ROTATION_DAYS`, default 30; 0: never).
    pub signing_key_rotation_days: u32,
    /// Scheduled maintenance gives a client a new data key once its current one is this many
    /// days old (`FIG_DATA_KEY_ROTATION_DAYS`, default 90; 0: never).
    pub data_key_rotation_days: u32,
    /// Requests must carry the distribution's origin secret, and the viewer's address comes
    /// from the distribution's header (`FIG_ORIGIN_VERIFY`; on AWS; see `fig_shared::origin`).
    pub origin_verify: bool,
    /// With [`Config::origin_verify`], service requests (`/api/clients…`) that arrive through
    /// the function's own Lambda Function URL are answered without the origin secret, with the
    /// request context's source address (`FIG_FUNCTION_URL`; the settings function only; see
    /// `fig_shared::http::origin_guard`).
    pub function_url: bool,
    /// Scheduled maintenance makes a new origin secret once the current one is this many hours
    /// old (`FIG_ORIGIN_SECRET_ROTATION_HOURS`, default 24); the old one stays accepted twice as
    /// long.
    pub origin_secret_rotation_hours: u32,
}

/// The default alias of the audit digest signing key for an envelope key alias.
pub fn audit_signing_alias(kms_alias: &str) -> String {
    format!("{kms_alias}-audit-signing")
}

/// A configuration value that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name} {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: &'static str,
}

impl Config {
    /// Reads the configuration from `FIG_*` environment variables, with the local defaults of
    /// docs/ARCHITECTURE.md §8 (table `fig`, audit bucket `fig-audit`, key `alias/fig`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &'static str, default: &str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ConfigError {
                    name,
                    problem: "must be a whole number",
                }),
            }
        };
        let flag = |name: &'static str, default: bool| -> Result<bool, ConfigError> {
            match lookup(name).filter(|v| !v.is_empty()).as_deref() {
                None => Ok(default),
                Some("true" | "1" | "yes") => Ok(true),
                Some("false" | "0" | "no") => Ok(false),
                Some(_) => Err(ConfigError {
                    name,
                    problem: "must be true or false",
                }),
            }
        };
        let small = |name: &'static str, default: u64| -> Result<u32, ConfigError> {
            u32::try_from(number(name, default)?).map_err(|_| ConfigError {
                name,
                problem: "is too large",
            })
        };
        Ok(Self {
            app: text("FIG_APP", "fig"),
            table: text("FIG_TABLE", "fig"),
            identity_table: text(
                "FIG_IDENTITY_TABLE",
                &format!("{}-identity", text("FIG_TABLE", "fig")),
            ),
            kms_key_id: text("FIG_KMS_KEY_ID", "alias/fig"),
            audit_bucket: text("FIG_AUDIT_BUCKET", "fig-audit"),
            audit_retention_days: small("FIG_AUDIT_RETENTION_DAYS", 0)?,
            audit_signing_key_id: text(
                "FIG_AUDIT_SIGNING_KEY_ID",
                &audit_signing_alias(&text("FIG_KMS_KEY_ID", "alias/fig")),
            ),
            allow_new_registrations: flag("FIG_ALLOW_NEW_REGISTRATIONS", true)?,
            bootstrap_admin_password: lookup("FIG_BOOTSTRAP_ADMIN_PASSWORD")
                .filter(|v| !v.is_empty())
                .map(SecretString::new),
            token_issuer: text("FIG_TOKEN_ISSUER", "fig"),
            access_token_ttl: Duration::from_secs(number("FIG_ACCESS_TOKEN_TTL_SECONDS", 900)?),
            session_ttl: Duration::from_secs(number("FIG_SESSION_TTL_SECONDS", 12 * 3600)?),
            cookie_secure: flag("FIG_COOKIE_SECURE", true)?,
            allowed_origins: text("FIG_ALLOWED_ORIGINS", "")
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            data_key_max_age: Duration::from_secs(number("FIG_DATA_KEY_MAX_AGE_SECONDS", 300)?),
            data_key_max_uses: number("FIG_DATA_KEY_MAX_USES", 10_000)?,
            data_key_cache_entries: usize::try_from(number("FIG_DATA_KEY_CACHE_ENTRIES", 1_000)?)
                .map_err(|_| ConfigError {
                name: "FIG_DATA_KEY_CACHE_ENTRIES",
                problem: "is too large",
            })?,
            poll_interval_ms: number("FIG_POLL_INTERVAL_MS", 30_000)?,
            event_ttl_days: small("FIG_EVENT_TTL_DAYS", 7)?,
            webhook_timeout: Duration::from_millis(number("FIG_WEBHOOK_TIMEOUT_MS", 10_000)?),
            webhook_attempts: small("FIG_WEBHOOK_ATTEMPTS", 5)?.max(1),
            webhook_backoff: Duration::from_millis(number("FIG_WEBHOOK_BACKOFF_MS", 1_000)?),
            signing_key_rotation_days: small("FIG_SIGNING_KEY_ROTATION_DAYS", 30)?,
            data_key_rotation_days: small("FIG_DATA_KEY_ROTATION_DAYS", 90)?,
            origin_verify: flag("FIG_ORIGIN_VERIFY", false)?,
            function_url: flag("FIG_FUNCTION_URL", false)?,
            origin_secret_rotation_hours: small("FIG_ORIGIN_SECRET_ROTATION_HOURS", 24)?.max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_are_the_local_names_and_secrets_are_redacted() {
        let env: HashMap<&str, &str> = [("FIG_BOOTSTRAP_ADMIN_PASSWORD", "a-very-long-password")]
            .into_iter()
            .collect();
        let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(config.table, "fig");
        assert_eq!(config.audit_bucket, "fig-audit");
        assert_eq!(config.kms_key_id, "alias/fig");
        assert!(config.allow_new_registrations);
        assert!(
            config.cookie_secure,
            "deployed configuration sets Secure on cookies"
        );
        let printed = format!("{config:?}");
        assert!(!printed.contains("a-very-long-password"), "{printed}");
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_name() {
        let err =
            Config::from_lookup(|k| (k == "FIG_ALLOW_NEW_REGISTRATIONS").then(|| "maybe".into()))
                .unwrap_err();
        assert!(err.to_string().contains("FIG_ALLOW_NEW_REGISTRATIONS"));
    }
}
