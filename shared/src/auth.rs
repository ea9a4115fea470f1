//! Login, sessions and logout (docs/ARCHITECTURE.md §3).
//!
//! - Login: the same answer and the same Argon2id work for an unknown user, a disabled user
//!   and a wrong password; throttled per account and per source address ([`crate::throttle`]);
//!   a second factor when the user has MFA.
//! - Sessions: a refresh token of 256 random bits, stored only as its SHA-256 under
//!   `USER#{name}` / `SESSION#{family}`, sent as an `HttpOnly; Secure; SameSite=Strict` cookie
//!   scoped to `/api/auth`, rotated on every use. Presenting a token that was already rotated
//!   revokes the whole family. Cookie endpoints refuse a foreign `Origin`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind, LoginFailure};
use crate::mfa::check_second_factor;
use crate::password;
use crate::policy::Role;
use crate::schema::META;
use crate::secret::SecretString;
use crate::server_config;
use crate::store::{AttrValue, Write, from_item, to_item, user_pk};
use crate::tokens;
use crate::users::{UserRecord, load_user, user_put, verify};

/// Name of the refresh cookie.
pub const REFRESH_COOKIE: &str = "fig_refresh";
/// Path the refresh cookie is scoped to.
pub const COOKIE_PATH: &str = "/api/auth";
/// Rotated token hashes kept per session to detect reuse.
const PREVIOUS_KEPT: usize = 50;

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// User name (case-insensitive).
    pub username: String,
    /// Password.
    pub password: SecretString,
    /// TOTP code, for users with MFA.
    #[serde(default)]
    pub totp: Option<String>,
    /// A recovery code instead of a TOTP code.
    #[serde(default)]
    pub recovery_code: Option<SecretString>,
}

/// A successful login or refresh.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// Access token (JWT, 15 minutes).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Only the password route works until the password is changed.
    pub password_change_required: bool,
    /// Only MFA enrolment (and the password route) works until MFA is set up.
    pub mfa_enrollment_required: bool,
}

/// A token response and the `Set-Cookie` value that goes with it.
#[derive(Debug)]
pub struct Session {
    /// Body.
    pub body: TokenResponse,
    /// `Set-Cookie` header value (carries the refresh token).
    pub cookie: SecretString,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionItem {
    family: String,
    username: String,
    token_hash: String,
    previous: Vec<String>,
    created: String,
    expires: i64,
    ttl: i64,
}

fn invalid_credentials() -> Error {
    Error::Unauthorized {
        code: "INVALID_CREDENTIALS",
        message: "The user name or password is incorrect.",
    }
}

fn session_expired() -> Error {
    Error::Unauthorized {
        code: "SESSION_EXPIRED",
        message: "The session has ended. Sign in again.",
    }
}

fn token_hash(token: &str) -> String {
    B64.encode(crate::crypto::sha256(token.as_bytes()))
}

/// The `Set-Cookie` value for a refresh token (or, with `None`, one that deletes it).
pub fn refresh_cookie(app: &App, value: Option<&str>) -> SecretString {
    let secure = if app.config.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    SecretString::new(match value {
        Some(v) => format!(
            "{REFRESH_COOKIE}={v}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            app.config.session_ttl.as_secs()
        ),
        None => format!(
            "{REFRESH_COOKIE}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ),
    })
}

/// The refresh token from a `Cookie` header.
pub fn cookie_value(header: Option<&str>) -> Option<SecretString> {
    header?
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, v)| SecretString::new(v))
        .filter(|v| !v.is_empty())
}

/// Whether a cookie-authenticated request comes from our own origin: no `Origin` header
/// (not a browser's cross-site request), or one whose host is the request's host (or
/// `X-Forwarded-Host`, set by our CDN) or a configured allowed origin.
pub fn origin_allowed(
    app: &App,
    origin: Option<&str>,
    host: Option<&str>,
    forwarded_host: Option<&str>,
) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if app.config.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    origin_host.is_some_and(|h| Some(h) == host || Some(h) == forwarded_host)
}

/// What an audit record calls a typed user name that is no user's: the name itself is recorded
/// only when it is a user's, so a password typed into the name field never reaches the audit
/// trail or a SIEM.
pub const UNKNOWN_USER: &str = "(unknown user)";

use crate::attempts::begin_attempt;

async fn new_session(app: &App, user: &UserRecord, now: i64) -> Result<(String, String, Write)> {
    let family = ulid::Ulid::new().to_string();
    let token = URL_SAFE_NO_PAD.encode(random_bytes(32));
    let expires = now + i64::try_from(app.config.session_ttl.as_secs()).unwrap_or(43_200);
    let item = SessionItem {
        family: family.clone(),
        username: user.username.clone(),
        token_hash: token_hash(&token),
        previous: Vec::new(),
        created: clock::now_rfc3339(),
        expires,
        ttl: expires,
    };
    let put = app.store.put(
        to_item(
            &user_pk(&user.username),
            &crate::schema::session_sk(&family),
            &item,
        )?,
        Some("attribute_not_exists(PK)"),
    )?;
    Ok((family, token, put))
}

/// A transaction condition: the user's item still has the version it was read with.
fn user_unchanged(app: &App, user: &UserRecord) -> Result<Write> {
    let pk = user_pk(&user.username);
    app.store.check(
        &pk,
        META,
        "version = :v",
        vec![(":v", AttrValue::number(user.version))],
    )
}

fn cookie_for(family: &str, token: &str, username: &str) -> String {
    format!("{family}.{token}.{username}")
}

async fn mfa_enrollment_required(app: &App, user: &UserRecord) -> Result<bool> {
    if user.role != Role::Administrator || user.mfa_enabled() {
        return Ok(false);
    }
    Ok(server_config::load(app)
        .await?
        .require_mfa_for_administrators)
}

async fn issue(app: &App, user: &UserRecord, family: &str, token: &str) -> Result<Session> {
    let mer = mfa_enrollment_required(app, user).await?;
    let principal = user.principal(mer, Some(family.to_owned()));
    let ttl = app.config.access_token_ttl.as_secs();
    let access = tokens::issue_access_token(
        &app.keys,
        &app.config.token_issuer,
        &principal,
        clock::now(),
        i64::try_from(ttl).unwrap_or(900),
    )
    .await?;
    Ok(Session {
        body: TokenResponse {
            access_token: access.expose().to_owned(),
            expires_in: ttl,
            password_change_required: user.password_change_required,
            mfa_enrollment_required: mer,
        },
        cookie: refresh_cookie(app, Some(&cookie_for(family, token, &user.username))),
    })
}

/// Logs a user in. See the module documentation for the rules.
pub async fn login(app: &Arc<App>, request: LoginRequest, source: &Source) -> Result<Session> {
    let username: String = request
        .username
        .trim()
        .to_lowercase()
        .chars()
        .take(128)
        .collect();
    let t = clock::now().unix_timestamp();
    // The user is looked up first whatever the name, so that an unknown name does the same
    // work as a known one, and is named in the audit trail only when it is a user's.
    let user = load_user(app, &username).await?;
    let actor = Actor::User {
        name: if user.is_some() {
            username.clone()
        } else {
            UNKNOWN_USER.to_owned()
        },
    };
    let event = |kind| AuditEvent::new(kind, actor.clone(), source.clone(), clock::now());
    let attempt = begin_attempt(app, &username, user.is_some(), &actor, source).await?;

    let password_ok = verify(
        app,
        user.as_ref().map(|u| u.password_hash.clone()),
        password::normalize(&request.password),
    )
    .await?;
    let mut failure = match &user {
        None => Some(LoginFailure::UnknownUser),
        Some(_) if !password_ok => Some(LoginFailure::WrongPassword),
        Some(u) if !u.enabled => Some(LoginFailure::Disabled),
        Some(_) => None,
    };
    let mut factor = None;
    if let (None, Some(u)) = (failure, &user)
        && u.mfa_enabled()
    {
        if request.totp.is_none() && request.recovery_code.is_none() {
            // The password was right: ask for the second factor (not counted as a failure).
            attempt.give_back(app).await?;
            return Err(Error::Unauthorized {
                code: "MFA_REQUIRED",
                message: "Enter the code from your authenticator app (or a recovery code).",
            });
        }
        factor = check_second_factor(
            app,
            u,
            request.totp.as_deref(),
            request.recovery_code.as_ref(),
        )
        .await?;
        if factor.is_none() {
            failure = Some(LoginFailure::WrongSecondFactor);
        }
    }

    if let Some(reason) = failure {
        tracing::info!(
            alarm = crate::telemetry::alarm::LOGIN_FAILED,
            "login failed"
        );
        attempt
            .fail(app, vec![event(EventKind::LoginFailed { reason })])
            .await?;
        return Err(invalid_credentials());
    }
    let Some(mut user) = user else {
        return Err(invalid_credentials());
    };

    let (family, token, session_put) = new_session(app, &user, t).await?;
    let mut items = vec![session_put];
    items.extend(attempt.success_items(app)?);
    let mut events = vec![event(EventKind::LoginSucceeded)];
    if factor.is_none() {
        // The user as it was read: a deletion (or any change) between the read and these writes
        // makes the login fail instead of leaving a session and sign-in addresses behind.
        items.push(user_unchanged(app, &user)?);
    }
    if let Some((mfa, recovery_left)) = factor {
        let expected = user.version;
        user.mfa = Some(mfa);
        user.version += 1;
        items.push(user_put(app, &user, Some(expected))?);
        if let Some(remaining) = recovery_left {
            events.push(event(EventKind::MfaRecoveryCodeUsed { remaining }));
        }
    }
    let session = issue(app, &user, &family, &token).await?;
    app.store
        .transact_events(
            items,
            &events,
            (
                "CONFLICT",
                "The account changed at the same time (or the code was just used). Try again.",
            ),
        )
        .await?;
    Ok(session)
}

struct Presented {
    family: String,
    token: String,
    username: String,
}

fn parse_cookie(value: &SecretString) -> Option<Presented> {
    let mut parts = value.expose().splitn(3, '.');
    let family = parts.next()?;
    let token = parts.next()?;
    let username = parts.next()?;
    let valid = family.len() == 26
        && family.bytes().all(|b| b.is_ascii_alphanumeric())
        && token.len() == 43
        && !username.is_empty()
        && username.len() <= 64;
    valid.then(|| Presented {
        family: family.to_owned(),
        token: token.to_owned(),
        username: username.to_owned(),
    })
}

async fn load_session(app: &App, presented: &Presented) -> Result<Option<SessionItem>> {
    app.store
        .get(
            &user_pk(&presented.username),
            &crate::schema::session_sk(&presented.family),
        )
        .await?
        .map(from_item)
        .transpose()
}

fn session_delete(app: &App, username: &str, family: &str) -> Result<Write> {
    app.store
        .delete_in_transaction(&user_pk(username), &crate::schema::session_sk(family))
}

/// Rotates the refresh token and issues a new access token with the user's current rights.
/// A token that was already rotated revokes the whole session.
pub async fn refresh(
    app: &Arc<App>,
    cookie: Option<SecretString>,
    source: &Source,
) -> Result<Session> {
    let presented = cookie
        .as_ref()
        .and_then(parse_cookie)
        .ok_or_else(session_expired)?;
    let session = load_session(app, &presented)
        .await?
        .ok_or_else(session_expired)?;
    let actor = Actor::User {
        name: session.username.clone(),
    };
    let event = |kind| AuditEvent::new(kind, actor.clone(), source.clone(), clock::now());
    let t = clock::now().unix_timestamp();
    let hash = token_hash(&presented.token);
    if session.previous.iter().any(|h| h == &hash) {
        app.store
            .transact(
                vec![session_delete(app, &session.username, &session.family)?],
                &event(EventKind::RefreshReuseDetected),
                ("CONFLICT", "Try again."),
            )
            .await?;
        return Err(session_expired());
    }
    if hash != session.token_hash || session.expires <= t {
        return Err(session_expired());
    }
    let user = match load_user(app, &session.username).await? {
        Some(user) if user.enabled => user,
        _ => {
            app.store
                .transact(
                    vec![session_delete(app, &session.username, &session.family)?],
                    &event(EventKind::SessionsTerminated {
                        username: session.username.clone(),
                        count: 1,
                    }),
                    ("CONFLICT", "Try again."),
                )
                .await?;
            return Err(session_expired());
        }
    };
    let token = URL_SAFE_NO_PAD.encode(random_bytes(32));
    let mut previous = session.previous.clone();
    previous.push(hash.clone());
    let skip = previous.len().saturating_sub(PREVIOUS_KEPT);
    let previous = AttrValue::texts(previous.into_iter().skip(skip));
    let update = app.store.update(
        &user_pk(&session.username),
        &crate::schema::session_sk(&session.family),
        "SET tokenHash = :new, previous = :prev",
        Some("tokenHash = :old"),
        vec![
            (":new", AttrValue::text(token_hash(&token))),
            (":prev", previous),
            (":old", AttrValue::text(hash)),
        ],
    )?;
    let issued = issue(app, &user, &session.family, &token).await?;
    app.store
        .transact(
            vec![update],
            &event(EventKind::SessionRefreshed),
            ("SESSION_EXPIRED", "The session has ended. Sign in again."),
        )
        .await
        .map_err(|e| match e {
            Error::Conflict { .. } => session_expired(),
            other => other,
        })?;
    Ok(issued)
}

/// Ends the session of the presented refresh token. Always succeeds (and clears the cookie).
pub async fn logout(
    app: &Arc<App>,
    cookie: Option<SecretString>,
    source: &Source,
) -> Result<SecretString> {
    if let Some(presented) = cookie.as_ref().and_then(parse_cookie)
        && let Some(session) = load_session(app, &presented).await?
    {
        let hash = token_hash(&presented.token);
        if hash == session.token_hash || session.previous.contains(&hash) {
            app.store
                .transact(
                    vec![session_delete(app, &session.username, &session.family)?],
                    &AuditEvent::new(
                        EventKind::LoggedOut,
                        Actor::User {
                            name: session.username.clone(),
                        },
                        source.clone(),
                        clock::now(),
                    ),
                    ("CONFLICT", "Try again."),
                )
                .await?;
        }
    }
    Ok(refresh_cookie(app, None))
}

#[cfg(test)]
mod tests;
