//! The typed events every action emits (DESIGN §7).
//!
//! One serde-tagged enum: the outbox item, the audit object line and (later) the webhook
//! payloads are all generated from it. No variant has a field that could hold a secret value,
//! a password, a token or a client secret.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Actor {
    /// An admin user (the name may be one that does not exist, for failed logins).
    User {
        /// User name as given (bounded, never a password).
        name: String,
    },
    /// A setting client.
    Client {
        /// Client name as given.
        name: String,
    },
    /// The service itself (bootstrap, key rolls).
    System,
}

/// Where the request came from. The address comes from the API Gateway request context,
/// never from a header the caller controls.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Source IP address.
    pub ip: Option<String>,
    /// User agent, as sent (bounded).
    pub user_agent: Option<String>,
    /// API request id.
    pub request_id: Option<String>,
}

/// Why a login failed. Internal: the caller sees the same 401 for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoginFailure {
    /// No such user.
    UnknownUser,
    /// Wrong password.
    WrongPassword,
    /// The user is disabled.
    Disabled,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// The first administrator was created.
    AdministratorBootstrapped {
        /// Its name.
        username: String,
    },
    /// A user logged in.
    LoginSucceeded,
    /// A login failed.
    LoginFailed {
        /// Internal reason.
        reason: LoginFailure,
    },
    /// A user changed their password.
    PasswordChanged,
    /// A password change was refused (wrong current password or a weak new one).
    PasswordChangeFailed {
        /// Internal reason code.
        reason: String,
    },
    /// A request was refused by the policy.
    AccessDenied {
        /// The action that was refused.
        action: String,
    },
    /// A new client registered (Fig: NewClientRegistration).
    NewClientRegistration {
        /// Client.
        client: String,
        /// Setting names.
        settings: Vec<String>,
    },
    /// A client changed its definitions (Fig: UpdatedClientRegistration).
    UpdatedClientRegistration {
        /// Client.
        client: String,
        /// Names added.
        added: Vec<String>,
        /// Names removed.
        removed: Vec<String>,
        /// Names whose definition changed.
        changed: Vec<String>,
    },
    /// A registration was refused (switched off, invalid secret...).
    RegistrationRefused {
        /// Client.
        client: String,
        /// Reason code.
        reason: String,
    },
    /// A client read its settings.
    SettingsRead {
        /// Client.
        client: String,
        /// Instance, if any.
        instance: Option<String>,
        /// How many values were returned.
        count: usize,
    },
    /// A client failed to authenticate (unknown client or wrong secret: same event).
    ClientAuthenticationFailed {
        /// Client name as given.
        client: String,
    },
    /// Setting values changed (Fig: SettingValueChanged). Names only, never values.
    SettingValueChanged {
        /// Client.
        client: String,
        /// Setting names.
        settings: Vec<String>,
        /// The admin's change message.
        change_message: String,
    },
}

/// Severity, for SIEM routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Routine.
    Info,
    /// Worth a look.
    Warning,
}

impl EventKind {
    /// The type name, as in the serialised `type` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AdministratorBootstrapped { .. } => "AdministratorBootstrapped",
            Self::LoginSucceeded => "LoginSucceeded",
            Self::LoginFailed { .. } => "LoginFailed",
            Self::PasswordChanged => "PasswordChanged",
            Self::PasswordChangeFailed { .. } => "PasswordChangeFailed",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::NewClientRegistration { .. } => "NewClientRegistration",
            Self::UpdatedClientRegistration { .. } => "UpdatedClientRegistration",
            Self::RegistrationRefused { .. } => "RegistrationRefused",
            Self::SettingsRead { .. } => "SettingsRead",
            Self::ClientAuthenticationFailed { .. } => "ClientAuthenticationFailed",
            Self::SettingValueChanged { .. } => "SettingValueChanged",
        }
    }

    /// Severity of this kind of event.
    pub fn severity(&self) -> Severity {
        match self {
            Self::LoginFailed { .. }
            | Self::PasswordChangeFailed { .. }
            | Self::AccessDenied { .. }
            | Self::RegistrationRefused { .. }
            | Self::ClientAuthenticationFailed { .. } => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// Whether the action succeeded.
    pub fn success(&self) -> bool {
        self.severity() == Severity::Info
    }
}

/// Longest user-supplied text kept in an event (names typed at a login prompt, user agents).
const MAX_FIELD: usize = 256;

/// One audit record: when, where, who, what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// ULID: unique and sortable by time.
    pub id: String,
    /// UTC, RFC 3339.
    pub time: String,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Severity.
    pub severity: Severity,
    /// Whether the action succeeded.
    pub success: bool,
    /// Who.
    pub actor: Actor,
    /// From where.
    pub source: Source,
}

impl AuditEvent {
    /// A new event at `now`.
    pub fn new(kind: EventKind, actor: Actor, source: Source, now: OffsetDateTime) -> Self {
        let bound = |s: String| s.chars().take(MAX_FIELD).collect::<String>();
        let actor = match actor {
            Actor::User { name } => Actor::User { name: bound(name) },
            Actor::Client { name } => Actor::Client { name: bound(name) },
            Actor::System => Actor::System,
        };
        let source = Source {
            ip: source.ip.map(bound),
            user_agent: source.user_agent.map(bound),
            request_id: source.request_id.map(bound),
        };
        let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        Self {
            id: ulid::Ulid::from_parts(millis, rand::random()).to_string(),
            time: now
                .to_offset(time::UtcOffset::UTC)
                .format(&Rfc3339)
                .unwrap_or_default(),
            severity: kind.severity(),
            success: kind.success(),
            kind,
            actor,
            source,
        }
    }

    /// One JSON line (no embedded newline can survive: JSON escapes CR and LF).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_in_user_fields_cannot_forge_a_line() {
        let event = AuditEvent::new(
            EventKind::LoginFailed {
                reason: LoginFailure::UnknownUser,
            },
            Actor::User {
                name: "x\"}\n{\"type\":\"LoginSucceeded\"\r\n".into(),
            },
            Source {
                user_agent: Some("a".repeat(10_000)),
                ..Source::default()
            },
            OffsetDateTime::now_utc(),
        );
        let line = event.to_json_line();
        assert!(!line.contains('\n') && !line.contains('\r'));
        let back: AuditEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.kind.name(), "LoginFailed");
        assert!(back.source.user_agent.unwrap().len() <= MAX_FIELD);
    }

    #[test]
    fn time_is_utc_rfc3339() {
        let event = AuditEvent::new(
            EventKind::LoginSucceeded,
            Actor::System,
            Source::default(),
            OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(5, 0, 0).unwrap()),
        );
        assert!(event.time.ends_with('Z'), "{}", event.time);
        assert!(OffsetDateTime::parse(&event.time, &Rfc3339).is_ok());
    }
}
