//! The server configuration (`CONFIG`/`SERVER`): switches an administrator controls.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::Result;
use crate::store::from_item;

/// How long a warm function trusts its copy of the configuration on the fetch path.
pub const CACHE_FOR: Duration = Duration::from_secs(60);

/// The server configuration (DESIGN §3). Missing fields take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerConfig {
    /// New clients may register.
    pub allow_new_registrations: bool,
    /// Registered clients may change their definitions.
    pub allow_updated_registrations: bool,
    /// Clients may override values from their environment.
    pub allow_client_overrides: bool,
    /// Anchored patterns of clients allowed to override.
    pub client_overrides_allow_list: Vec<String>,
    /// File imports are accepted.
    pub allow_file_imports: bool,
    /// Clients may keep an encrypted offline copy.
    pub allow_offline_settings: bool,
    /// Administrators must use MFA.
    pub require_mfa_for_administrators: bool,
    /// Webhook hosts allowed even when private or loopback.
    pub webhook_allowed_hosts: Vec<String>,
    /// Poll interval told to clients.
    pub poll_interval_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            allow_new_registrations: true,
            allow_updated_registrations: true,
            allow_client_overrides: false,
            client_overrides_allow_list: Vec::new(),
            allow_file_imports: false,
            allow_offline_settings: true,
            require_mfa_for_administrators: false,
            webhook_allowed_hosts: Vec::new(),
            poll_interval_ms: 30_000,
        }
    }
}

fn defaults(app: &App) -> ServerConfig {
    ServerConfig {
        allow_new_registrations: app.config.allow_new_registrations,
        poll_interval_ms: app.config.poll_interval_ms,
        ..ServerConfig::default()
    }
}

/// Reads the configuration (strongly consistent), falling back to the deploy defaults.
pub async fn load(app: &App) -> Result<ServerConfig> {
    let config = match app.store.get("CONFIG", "SERVER").await? {
        Some(item) => from_item(item)?,
        None => defaults(app),
    };
    if let Ok(mut cache) = app.server_config.lock() {
        *cache = Some((Instant::now(), config.clone()));
    }
    Ok(config)
}

/// The configuration as this warm function last read it, re-read when older than
/// [`CACHE_FOR`]. Used on the fetch path, where a `GetItem` per request would double its cost.
pub async fn load_recent(app: &App) -> Result<ServerConfig> {
    if let Ok(cache) = app.server_config.lock()
        && let Some((at, config)) = cache.as_ref()
        && at.elapsed() < CACHE_FOR
    {
        return Ok(config.clone());
    }
    load(app).await
}
