//! The typed events every action emits (docs/ARCHITECTURE.md §6).
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
    /// The password was right, the TOTP code or recovery code was not.
    WrongSecondFactor,
}

/// Polls from one address, in a [`EventKind::SettingsPolled`] event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolledFrom {
    /// Source address (`None` when the request carried none).
    pub ip: Option<String>,
    /// How many `304`s it got.
    pub polls: u64,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum EventKind {
    /// The first administrator was created.
    AdministratorBootstrapped {
        /// Its name.
        username: String,
    },
    /// A user logged in.
    LoginSucceeded,
    /// Scheduled maintenance made a new origin secret (actor `system`): the distribution gets
    /// it next; the previous one stays accepted for a grace period.
    OriginSecretRotated,
    /// A login attempt was refused by throttling (429).
    AccountThrottled {
        /// Seconds the caller was told to wait.
        retry_after: i64,
    },
    /// Consecutive failures locked the account.
    AccountLocked {
        /// Consecutive failures so far.
        failures: u32,
        /// Lock length in seconds.
        seconds: i64,
    },
    /// A user logged out (refresh token revoked).
    LoggedOut,
    /// A refresh token was rotated.
    SessionRefreshed,
    /// A refresh token that had already been used was presented: the family is revoked.
    RefreshReuseDetected,
    /// A user's sessions were ended (by an administrator, a password change or disabling).
    SessionsTerminated {
        /// Whose.
        username: String,
        /// How many.
        count: usize,
    },
    /// An administrator created a user.
    UserCreated {
        /// The new user.
        username: String,
        /// Its role.
        role: String,
    },
    /// An administrator changed a user.
    UserUpdated {
        /// The user.
        username: String,
        /// Names of the fields that changed.
        changes: Vec<String>,
    },
    /// A user's role changed.
    UserRoleChanged {
        /// The user.
        username: String,
        /// Old role.
        from: String,
        /// New role.
        to: String,
    },
    /// An administrator deleted a user.
    UserDeleted {
        /// The user.
        username: String,
    },
    /// An administrator exported what Fig stores about a user (a data-subject access request).
    PersonalDataExported {
        /// The user.
        username: String,
    },
    /// An administrator reset a user's password.
    PasswordReset {
        /// The user.
        username: String,
    },
    /// A user started TOTP enrolment (a new secret, not yet confirmed).
    MfaEnrollmentStarted,
    /// A user enrolled TOTP.
    MfaEnrolled,
    /// A user disabled TOTP.
    MfaDisabled,
    /// A recovery code was used to log in.
    MfaRecoveryCodeUsed {
        /// Codes left.
        remaining: usize,
    },
    /// An administrator changed the server configuration.
    ServerConfigurationChanged {
        /// Names of the settings that changed.
        changes: Vec<String>,
    },
    /// An MFA enrolment, confirmation or disable was refused.
    MfaChangeFailed {
        /// Reason code.
        reason: String,
    },
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
    /// A warm instance's `304` answers to one client (and instance), in aggregate: polls that
    /// found nothing changed disclose nothing, so they are not one event each (see
    /// [`crate::polls`]).
    SettingsPolled {
        /// Client.
        client: String,
        /// Instance, if any.
        instance: Option<String>,
        /// How many `304`s.
        polls: u64,
        /// The first of them (UTC, RFC 3339).
        first: String,
        /// The last of them.
        last: String,
        /// Where they came from, with counts (at most [`crate::polls::MAX_ADDRESSES`]).
        addresses: Vec<PolledFrom>,
        /// Polls from further addresses.
        other_addresses: u64,
    },
    /// A client failed to authenticate (unknown client or wrong secret: same event).
    ClientAuthenticationFailed {
        /// Client name as given.
        client: String,
    },
    /// A client name was refused by throttling after too many failed authentications.
    ClientThrottled {
        /// Client name as given.
        client: String,
        /// Seconds the caller was told to wait.
        retry_after: i64,
    },
    /// An administrator created an instance of a client (a copy of its values).
    InstanceCreated {
        /// Client.
        client: String,
        /// Instance.
        instance: String,
    },
    /// An administrator deleted an instance (its clients fall back to the base values).
    InstanceDeleted {
        /// Client.
        client: String,
        /// Instance.
        instance: String,
    },
    /// An administrator deleted a client with its values and instances.
    ClientDeleted {
        /// Client.
        client: String,
    },
    /// An administrator created a webhook.
    WebhookCreated {
        /// Webhook id.
        webhook: String,
        /// Target host (never the whole URL: it may carry a token).
        host: String,
        /// Event types it receives.
        types: Vec<String>,
    },
    /// An administrator changed a webhook, or its signing secret.
    WebhookUpdated {
        /// Webhook id.
        webhook: String,
        /// Target host.
        host: String,
        /// Event types it receives.
        types: Vec<String>,
        /// Whether the signing secret was replaced (never the secret itself).
        #[serde(default)]
        secret_rotated: bool,
    },
    /// An administrator sent a test event to a webhook.
    WebhookTested {
        /// Webhook id.
        webhook: String,
        /// Whether the receiver answered 2xx.
        delivered: bool,
    },
    /// An administrator deleted a webhook.
    WebhookDeleted {
        /// Webhook id.
        webhook: String,
    },
    /// A webhook delivery failed for the last time and became a dead letter.
    WebhookDeliveryFailed {
        /// Webhook id.
        webhook: String,
        /// The event that was not delivered.
        event_id: String,
        /// Attempts made.
        attempts: u32,
        /// Last error (status or transport error, no body).
        error: String,
    },
    /// An administrator exported clients.
    ClientsExported {
        /// How many clients.
        clients: usize,
        /// Whether secret values were included (sealed with a passphrase).
        with_secrets: bool,
    },
    /// An administrator imported clients.
    ClientsImported {
        /// Import mode.
        mode: String,
        /// Clients written.
        clients: Vec<String>,
        /// Values written.
        values: usize,
    },
    /// The token signing key was rolled by scheduled maintenance (actor `system`): new tokens
    /// are signed with the new key; the previous ones still verify.
    SigningKeyRolled {
        /// The new key's id (`kid`; public).
        kid: String,
    },
    /// A client's data key was rotated (by an administrator, or by scheduled maintenance with
    /// actor `system`): definitions and values were sealed again under a new key (the old one
    /// stays, for history).
    DataKeyRotated {
        /// Client.
        client: String,
        /// The new key's version.
        dek_version: u32,
        /// Values sealed again.
        values: usize,
    },
    /// An administrator made a secret setting plain: its values (base and instances) were
    /// deleted with it, and its history after.
    SettingDeclassified {
        /// Client.
        client: String,
        /// Setting name.
        setting: String,
        /// Values deleted.
        values: usize,
    },
    /// An administrator rotated a client's secret.
    ClientSecretRotated {
        /// Client.
        client: String,
        /// How long the old secret keeps working.
        grace_minutes: u32,
    },
    /// A client instance connected or disconnected (Fig: ClientStatusChanged).
    ClientStatusChanged {
        /// Client.
        client: String,
        /// Instance, if any.
        instance: Option<String>,
        /// The run session (one process of the service).
        run_session_id: String,
        /// Host name the service reported.
        hostname: Option<String>,
        /// `connected` or `disconnected`.
        status: String,
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
            Self::OriginSecretRotated => "OriginSecretRotated",
            Self::AccountThrottled { .. } => "AccountThrottled",
            Self::AccountLocked { .. } => "AccountLocked",
            Self::LoggedOut => "LoggedOut",
            Self::SessionRefreshed => "SessionRefreshed",
            Self::RefreshReuseDetected => "RefreshReuseDetected",
            Self::SessionsTerminated { .. } => "SessionsTerminated",
            Self::UserCreated { .. } => "UserCreated",
            Self::UserUpdated { .. } => "UserUpdated",
            Self::UserRoleChanged { .. } => "UserRoleChanged",
            Self::UserDeleted { .. } => "UserDeleted",
            Self::PersonalDataExported { .. } => "PersonalDataExported",
            Self::PasswordReset { .. } => "PasswordReset",
            Self::MfaEnrollmentStarted => "MfaEnrollmentStarted",
            Self::MfaEnrolled => "MfaEnrolled",
            Self::MfaDisabled => "MfaDisabled",
            Self::MfaRecoveryCodeUsed { .. } => "MfaRecoveryCodeUsed",
            Self::MfaChangeFailed { .. } => "MfaChangeFailed",
            Self::ServerConfigurationChanged { .. } => "ServerConfigurationChanged",
            Self::LoginFailed { .. } => "LoginFailed",
            Self::PasswordChanged => "PasswordChanged",
            Self::PasswordChangeFailed { .. } => "PasswordChangeFailed",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::NewClientRegistration { .. } => "NewClientRegistration",
            Self::UpdatedClientRegistration { .. } => "UpdatedClientRegistration",
            Self::RegistrationRefused { .. } => "RegistrationRefused",
            Self::SettingsRead { .. } => "SettingsRead",
            Self::SettingsPolled { .. } => "SettingsPolled",
            Self::ClientAuthenticationFailed { .. } => "ClientAuthenticationFailed",
            Self::SettingValueChanged { .. } => "SettingValueChanged",
            Self::ClientThrottled { .. } => "ClientThrottled",
            Self::ClientSecretRotated { .. } => "ClientSecretRotated",
            Self::SettingDeclassified { .. } => "SettingDeclassified",
            Self::DataKeyRotated { .. } => "DataKeyRotated",
            Self::SigningKeyRolled { .. } => "SigningKeyRolled",
            Self::ClientDeleted { .. } => "ClientDeleted",
            Self::WebhookCreated { .. } => "WebhookCreated",
            Self::WebhookUpdated { .. } => "WebhookUpdated",
            Self::WebhookDeleted { .. } => "WebhookDeleted",
            Self::WebhookTested { .. } => "WebhookTested",
            Self::WebhookDeliveryFailed { .. } => "WebhookDeliveryFailed",
            Self::ClientsExported { .. } => "ClientsExported",
            Self::ClientsImported { .. } => "ClientsImported",
            Self::InstanceCreated { .. } => "InstanceCreated",
            Self::InstanceDeleted { .. } => "InstanceDeleted",
            Self::ClientStatusChanged { .. } => "ClientStatusChanged",
        }
    }

    /// Severity of this kind of event.
    pub fn severity(&self) -> Severity {
        match self {
            Self::LoginFailed { .. }
            | Self::AccountThrottled { .. }
            | Self::AccountLocked { .. }
            | Self::RefreshReuseDetected
            | Self::MfaChangeFailed { .. }
            | Self::PasswordChangeFailed { .. }
            | Self::AccessDenied { .. }
            | Self::RegistrationRefused { .. }
            | Self::ClientThrottled { .. }
            | Self::ClientAuthenticationFailed { .. }
            | Self::WebhookDeliveryFailed { .. } => Severity::Warning,
            _ => Severity::Info,
        }
    }

    /// Whether the action succeeded.
    pub fn success(&self) -> bool {
        self.severity() == Severity::Info
    }
}

/// Fig's SecurityEvent webhook shape (docs/ARCHITECTURE.md §6): exactly these fields, plus the audit id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FigSecurityEvent {
    /// Fig's event type name.
    pub event_type: String,
    /// UTC RFC 3339.
    pub timestamp: String,
    /// The user concerned (or the name typed at the login prompt).
    pub username: Option<String>,
    /// Whether the action succeeded.
    pub success: bool,
    /// Source address.
    pub ip_address: Option<String>,
    /// Host name of the caller, when known.
    pub hostname: Option<String>,
    /// Why it failed, for failures.
    pub failure_reason: Option<String>,
    /// The audit record's id.
    pub audit_id: String,
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

    /// The Fig SecurityEvent this record maps to, for identity and access events.
    pub fn fig_security_event(&self) -> Option<FigSecurityEvent> {
        let actor_name = match &self.actor {
            Actor::User { name } => Some(name.clone()),
            _ => None,
        };
        let (event_type, username, failure_reason) = match &self.kind {
            EventKind::LoginSucceeded => ("Login", actor_name, None),
            EventKind::LoginFailed { reason } => (
                "Login",
                actor_name,
                Some(
                    match reason {
                        LoginFailure::UnknownUser | LoginFailure::WrongPassword => {
                            "Invalid username or password"
                        }
                        LoginFailure::Disabled => "User disabled",
                        LoginFailure::WrongSecondFactor => "Invalid second factor",
                    }
                    .to_owned(),
                ),
            ),
            EventKind::AccountThrottled { .. } => (
                "LoginThrottled",
                actor_name,
                Some("Too many failed attempts".into()),
            ),
            EventKind::AccountLocked { .. } => (
                "AccountLocked",
                actor_name,
                Some("Too many failed attempts".into()),
            ),
            EventKind::LoggedOut => ("Logout", actor_name, None),
            EventKind::RefreshReuseDetected => (
                "RefreshTokenReuse",
                actor_name,
                Some("A used refresh token was presented".into()),
            ),
            EventKind::SessionsTerminated { username, .. } => {
                ("SessionsTerminated", Some(username.clone()), None)
            }
            EventKind::UserCreated { username, .. } => {
                ("UserCreated", Some(username.clone()), None)
            }
            EventKind::UserUpdated { username, .. } => {
                ("UserUpdated", Some(username.clone()), None)
            }
            EventKind::UserRoleChanged { username, .. } => {
                ("UserRoleChanged", Some(username.clone()), None)
            }
            EventKind::UserDeleted { username } => ("UserDeleted", Some(username.clone()), None),
            EventKind::PersonalDataExported { username } => {
                ("PersonalDataExported", Some(username.clone()), None)
            }
            EventKind::PasswordChanged => ("PasswordChanged", actor_name, None),
            EventKind::PasswordChangeFailed { reason } => {
                ("PasswordChanged", actor_name, Some(reason.clone()))
            }
            EventKind::PasswordReset { username } => {
                ("PasswordReset", Some(username.clone()), None)
            }
            EventKind::MfaEnrollmentStarted => ("MfaEnrollmentStarted", actor_name, None),
            EventKind::MfaEnrolled => ("MfaEnrolled", actor_name, None),
            EventKind::MfaDisabled => ("MfaDisabled", actor_name, None),
            EventKind::MfaRecoveryCodeUsed { .. } => ("MfaRecoveryCodeUsed", actor_name, None),
            EventKind::MfaChangeFailed { reason } => {
                ("MfaChangeFailed", actor_name, Some(reason.clone()))
            }
            EventKind::AccessDenied { action } => {
                ("AccessDenied", actor_name, Some(action.clone()))
            }
            _ => return None,
        };
        Some(FigSecurityEvent {
            event_type: event_type.to_owned(),
            timestamp: self.time.clone(),
            username,
            success: self.success,
            ip_address: self.source.ip.clone(),
            hostname: None,
            failure_reason,
            audit_id: self.id.clone(),
        })
    }

    /// One JSON line (no embedded newline can survive: JSON escapes CR and LF).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variant field named like an [`AuditEvent`] field (`id`, `time`...) would be written
    /// twice by `flatten` and make the record unreadable: every kind must survive a round trip.
    #[test]
    fn records_round_trip() {
        let kinds = vec![
            EventKind::WebhookCreated {
                webhook: "w".into(),
                host: "h".into(),
                types: vec!["SecurityEvent".into()],
            },
            EventKind::WebhookUpdated {
                webhook: "w".into(),
                host: "h".into(),
                types: vec![],
                secret_rotated: true,
            },
            EventKind::WebhookDeleted {
                webhook: "w".into(),
            },
            EventKind::SigningKeyRolled {
                kid: "01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
            },
            EventKind::WebhookTested {
                webhook: "w".into(),
                delivered: true,
            },
            EventKind::WebhookDeliveryFailed {
                webhook: "w".into(),
                event_id: "e".into(),
                attempts: 5,
                error: "HTTP 500".into(),
            },
            EventKind::ClientDeleted { client: "c".into() },
            EventKind::ClientsExported {
                clients: 2,
                with_secrets: true,
            },
            EventKind::ClientsImported {
                mode: "replaceClients".into(),
                clients: vec!["c".into()],
                values: 3,
            },
            EventKind::SettingValueChanged {
                client: "c".into(),
                settings: vec!["s".into()],
                change_message: "m".into(),
            },
            EventKind::LoginFailed {
                reason: LoginFailure::Disabled,
            },
        ];
        for kind in kinds {
            let event = AuditEvent::new(
                kind,
                Actor::System,
                Source::default(),
                OffsetDateTime::now_utc(),
            );
            let line = event.to_json_line();
            let back: AuditEvent =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(back, event);
        }
    }

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
    fn security_events_carry_figs_fields_exactly() {
        let event = AuditEvent::new(
            EventKind::LoginFailed {
                reason: LoginFailure::WrongPassword,
            },
            Actor::User {
                name: "alice".into(),
            },
            Source {
                ip: Some("198.51.100.4".into()),
                ..Source::default()
            },
            OffsetDateTime::now_utc(),
        );
        let fig = serde_json::to_value(event.fig_security_event().unwrap()).unwrap();
        let mut keys: Vec<&str> = fig
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
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
        assert_eq!(fig["success"], false);
        assert_eq!(fig["username"], "alice");
        assert_eq!(fig["ipAddress"], "198.51.100.4");
        let read = AuditEvent::new(
            EventKind::SettingsRead {
                client: "c".into(),
                instance: None,
                count: 1,
            },
            Actor::Client { name: "c".into() },
            Source::default(),
            OffsetDateTime::now_utc(),
        );
        assert!(read.fig_security_event().is_none());
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
