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
