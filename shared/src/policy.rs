//! The one policy that decides every admin request (DESIGN §6). Default deny; handlers ask,
//! never decide.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Roles, as in Fig.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Everything.
    Administrator,
    /// Edit settings within a client filter and allowed classifications.
    User,
    /// Read only.
    ReadOnly,
}

/// An authenticated admin user, from a verified access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Until the password is changed, only [`Action::ChangeOwnPassword`] is allowed.
    pub password_change_required: bool,
}

/// Things a user may try to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Change one's own password.
    ChangeOwnPassword,
    /// List clients, definitions and non-secret values.
    ReadClients,
    /// Change setting values.
    EditSettings,
}

impl Action {
    /// Stable name, for audit records.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChangeOwnPassword => "ChangeOwnPassword",
            Self::ReadClients => "ReadClients",
            Self::EditSettings => "EditSettings",
        }
    }
}

/// What the action is on.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// Nothing in particular (lists, one's own account).
    None,
    /// A client's settings.
    Client(&'a str),
}

/// Decides whether `principal` may do `action` on `resource`.
pub fn authorize(principal: &Principal, action: Action, _resource: Resource<'_>) -> Result<()> {
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
    let allowed = match action {
        Action::ChangeOwnPassword | Action::ReadClients => true,
        Action::EditSettings => matches!(principal.role, Role::Administrator | Role::User),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, pcr: bool) -> Principal {
        Principal {
            username: "u".into(),
            role,
            password_change_required: pcr,
        }
    }

    #[test]
    fn matrix() {
        use Action::*;
        let cases = [
            (Role::Administrator, false, [true, true, true]),
            (Role::User, false, [true, true, true]),
            (Role::ReadOnly, false, [true, true, false]),
            (Role::Administrator, true, [true, false, false]),
            (Role::ReadOnly, true, [true, false, false]),
        ];
        for (role, pcr, expected) in cases {
            for (action, want) in [ChangeOwnPassword, ReadClients, EditSettings]
                .into_iter()
                .zip(expected)
            {
                let got =
                    authorize(&principal(role, pcr), action, Resource::Client("demo")).is_ok();
                assert_eq!(got, want, "{role:?} pcr={pcr} {action:?}");
            }
        }
    }
}
