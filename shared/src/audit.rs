//! The audit view (`GET /api/admin/audit`): recent events from the table's outbox.
//!
//! The outbox keeps every event for `FIG_EVENT_TTL_DAYS` (7 by default) in hourly partitions,
//! `EVENT#{hour}#{shard}`, with the event's ULID as sort key. A page walks the hours of the
//! range newest first, reads the shards of each hour in parallel pages (the type filter runs in
//! DynamoDB), applies the other filters and stops at the page size, or after
//! [`MAX_ITEMS_READ`] items read or [`MAX_QUERIES`] reads made (empty hours count), whichever
//! comes first; the cursor says where to go on. So the work of one request is bounded whatever
//! the range holds. Older events are in the S3 audit
//! trail (`figctl audit query`).
//!
//! Administrators see everything. Other roles see only events about the clients their filter
//! allows, and never user activity (logins, user management, MFA, configuration).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::App;
use crate::authz::require;
use crate::clock;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::policy::{Action, Principal, Resource};
use crate::store::{EVENT_SHARDS, OutboxItem};

/// Longest range one request may cover: the outbox's lifetime.
const MAX_RANGE_DAYS: i64 = 7;
/// Most outbox items one request reads (before filters): a page that reaches it ends early,
/// with a cursor, however many events the range holds.
pub const MAX_ITEMS_READ: usize = 2_000;
/// A cursor id above every event id (ULIDs start with 0-7): "this hour, from its newest event".
const TOP_OF_HOUR: &str = "ZZZZZZZZZZZZZZZZZZZZZZZZZZ";
/// Most reads (queries) one request makes, empty ones included: a long empty range ends early,
/// with a cursor.
pub const MAX_QUERIES: usize = 200;
/// Items asked of each shard per read.
const SHARD_PAGE: i32 = 100;
/// Default and largest page sizes.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// The query string of `GET /api/admin/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Start of the range (RFC 3339); default: 24 hours before `to`.
    pub from: Option<String>,
    /// End of the range (RFC 3339); default: now.
    pub to: Option<String>,
    /// Only this event type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only events by (or about) this user.
    pub user: Option<String>,
    /// Only events about this client.
    pub client: Option<String>,
    /// Page size (1 to 500; default 100).
    pub limit: Option<usize>,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
}

/// One page of events, newest first.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// The events, as recorded (the same JSON as the audit objects' lines).
    pub events: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::bad_request("INVALID_AUDIT_QUERY", message)
}

/// An RFC 3339 time, in UTC, between the years 2000 and 9000 (the outbox holds nothing else, and
/// every later step may add or subtract a week without leaving the calendar).
fn parse_time(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .ok()
                .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
                .filter(|t| (2000..=9000).contains(&t.year()))
                .ok_or_else(|| {
                    bad(format!(
                        "'{name}' must be an RFC 3339 time between the years 2000 and 9000."
                    ))
                })
        })
        .transpose()
}

/// Events of types that are about a user's activity (hidden from non-administrators).
fn is_user_activity(event: &Value) -> bool {
    event.get("client").is_none()
}

/// Whether `event` passes the filters.
fn matches(event: &Value, query: &AuditQuery) -> bool {
    let field = |path: &[&str]| {
        path.iter()
            .try_fold(event, |v, k| v.get(k))
            .and_then(Value::as_str)
    };
    if query
        .kind
        .as_deref()
        .is_some_and(|t| field(&["type"]) != Some(t))
    {
        return false;
    }
    if let Some(user) = query.user.as_deref() {
        let actor_is_user = field(&["actor", "kind"]) == Some("user");
        let by = actor_is_user && field(&["actor", "name"]) == Some(user);
        if !by && field(&["username"]) != Some(user) {
            return false;
        }
    }
    if let Some(client) = query.client.as_deref() {
        let about = field(&["client"]) == Some(client)
            || (field(&["actor", "kind"]) == Some("client")
                && field(&["actor", "name"]) == Some(client));
        if !about {
            return false;
        }
    }
    true
}

/// `GET /api/admin/audit`.
pub async fn query(
    app: &Arc<App>,
    principal: &Principal,
    query: AuditQuery,
    source: &Source,
) -> Result<AuditPage> {
    require(app, principal, Action::ReadAudit, Resource::None, source).await?;
    // Who may see user activity is the policy's call (Administrators today).
    let admin =
        crate::policy::authorize(principal, Action::ReadUserActivity, Resource::None).is_ok();
    let to = parse_time("to", query.to.as_deref())?.unwrap_or_else(clock::now);
    let from = parse_time("from", query.from.as_deref())?.unwrap_or(to - time::Duration::hours(24));
    if from > to {
        return Err(bad("'from' must not be after 'to'."));
    }
    if to - from > time::Duration::days(MAX_RANGE_DAYS) {
        return Err(bad(format!(
            "The range may cover at most {MAX_RANGE_DAYS} days; older events are in the S3 audit trail (figctl audit query)."
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("'limit' must be between 1 and {MAX_LIMIT}.")));
    }
    let (mut hour, mut before) = match query.cursor.as_deref() {
        Some(cursor) => {
            let (hour, id) = cursor
                .split_once('|')
                .filter(|(h, id)| h.len() == 13 && id.len() == 26)
                .ok_or_else(|| bad("'cursor' is not one this API returned."))?;
            let start = OffsetDateTime::parse(&format!("{hour}:00:00Z"), &Rfc3339)
                .map_err(|_| bad("'cursor' is not one this API returned."))?;
            (start, Some(id.to_owned()))
        }
        None => (truncate_to_hour(to), None),
    };
    let first_hour = truncate_to_hour(from);
    if hour > truncate_to_hour(to) || hour < first_hour {
        return Err(bad(
            "'cursor' is outside the requested range: pass the same from and to as for the first page.",
        ));
    }
    let visible = principal.client_matcher();
    let mut events = Vec::new();
    let mut budget = MAX_ITEMS_READ;
    let mut queries = 0;
    while hour >= first_hour {
        let label = clock::rfc3339(hour)
            .get(..13)
            .unwrap_or_default()
            .to_owned();
        // Read the hour in rounds: each round takes the next page of every shard that has
        // more, and handles the events every shard has been read down to.
        let mut shards: Vec<Shard> = (0..EVENT_SHARDS)
            .map(|shard| Shard {
                pk: crate::schema::outbox_pk(&label, shard),
                next: before.clone().map(Position::Below),
                done: false,
            })
            .collect();
        let mut pending: Vec<(String, Value)> = Vec::new();
        loop {
            let reads = shards.iter().filter(|s| !s.done).count();
            if budget == 0 || queries + reads > MAX_QUERIES {
                // Out of reads for this request: go on below the oldest event handled (or from
                // the top of this hour, when none of it was read yet).
                let resume = pending_frontier(&shards)
                    .or(before.clone())
                    .unwrap_or_else(|| TOP_OF_HOUR.to_owned());
                return Ok(AuditPage {
                    events,
                    next_cursor: Some(format!("{label}|{resume}")),
                });
            }
            queries += reads;
            let (read, batch) = read_round(app, &mut shards, query.kind.as_deref()).await?;
            budget = budget.saturating_sub(read);
            pending.extend(batch);
            // Every event at or above the frontier has been read from every shard.
            let frontier = pending_frontier(&shards);
            pending.sort_by(|a, b| b.0.cmp(&a.0));
            let ready = match &frontier {
                Some(f) => pending.iter().take_while(|(id, _)| id >= f).count(),
                None => pending.len(),
            };
            for (id, event) in pending.drain(..ready) {
                before = Some(id.clone());
                let time = event.get("time").and_then(Value::as_str).unwrap_or("");
                let in_range = parse_time("time", Some(time))
                    .ok()
                    .flatten()
                    .is_some_and(|t| t >= from && t <= to);
                if !in_range || !matches(&event, &query) {
                    continue;
                }
                if !admin {
                    let client = event.get("client").and_then(Value::as_str);
                    if is_user_activity(&event) || !client.is_some_and(|c| visible.sees(c)) {
                        continue;
                    }
                }
                events.push(event);
                if events.len() == limit {
                    return Ok(AuditPage {
                        events,
                        next_cursor: Some(format!("{label}|{id}")),
                    });
                }
            }
            if shards.iter().all(|s| s.done) {
                break;
            }
        }
        hour -= time::Duration::hours(1);
        before = None;
    }
    Ok(AuditPage {
        events,
        next_cursor: None,
    })
}

/// Where a shard's next read starts.
#[derive(Clone, Debug)]
enum Position {
    /// Below this event id (a cursor).
    Below(String),
    /// After this key (DynamoDB's own continuation).
    After(crate::store::Item),
}

/// One outbox shard of one hour, read newest first in pages.
#[derive(Debug)]
struct Shard {
    pk: String,
    next: Option<Position>,
    done: bool,
}

/// The oldest event id every shard has been read down to: events at or above it are complete.
/// `None` when every shard is exhausted.
fn pending_frontier(shards: &[Shard]) -> Option<String> {
    shards
        .iter()
        .filter(|s| !s.done)
        .filter_map(|s| match &s.next {
            Some(Position::After(key)) => crate::store::text(key, "SK").map(str::to_owned),
            Some(Position::Below(id)) => Some(id.clone()),
            None => None,
        })
        .max()
}

/// One page of every shard that has more, in parallel: how many items were read (before the
/// type filter, which runs in DynamoDB) and the events that passed it.
async fn read_round(
    app: &Arc<App>,
    shards: &mut [Shard],
    kind: Option<&str>,
) -> Result<(usize, Vec<(String, Value)>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, shard) in shards.iter().enumerate().filter(|(_, s)| !s.done) {
        let (app, pk, next, kind) = (
            app.clone(),
            shard.pk.clone(),
            shard.next.clone(),
            kind.map(str::to_owned),
        );
        tasks.spawn(async move {
            (
                i,
                shard_page(&app, &pk, next.as_ref(), kind.as_deref()).await,
            )
        });
    }
    let mut read = 0;
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, page) = joined.map_err(|_| Error::internal("audit shard task"))?;
        let (scanned, events, next) = page?;
        read += scanned;
        out.extend(events);
        if let Some(shard) = shards.get_mut(i) {
            shard.done = next.is_none();
            shard.next = next.map(Position::After);
        }
    }
    Ok((read, out))
}

/// One page of a shard, newest first, with the type filter applied by DynamoDB: the items
/// read, the events that passed, and where the next page starts (if there is one).
async fn shard_page(
    app: &App,
    pk: &str,
    position: Option<&Position>,
    kind: Option<&str>,
) -> Result<(usize, Vec<(String, Value)>, Option<crate::store::Item>)> {
    let (below, start) = match position {
        Some(Position::Below(id)) => (Some(id.as_str()), None),
        Some(Position::After(key)) => (None, Some(key.clone())),
        None => (None, None),
    };
    let (scanned, items, next) = app
        .store
        .query_page_descending(pk, below, start, kind.map(|k| ("eventType", k)), SHARD_PAGE)
        .await?;
    let mut out = Vec::new();
    for item in items {
        let id = crate::store::sort_key(&item).to_owned();
        let outbox: OutboxItem = crate::store::from_item(item)?;
        if let Ok(event) = serde_json::from_str::<Value>(&outbox.event) {
            out.push((id, event));
        }
    }
    Ok((scanned, out, next))
}

fn truncate_to_hour(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, actor: Value, client: Option<&str>) -> Value {
        let mut e =
            json!({"id": "x", "time": "2026-11-25T10:00:00Z", "type": kind, "actor": actor});
        if let Some(c) = client {
            e["client"] = json!(c);
        }
        e
    }

    #[test]
    fn filters_match_type_user_and_client() {
        let login = event(
            "LoginSucceeded",
            json!({"kind": "user", "name": "alice"}),
            None,
        );
        let change = event(
            "SettingValueChanged",
            json!({"kind": "user", "name": "bob"}),
            Some("billing"),
        );
        let read = event(
            "SettingsRead",
            json!({"kind": "client", "name": "billing"}),
            Some("billing"),
        );
        let q = |kind: Option<&str>, user: Option<&str>, client: Option<&str>| AuditQuery {
            kind: kind.map(Into::into),
            user: user.map(Into::into),
            client: client.map(Into::into),
            ..AuditQuery::default()
        };
        assert!(matches(&login, &q(Some("LoginSucceeded"), None, None)));
        assert!(!matches(&change, &q(Some("LoginSucceeded"), None, None)));
        assert!(matches(&login, &q(None, Some("alice"), None)));
        assert!(!matches(&change, &q(None, Some("alice"), None)));
        assert!(matches(&change, &q(None, None, Some("billing"))));
        assert!(matches(&read, &q(None, None, Some("billing"))));
        assert!(!matches(&login, &q(None, None, Some("billing"))));
        assert!(
            !matches(&read, &q(None, Some("billing"), None)),
            "a client is not a user"
        );
        assert!(is_user_activity(&login) && !is_user_activity(&change));
    }
}
