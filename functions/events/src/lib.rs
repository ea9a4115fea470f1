//! The `events` function: consumes the table's stream and writes every outbox event to the
//! audit bucket as JSON Lines, partitioned for Athena (docs/ARCHITECTURE.md §6).
//!
//! Each batch becomes one object per hour it spans, under
//! `audit/v1/date=YYYY-MM-DD/hour=HH/{first id}.jsonl`, with SSE-KMS and, when
//! configured, an Object Lock retention date. When S3 fails, the records of that object are
//! reported as batch item failures: the stream keeps them and delivers them again, so no
//! event is lost. A retried batch may write an event twice (in two objects); every event
//! carries a unique id, so readers de-duplicate by id. After the objects, one signed digest
//! per batch extends the chain `figctl audit verify` checks ([`fig_shared::audit_trail`]).
//!
//! The same binary is also the webhook consumer ([`webhooks`]); [`Consumer`] picks one.

use std::collections::BTreeMap;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use fig_shared::audit_trail::ObjectRef;
use fig_shared::events::{Actor, AuditEvent, EventKind, Source};
use fig_shared::store::OutboxItem;
use time::OffsetDateTime;

pub mod webhooks;

pub use fig_shared::audit_trail::AuditWriter;

/// The outbox event carried by a stream record, if it is one (an `INSERT` of an `EVENT#` item).
pub fn outbox_event(record: &EventRecord) -> Option<Result<AuditEvent, String>> {
    let is_event = matches!(
        record.change.keys.get("PK"),
        Some(serde_dynamo::AttributeValue::S(pk)) if pk.starts_with("EVENT#")
    );
    if record.event_name != "INSERT" || !is_event {
        return None;
    }
    let parsed = serde_dynamo::from_item::<_, OutboxItem>(record.change.new_image.clone())
        .map_err(|e| format!("outbox item: {e}"))
        .and_then(|item| {
            serde_json::from_str::<AuditEvent>(&item.event)
                .map_err(|e| format!("outbox event: {e}"))
        });
    Some(parsed)
}

/// A client heartbeat item removed by its TTL: the instance stopped reporting, so it is
/// disconnected (Fig's ClientStatusChanged). The stream's `REMOVE` record carries the keys.
pub fn disconnect_event(record: &EventRecord) -> Option<AuditEvent> {
    let key = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    if record.event_name != "REMOVE" {
        return None;
    }
    let client = key("PK")?
        .strip_prefix(fig_shared::schema::CLIENT_STATUS_PREFIX)?
        .to_owned();
    let run_session_id = key("SK")?;
    // Id and time come from the stream record, not the clock: a retried record is the same
    // event (same id for de-duplication and webhook delivery state, same bytes in S3).
    let millis = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    let when = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let seed = fig_shared::crypto::sha256(
        format!(
            "{}|{}",
            record.event_id,
            record.change.sequence_number.as_deref().unwrap_or_default()
        )
        .as_bytes(),
    );
    let mut random = [0u8; 16];
    random.copy_from_slice(&seed[..16]);
    let mut event = AuditEvent::new(
        EventKind::ClientStatusChanged {
            client,
            instance: None,
            run_session_id,
            hostname: None,
            status: "disconnected".into(),
        },
        Actor::System,
        Source::default(),
        when,
    );
    event.id = ulid::Ulid::from_parts(
        u64::try_from(millis).unwrap_or(0),
        u128::from_be_bytes(random),
    )
    .to_string();
    Some(event)
}

/// An event with the stream sequence number of its record.
type Sequenced = (Option<String>, AuditEvent);

/// The audit events a batch carries, in stream order: outbox inserts and heartbeat expiries.
/// A malformed outbox item is a bug, not a transient failure: retrying cannot fix it and would
/// block the stream, so it is logged and skipped (it stays in the table until its TTL).
pub fn stream_events(event: &Event) -> Vec<Sequenced> {
    let mut out = Vec::new();
    for record in &event.records {
        let sequence = record.change.sequence_number.clone();
        if let Some(audit) = disconnect_event(record) {
            out.push((sequence, audit));
            continue;
        }
        match outbox_event(record) {
            None => {}
            Some(Ok(audit)) => out.push((sequence, audit)),
            Some(Err(e)) => {
                tracing::error!(error = %e, sequence = ?record.change.sequence_number, "skipping malformed outbox record")
            }
        }
    }
    out
}

/// What a stream consumer does with its batches. On AWS each is its own event source mapping
/// on the table's stream (`FIG_EVENTS_CONSUMER=audit|webhooks`), so one never holds back the
/// other.
#[derive(Debug)]
pub enum Consumer {
    /// Writes the audit trail to S3.
    Audit(AuditWriter),
    /// Delivers webhooks.
    Webhooks(webhooks::WebhookDeliverer),
}

impl Consumer {
    /// Handles one batch.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        match self {
            Self::Audit(writer) => handle(writer, event).await,
            Self::Webhooks(deliverer) => deliverer.handle(event).await,
        }
    }
}

impl From<AuditWriter> for Consumer {
    fn from(writer: AuditWriter) -> Self {
        Self::Audit(writer)
    }
}

/// Handles one stream batch; S3 failures come back as batch item failures.
pub async fn handle(writer: &AuditWriter, event: Event) -> DynamoDbEventResponse {
    let mut groups: BTreeMap<(String, String), Vec<Sequenced>> = BTreeMap::new();
    for (sequence, audit) in stream_events(&event) {
        let date = audit.time.get(..10).unwrap_or("unknown").to_owned();
        let hour = audit.time.get(11..13).unwrap_or("00").to_owned();
        groups
            .entry((date, hour))
            .or_default()
            .push((sequence, audit));
    }
    let mut response = DynamoDbEventResponse::default();
    let mut written = Vec::new();
    for ((date, hour), events) in groups {
        let Some(first) = events.first() else {
            continue;
        };
        let (key, body, sha256) = fig_shared::audit_trail::event_object(
            &date,
            &hour,
            &first.1.id,
            events.iter().map(|(_, audit)| audit),
        );
        match writer.put(&key, body).await {
            Ok(()) => {
                tracing::info!(key = %key, events = events.len(), "audit object written");
                written.push((
                    ObjectRef {
                        key,
                        sha256,
                        events: events.len(),
                    },
                    events.into_iter().map(|(s, _)| s).collect::<Vec<_>>(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, key = %key, "audit object not written; the stream will retry");
                for (sequence, _) in events {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = sequence;
                    response.batch_item_failures.push(failure);
                }
            }
        }
    }
    // One signed digest for the objects of this batch. If it cannot be written, their records
    // fail too: the stream hands them back from the same first record, so the objects are
    // written again under the same keys (perhaps with more events: a new version of each) and
    // the next digest covers them.
    if let Some(chain) = writer.chain()
        && !written.is_empty()
    {
        let objects = written.iter().map(|(o, _)| o.clone()).collect();
        if let Err(e) = chain.append(objects, writer.retain_until()).await {
            tracing::warn!(error = %e, "audit digest not written; the stream will retry");
            for sequence in written.into_iter().flat_map(|(_, s)| s) {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = sequence;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, pk: &str, sk: &str) -> EventRecord {
        let mut r = EventRecord::default();
        r.event_name = name.into();
        r.change.keys = serde_dynamo::Item::from(std::collections::HashMap::from([
            ("PK".to_owned(), serde_dynamo::AttributeValue::S(pk.into())),
            ("SK".to_owned(), serde_dynamo::AttributeValue::S(sk.into())),
        ]));
        r
    }

    #[test]
    fn an_expired_heartbeat_is_a_disconnect() {
        let gone = disconnect_event(&record("REMOVE", "CLIENTSTATUS#billing", "run-7")).unwrap();
        match gone.kind {
            EventKind::ClientStatusChanged {
                client,
                run_session_id,
                status,
                ..
            } => {
                assert_eq!(
                    (client.as_str(), run_session_id.as_str(), status.as_str()),
                    ("billing", "run-7", "disconnected")
                );
            }
            other => panic!("{other:?}"),
        }
        let again = disconnect_event(&record("REMOVE", "CLIENTSTATUS#billing", "run-7")).unwrap();
        assert_eq!(
            (&again.id, &again.time),
            (&gone.id, &gone.time),
            "a retried record is the same event"
        );
        let mut other = record("REMOVE", "CLIENTSTATUS#billing", "run-7");
        other.change.sequence_number = Some("2".into());
        assert_ne!(
            disconnect_event(&other).unwrap().id,
            gone.id,
            "another record, another event"
        );
        assert!(disconnect_event(&record("INSERT", "CLIENTSTATUS#billing", "run-7")).is_none());
        assert!(disconnect_event(&record("REMOVE", "EVENT#2026-11-25T10#1", "x")).is_none());
        assert!(outbox_event(&record("REMOVE", "EVENT#2026-11-25T10#1", "x")).is_none());
    }
}
