//! Webhook delivery: the second consumer of the table's stream.
//!
//! On AWS it is its own event source mapping (the same binary with
//! `FIG_EVENTS_CONSUMER=webhooks`), so a receiver that is down never holds back the audit
//! trail. For each event, in stream order, every webhook whose types and patterns match gets
//! one signed POST (see [`fig_shared::webhooks`]).
//!
//! A failed delivery is retried: the record is reported as a batch item failure, so the stream
//! hands it (and what follows it) back. The attempt count and the time of the next attempt are
//! kept in `DELIVERY#{event id}` / `{webhook id}`; the delay doubles from
//! `FIG_WEBHOOK_BACKOFF_MS`. After `FIG_WEBHOOK_ATTEMPTS` attempts the delivery becomes a dead
//! letter (visible in the admin API) with a `WebhookDeliveryFailed` audit event, and the stream
//! moves on. Webhooks that already received an event are not sent it again when the record
//! comes back for another webhook's sake; receivers still de-duplicate by `Fig-Event-Id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use fig_shared::events::{Actor, AuditEvent, EventKind, Source};
use fig_shared::secret::SecretString;
use fig_shared::store::{self, AttrValue};
use fig_shared::webhooks::{self, DeadLetter, Webhook};
use fig_shared::{App, clock};
use serde::{Deserialize, Serialize};

use crate::stream_events;

/// Delivers webhooks for stream batches. Keep one per process: it caches signing secrets.
#[derive(Debug)]
pub struct WebhookDeliverer {
    app: Arc<App>,
    /// Unwrapped signing secrets, by wrapped blob.
    secrets: Mutex<HashMap<String, SecretString>>,
}

/// Delivery state of one event to one webhook.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryState {
    /// `delivered`, `retrying` or `dead`.
    state: String,
    attempts: u32,
    /// Unix milliseconds before which no new attempt is made.
    next_attempt: i64,
    last_error: Option<String>,
}

fn delivery_pk(event_id: &str) -> String {
    fig_shared::schema::delivery_pk(event_id)
}

impl WebhookDeliverer {
    /// A deliverer using `app`'s table, KMS key and outbound client.
    pub fn new(app: Arc<App>) -> Self {
        Self {
            app,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    async fn secret(&self, webhook: &Webhook) -> fig_shared::Result<SecretString> {
        if let Some(s) = self
            .secrets
            .lock()
            .ok()
            .and_then(|m| m.get(&webhook.wrapped_secret).cloned())
        {
            return Ok(s);
        }
        let secret = webhooks::signing_secret(&self.app, webhook).await?;
        if let Ok(mut m) = self.secrets.lock() {
            m.insert(webhook.wrapped_secret.clone(), secret.clone());
        }
        Ok(secret)
    }

    async fn states(&self, event_id: &str) -> fig_shared::Result<HashMap<String, DeliveryState>> {
        let items = self
            .app
            .store
            .query_partition(&delivery_pk(event_id))
            .await?;
        let mut out = HashMap::new();
        for item in items {
            let id = store::sort_key(&item).to_owned();
            out.insert(id, store::from_item(item)?);
        }
        Ok(out)
    }

    async fn save_state(
        &self,
        event_id: &str,
        webhook: &str,
        state: &DeliveryState,
    ) -> fig_shared::Result<()> {
        let mut item = store::to_item(&delivery_pk(event_id), webhook, state)?;
        store::set(
            &mut item,
            "ttl",
            AttrValue::number(clock::now().unix_timestamp() + 7 * 86_400),
        );
        self.app.store.put_item(item).await
    }

    /// Handles one batch; a record whose delivery must be retried is a batch item failure.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut events = stream_events(&event);
        events.retain(|(_, audit)| webhooks::deliverable(audit));
        if events.is_empty() {
            return response;
        }
        let setup = async {
            let hooks = webhooks::load_all(&self.app).await?;
            let config = fig_shared::server_config::load(&self.app).await?;
            Ok::<_, fig_shared::Error>((hooks, config.webhook_allowed_hosts))
        };
        let (hooks, allowed) = match setup.await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks not loaded; the stream will retry");
                fail_from(&mut response, &events, 0);
                return response;
            }
        };
        if hooks.is_empty() {
            return response;
        }
        for (index, (_, audit)) in events.iter().enumerate() {
            match self.deliver(&hooks, &allowed, audit).await {
                Ok(true) => {}
                Ok(false) => {
                    fail_from(&mut response, &events, index);
                    return response;
                }
                Err(e) => {
                    tracing::warn!(error = %e, event = %audit.id, "webhook delivery state unavailable; the stream will retry");
                    fail_from(&mut response, &events, index);
                    return response;
                }
            }
        }
        response
    }

    /// Delivers one event to every matching webhook. `Ok(false)`: retry later.
    async fn deliver(
        &self,
        hooks: &[Webhook],
        allowed: &[String],
        audit: &AuditEvent,
    ) -> fig_shared::Result<bool> {
        let targets: Vec<(&Webhook, webhooks::WebhookType, serde_json::Value)> = hooks
            .iter()
            .filter_map(|h| webhooks::payload(h, audit).map(|(t, body)| (h, t, body)))
            .collect();
        if targets.is_empty() {
            return Ok(true);
        }
        let mut states = self.states(&audit.id).await?;
        let config = &self.app.config;
        let mut complete = true;
        let pending: Vec<_> = targets
            .into_iter()
            .filter_map(|(hook, kind, body)| {
                let state = states.remove(&hook.id).unwrap_or_default();
                (state.state != "delivered" && state.state != "dead")
                    .then_some((hook, kind, body, state))
            })
            .collect();
        // Back off once per event (the stream hands a failed record back at once), by the
        // longest wait any of its webhooks asked for.
        let wait = pending
            .iter()
            .map(|(.., state)| state.next_attempt - now_millis())
            .max()
            .unwrap_or(0);
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(
                u64::try_from(wait).unwrap_or(0).min(20_000),
            ))
            .await;
        }
        let several = pending.len() > 1;
        for (hook, kind, body, state) in pending {
            let secret = self.secret(hook).await?;
            let outcome = webhooks::send(
                self.app.outbound()?,
                hook,
                &secret,
                allowed,
                &audit.id,
                kind.name(),
                &body,
            )
            .await;
            webhooks::record_last_delivery(&self.app, &hook.id, &outcome).await;
            if outcome.ok {
                tracing::info!(webhook = %hook.id, event = %audit.id, "webhook delivered");
                // Remembered at once when the record may come back for another webhook's
                // sake (or a time-out of this invocation), so this one is not sent it again.
                if several || state.attempts > 0 {
                    self.save_state(
                        &audit.id,
                        &hook.id,
                        &DeliveryState {
                            state: "delivered".into(),
                            ..DeliveryState::default()
                        },
                    )
                    .await?;
                }
                continue;
            }
            let attempts = state.attempts + 1;
            let error = outcome.error.unwrap_or_else(|| "failed".into());
            tracing::warn!(webhook = %hook.id, event = %audit.id, attempts, error = %error, "webhook delivery failed");
            if attempts >= config.webhook_attempts {
                let letter = DeadLetter {
                    event_id: audit.id.clone(),
                    kind: kind.name().to_owned(),
                    time: clock::now_rfc3339(),
                    attempts,
                    last_error: error.clone(),
                };
                webhooks::put_dead_letter(&self.app, &hook.id, &letter).await?;
                tracing::error!(
                    alarm = fig_shared::telemetry::alarm::WEBHOOK_DEAD_LETTER,
                    webhook = %hook.id,
                    event = %audit.id,
                    attempts,
                    "webhook delivery gave up: dead letter"
                );
                self.app
                    .store
                    .record(&AuditEvent::new(
                        EventKind::WebhookDeliveryFailed {
                            webhook: hook.id.clone(),
                            event_id: audit.id.clone(),
                            attempts,
                            error: error.clone(),
                        },
                        Actor::System,
                        Source::default(),
                        clock::now(),
                    ))
                    .await?;
                self.save_state(
                    &audit.id,
                    &hook.id,
                    &DeliveryState {
                        state: "dead".into(),
                        attempts,
                        next_attempt: 0,
                        last_error: Some(error),
                    },
                )
                .await?;
                continue;
            }
            let backoff = config
                .webhook_backoff
                .saturating_mul(1 << (attempts - 1).min(10));
            self.save_state(
                &audit.id,
                &hook.id,
                &DeliveryState {
                    state: "retrying".into(),
                    attempts,
                    next_attempt: now_millis()
                        + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX / 2),
                    last_error: Some(error),
                },
            )
            .await?;
            complete = false;
        }
        Ok(complete)
    }
}

fn now_millis() -> i64 {
    i64::try_from(clock::now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Reports the record at `index` as failed: like Lambda, the stream resumes from it, so it and
/// every later record of the batch come back.
fn fail_from(
    response: &mut DynamoDbEventResponse,
    events: &[(Option<String>, AuditEvent)],
    index: usize,
) {
    if let Some((sequence, _)) = events.get(index) {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence.clone();
        response.batch_item_failures.push(failure);
    }
}
