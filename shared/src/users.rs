//! Admin users: the first administrator, login and password change.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::events::{Actor, AuditEvent, EventKind, LoginFailure};
use crate::http::Caller;
use crate::password;
use crate::policy::{Action, Principal, Resource, Role, authorize};
use crate::secret::SecretString;
use crate::store::{from_item, to_item, user_pk};
use crate::tokens;

/// Name of the first administrator.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// A stored user.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    /// Name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Set for admin-set and bootstrap passwords.
    pub password_change_required: bool,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// Optimistic concurrency.
    pub version: u64,
    /// Creation time.
    pub created: String,
    /// Last change.
    pub updated: String,
}

/// What happened to the first administrator at start.
#[derive(Debug)]
pub enum Bootstrap {
    /// Users already exist; nothing was done.
    AlreadyDone,
    /// Created with `FIG_BOOTSTRAP_ADMIN_PASSWORD`.
    CreatedWithConfiguredPassword,
    /// Created with this random one-time password, to be shown once.
    CreatedWithRandomPassword(SecretString),
}

async fn hash(app: &Arc<App>, password: SecretString) -> Result<String> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.passwords.hash(&password))
        .await
        .map_err(|e| Error::internal(format!("hash task: {e}")))?
}

async fn verify(app: &Arc<App>, phc: Option<String>, password: SecretString) -> Result<bool> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.passwords.verify(phc.as_deref(), &password))
        .await
        .map_err(|e| Error::internal(format!("verify task: {e}")))
}

async fn load_user(app: &App, username: &str) -> Result<Option<UserRecord>> {
    app.store
        .get(&user_pk(username), "META")
        .await?
        .map(from_item)
        .transpose()
}

/// Creates `admin` if it does not exist, with the configured password or a random one-time
/// password. Either way it must be changed at first login.
pub async fn bootstrap_admin(app: &Arc<App>) -> Result<Bootstrap> {
    if load_user(app, BOOTSTRAP_ADMIN).await?.is_some() {
        return Ok(Bootstrap::AlreadyDone);
    }
    let (password, random) = match &app.config.bootstrap_admin_password {
        Some(p) => (password::normalize(p), false),
        None => (
            SecretString::new(URL_SAFE_NO_PAD.encode(random_bytes(18))),
            true,
        ),
    };
    let now = clock::now_rfc3339();
    let record = UserRecord {
        username: BOOTSTRAP_ADMIN.into(),
        password_hash: hash(app, password.clone()).await?,
        role: Role::Administrator,
        password_change_required: true,
        enabled: true,
        version: 1,
        created: now.clone(),
        updated: now,
    };
    let put = app.store.put(
        to_item(&user_pk(BOOTSTRAP_ADMIN), "META", &record)?,
        Some("attribute_not_exists(PK)"),
    )?;
    let event = AuditEvent::new(
        EventKind::AdministratorBootstrapped {
            username: BOOTSTRAP_ADMIN.into(),
        },
        Actor::System,
        Default::default(),
        clock::now(),
    );
    match app
        .store
        .transact(
            vec![TransactWriteItem::builder().put(put).build()],
            &event,
            ("EXISTS", "exists"),
        )
        .await
    {
        Ok(()) if random => Ok(Bootstrap::CreatedWithRandomPassword(password)),
        Ok(()) => Ok(Bootstrap::CreatedWithConfiguredPassword),
        Err(Error::Conflict { .. }) => Ok(Bootstrap::AlreadyDone),
        Err(e) => Err(e),
    }
}

/// A successful login.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Access token (JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Only the password route works until the password is changed.
    pub password_change_required: bool,
}

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: SecretString,
    /// TOTP code (MFA; not enrolled users ignore it).
    #[serde(default)]
    pub totp: Option<String>,
}

fn invalid_credentials() -> Error {
    Error::Unauthorized {
        code: "INVALID_CREDENTIALS",
        message: "The user name or password is incorrect.",
    }
}

/// Logs a user in. An unknown user, a disabled user and a wrong password get the same answer
/// after the same work (an Argon2id verification against a dummy hash for unknown users).
pub async fn login(
    app: &Arc<App>,
    request: LoginRequest,
    caller: &Caller,
) -> Result<LoginResponse> {
    let username: String = request.username.chars().take(128).collect();
    let user = load_user(app, &username).await?;
    let password = password::normalize(&request.password);
    let ok = verify(
        app,
        user.as_ref().map(|u| u.password_hash.clone()),
        password,
    )
    .await?;
    let failure = match &user {
        None => Some(LoginFailure::UnknownUser),
        Some(_) if !ok => Some(LoginFailure::WrongPassword),
        Some(u) if !u.enabled => Some(LoginFailure::Disabled),
        Some(_) => None,
    };
    let actor = Actor::User { name: username };
    let now = clock::now();
    let (user, kind) = match (user, failure) {
        (Some(user), None) => (user, EventKind::LoginSucceeded),
        (_, Some(reason)) => {
            app.store
                .record(&AuditEvent::new(
                    EventKind::LoginFailed { reason },
                    actor,
                    caller.source(),
                    now,
                ))
                .await?;
            return Err(invalid_credentials());
        }
        (None, None) => return Err(invalid_credentials()),
    };
    let principal = Principal {
        username: user.username,
        role: user.role,
        password_change_required: user.password_change_required,
    };
    let ttl = app.config.access_token_ttl.as_secs();
    let token = tokens::issue_access_token(
        &app.keys,
        &app.config.token_issuer,
        &principal,
        now,
        i64::try_from(ttl).unwrap_or(900),
    )
    .await?;
    app.store
        .record(&AuditEvent::new(kind, actor, caller.source(), now))
        .await?;
    Ok(LoginResponse {
        access_token: token.expose().to_owned(),
        expires_in: ttl,
        password_change_required: principal.password_change_required,
    })
}

/// `POST /api/auth/password` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: SecretString,
    /// The new password.
    pub new_password: SecretString,
}

/// Changes the caller's own password: the current one is required; the new one must meet the
/// password rule. Clears `passwordChangeRequired`.
pub async fn change_password(
    app: &Arc<App>,
    principal: &Principal,
    request: PasswordChange,
    caller: &Caller,
) -> Result<()> {
    authorize(principal, Action::ChangeOwnPassword, Resource::None)?;
    let actor = Actor::User {
        name: principal.username.clone(),
    };
    let user = load_user(app, &principal.username).await?;
    let current = password::normalize(&request.current_password);
    let ok = verify(
        app,
        user.as_ref().map(|u| u.password_hash.clone()),
        current.clone(),
    )
    .await?;
    let refuse = |reason: &str, err: Error| {
        let event = AuditEvent::new(
            EventKind::PasswordChangeFailed {
                reason: reason.into(),
            },
            actor.clone(),
            caller.source(),
            clock::now(),
        );
        (event, err)
    };
    let new = password::normalize(&request.new_password);
    let failure = match &user {
        Some(u) if ok && u.enabled => match password::check_new_password(&u.username, &new) {
            Err(e) => Some(refuse("weakPassword", e)),
            Ok(()) if new == current => Some(refuse(
                "unchanged",
                Error::bad_request(
                    "PASSWORD_UNCHANGED",
                    "The new password must differ from the current one.",
                ),
            )),
            Ok(()) => None,
        },
        _ => Some(refuse(
            "wrongCurrentPassword",
            Error::bad_request(
                "INVALID_CURRENT_PASSWORD",
                "The current password is incorrect.",
            ),
        )),
    };
    if let Some((event, err)) = failure {
        app.store.record(&event).await?;
        return Err(err);
    }
    let Some(user) = user else {
        return Err(Error::internal("user vanished"));
    };
    let new_hash = hash(app, new).await?;
    let update = app.store.update(
        &user_pk(&user.username),
        "META",
        "SET passwordHash = :h, passwordChangeRequired = :f, version = :next, updated = :t",
        Some("version = :v"),
        vec![
            (":h", AttributeValue::S(new_hash)),
            (":f", AttributeValue::Bool(false)),
            (":next", AttributeValue::N((user.version + 1).to_string())),
            (":v", AttributeValue::N(user.version.to_string())),
            (":t", AttributeValue::S(clock::now_rfc3339())),
        ],
    )?;
    let event = AuditEvent::new(
        EventKind::PasswordChanged,
        actor,
        caller.source(),
        clock::now(),
    );
    app.store
        .transact(
            vec![TransactWriteItem::builder().update(update).build()],
            &event,
            (
                "CONFLICT",
                "The account changed at the same time. Try again.",
            ),
        )
        .await
}
