//! The server configuration (`CONFIG`/`SERVER`): switches an administrator controls. The type
//! is `fig_core::server_config`; here it is read, cached, validated and written.

use std::time::{Duration, Instant};

use crate::app::App;
use crate::error::Result;
use crate::schema::SERVER_CONFIG;
use crate::store::from_item;

/// How long a warm function trusts its copy of the configuration on the fetch path.
pub const CACHE_FOR: Duration = Duration::from_secs(60);

pub use fig_core::server_config::{DEFAULT_MAX_CLIENTS, MAX_MAX_CLIENTS, ServerConfig};

fn defaults(app: &App) -> ServerConfig {
    ServerConfig {
        allow_new_registrations: app.config.allow_new_registrations,
        poll_interval_ms: app.config.poll_interval_ms,
        ..ServerConfig::default()
    }
}

/// Reads the configuration (strongly consistent), falling back to the deploy defaults.
pub async fn load(app: &App) -> Result<ServerConfig> {
    let config = match app.store.get(SERVER_CONFIG.0, SERVER_CONFIG.1).await? {
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

/// Reads the configuration for an admin (any role).
pub async fn read(
    app: &App,
    principal: &crate::policy::Principal,
    source: &crate::events::Source,
) -> Result<ServerConfig> {
    crate::authz::require(
        app,
        principal,
        crate::policy::Action::ReadConfiguration,
        crate::policy::Resource::None,
        source,
    )
    .await?;
    load(app).await
}

fn validate(config: &ServerConfig) -> Result<()> {
    use crate::error::Error;
    if !(1_000..=86_400_000).contains(&config.poll_interval_ms) {
        return Err(Error::bad_request(
            "INVALID_CONFIGURATION",
            "pollIntervalMs must be between 1000 (1 s) and 86400000 (1 day).",
        ));
    }
    if !(1..=MAX_MAX_CLIENTS).contains(&config.max_clients) {
        return Err(Error::bad_request(
            "INVALID_CONFIGURATION",
            format!("maxClients must be between 1 and {MAX_MAX_CLIENTS}."),
        ));
    }
    if config.client_overrides_allow_list.len() > 100 || config.webhook_allowed_hosts.len() > 100 {
        return Err(Error::bad_request(
            "INVALID_CONFIGURATION",
            "Lists hold at most 100 entries.",
        ));
    }
    for pattern in &config.client_overrides_allow_list {
        crate::policy::compile_client_filter(pattern).map_err(|_| {
            Error::bad_request(
                "INVALID_CONFIGURATION",
                "An entry of clientOverridesAllowList is not a valid regular expression.",
            )
        })?;
    }
    for host in &config.webhook_allowed_hosts {
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
            && crate::outbound::parse_allowed_host(host).is_some();
        if !valid {
            return Err(Error::bad_request(
                "INVALID_CONFIGURATION",
                "An entry of webhookAllowedHosts is not a host name or address, optionally with a port (host:8443, 10.0.0.5:8443, [fd00::5]:8443; IPv6 in brackets).",
            ));
        }
    }
    Ok(())
}

/// Changes the configuration (Administrator): the fields given replace their values, every
/// other field keeps its current value (never a default: a partial save must not reopen
/// registrations or switch MFA off). Every change is audited with the names of the settings
/// that changed.
pub async fn write(
    app: &App,
    principal: &crate::policy::Principal,
    changes: serde_json::Value,
    source: &crate::events::Source,
) -> Result<ServerConfig> {
    use crate::error::Error;
    use crate::events::{Actor, AuditEvent, EventKind};
    crate::authz::require(
        app,
        principal,
        crate::policy::Action::WriteConfiguration,
        crate::policy::Resource::None,
        source,
    )
    .await?;
    let serde_json::Value::Object(changes) = changes else {
        return Err(Error::bad_request(
            "INVALID_BODY",
            "Send the configuration fields to change as a JSON object.",
        ));
    };
    let current = load(app).await?;
    let mut merged = serde_json::to_value(&current)
        .map_err(|e| Error::internal(format!("configuration: {e}")))?;
    if let Some(fields) = merged.as_object_mut() {
        fields.extend(changes);
    }
    let new: ServerConfig = crate::json::parse_json(merged.to_string().as_bytes())?;
    validate(&new)?;
    let before = serde_json::to_value(&current).unwrap_or_default();
    let after = serde_json::to_value(&new).unwrap_or_default();
    let changes: Vec<String> = after
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(k, v)| before.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if changes.is_empty() {
        return Ok(current);
    }
    let item = crate::store::to_item(SERVER_CONFIG.0, SERVER_CONFIG.1, &new)?;
    let put = app.store.put(item, None)?;
    let event = AuditEvent::new(
        EventKind::ServerConfigurationChanged { changes },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        crate::clock::now(),
    );
    app.store
        .transact(vec![put], &event, ("CONFLICT", "Try again."))
        .await?;
    if let Ok(mut cache) = app.server_config.lock() {
        *cache = Some((Instant::now(), new.clone()));
    }
    Ok(new)
}
