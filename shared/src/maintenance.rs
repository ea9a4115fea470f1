//! Scheduled maintenance: key rotation on a timetable (run daily by a schedule on AWS).
//!
//! - The token signing key is rolled once the newest one is `FIG_SIGNING_KEY_ROTATION_DAYS`
//!   old (default 30). Tokens signed with the previous keys keep verifying
//!   ([`crate::keys::KEPT_SIGNING_KEYS`] are kept), so nobody is logged out.
//! - Each client whose current data key is `FIG_DATA_KEY_ROTATION_DAYS` old (default 90) gets a
//!   new one, with its definitions and values sealed again in one transaction, exactly as an
//!   administrator's rotation does (old keys stay for history). A client that cannot be
//!   rotated now (changed at the same moment, too large for one transaction) is reported and
//!   tried again at the next run; the others go on.
//!
//! - The audit trail is reconciled: every outbox event must have its record in the audit
//!   bucket; the missing ones are reported and written, under a new digest
//!   ([`crate::audit_trail::reconcile`]). Each run goes on, hour by hour, from the last hour a
//!   run fully checked (a mark in the table), so no hour of the outbox's window is skipped.
//!   `figctl audit verify --reconcile` does the same for any range.
//!
//! Every rotation is audited with actor `system`. A run is idempotent: a second run on the same
//! day finds nothing old enough and writes nothing.

use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use crate::app::App;
use crate::clients::{list_client_names, load_client, reseal_under_new_key};
use crate::error::Result;
use crate::events::{Actor, AuditEvent, EventKind, Source};

/// What a maintenance run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The new signing key's id, when the key was rolled.
    pub signing_key_rolled: Option<String>,
    /// Clients that got a new data key.
    pub data_keys_rotated: Vec<String>,
    /// Clients whose data key is due but could not be rotated now, with the error code.
    pub data_keys_failed: Vec<(String, String)>,
    /// The audit trail's reconciliation.
    pub reconciliation: crate::audit_trail::Reconciliation,
    /// A new origin secret was made (with `FIG_ORIGIN_VERIFY`).
    pub origin_secret_rotated: bool,
    /// The current origin secret was published to the distribution now.
    pub origin_secret_published: bool,
}

pub use crate::audit_trail::IN_FLIGHT_MINUTES;

fn system_event(kind: EventKind, now: OffsetDateTime) -> AuditEvent {
    AuditEvent::new(kind, Actor::System, Source::default(), now)
}

/// Runs the scheduled rotations that are due at `now` (publishing a new origin secret with
/// `publisher`; without one, as locally, the gateway reads it from the table), then reconciles
/// the audit trail.
pub async fn run(
    app: &Arc<App>,
    now: OffsetDateTime,
    publisher: Option<&dyn crate::origin::Publisher>,
) -> Result<Report> {
    let mut report = rotate(app, now).await?;
    // The pepper of client-secret hashes exists from the first run after a deploy: the
    // settings and admin functions may only read it.
    app.keys.secret_hasher().await?;
    if app.config.origin_verify {
        let hours = i64::from(app.config.origin_secret_rotation_hours);
        if let Some(rotation) = app
            .origin
            .rotate_if_due(
                time::Duration::hours(hours),
                time::Duration::hours(2 * hours),
                now,
            )
            .await?
        {
            report.origin_secret_rotated = rotation.rotated;
            // Published before it counts as published: until then it is not rotated again,
            // and the one the distribution sends stays accepted.
            let published = match publisher {
                Some(publisher) => publisher.publish(&rotation.secret).await,
                None => Ok(()),
            };
            match published {
                Ok(()) => {
                    app.origin.mark_published().await?;
                    report.origin_secret_published = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the origin secret could not be published; the previous one stays accepted, and the next run tries again")
                }
            }
        }
    }
    report.reconciliation = reconcile_recent(app, now).await?;
    if !report.reconciliation.missing.is_empty() {
        tracing::warn!(
            missing = report.reconciliation.missing.len(),
            "outbox events without an audit record were found and written"
        );
    }
    Ok(report)
}

/// The last hour the reconciliation has fully checked (`AUDIT` / `RECONCILED`).
const RECONCILED: (&str, &str) = crate::schema::AUDIT_RECONCILED;
/// How long one run may spend reconciling; the next run goes on from where it stopped.
const RECONCILE_BUDGET: std::time::Duration = std::time::Duration::from_secs(600);

/// Reconciles the outbox with the audit bucket hour by hour, oldest first, from the hour after
/// the last one fully reconciled (or the oldest the outbox keeps), writing what is missing and
/// moving the mark after each complete hour: a missed or failed run leaves no gap, and one
/// hour's events are in memory at a time.
pub async fn reconcile_recent(
    app: &App,
    now: OffsetDateTime,
) -> Result<crate::audit_trail::Reconciliation> {
    use crate::audit_trail::{AuditWriter, DigestChain, Reconciliation, reconcile_store};
    let chain = DigestChain::for_store(
        app.s3.clone(),
        &app.kms,
        &app.store,
        &app.config.audit_bucket,
        &app.config.audit_signing_key_id,
    );
    let writer = AuditWriter::new(
        app.s3.clone(),
        &app.config.audit_bucket,
        &app.config.kms_key_id,
        app.config.audit_retention_days,
    )
    .with_digests(chain);
    let hour = |t: OffsetDateTime| {
        t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
    };
    let until = now - time::Duration::minutes(IN_FLIGHT_MINUTES);
    let oldest = hour(now - time::Duration::days(i64::from(app.config.event_ttl_days)));
    let marked = app
        .store
        .get(RECONCILED.0, RECONCILED.1)
        .await?
        .and_then(|item| {
            let h = crate::store::text(&item, "through")?;
            OffsetDateTime::parse(
                &format!("{h}:00:00Z"),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        });
    let mut start = match marked {
        Some(through) => (through + time::Duration::hours(1)).max(oldest),
        None => oldest,
    };
    let started = std::time::Instant::now();
    let mut total = Reconciliation::default();
    while start <= until && started.elapsed() < RECONCILE_BUDGET {
        let end = start + time::Duration::hours(1) - time::Duration::milliseconds(1);
        let found = reconcile_store(
            &app.store,
            &app.s3,
            &app.config.audit_bucket,
            (start, end.min(until)),
            Some(&writer),
        )
        .await?;
        total.checked += found.checked;
        total.written += found.written;
        total.missing.extend(found.missing);
        if end > until {
            break;
        }
        let label = crate::clock::rfc3339(start)
            .get(..13)
            .unwrap_or_default()
            .to_owned();
        app.store
            .put_item(crate::store::to_item(
                RECONCILED.0,
                RECONCILED.1,
                &serde_json::json!({ "through": label }),
            )?)
            .await?;
        start += time::Duration::hours(1);
    }
    Ok(total)
}

async fn rotate(app: &Arc<App>, now: OffsetDateTime) -> Result<Report> {
    let mut report = Report::default();
    let days = |d: u32| time::Duration::days(i64::from(d));
    if app.config.signing_key_rotation_days > 0
        && let Some(kid) = app
            .keys
            .roll_signing_key_if_older_than(days(app.config.signing_key_rotation_days), now)
            .await?
    {
        app.store
            .record(&system_event(
                EventKind::SigningKeyRolled { kid: kid.clone() },
                now,
            ))
            .await?;
        report.signing_key_rolled = Some(kid);
    }
    if app.config.data_key_rotation_days == 0 {
        return Ok(report);
    }
    let max_age = days(app.config.data_key_rotation_days);
    for name in list_client_names(app).await? {
        let Some(state) = load_client(app, &name).await? else {
            continue;
        };
        // A key without a valid creation time is treated as due.
        if state.data_key_created().is_some_and(|t| now - t < max_age) {
            continue;
        }
        let rotated = reseal_under_new_key(app, &state, |dek_version, values| {
            system_event(
                EventKind::DataKeyRotated {
                    client: name.clone(),
                    dek_version,
                    values,
                },
                now,
            )
        })
        .await;
        match rotated {
            Ok(_) => report.data_keys_rotated.push(name),
            Err(e) => {
                let code = e.public().0.to_owned();
                tracing::warn!(client = %name, code = %code, "scheduled data-key rotation failed");
                report.data_keys_failed.push((name, code));
            }
        }
    }
    Ok(report)
}
