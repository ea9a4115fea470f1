//! What the operations' unit tests share: a caller's address, an administrator, secrets,
//! and the audit events the tables in memory hold ([`App::in_memory`]).

use crate::app::App;
use crate::events::Source;
use crate::policy::{Principal, Role};
use crate::secret::SecretString;

/// A caller from a documentation address.
pub(crate) fn source() -> Source {
    Source {
        ip: Some("203.0.113.7".into()),
        ..Source::default()
    }
}

/// An Administrator's principal (no user record behind it: the operations trust the
/// principal the HTTP layer proved).
pub(crate) fn administrator() -> Principal {
    Principal {
        username: "ada".into(),
        role: Role::Administrator,
        ..Principal::default()
    }
}

/// A principal of `role` named `username`.
pub(crate) fn principal(username: &str, role: Role) -> Principal {
    Principal {
        username: username.into(),
        role,
        ..Principal::default()
    }
}

/// A secret string.
pub(crate) fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Every audit event written so far, oldest first, as the JSON the audit trail receives.
pub(crate) fn recorded(app: &App) -> Vec<serde_json::Value> {
    app.store
        .recorded_events()
        .iter()
        .map(|line| serde_json::from_str(line).expect("an event is JSON"))
        .collect()
}

/// The types of [`recorded`] events, oldest first.
pub(crate) fn recorded_types(app: &App) -> Vec<String> {
    recorded(app)
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}
