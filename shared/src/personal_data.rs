//! Data-subject requests for the people who use the console (GDPR articles 15 and 17).
//!
//! - **Access** (`GET /api/admin/users/{username}/personal-data`, Administrators): everything the
//!   tables hold about the person: the profile (never the password hash, the TOTP secret or the
//!   recovery codes: those are credentials, not data about them), their sessions (when made, when
//!   they end; never the token hashes), whether MFA is enrolled, their login throttle counters
//!   with the addresses they signed in from, and their audit events of the outbox window (7
//!   days; a cursor goes on through `GET /api/admin/audit`). Older audit records are in the audit
//!   bucket: `figctl audit query --user` or Athena (README, "Personal data"). The export is
//!   itself audited (`PersonalDataExported`) before it is answered.
//! - **Erasure** is the user's deletion (`DELETE /api/admin/users/{username}`): it removes the
//!   profile, the MFA state, every session and the login throttle counters. What stays, and why,
//!   is in SECURITY.md: the audit records (under Object Lock for the configured retention: a
//!   security log kept under a legal obligation, erased by the bucket's lifecycle when it ends),
//!   their outbox copies (7 days), and the name of the author on a setting's value history.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::authz::require;
use crate::clock;
use crate::error::Result;
use crate::events::Source;
use crate::events::{AuditEvent, EventKind};
use crate::policy::{Action, Principal, Resource};
use crate::store::{Item, from_item};
use crate::users::{UserView, load_user};

/// One of the person's sessions (a refresh-token family).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// When it was made (sign-in).
    pub created: Option<String>,
    /// When it ends at the latest (epoch seconds).
    pub expires: Option<i64>,
}

/// One login throttle counter of the person's account (the account's own, or that of an
/// address they signed in from).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleView {
    /// `account`, or the address the counter is for.
    pub counter: String,
    /// Consecutive failures.
    pub failures: u64,
    /// Epoch seconds of the last failure.
    pub last_failure: i64,
    /// Epoch seconds until which the account is locked.
    pub locked_until: i64,
    /// Addresses with a recent successful sign-in, and when.
    pub known_good: Vec<(String, i64)>,
}

/// Everything the tables hold about a console user.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalData {
    /// The user name the request was for.
    pub username: String,
    /// When the export was made.
    pub exported: String,
    /// The profile; `null` once the user is deleted.
    pub profile: Option<UserView>,
    /// Whether TOTP is enrolled (and confirmed).
    pub mfa_enrolled: bool,
    /// Live sessions.
    pub sessions: Vec<SessionView>,
    /// Login throttle counters.
    pub login_throttle: Vec<ThrottleView>,
    /// Their audit events in the outbox window, newest first.
    pub audit_events: Vec<Value>,
    /// Start of the range the audit events were read from (pass as `from` with the cursor).
    pub audit_from: String,
    /// End of that range (pass as `to` with the cursor).
    pub audit_to: String,
    /// Where `GET /api/admin/audit?user=…&from=…&to=…` goes on, when the range holds more (one
    /// request reads a bounded number of hours and items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_cursor: Option<String>,
    /// Where the audit records older than the outbox window are.
    pub older_audit_records: &'static str,
}

fn sort_key(item: &Item) -> String {
    crate::store::sort_key(item).to_owned()
}

/// `GET /api/admin/users/{username}/personal-data` (Administrators).
pub async fn export(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    source: &Source,
) -> Result<PersonalData> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    // The name is checked before any key is built from it.
    crate::model::UserName::parse(username)?;
    let user = load_user(app, username).await?;
    let sessions = app
        .store
        .query_partition(&crate::schema::user_pk(username))
        .await?
        .into_iter()
        .filter(|item| sort_key(item).starts_with("SESSION#"))
        .map(from_item::<Value>)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .map(|s| SessionView {
            created: s["created"].as_str().map(str::to_owned),
            expires: s["expires"].as_i64(),
        })
        .collect();
    let login_throttle = app
        .store
        .query_partition(&crate::schema::account_throttle_pk(username))
        .await?
        .into_iter()
        .map(|item| {
            let counter = match sort_key(&item).strip_prefix("GOOD#") {
                Some(address) => address.to_owned(),
                None => "account".to_owned(),
            };
            from_item::<crate::throttle::AccountThrottle>(item).map(|t| ThrottleView {
                counter,
                failures: u64::from(t.failures),
                last_failure: t.last_failure,
                locked_until: t.locked_until,
                known_good: t.known_good,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let now = clock::now();
    let (audit_from, audit_to) = (
        clock::rfc3339(now - time::Duration::days(7)),
        clock::rfc3339(now),
    );
    let page = crate::audit::query(
        app,
        principal,
        crate::audit::AuditQuery {
            from: Some(audit_from.clone()),
            to: Some(audit_to.clone()),
            user: Some(username.to_owned()),
            limit: Some(500),
            ..Default::default()
        },
        source,
    )
    .await?;
    // Recorded before it is answered: an export nobody can see is not one.
    app.store
        .record(&AuditEvent::new(
            EventKind::PersonalDataExported {
                username: username.to_owned(),
            },
            crate::users::actor_of(principal),
            source.clone(),
            now,
        ))
        .await?;
    Ok(PersonalData {
        username: username.to_owned(),
        exported: clock::rfc3339(now),
        mfa_enrolled: user.as_ref().is_some_and(|u| u.mfa_enabled()),
        profile: user.as_ref().map(UserView::from),
        sessions,
        login_throttle,
        audit_events: page.events,
        audit_from,
        audit_to,
        audit_cursor: page.next_cursor,
        older_audit_records: "The audit bucket (retention: FIG_AUDIT_RETENTION_DAYS): figctl audit query --user <name>, or Athena (infra/athena.sql).",
    })
}
