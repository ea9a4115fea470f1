//! TOTP multi-factor authentication (RFC 6238): enrolment shown once as an `otpauth://` URI,
//! confirmation with a code, disabling with password and code, ten single-use recovery codes
//! stored as keyed hashes, and a code that works only once.
//!
//! The TOTP secret is stored wrapped by KMS (context `{app, purpose: totp, user}`); the
//! plaintext exists only while a code is checked.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::password;
use crate::policy::{Action, Principal, Resource, authorize};
use crate::secret::{SecretBytes, SecretString};
use crate::users::{MfaState, UserRecord, load_user, user_put, verify};

pub use crate::crypto::totp::{SKEW, STEP, matching_step};
/// Recovery codes per enrolment.
pub const RECOVERY_CODES: usize = 10;
const ISSUER: &str = "Fig";

fn context<'a>(app: &'a App, username: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("app", app.config.app.as_str()),
        ("purpose", "totp"),
        ("user", username),
    ]
}

async fn unwrap_secret(app: &App, user: &UserRecord) -> Result<Option<SecretBytes>> {
    let Some(mfa) = &user.mfa else {
        return Ok(None);
    };
    let wrapped = B64
        .decode(&mfa.secret)
        .map_err(|_| Error::internal("totp secret is not base64"))?;
    Ok(Some(
        app.kms
            .decrypt(&wrapped, &context(app, &user.username))
            .await?,
    ))
}

fn recovery_binding(username: &str) -> String {
    format!("#recovery#{username}")
}

fn normalize_recovery(code: &str) -> SecretString {
    SecretString::new(
        code.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase(),
    )
}

/// Checks a second factor for `user`: a TOTP code or a recovery code. On success returns the
/// updated MFA state to store (step advanced or recovery code removed) and, for a recovery
/// code, how many are left.
pub async fn check_second_factor(
    app: &App,
    user: &UserRecord,
    totp_code: Option<&str>,
    recovery_code: Option<&SecretString>,
) -> Result<Option<(MfaState, Option<usize>)>> {
    let Some(mfa) = user.mfa.as_ref().filter(|m| m.confirmed) else {
        return Ok(None);
    };
    if let Some(code) = totp_code {
        let Some(secret) = unwrap_secret(app, user).await? else {
            return Ok(None);
        };
        let now = u64::try_from(clock::now().unix_timestamp()).unwrap_or(0);
        return Ok(
            matching_step(secret.expose(), code, now, mfa.last_step)?.map(|step| {
                let mut next = mfa.clone();
                next.last_step = step;
                (next, None)
            }),
        );
    }
    if let Some(code) = recovery_code {
        let hasher = app.keys.secret_hasher().await?;
        let binding = recovery_binding(&user.username);
        let code = normalize_recovery(code.expose());
        let mut next = mfa.clone();
        let mut found = false;
        next.recovery_codes.retain(|stored| {
            let hit = B64
                .decode(stored)
                .is_ok_and(|h| hasher.verify(&binding, &code, &[h.as_slice()]));
            found |= hit;
            !hit
        });
        let left = next.recovery_codes.len();
        return Ok(found.then_some((next, Some(left))));
    }
    Ok(None)
}

/// The answer to an enrolment: shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://totp/...` URI, for a QR code.
    pub otpauth_uri: String,
}

/// Starts (or restarts) enrolment: a new secret, stored wrapped and unconfirmed. Refused while
/// MFA is enabled (disable it first).
pub async fn enroll(app: &Arc<App>, principal: &Principal, source: &Source) -> Result<Enrollment> {
    authorize(principal, Action::ManageOwnMfa, Resource::None)?;
    let mut user = load_user(app, &principal.username)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    if user.mfa_enabled() {
        return Err(Error::Conflict {
            code: "MFA_ALREADY_ENABLED",
            message: "Two-factor authentication is already on. Disable it first to enrol a new device.",
        });
    }
    let secret = SecretBytes::new(random_bytes(20));
    let wrapped = app
        .kms
        .encrypt(&secret, &context(app, &user.username))
        .await?;
    let encoded = crate::crypto::totp::base32(secret.expose())?;
    let expected = user.version;
    user.mfa = Some(MfaState {
        secret: B64.encode(wrapped),
        confirmed: false,
        last_step: 0,
        recovery_codes: Vec::new(),
    });
    user.version += 1;
    user.updated = clock::now_rfc3339();
    app.store
        .transact(
            vec![user_put(app, &user, Some(expected))?],
            &AuditEvent::new(
                EventKind::MfaEnrollmentStarted,
                Actor::User {
                    name: user.username.clone(),
                },
                source.clone(),
                clock::now(),
            ),
            (
                "CONFLICT",
                "The account changed at the same time. Try again.",
            ),
        )
        .await?;
    Ok(Enrollment {
        otpauth_uri: format!(
            "otpauth://totp/{ISSUER}:{user}?secret={encoded}&issuer={ISSUER}&algorithm=SHA1&digits=6&period={STEP}",
            user = user.username
        ),
        secret: encoded,
    })
}

/// `POST /api/auth/mfa/confirm` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// A current code from the authenticator.
    pub code: String,
}

/// The recovery codes, shown once at confirmation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// Ten single-use codes.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a code; MFA is on from now, and ten recovery codes are returned once.
pub async fn confirm(
    app: &Arc<App>,
    principal: &Principal,
    request: Confirm,
    source: &Source,
) -> Result<RecoveryCodes> {
    authorize(principal, Action::ManageOwnMfa, Resource::None)?;
    let mut user = load_user(app, &principal.username)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    let actor = Actor::User {
        name: user.username.clone(),
    };
    let Some(mfa) = user.mfa.clone().filter(|m| !m.confirmed) else {
        return Err(Error::Conflict {
            code: "MFA_NOT_ENROLLING",
            message: "Start enrolment first (or disable the current device).",
        });
    };
    let secret = unwrap_secret(app, &user)
        .await?
        .ok_or_else(|| Error::internal("no secret"))?;
    let now = u64::try_from(clock::now().unix_timestamp()).unwrap_or(0);
    let Some(step) = matching_step(secret.expose(), &request.code, now, mfa.last_step)? else {
        app.store
            .record(&AuditEvent::new(
                EventKind::MfaChangeFailed {
                    reason: "wrongCode".into(),
                },
                actor,
                source.clone(),
                clock::now(),
            ))
            .await?;
        return Err(Error::bad_request(
            "INVALID_MFA_CODE",
            "The code is not valid. Check the time on your device and try the current code.",
        ));
    };
    let hasher = app.keys.secret_hasher().await?;
    let binding = recovery_binding(&user.username);
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let raw = crate::crypto::totp::base32(&random_bytes(7))?.to_ascii_lowercase();
        let code: String = raw.chars().take(10).collect();
        hashes.push(B64.encode(hasher.hash(&binding, &normalize_recovery(&code))?));
        codes.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    let expected = user.version;
    user.mfa = Some(MfaState {
        confirmed: true,
        last_step: step,
        recovery_codes: hashes,
        ..mfa
    });
    user.version += 1;
    user.updated = clock::now_rfc3339();
    app.store
        .transact(
            vec![user_put(app, &user, Some(expected))?],
            &AuditEvent::new(EventKind::MfaEnrolled, actor, source.clone(), clock::now()),
            (
                "CONFLICT",
                "The account changed at the same time. Try again.",
            ),
        )
        .await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

/// `POST /api/auth/mfa/disable` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    /// The account password.
    pub password: SecretString,
    /// A current code from the authenticator, or an unused recovery code.
    pub code: SecretString,
}

/// Turns MFA off: needs the password and a current code (or a recovery code, for a lost device).
pub async fn disable(
    app: &Arc<App>,
    principal: &Principal,
    request: Disable,
    source: &Source,
) -> Result<()> {
    authorize(principal, Action::ManageOwnMfa, Resource::None)?;
    let actor = Actor::User {
        name: principal.username.clone(),
    };
    // Password and code are checked under the login throttle.
    let (user, attempt) = tokio::try_join!(
        load_user(app, &principal.username),
        crate::attempts::begin_attempt(app, &principal.username, true, &actor, source)
    )?;
    let mut user = user.ok_or_else(Error::unauthenticated)?;
    let password_ok = verify(
        app,
        Some(user.password_hash.clone()),
        password::normalize(&request.password),
    )
    .await?;
    let code = request.code.expose().trim();
    let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let factor = if password_ok && is_totp {
        check_second_factor(app, &user, Some(code), None).await?
    } else if password_ok {
        check_second_factor(app, &user, None, Some(&request.code)).await?
    } else {
        None
    };
    if factor.is_none() {
        attempt
            .fail(
                app,
                vec![AuditEvent::new(
                    EventKind::MfaChangeFailed {
                        reason: "wrongPasswordOrCode".into(),
                    },
                    actor,
                    source.clone(),
                    clock::now(),
                )],
            )
            .await?;
        return Err(Error::bad_request(
            "INVALID_CREDENTIALS",
            "The password or the code is not valid.",
        ));
    }
    let expected = user.version;
    user.mfa = None;
    user.version += 1;
    user.updated = clock::now_rfc3339();
    let mut items = vec![user_put(app, &user, Some(expected))?];
    items.extend(attempt.success_items(app)?);
    app.store
        .transact(
            items,
            &AuditEvent::new(EventKind::MfaDisabled, actor, source.clone(), clock::now()),
            (
                "CONFLICT",
                "The account changed at the same time. Try again.",
            ),
        )
        .await
}
