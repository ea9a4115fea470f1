//! The one policy that decides every admin request (docs/ARCHITECTURE.md §3). Default deny; handlers ask,
//! never decide.
//!
//! - Roles as in Fig: Administrator (everything), User (edit values within a client filter and
//!   allowed classifications), ReadOnly (read within the client filter).
//! - A client filter is a regular expression matched against the whole client name (anchored:
//!   `billing` does not match `billing-old`). No filter means every client.
//! - A list of classifications allows editing exactly the settings of those classifications:
//!   `[]` allows none, and settings without a classification need `Unclassified` in the list.
//!   No list means every classification.
//! - While a password change is required, only the password change is allowed; while MFA
//!   enrolment is required, only enrolment and the password change.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The classification a setting without one has, for user permissions: a User limited to a
/// list of classifications may edit such settings only when the list names `Unclassified`.
pub const UNCLASSIFIED: &str = "Unclassified";

/// Roles, as in Fig.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Role {
    /// Everything.
    Administrator,
    /// Edit settings within a client filter and allowed classifications.
    User,
    /// Read only.
    #[default]
    ReadOnly,
}

/// An authenticated admin user, from a verified access token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Regex of the clients this user may see (anchored); `None`: all.
    pub client_filter: Option<String>,
    /// Classifications this user may edit; `None`: all.
    pub classifications: Option<Vec<String>>,
    /// Until the password is changed, only [`Action::ChangeOwnPassword`] is allowed.
    pub password_change_required: bool,
    /// Until MFA is enrolled, only enrolment and the password change are allowed.
    pub mfa_enrollment_required: bool,
    /// The session (refresh-token family) the token belongs to.
    pub session: Option<String>,
}

/// Things a user may try to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Change one's own password.
    ChangeOwnPassword,
    /// Read one's own profile.
    ReadOwnProfile,
    /// Enrol, confirm or disable one's own MFA.
    ManageOwnMfa,
    /// See a client: definitions and non-secret values.
    ReadClient,
    /// Change setting values.
    EditSettings,
    /// Read value history.
    ReadHistory,
    /// Delete a client, manage its instances, rotate its secret.
    ManageClients,
    /// Create, read, update, delete users; reset passwords; end sessions.
    ManageUsers,
    /// Read the server configuration.
    ReadConfiguration,
    /// Change the server configuration.
    WriteConfiguration,
    /// Manage webhooks.
    ManageWebhooks,
    /// Read audit events (filtered by role).
    ReadAudit,
    /// Read user activity in the audit trail.
    ReadUserActivity,
    /// Export and import.
    ImportExport,
}

impl Action {
    /// Every action, for exhaustive tests.
    pub const ALL: [Action; 14] = [
        Self::ChangeOwnPassword,
        Self::ReadOwnProfile,
        Self::ManageOwnMfa,
        Self::ReadClient,
        Self::EditSettings,
        Self::ReadHistory,
        Self::ManageClients,
        Self::ManageUsers,
        Self::ReadConfiguration,
        Self::WriteConfiguration,
        Self::ManageWebhooks,
        Self::ReadAudit,
        Self::ReadUserActivity,
        Self::ImportExport,
    ];

    /// Stable name, for audit records.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChangeOwnPassword => "ChangeOwnPassword",
            Self::ReadOwnProfile => "ReadOwnProfile",
            Self::ManageOwnMfa => "ManageOwnMfa",
            Self::ReadClient => "ReadClient",
            Self::EditSettings => "EditSettings",
            Self::ReadHistory => "ReadHistory",
            Self::ManageClients => "ManageClients",
            Self::ManageUsers => "ManageUsers",
            Self::ReadConfiguration => "ReadConfiguration",
            Self::WriteConfiguration => "WriteConfiguration",
            Self::ManageWebhooks => "ManageWebhooks",
            Self::ReadAudit => "ReadAudit",
            Self::ReadUserActivity => "ReadUserActivity",
            Self::ImportExport => "ImportExport",
        }
    }
}

/// What the action is on.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// Nothing in particular (lists, one's own account, server-wide things).
    None,
    /// A client.
    Client(&'a str),
    /// A setting of a client, with its classification.
    Setting {
        /// Client name.
        client: &'a str,
        /// The setting's classification, if it has one.
        classification: Option<&'a str>,
    },
}

/// Compiles a client filter, anchored at both ends. Linear-time engine; bounded size. The
/// filter must be a whole expression on its own (`a)|(.*` is refused), so the anchoring group
/// around it cannot be closed early and escaped.
pub fn compile_client_filter(filter: &str) -> Result<Regex> {
    if regex_syntax::Parser::new().parse(filter).is_err() {
        return Err(Error::bad_request(
            "INVALID_CLIENT_FILTER",
            "The client filter is not a valid regular expression (or is too large).",
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{filter})$"))
        .size_limit(1 << 16)
        .build()
        .map_err(|_| {
            Error::bad_request(
                "INVALID_CLIENT_FILTER",
                "The client filter is not a valid regular expression (or is too large).",
            )
        })
}

/// A principal's client filter, compiled once for checking many clients.
#[derive(Clone, Debug)]
pub enum ClientMatcher {
    /// Every client (Administrators, and users without a filter).
    All,
    /// Clients whose whole name matches.
    Filter(Regex),
    /// No client (a filter that no longer compiles: fail closed).
    Nothing,
}

impl ClientMatcher {
    /// Whether `client` passes.
    pub fn sees(&self, client: &str) -> bool {
        match self {
            Self::All => true,
            Self::Filter(re) => re.is_match(client),
            Self::Nothing => false,
        }
    }
}

impl Principal {
    /// This user's client filter, compiled.
    pub fn client_matcher(&self) -> ClientMatcher {
        match (&self.role, &self.client_filter) {
            (Role::Administrator, _) | (_, None) => ClientMatcher::All,
            (_, Some(filter)) => match compile_client_filter(filter) {
                Ok(re) => ClientMatcher::Filter(re),
                Err(_) => ClientMatcher::Nothing,
            },
        }
    }

    /// Whether the client filter lets this user see `client`. A filter that no longer
    /// compiles lets nothing through (fail closed). To check many clients, compile the filter
    /// once with [`Principal::client_matcher`].
    pub fn sees_client(&self, client: &str) -> bool {
        self.client_matcher().sees(client)
    }

    /// A limited list allows exactly the classifications it names: `[]` allows no edit, and a
    /// setting without a classification counts as [`UNCLASSIFIED`], which must be listed too.
    fn may_edit_classification(&self, classification: Option<&str>) -> bool {
        match (&self.role, &self.classifications) {
            (Role::Administrator, _) | (_, None) => true,
            (_, Some(allowed)) => {
                let wanted = classification.unwrap_or(UNCLASSIFIED);
                allowed.iter().any(|a| a == wanted)
            }
        }
    }
}

/// Decides whether `principal` may do `action` on `resource`.
pub fn authorize(principal: &Principal, action: Action, resource: Resource<'_>) -> Result<()> {
    if principal.password_change_required {
        return if action == Action::ChangeOwnPassword {
            Ok(())
        } else {
            Err(Error::Forbidden {
                code: "PASSWORD_CHANGE_REQUIRED",
                message: "Change your password before doing anything else.",
            })
        };
    }
    if principal.mfa_enrollment_required
        && !matches!(
            action,
            Action::ChangeOwnPassword | Action::ManageOwnMfa | Action::ReadOwnProfile
        )
    {
        return Err(Error::Forbidden {
            code: "MFA_ENROLLMENT_REQUIRED",
            message: "Set up two-factor authentication before doing anything else.",
        });
    }
    let admin = principal.role == Role::Administrator;
    let role_allows = match action {
        Action::ChangeOwnPassword
        | Action::ReadOwnProfile
        | Action::ManageOwnMfa
        | Action::ReadClient
        | Action::ReadHistory
        | Action::ReadConfiguration
        | Action::ReadAudit => true,
        Action::EditSettings => matches!(principal.role, Role::Administrator | Role::User),
        Action::ManageClients
        | Action::ManageUsers
        | Action::WriteConfiguration
        | Action::ManageWebhooks
        | Action::ReadUserActivity
        | Action::ImportExport => admin,
    };
    let resource_allows = match resource {
        Resource::None => true,
        Resource::Client(client) => principal.sees_client(client),
        Resource::Setting {
            client,
            classification,
        } => {
            principal.sees_client(client)
                && (action != Action::EditSettings
                    || principal.may_edit_classification(classification))
        }
    };
    if role_allows && resource_allows {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            username: "u".into(),
            role,
            ..Principal::default()
        }
    }

    #[test]
    fn roles() {
        use Action::*;
        for action in Action::ALL {
            assert!(authorize(&principal(Role::Administrator), action, Resource::None).is_ok());
        }
        let user_may = [
            ChangeOwnPassword,
            ReadOwnProfile,
            ManageOwnMfa,
            ReadClient,
            EditSettings,
            ReadHistory,
            ReadConfiguration,
            ReadAudit,
        ];
        for action in Action::ALL {
            assert_eq!(
                authorize(&principal(Role::User), action, Resource::None).is_ok(),
                user_may.contains(&action),
                "User {action:?}"
            );
            assert_eq!(
                authorize(&principal(Role::ReadOnly), action, Resource::None).is_ok(),
                user_may.contains(&action) && action != EditSettings,
                "ReadOnly {action:?}"
            );
        }
    }

    #[test]
    fn pending_password_change_and_mfa_enrolment_allow_only_their_routes() {
        let mut p = principal(Role::Administrator);
        p.password_change_required = true;
        for action in Action::ALL {
            assert_eq!(
                authorize(&p, action, Resource::None).is_ok(),
                action == Action::ChangeOwnPassword,
                "{action:?}"
            );
        }
        let mut p = principal(Role::Administrator);
        p.mfa_enrollment_required = true;
        for action in Action::ALL {
            let allowed = matches!(
                action,
                Action::ChangeOwnPassword | Action::ManageOwnMfa | Action::ReadOwnProfile
            );
            assert_eq!(
                authorize(&p, action, Resource::None).is_ok(),
                allowed,
                "{action:?}"
            );
        }
    }

    #[test]
    fn client_filters_are_anchored() {
        let mut p = principal(Role::User);
        p.client_filter = Some("billing|shop-.*".into());
        for (client, ok) in [
            ("billing", true),
            ("shop-eu", true),
            ("billing-old", false),
            ("old-billing", false),
            ("shop", false),
        ] {
            assert_eq!(
                authorize(&p, Action::ReadClient, Resource::Client(client)).is_ok(),
                ok,
                "{client}"
            );
        }
        // A filter that does not compile lets nothing through.
        p.client_filter = Some("(".into());
        assert!(authorize(&p, Action::ReadClient, Resource::Client("billing")).is_err());
        // Nor does one that would close the anchoring group and escape it.
        p.client_filter = Some("nomatch)|(.*".into());
        assert!(authorize(&p, Action::ReadClient, Resource::Client("billing")).is_err());
        assert!(compile_client_filter("nomatch)|(.*").is_err());
        // Administrators are not filtered.
        let mut a = principal(Role::Administrator);
        a.client_filter = Some("nothing".into());
        assert!(authorize(&a, Action::ReadClient, Resource::Client("billing")).is_ok());
    }

    #[test]
    fn classifications_limit_edits_not_reads() {
        let mut p = principal(Role::User);
        p.classifications = Some(vec!["Functional".into()]);
        let setting = |c| Resource::Setting {
            client: "demo",
            classification: c,
        };
        assert!(authorize(&p, Action::EditSettings, setting(Some("Functional"))).is_ok());
        assert!(authorize(&p, Action::EditSettings, setting(Some("Technical"))).is_err());
        // An unclassified setting needs an explicit grant.
        assert!(authorize(&p, Action::EditSettings, setting(None)).is_err());
        assert!(authorize(&p, Action::ReadClient, setting(Some("Technical"))).is_ok());
        p.classifications = Some(vec!["Functional".into(), UNCLASSIFIED.into()]);
        assert!(authorize(&p, Action::EditSettings, setting(None)).is_ok());
        // An empty list allows no edit at all.
        p.classifications = Some(Vec::new());
        for c in [None, Some("Functional"), Some(""), Some(UNCLASSIFIED)] {
            assert!(
                authorize(&p, Action::EditSettings, setting(c)).is_err(),
                "{c:?}"
            );
        }
        assert!(authorize(&p, Action::ReadClient, setting(None)).is_ok());
        // No list: every classification.
        p.classifications = None;
        assert!(authorize(&p, Action::EditSettings, setting(None)).is_ok());
    }
}
