//! Logging: JSON lines to stdout (CloudWatch on AWS), filtered by `RUST_LOG` (default `info`).
//! Log ids and codes, never payloads: no handler logs a body, a value or a secret.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once, in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Tags of the log lines the template's metric filters count (`alarm` field; each has an alarm
/// and a runbook entry in the README's operations section). A filter matches
/// `{ $.fields.alarm = "<tag>" }`, so these strings are part of the deployment's contract.
pub mod alarm {
    /// A KMS call failed (unreachable, throttled, key disabled or deleted).
    pub const KMS_ERROR: &str = "kms_error";
    /// A login attempt was refused by a throttle or an account lock.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
    /// A login attempt failed (wrong password, unknown user, disabled, wrong second factor).
    pub const LOGIN_FAILED: &str = "login_failed";
    /// A webhook delivery gave up and became a dead letter.
    pub const WEBHOOK_DEAD_LETTER: &str = "webhook_dead_letter";
}
