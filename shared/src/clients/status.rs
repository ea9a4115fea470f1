//! Heartbeats: a running instance's status report (`PUT /api/clients/{name}/status`).

use super::*;

/// `PUT /api/clients/{name}/status` body: a running instance's heartbeat.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusReport {
    /// One process of the service (random per start).
    pub run_session_id: ClientName,
    /// Instance name, if the service runs as one.
    #[serde(default)]
    pub instance: Option<ClientName>,
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The service's version.
    #[serde(default)]
    pub application_version: Option<String>,
    /// The client library's version.
    #[serde(default)]
    pub fig_version: Option<String>,
    /// Seconds since the service started.
    #[serde(default)]
    pub uptime_seconds: Option<u64>,
    /// The settings version the service has applied.
    #[serde(default)]
    pub last_setting_version: Option<u64>,
    /// Whether the service is running on its offline copy.
    #[serde(default)]
    pub offline_settings_in_use: bool,
}

/// The answer to a heartbeat.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusAnswer {
    /// Newer values are waiting: fetch them.
    pub update_available: bool,
    /// The client's current version.
    pub current_version: u64,
    /// Whether the service may keep an offline copy.
    pub allow_offline_settings: bool,
    /// How often to poll.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusItem {
    client: String,
    run_session_id: String,
    instance: Option<String>,
    hostname: Option<String>,
    application_version: Option<String>,
    fig_version: Option<String>,
    uptime_seconds: Option<u64>,
    last_setting_version: Option<u64>,
    offline_settings_in_use: bool,
    last_seen: String,
    ttl: i64,
}

pub(super) fn bounded(text: Option<String>) -> Option<String> {
    text.map(|t| t.chars().filter(|c| !c.is_control()).take(128).collect())
}

/// Records a heartbeat (`PUT /api/clients/{name}/status`). The first heartbeat of a run
/// session is a `ClientStatusChanged` (connected) event; the item expires after three poll
/// intervals without a heartbeat (the TTL deletion is the disconnect).
pub async fn report_status(
    app: &Arc<App>,
    name: &str,
    secret: &SecretString,
    report: StatusReport,
    source: &Source,
) -> Result<StatusAnswer> {
    let bounded_name: String = name.chars().take(64).collect();
    // A heartbeat needs the client's head only (its secret hashes and version).
    let head = match ClientName::parse(name) {
        Ok(valid) => Some(load_head(app, valid.as_str(), HEAD_END, source).await?),
        Err(_) => None,
    };
    let (meta, throttles) = match head {
        Some(head) => (head.meta, head.throttles),
        None => (None, Throttles::new()),
    };
    authenticate(
        app,
        &bounded_name,
        meta.as_ref(),
        &throttles,
        secret,
        source,
    )
    .await?;
    let Some(meta) = meta else {
        return Err(auth_failed());
    };
    flush_due_polls(app).await;
    let config = server_config::load_recent(app).await?;
    let now = clock::now();
    let expires = now.unix_timestamp()
        + i64::try_from(config.poll_interval_ms / 1000 * 3)
            .unwrap_or(90)
            .max(90);
    let item = StatusItem {
        client: meta.name.clone(),
        run_session_id: report.run_session_id.to_string(),
        instance: report.instance.as_ref().map(ToString::to_string),
        hostname: bounded(report.hostname.clone()),
        application_version: bounded(report.application_version),
        fig_version: bounded(report.fig_version),
        uptime_seconds: report.uptime_seconds,
        last_setting_version: report.last_setting_version,
        offline_settings_in_use: report.offline_settings_in_use,
        last_seen: clock::rfc3339(now),
        ttl: expires,
    };
    let item = to_item(
        &crate::schema::client_status_pk(&meta.name),
        report.run_session_id.as_str(),
        &item,
    )?;
    let event = AuditEvent::new(
        EventKind::ClientStatusChanged {
            client: meta.name.clone(),
            instance: report.instance.as_ref().map(ToString::to_string),
            run_session_id: report.run_session_id.to_string(),
            hostname: bounded(report.hostname),
            status: "connected".into(),
        },
        Actor::Client {
            name: meta.name.clone(),
        },
        source.clone(),
        now,
    );
    let first = app
        .store
        .put(item.clone(), Some("attribute_not_exists(PK)"))?;
    match app
        .store
        .transact(vec![first], &event, ("EXISTS", "exists"))
        .await
    {
        Ok(()) => {}
        // Not the first heartbeat of this run session: refresh it (no event; see above).
        Err(Error::Conflict { .. }) => app.store.put_item(item).await?,
        Err(e) => return Err(e),
    }
    Ok(StatusAnswer {
        // Any other version than the current one (also a higher one, from before the client
        // was deleted and registered again) is not what the server holds now.
        update_available: report
            .last_setting_version
            .is_some_and(|v| v != meta.version),
        current_version: meta.version,
        allow_offline_settings: config.allow_offline_settings,
        poll_interval_ms: config.poll_interval_ms,
    })
}
