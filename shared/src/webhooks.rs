//! Webhooks: what administrators configure, what is sent, and how it is signed (docs/ARCHITECTURE.md §6).
//!
//! A webhook is an item `WEBHOOKS` / `WEBHOOK#{id}` (all of them are read with one Query by
//! the delivering function). Its signing secret is generated here, shown once, and stored
//! wrapped by KMS with the context `{app, webhook}`. Deliveries that failed for the last time
//! are dead letters, `DEADLETTER#{id}` / `{event id}`, kept for 30 days.
//!
//! Bodies are JSON. `Fig-Signature: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}"}`;
//! `Fig-Event-Id` (the audit record's id, for idempotency) and `Fig-Event-Type`. No body ever
//! holds a setting value, a password, a token or a secret: SettingValueChanged carries names.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::App;
use crate::authz::require;
use crate::clock;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::outbound::{Outbound, Outcome, check_url};
use crate::policy::{Action, Principal, Resource, compile_client_filter};
use crate::secret::{SecretBytes, SecretString};
use crate::store::{AttrValue, from_item, to_item};

/// Most webhooks a server may have (each delivery reads them all).
pub const MAX_WEBHOOKS: usize = 50;
/// Longest a "send test" may take.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Dead letters are kept this long.
const DEAD_LETTER_DAYS: i64 = 30;

/// The event types a webhook can receive (Fig's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookType {
    /// Setting values changed (names only).
    SettingValueChanged,
    /// A new client registered.
    NewClientRegistration,
    /// A client changed its definitions.
    UpdatedClientRegistration,
    /// A client instance connected or disconnected.
    ClientStatusChanged,
    /// Identity and access events, with Fig's SecurityEvent fields.
    SecurityEvent,
}

impl WebhookType {
    /// The type name.
    pub fn name(self) -> &'static str {
        match self {
            Self::SettingValueChanged => "SettingValueChanged",
            Self::NewClientRegistration => "NewClientRegistration",
            Self::UpdatedClientRegistration => "UpdatedClientRegistration",
            Self::ClientStatusChanged => "ClientStatusChanged",
            Self::SecurityEvent => "SecurityEvent",
        }
    }
}

/// `POST`/`PUT /api/admin/webhooks` body.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where to POST.
    pub url: String,
    /// Which events.
    pub types: Vec<WebhookType>,
    /// Only events of clients whose name matches (anchored regex).
    #[serde(default)]
    pub client_pattern: Option<String>,
    /// Only events touching a setting whose name matches (anchored regex).
    #[serde(default)]
    pub setting_pattern: Option<String>,
}

/// The last delivery attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastDelivery {
    /// When.
    pub time: String,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A stored webhook.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Id (ULID).
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Event types.
    pub types: Vec<WebhookType>,
    /// Client name pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_pattern: Option<String>,
    /// Setting name pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting_pattern: Option<String>,
    /// The signing secret, wrapped by KMS (base64). Never serialised to callers.
    #[serde(default)]
    pub wrapped_secret: String,
    /// When it was created.
    pub created_at: String,
    /// By whom.
    pub created_by: String,
    /// The last delivery attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<LastDelivery>,
}

/// A webhook as administrators see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Target URL.
    pub url: String,
    /// Event types.
    pub types: Vec<WebhookType>,
    /// Client name pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_pattern: Option<String>,
    /// Setting name pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting_pattern: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// The last delivery attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<LastDelivery>,
    /// Dead letters waiting.
    pub dead_letters: usize,
    /// The signing secret: only in the answer to a create, to a rotation, and to an update that
    /// moved the webhook to another host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

/// A delivery that failed for the last time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The event that was not delivered.
    pub event_id: String,
    /// Its webhook type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was given up.
    pub time: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
}

const PK: &str = crate::schema::WEBHOOKS_PK;

fn sk(id: &str) -> String {
    crate::schema::webhook_sk(id)
}

fn dead_letter_pk(id: &str) -> String {
    crate::schema::dead_letter_pk(id)
}

fn not_found() -> Error {
    Error::NotFound {
        code: "WEBHOOK_NOT_FOUND",
        message: "There is no webhook with that id.",
    }
}

fn host_of(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default()
}

fn validate(request: &WebhookRequest, allowed_hosts: &[String]) -> Result<()> {
    check_url(&request.url, allowed_hosts)?;
    if request.types.is_empty() {
        return Err(Error::bad_request(
            "INVALID_WEBHOOK",
            "Choose at least one event type.",
        ));
    }
    for pattern in [&request.client_pattern, &request.setting_pattern]
        .into_iter()
        .flatten()
    {
        if pattern.len() > 256 {
            return Err(Error::bad_request(
                "INVALID_WEBHOOK",
                "A pattern is longer than 256 characters.",
            ));
        }
        compile_client_filter(pattern).map_err(|_| {
            Error::bad_request(
                "INVALID_WEBHOOK",
                "A pattern is not a valid regular expression (or is too large).",
            )
        })?;
    }
    Ok(())
}

/// Every webhook (one Query).
pub async fn load_all(app: &App) -> Result<Vec<Webhook>> {
    app.store
        .query_prefix(PK, crate::schema::WEBHOOK_PREFIX)
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

async fn load(app: &App, id: &str) -> Result<Webhook> {
    load_all(app)
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(not_found)
}

async fn dead_letter_count(app: &App, id: &str) -> Result<usize> {
    app.store.count(&dead_letter_pk(id)).await
}

async fn view(
    app: &App,
    webhook: Webhook,
    signing_secret: Option<SecretString>,
) -> Result<WebhookView> {
    Ok(WebhookView {
        dead_letters: dead_letter_count(app, &webhook.id).await?,
        id: webhook.id,
        url: webhook.url,
        types: webhook.types,
        client_pattern: webhook.client_pattern,
        setting_pattern: webhook.setting_pattern,
        created_at: webhook.created_at,
        last_delivery: webhook.last_delivery,
        signing_secret: signing_secret.map(|s| s.expose().to_owned()),
    })
}

fn actor(principal: &Principal) -> Actor {
    Actor::User {
        name: principal.username.clone(),
    }
}

fn secret_context<'a>(app: &'a App, id: &'a str) -> [(&'a str, &'a str); 2] {
    [("app", app.config.app.as_str()), ("webhook", id)]
}

/// `GET /api/admin/webhooks`.
pub async fn list(
    app: &Arc<App>,
    principal: &Principal,
    source: &Source,
) -> Result<Vec<WebhookView>> {
    allowed(app, principal, source).await?;
    let mut out = Vec::new();
    for webhook in load_all(app).await? {
        out.push(view(app, webhook, None).await?);
    }
    Ok(out)
}

/// Webhooks are for Administrators only (a refusal is audited).
async fn allowed(app: &App, principal: &Principal, source: &Source) -> Result<()> {
    require(
        app,
        principal,
        Action::ManageWebhooks,
        Resource::None,
        source,
    )
    .await
}

/// Asks the policy, then checks a create or update request against the current allow-list.
async fn check_request(
    app: &Arc<App>,
    principal: &Principal,
    request: &WebhookRequest,
    source: &Source,
) -> Result<()> {
    allowed(app, principal, source).await?;
    let config = crate::server_config::load(app).await?;
    validate(request, &config.webhook_allowed_hosts)
}

/// The answer when a webhook was deleted, or its secret replaced, while it was being changed.
const CHANGED_MEANWHILE: (&str, &str) = (
    "WEBHOOK_CHANGED",
    "The webhook was changed or deleted at the same time. Reload and try again.",
);

/// How a save finds the webhook it replaces.
enum Expect<'a> {
    /// A new webhook: nothing under its key yet.
    New,
    /// The webhook as it was loaded: still there, with the same signing secret (a concurrent
    /// change of the secret makes the save fail, so no secret shown to an admin is lost).
    Loaded(&'a str),
}

/// Writes `webhook` in one transaction with its audit event.
async fn save(
    app: &App,
    principal: &Principal,
    webhook: &Webhook,
    expect: Expect<'_>,
    kind: EventKind,
    conflict: (&'static str, &'static str),
    source: &Source,
) -> Result<()> {
    let event = AuditEvent::new(kind, actor(principal), source.clone(), clock::now());
    let item = to_item(PK, &sk(&webhook.id), webhook)?;
    let put = match expect {
        Expect::New => app.store.put(item, Some("attribute_not_exists(PK)"))?,
        Expect::Loaded(wrapped) => app.store.put_checked(
            item,
            Some("attribute_exists(PK) AND wrappedSecret = :w"),
            vec![(":w", AttrValue::text(wrapped.to_owned()))],
        )?,
    };
    app.store.transact(vec![put], &event, conflict).await
}

/// `POST /api/admin/webhooks`: the answer holds the signing secret, once.
pub async fn create(
    app: &Arc<App>,
    principal: &Principal,
    request: WebhookRequest,
    source: &Source,
) -> Result<WebhookView> {
    check_request(app, principal, &request, source).await?;
    if load_all(app).await?.len() >= MAX_WEBHOOKS {
        return Err(Error::Conflict {
            code: "TOO_MANY_WEBHOOKS",
            message: "This server has the most webhooks it allows (50). Delete one first.",
        });
    }
    let id = ulid::Ulid::new().to_string();
    let (secret, wrapped) = new_secret(app, &id).await?;
    let webhook = Webhook {
        id: id.clone(),
        url: request.url.clone(),
        types: request.types.clone(),
        client_pattern: request.client_pattern.clone(),
        setting_pattern: request.setting_pattern.clone(),
        wrapped_secret: wrapped,
        created_at: clock::now_rfc3339(),
        created_by: principal.username.clone(),
        last_delivery: None,
    };
    let event = EventKind::WebhookCreated {
        webhook: id.clone(),
        host: host_of(&request.url),
        types: request.types.iter().map(|t| t.name().to_owned()).collect(),
    };
    let conflict = ("CONFLICT", "The webhook could not be created. Try again.");
    save(
        app,
        principal,
        &webhook,
        Expect::New,
        event,
        conflict,
        source,
    )
    .await?;
    view(app, webhook, Some(secret)).await
}

/// A new signing secret (256 random bits) and its KMS-wrapped form (base64) for the item.
async fn new_secret(app: &App, id: &str) -> Result<(SecretString, String)> {
    let secret = SecretString::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes(32))
    ));
    let wrapped = app
        .kms
        .encrypt(
            &SecretBytes::new(secret.expose().as_bytes().to_vec()),
            &secret_context(app, id),
        )
        .await?;
    Ok((secret, B64.encode(wrapped)))
}

/// `PUT /api/admin/webhooks/{id}`: a new URL, types or patterns.
///
/// The signing secret stays while the URL keeps its host. A URL on another host is another
/// receiver, which gets a secret of its own: the answer then carries the new signing secret,
/// once, and the old one signs nothing more.
pub async fn update(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    request: WebhookRequest,
    source: &Source,
) -> Result<WebhookView> {
    check_request(app, principal, &request, source).await?;
    let mut webhook = load(app, id).await?;
    let loaded_secret = webhook.wrapped_secret.clone();
    let new_receiver = !host_of(&webhook.url).eq_ignore_ascii_case(&host_of(&request.url));
    let secret = if new_receiver {
        let (secret, wrapped) = new_secret(app, id).await?;
        webhook.wrapped_secret = wrapped;
        Some(secret)
    } else {
        None
    };
    webhook.url = request.url.clone();
    webhook.types = request.types.clone();
    webhook.client_pattern = request.client_pattern;
    webhook.setting_pattern = request.setting_pattern;
    let event = EventKind::WebhookUpdated {
        webhook: id.to_owned(),
        host: host_of(&request.url),
        types: request.types.iter().map(|t| t.name().to_owned()).collect(),
        secret_rotated: new_receiver,
    };
    save(
        app,
        principal,
        &webhook,
        Expect::Loaded(&loaded_secret),
        event,
        CHANGED_MEANWHILE,
        source,
    )
    .await?;
    view(app, webhook, secret).await
}

/// `POST /api/admin/webhooks/{id}/secret`: a new signing secret, shown once in the answer; the
/// old one signs nothing more (deliveries being retried are signed with the new one). For a
/// secret that leaked, or a receiver that changes hands.
pub async fn rotate_secret(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    source: &Source,
) -> Result<WebhookView> {
    allowed(app, principal, source).await?;
    let mut webhook = load(app, id).await?;
    let loaded_secret = webhook.wrapped_secret.clone();
    let (secret, wrapped) = new_secret(app, id).await?;
    webhook.wrapped_secret = wrapped;
    let event = EventKind::WebhookUpdated {
        webhook: id.to_owned(),
        host: host_of(&webhook.url),
        types: webhook.types.iter().map(|t| t.name().to_owned()).collect(),
        secret_rotated: true,
    };
    save(
        app,
        principal,
        &webhook,
        Expect::Loaded(&loaded_secret),
        event,
        CHANGED_MEANWHILE,
        source,
    )
    .await?;
    view(app, webhook, Some(secret)).await
}

/// `DELETE /api/admin/webhooks/{id}` (its dead letters go too).
pub async fn delete(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    source: &Source,
) -> Result<()> {
    allowed(app, principal, source).await?;
    load(app, id).await?;
    let event = AuditEvent::new(
        EventKind::WebhookDeleted {
            webhook: id.to_owned(),
        },
        actor(principal),
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            vec![app.store.delete_in_transaction(PK, &sk(id))?],
            &event,
            (
                "CONFLICT",
                "The webhook changed at the same time. Try again.",
            ),
        )
        .await?;
    app.store.delete_partition(&dead_letter_pk(id)).await
}

/// `GET /api/admin/webhooks/{id}/dead-letters`, newest first.
pub async fn dead_letters(
    app: &Arc<App>,
    principal: &Principal,
    id: &str,
    source: &Source,
) -> Result<Vec<DeadLetter>> {
    allowed(app, principal, source).await?;
    load(app, id).await?;
    let mut letters: Vec<DeadLetter> = app
        .store
        .query_partition(&dead_letter_pk(id))
        .await?
        .into_iter()
        .map(from_item)
        .collect::<Result<_>>()?;
    letters.sort_by(|a, b| b.time.cmp(&a.time));
    Ok(letters)
}

/// `POST /api/admin/webhooks/{id}/test`: sends a signed test event now and says how it went.
pub async fn test(
    app: &Arc<App>,
    outbound: &Outbound,
    principal: &Principal,
    id: &str,
    source: &Source,
) -> Result<Outcome> {
    allowed(app, principal, source).await?;
    let webhook = load(app, id).await?;
    let config = crate::server_config::load(app).await?;
    let secret = signing_secret(app, &webhook).await?;
    let event_id = ulid::Ulid::new().to_string();
    let body = json!({
        "eventType": "Test",
        "timestamp": clock::now_rfc3339(),
        "message": "A test event from Fig. Check the Fig-Signature header with your signing secret.",
        "auditId": event_id,
    });
    // Bounded well inside the admin function's own timeout, so the audit record below is
    // always written.
    let outcome = match tokio::time::timeout(
        TEST_TIMEOUT,
        send(
            outbound,
            &webhook,
            &secret,
            &config.webhook_allowed_hosts,
            &event_id,
            "Test",
            &body,
        ),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(_) => Outcome {
            ok: false,
            status: None,
            error: Some("timed out".into()),
        },
    };
    record_last_delivery(app, &webhook.id, &outcome).await;
    let event = AuditEvent::new(
        EventKind::WebhookTested {
            webhook: webhook.id.clone(),
            delivered: outcome.ok,
        },
        actor(principal),
        source.clone(),
        clock::now(),
    );
    app.store.record(&event).await?;
    Ok(outcome)
}

/// The webhook's signing secret (KMS unwrap).
pub async fn signing_secret(app: &App, webhook: &Webhook) -> Result<SecretString> {
    let wrapped = B64
        .decode(&webhook.wrapped_secret)
        .map_err(|_| Error::internal("wrapped webhook secret is not base64"))?;
    let plain = app
        .kms
        .decrypt(&wrapped, &secret_context(app, &webhook.id))
        .await?;
    let text = String::from_utf8(plain.expose().to_vec())
        .map_err(|_| Error::internal("webhook secret is not UTF-8"))?;
    Ok(SecretString::new(text))
}

/// `Fig-Signature` for `body` at `timestamp`.
pub fn signature(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mac = crate::crypto::hmac_sha256(
        secret.expose().as_bytes(),
        &[timestamp.to_string().as_bytes(), b".", body],
    );
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Signs and POSTs one body.
pub async fn send(
    outbound: &Outbound,
    webhook: &Webhook,
    secret: &SecretString,
    allowed_hosts: &[String],
    event_id: &str,
    event_type: &str,
    body: &Value,
) -> Outcome {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let now = clock::now().unix_timestamp();
    let headers = [
        ("Fig-Signature", signature(secret, now, &bytes)),
        ("Fig-Event-Id", event_id.to_owned()),
        ("Fig-Event-Type", event_type.to_owned()),
    ];
    outbound
        .post(&webhook.url, allowed_hosts, &headers, bytes)
        .await
}

/// Stores the last delivery on the webhook (best effort: it is status, not audit).
pub async fn record_last_delivery(app: &App, id: &str, outcome: &Outcome) {
    let last = LastDelivery {
        time: clock::now_rfc3339(),
        outcome: outcome.clone(),
    };
    let Ok(value) = AttrValue::serialized(&last) else {
        return;
    };
    let result = app
        .store
        .update_existing(PK, &sk(id), "SET lastDelivery = :d", vec![(":d", value)])
        .await;
    if let Err(e) = result {
        tracing::warn!(error = ?e, webhook = %id, "could not store the last delivery");
    }
}

/// Stores a dead letter (kept 30 days).
pub async fn put_dead_letter(app: &App, webhook: &str, letter: &DeadLetter) -> Result<()> {
    let mut item = to_item(&dead_letter_pk(webhook), &letter.event_id, letter)?;
    crate::store::set(
        &mut item,
        "ttl",
        AttrValue::number(clock::now().unix_timestamp() + DEAD_LETTER_DAYS * 86_400),
    );
    app.store.put_item(item).await
}

fn pattern_matches(pattern: Option<&str>, value: &str) -> bool {
    pattern.is_none_or(|p| compile_client_filter(p).is_ok_and(|re| re.is_match(value)))
}

/// Whether `event` can become a webhook delivery at all. Most events cannot (above all the
/// `SettingsRead` of every client fetch): the delivering function skips them without reading
/// anything.
pub fn deliverable(event: &AuditEvent) -> bool {
    matches!(
        event.kind,
        EventKind::SettingValueChanged { .. }
            | EventKind::NewClientRegistration { .. }
            | EventKind::UpdatedClientRegistration { .. }
            | EventKind::ClientStatusChanged { .. }
    ) || event.fig_security_event().is_some()
}

/// The webhook type and body `event` becomes for `webhook`, if it should receive it.
pub fn payload(webhook: &Webhook, event: &AuditEvent) -> Option<(WebhookType, Value)> {
    let user = match &event.actor {
        Actor::User { name } => Some(name.as_str()),
        _ => None,
    };
    let settings_match = |names: &[&String]| {
        webhook.setting_pattern.is_none()
            || names
                .iter()
                .any(|n| pattern_matches(webhook.setting_pattern.as_deref(), n))
    };
    let (kind, client, body) = match &event.kind {
        EventKind::SettingValueChanged {
            client,
            settings,
            change_message,
        } => {
            if !settings_match(&settings.iter().collect::<Vec<_>>()) {
                return None;
            }
            (
                WebhookType::SettingValueChanged,
                Some(client),
                json!({
                    "clientName": client,
                    "updatedSettings": settings,
                    "username": user,
                    "changeMessage": change_message,
                }),
            )
        }
        EventKind::NewClientRegistration { client, settings } => (
            WebhookType::NewClientRegistration,
            Some(client),
            json!({ "clientName": client, "settings": settings, "registrationType": "New" }),
        ),
        EventKind::UpdatedClientRegistration {
            client,
            added,
            removed,
            changed,
        } => (
            WebhookType::UpdatedClientRegistration,
            Some(client),
            json!({
                "clientName": client,
                "addedSettings": added,
                "removedSettings": removed,
                "changedSettings": changed,
                "registrationType": "Updated",
            }),
        ),
        EventKind::ClientStatusChanged {
            client,
            instance,
            run_session_id,
            hostname,
            status,
        } => (
            WebhookType::ClientStatusChanged,
            Some(client),
            json!({
                "clientName": client,
                "instance": instance,
                "runSessionId": run_session_id,
                "hostname": hostname,
                "connectionEvent": if status == "connected" { "Connected" } else { "Disconnected" },
            }),
        ),
        _ => {
            let security = event.fig_security_event()?;
            (
                WebhookType::SecurityEvent,
                None,
                serde_json::to_value(security).ok()?,
            )
        }
    };
    if !webhook.types.contains(&kind) {
        return None;
    }
    if let Some(client) = client
        && !pattern_matches(webhook.client_pattern.as_deref(), client)
    {
        return None;
    }
    let mut body = body;
    if kind != WebhookType::SecurityEvent
        && let Value::Object(map) = &mut body
    {
        map.insert("eventType".into(), json!(kind.name()));
        map.insert("timestamp".into(), json!(event.time));
        map.insert("auditId".into(), json!(event.id));
    }
    Some((kind, body))
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;
    use crate::events::{LoginFailure, Source};

    fn hook(types: Vec<WebhookType>, client: Option<&str>, setting: Option<&str>) -> Webhook {
        Webhook {
            id: "w".into(),
            url: "https://example.com".into(),
            types,
            client_pattern: client.map(Into::into),
            setting_pattern: setting.map(Into::into),
            wrapped_secret: String::new(),
            created_at: String::new(),
            created_by: String::new(),
            last_delivery: None,
        }
    }

    fn event(kind: EventKind) -> AuditEvent {
        AuditEvent::new(
            kind,
            Actor::User {
                name: "alice".into(),
            },
            Source {
                ip: Some("203.0.113.9".into()),
                ..Source::default()
            },
            clock::now(),
        )
    }

    #[test]
    fn setting_changes_carry_names_and_respect_patterns() {
        let change = event(EventKind::SettingValueChanged {
            client: "billing".into(),
            settings: vec!["DbPassword".into(), "Timeout".into()],
            change_message: "rotate".into(),
        });
        let all = hook(vec![WebhookType::SettingValueChanged], None, None);
        let (kind, body) = payload(&all, &change).unwrap();
        assert_eq!(kind, WebhookType::SettingValueChanged);
        assert_eq!(body["updatedSettings"], json!(["DbPassword", "Timeout"]));
        assert_eq!(body["auditId"], json!(change.id));
        assert!(
            payload(
                &hook(vec![WebhookType::SettingValueChanged], Some("bill"), None),
                &change
            )
            .is_none(),
            "anchored"
        );
        assert!(
            payload(
                &hook(vec![WebhookType::SettingValueChanged], Some("bill.*"), None),
                &change
            )
            .is_some()
        );
        assert!(
            payload(
                &hook(vec![WebhookType::SettingValueChanged], None, Some("Time.*")),
                &change
            )
            .is_some()
        );
        assert!(
            payload(
                &hook(vec![WebhookType::SettingValueChanged], None, Some("Other")),
                &change
            )
            .is_none()
        );
        assert!(payload(&hook(vec![WebhookType::SecurityEvent], None, None), &change).is_none());
    }

    #[test]
    fn security_events_have_figs_fields_exactly() {
        let failed = event(EventKind::LoginFailed {
            reason: LoginFailure::WrongPassword,
        });
        let (kind, body) =
            payload(&hook(vec![WebhookType::SecurityEvent], None, None), &failed).unwrap();
        assert_eq!(kind, WebhookType::SecurityEvent);
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "auditId",
                "eventType",
                "failureReason",
                "hostname",
                "ipAddress",
                "success",
                "timestamp",
                "username"
            ]
        );
        assert_eq!(body["success"], json!(false));
        assert_eq!(body["ipAddress"], json!("203.0.113.9"));
    }

    #[test]
    fn only_webhook_types_are_deliverable() {
        let read = event(EventKind::SettingsRead {
            client: "billing".into(),
            instance: None,
            count: 3,
        });
        assert!(!deliverable(&read));
        let failed = event(EventKind::LoginFailed {
            reason: LoginFailure::UnknownUser,
        });
        assert!(deliverable(&failed));
        let all = hook(
            vec![
                WebhookType::SettingValueChanged,
                WebhookType::NewClientRegistration,
                WebhookType::UpdatedClientRegistration,
                WebhookType::ClientStatusChanged,
                WebhookType::SecurityEvent,
            ],
            None,
            None,
        );
        // Whatever a webhook subscribes to, an event that is not deliverable gets no payload.
        assert!(payload(&all, &read).is_none());
    }

    #[test]
    fn signatures_are_hmac_over_timestamp_and_body() {
        let secret = SecretString::new("whsec_test");
        let sig = signature(&secret, 1_700_000_000, b"{\"a\":1}");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sig,
            format!(
                "t=1700000000,v1={}",
                hex::encode(mac.finalize().into_bytes())
            )
        );
        assert_ne!(sig, signature(&secret, 1_700_000_001, b"{\"a\":1}"));
    }
}
