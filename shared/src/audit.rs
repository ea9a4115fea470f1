//! The audit view (`GET /api/admin/audit`): recent events from the table's outbox.
//!
//! The outbox keeps every event for `FIG_EVENT_TTL_DAYS` (7 by default) in hourly partitions,
//! `EVENT#{hour}#{shard}`, with the event's ULID as sort key. A page walks the hours of the
//! range newest first, merges the shards of each hour, applies the filters and stops at the
//! page size; the cursor says where to go on. Older events are in the S3 audit trail
//! (`figctl audit query`).
//!
//! Administrators see everything. Other roles see only events about the clients their filter
//! allows, and never user activity (logins, user management, MFA, configuration).

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::admin::require;
use crate::app::App;
use crate::clock;
use crate::error::{Error, Result};
use crate::http::Caller;
use crate::policy::{Action, Principal, Resource};
use crate::store::{EVENT_SHARDS, OutboxItem};

/// Longest range one request may cover: the outbox's lifetime.
const MAX_RANGE_DAYS: i64 = 7;
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

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map_err(|_| bad(format!("'{name}' must be an RFC 3339 time.")))
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
    caller: &Caller,
) -> Result<AuditPage> {
    require(app, principal, Action::ReadAudit, Resource::None, caller).await?;
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
    let mut events = Vec::new();
    while hour >= first_hour {
        let label = clock::rfc3339(hour)
            .get(..13)
            .unwrap_or_default()
            .to_owned();
        let mut batch = hour_events(app, &label, before.as_deref()).await?;
        batch.sort_by(|a, b| b.0.cmp(&a.0));
        for (id, event) in batch {
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
                if is_user_activity(&event) || !client.is_some_and(|c| principal.sees_client(c)) {
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
        hour -= time::Duration::hours(1);
        before = None;
    }
    Ok(AuditPage {
        events,
        next_cursor: None,
    })
}

fn truncate_to_hour(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_time(time::Time::from_hms(t.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

/// Every event of one hour (its shards read in parallel), older than `before` when given, as
/// `(id, event)`.
async fn hour_events(
    app: &Arc<App>,
    hour: &str,
    before: Option<&str>,
) -> Result<Vec<(String, Value)>> {
    let mut shards = tokio::task::JoinSet::new();
    for shard in 0..EVENT_SHARDS {
        let (app, pk, before) = (
            app.clone(),
            format!("EVENT#{hour}#{shard}"),
            before.map(str::to_owned),
        );
        shards.spawn(async move { shard_events(&app, &pk, before.as_deref()).await });
    }
    let mut out = Vec::new();
    while let Some(joined) = shards.join_next().await {
        out.extend(joined.map_err(|_| Error::internal("audit shard task"))??);
    }
    Ok(out)
}

async fn shard_events(app: &App, pk: &str, before: Option<&str>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let mut request = app
            .store
            .client()
            .query()
            .table_name(app.store.table())
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .set_exclusive_start_key(start)
            .scan_index_forward(false);
        request = match before {
            Some(id) => request
                .key_condition_expression("PK = :pk AND SK < :before")
                .expression_attribute_values(":before", AttributeValue::S(id.to_owned())),
            None => request.key_condition_expression("PK = :pk"),
        };
        let page = request
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query events: {e:?}")))?;
        for item in page.items.unwrap_or_default() {
            let id = crate::store::sort_key(&item).to_owned();
            let outbox: OutboxItem = crate::store::from_item(item)?;
            if let Ok(event) = serde_json::from_str::<Value>(&outbox.event) {
                out.push((id, event));
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(out),
        }
    }
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
