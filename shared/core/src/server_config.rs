//! The server configuration: switches an administrator controls (registrations, overrides,
//! imports, offline settings, MFA for administrators, webhook hosts, the poll interval and the
//! client limit). The type and its defaults; `fig_shared::server_config` reads, caches,
//! validates and writes it (item `CONFIG`/`SERVER`).

use serde::{Deserialize, Serialize};

/// The server configuration (docs/ARCHITECTURE.md §3). Missing fields take their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
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
    /// Most clients this server holds: a new registration, an administrator's new client or an
    /// imported one beyond it is refused.
    pub max_clients: u32,
}

/// Default of [`ServerConfig::max_clients`].
pub const DEFAULT_MAX_CLIENTS: u32 = 1_000;
/// Largest [`ServerConfig::max_clients`] accepted.
pub const MAX_MAX_CLIENTS: u32 = 100_000;

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
            max_clients: DEFAULT_MAX_CLIENTS,
        }
    }
}
