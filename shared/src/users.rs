//! Admin users: records, the first administrator, user management by administrators, and
//! password changes. Login, sessions and MFA are in [`crate::auth`] and [`crate::mfa`].

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::authz::require;
use crate::clock;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::model::UserName;
use crate::password;
use crate::policy::{Action, Principal, Resource, Role, authorize, compile_client_filter};
use crate::schema::META;
use crate::secret::SecretString;
use crate::store::{AttrValue, Write, from_item, number, sort_key, text, to_item, user_pk};

/// Name of the first administrator.
pub const BOOTSTRAP_ADMIN: &str = "admin";
const ADMIN_COUNT_PK: &str = crate::schema::ADMIN_COUNT.0;
const ADMIN_COUNT_SK: &str = crate::schema::ADMIN_COUNT.1;
/// Written with the first user and never deleted: once it exists, no start creates `admin`
/// again (deleting `admin` is a normal hardening step, not a way to re-arm the bootstrap).
const BOOTSTRAP_MARKER_SK: &str = "BOOTSTRAPPED";

/// A user's TOTP state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaState {
    /// The TOTP secret, wrapped by KMS (base64).
    pub secret: String,
    /// Enrolment confirmed with a code.
    pub confirmed: bool,
    /// The last time step a code was accepted for (a code works once).
    pub last_step: u64,
    /// Keyed hashes of the unused recovery codes (base64).
    pub recovery_codes: Vec<String>,
}

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
    /// Anchored regex of visible clients.
    #[serde(default)]
    pub client_filter: Option<String>,
    /// Classifications the user may edit.
    #[serde(default)]
    pub classifications: Option<Vec<String>>,
    /// Set for admin-set and bootstrap passwords.
    pub password_change_required: bool,
    /// Disabled users cannot log in.
    pub enabled: bool,
    /// TOTP, when enrolled (or being enrolled).
    #[serde(default)]
    pub mfa: Option<MfaState>,
    /// Optimistic concurrency.
    pub version: u64,
    /// Creation time.
    pub created: String,
    /// Last change.
    pub updated: String,
}

impl UserRecord {
    /// Whether this user counts towards the last-administrator rule.
    pub fn is_enabled_administrator(&self) -> bool {
        self.enabled && self.role == Role::Administrator
    }

    /// Whether MFA is enrolled and confirmed.
    pub fn mfa_enabled(&self) -> bool {
        self.mfa.as_ref().is_some_and(|m| m.confirmed)
    }

    /// The principal a fresh login of this user gets.
    pub fn principal(&self, mfa_enrollment_required: bool, session: Option<String>) -> Principal {
        Principal {
            username: self.username.clone(),
            role: self.role,
            client_filter: self.client_filter.clone(),
            classifications: self.classifications.clone(),
            password_change_required: self.password_change_required,
            mfa_enrollment_required,
            session,
        }
    }
}

/// A user as administrators see it: never a hash or an MFA secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// Name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Client filter.
    pub client_filter: Option<String>,
    /// Classifications.
    pub classifications: Option<Vec<String>>,
    /// Enabled.
    pub enabled: bool,
    /// MFA enrolled.
    pub mfa_enabled: bool,
    /// Password change pending.
    pub password_change_required: bool,
    /// Creation time.
    pub created: String,
    /// Last change.
    pub updated: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            username: u.username.clone(),
            role: u.role,
            client_filter: u.client_filter.clone(),
            classifications: u.classifications.clone(),
            enabled: u.enabled,
            mfa_enabled: u.mfa_enabled(),
            password_change_required: u.password_change_required,
            created: u.created.clone(),
            updated: u.updated.clone(),
        }
    }
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

/// Makes sure, once per process, that the first administrator exists ([`bootstrap_admin`]);
/// a random one-time password is printed once, to this start's log only. The auth function
/// starts it in the background at start-up (so the Runtime API is polled without waiting for
/// it) and every login waits for it, so the very first login of a new deployment finds the
/// administrator. A failure is returned and tried again by the next caller.
pub async fn ensure_bootstrapped(app: &Arc<App>) -> Result<()> {
    app.bootstrapped
        .get_or_try_init(|| async {
            if let Bootstrap::CreatedWithRandomPassword(password) = bootstrap_admin(app).await? {
                #[allow(clippy::print_stdout)]
                {
                    println!(
                        "fig: created administrator 'admin' with one-time password: {}",
                        password.expose()
                    );
                }
            }
            Ok(())
        })
        .await
        .map(|_| ())
}

/// Hashes a password off the async executor.
pub async fn hash(app: &Arc<App>, password: SecretString) -> Result<String> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.passwords.hash(&password))
        .await
        .map_err(|e| Error::internal(format!("hash task: {e}")))?
}

/// Verifies a password off the async executor (against a dummy hash when `phc` is `None`).
pub async fn verify(app: &Arc<App>, phc: Option<String>, password: SecretString) -> Result<bool> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.passwords.verify(phc.as_deref(), &password))
        .await
        .map_err(|e| Error::internal(format!("verify task: {e}")))
}

/// Reads a user (`None` for a name that is not a user name: nothing is read for it).
pub async fn load_user(app: &App, username: &str) -> Result<Option<UserRecord>> {
    if UserName::parse(username).is_err() {
        return Ok(None);
    }
    app.store
        .get(&user_pk(username), META)
        .await?
        .map(from_item)
        .transpose()
}

fn not_found() -> Error {
    Error::NotFound {
        code: "USER_NOT_FOUND",
        message: "There is no user with that name.",
    }
}

/// The conditional `Put` of a user record: new (`None`) or replacing `expected_version`.
pub fn user_put(app: &App, user: &UserRecord, expected_version: Option<u64>) -> Result<Write> {
    let item = to_item(&user_pk(&user.username), META, user)?;
    match expected_version {
        None => app.store.put(item, Some("attribute_not_exists(PK)")),
        Some(v) => app.store.put_checked(
            item,
            Some("version = :v"),
            vec![(":v", AttrValue::number(v))],
        ),
    }
}

/// The change to the count of enabled administrators: +1, or -1 only while another remains.
fn admin_count_change(app: &App, delta: i64) -> Result<Write> {
    let (pk, sk) = (ADMIN_COUNT_PK, ADMIN_COUNT_SK);
    if delta > 0 {
        app.store.update(
            pk,
            sk,
            "ADD #count :d",
            None,
            vec![(":d", AttrValue::number(delta))],
        )
    } else {
        app.store.update(
            pk,
            sk,
            "ADD #count :d",
            Some("#count > :one"),
            vec![
                (":d", AttrValue::number(delta)),
                (":one", AttrValue::number(1)),
            ],
        )
    }
}

fn last_admin() -> (&'static str, &'static str) {
    (
        "LAST_ADMINISTRATOR",
        "This is the last enabled Administrator (or the user changed at the same time): it cannot be deleted, disabled or demoted. Reload and try again.",
    )
}

/// Deletes of every session of `username` (except `keep`), with their count.
pub async fn session_deletes(app: &App, username: &str, keep: Option<&str>) -> Result<Vec<Write>> {
    let pk = user_pk(username);
    let keep = keep.map(crate::schema::session_sk);
    app.store
        .query_partition(&pk)
        .await?
        .iter()
        .map(sort_key)
        .filter(|sk| sk.starts_with("SESSION#") && Some(*sk) != keep.as_deref())
        .map(|sk| app.store.delete_in_transaction(&pk, sk))
        .collect()
}

/// Writes `items`, then the session deletes in batches that fit a transaction, each with its
/// `SessionsTerminated` event. The first batch rides with the main change.
#[allow(clippy::too_many_arguments)]
async fn with_session_ends(
    app: &App,
    mut items: Vec<Write>,
    mut events: Vec<AuditEvent>,
    ends: Vec<Write>,
    username: &str,
    actor: &Actor,
    source: &Source,
    conflict: (&'static str, &'static str),
) -> Result<()> {
    let room = 90usize.saturating_sub(items.len());
    let mut rest = ends;
    let first: Vec<Write> = rest.drain(..room.min(rest.len())).collect();
    if !first.is_empty() {
        events.push(AuditEvent::new(
            EventKind::SessionsTerminated {
                username: username.to_owned(),
                count: first.len(),
            },
            actor.clone(),
            source.clone(),
            clock::now(),
        ));
        items.extend(first);
    }
    app.store.transact_events(items, &events, conflict).await?;
    while !rest.is_empty() {
        let batch: Vec<Write> = rest.drain(..rest.len().min(90)).collect();
        let event = AuditEvent::new(
            EventKind::SessionsTerminated {
                username: username.to_owned(),
                count: batch.len(),
            },
            actor.clone(),
            source.clone(),
            clock::now(),
        );
        app.store
            .transact(batch, &event, ("CONFLICT", "Try again."))
            .await?;
    }
    Ok(())
}

/// Creates the first administrator, `admin`, once: only while no user has ever existed (the
/// marker written with it says one has). The password is the configured one or a random
/// one-time password; either way it must be changed at first login.
pub async fn bootstrap_admin(app: &Arc<App>) -> Result<Bootstrap> {
    if app
        .store
        .get(ADMIN_COUNT_PK, BOOTSTRAP_MARKER_SK)
        .await?
        .is_some()
    {
        return Ok(Bootstrap::AlreadyDone);
    }
    // A table from before the marker: users have existed if the administrator count has.
    if app
        .store
        .get(ADMIN_COUNT_PK, ADMIN_COUNT_SK)
        .await?
        .is_some()
    {
        app.store.put_if_absent(bootstrap_marker()?).await?;
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
        client_filter: None,
        classifications: None,
        password_change_required: true,
        enabled: true,
        mfa: None,
        version: 1,
        created: now.clone(),
        updated: now,
    };
    let event = AuditEvent::new(
        EventKind::AdministratorBootstrapped {
            username: BOOTSTRAP_ADMIN.into(),
        },
        Actor::System,
        Default::default(),
        clock::now(),
    );
    let items = vec![
        app.store
            .put(bootstrap_marker()?, Some("attribute_not_exists(PK)"))?,
        user_put(app, &record, None)?,
        index_put(app, BOOTSTRAP_ADMIN)?,
        admin_count_change(app, 1)?,
    ];
    match app
        .store
        .transact(items, &event, ("EXISTS", "exists"))
        .await
    {
        Ok(()) if random => Ok(Bootstrap::CreatedWithRandomPassword(password)),
        Ok(()) => Ok(Bootstrap::CreatedWithConfiguredPassword),
        Err(Error::Conflict { .. }) => Ok(Bootstrap::AlreadyDone),
        Err(e) => Err(e),
    }
}

fn bootstrap_marker() -> Result<crate::store::Item> {
    to_item(
        ADMIN_COUNT_PK,
        BOOTSTRAP_MARKER_SK,
        &serde_json::json!({ "created": clock::now_rfc3339() }),
    )
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
/// password rule. Clears `passwordChangeRequired` and ends the user's other sessions.
pub async fn change_password(
    app: &Arc<App>,
    principal: &Principal,
    request: PasswordChange,
    source: &Source,
) -> Result<()> {
    authorize(principal, Action::ChangeOwnPassword, Resource::None)?;
    let actor = Actor::User {
        name: principal.username.clone(),
    };
    // The current password is checked under the same throttle as a login: this route is no
    // way around it.
    let (user, attempt) = tokio::try_join!(
        load_user(app, &principal.username),
        crate::attempts::begin_attempt(app, &principal.username, true, &actor, source)
    )?;
    let current = password::normalize(&request.current_password);
    let ok = verify(
        app,
        user.as_ref().map(|u| u.password_hash.clone()),
        current.clone(),
    )
    .await?;
    let refused = |reason: &str| {
        AuditEvent::new(
            EventKind::PasswordChangeFailed {
                reason: reason.into(),
            },
            actor.clone(),
            source.clone(),
            clock::now(),
        )
    };
    let user = match user {
        Some(u) if ok && u.enabled => u,
        _ => {
            attempt
                .fail(app, vec![refused("wrongCurrentPassword")])
                .await?;
            return Err(Error::bad_request(
                "INVALID_CURRENT_PASSWORD",
                "The current password is incorrect.",
            ));
        }
    };
    // From here on the current password is proven: only now may the answer say anything about
    // the new one.
    let new = password::normalize(&request.new_password);
    let rule = match password::check_new_password(&user.username, &new) {
        Err(e) => Some(("weakPassword", e)),
        Ok(()) if new == current => Some((
            "unchanged",
            Error::bad_request(
                "PASSWORD_UNCHANGED",
                "The new password must differ from the current one.",
            ),
        )),
        Ok(()) => None,
    };
    if let Some((reason, err)) = rule {
        app.store
            .transact_events(
                attempt.success_items(app)?,
                &[refused(reason)],
                ("CONFLICT", "Try again."),
            )
            .await?;
        return Err(err);
    }
    let mut user = user;
    let expected = user.version;
    user.password_hash = hash(app, new).await?;
    user.password_change_required = false;
    user.version += 1;
    user.updated = clock::now_rfc3339();
    let ends = session_deletes(app, &user.username, principal.session.as_deref()).await?;
    let event = AuditEvent::new(
        EventKind::PasswordChanged,
        actor.clone(),
        source.clone(),
        clock::now(),
    );
    let mut items = vec![user_put(app, &user, Some(expected))?];
    items.extend(attempt.success_items(app)?);
    with_session_ends(
        app,
        items,
        vec![event],
        ends,
        &user.username,
        &actor,
        source,
        (
            "CONFLICT",
            "The account changed at the same time. Try again.",
        ),
    )
    .await
}

/// The principal a verified access token stands for *now*: its session must still exist (and
/// not have expired), its user must exist and be enabled, and the role, client filter,
/// classifications and pending password change are the user's current ones. One strongly
/// consistent read of two items per request, so sign-out, disabling, deletion, role and scope
/// changes and "end sessions" stop the token at once, not when it expires.
pub async fn live_principal(app: &App, claimed: Principal) -> Result<Principal> {
    let session = claimed.session.clone().ok_or_else(Error::unauthenticated)?;
    let pk = user_pk(&claimed.username);
    let session_sk = crate::schema::session_sk(&session);
    let items = app
        .store
        .get_many(&[(&pk, META), (&pk, &session_sk)])
        .await?;
    let mut user = None;
    let mut session_expires = None;
    for item in items {
        match sort_key(&item) {
            META => user = Some(from_item::<UserRecord>(item)?),
            sk if sk == session_sk => session_expires = number::<i64>(&item, "expires"),
            _ => {}
        }
    }
    let now = clock::now().unix_timestamp();
    match (user, session_expires) {
        (Some(user), Some(expires)) if user.enabled && expires > now => {
            // Enrolment is required of an Administrator without MFA while the server requires
            // it: decided now, not when the token was issued (the configuration as this warm
            // instance read it in the last minute).
            let mfa_enrollment_required = user.role == Role::Administrator
                && !user.mfa_enabled()
                && crate::server_config::load_recent(app)
                    .await?
                    .require_mfa_for_administrators;
            Ok(user.principal(mfa_enrollment_required, Some(session)))
        }
        _ => Err(Error::unauthenticated()),
    }
}

/// `GET /api/auth/me`: the caller's own profile.
pub async fn profile(app: &Arc<App>, principal: &Principal) -> Result<UserView> {
    authorize(principal, Action::ReadOwnProfile, Resource::None)?;
    load_user(app, &principal.username)
        .await?
        .map(|u| UserView::from(&u))
        .ok_or_else(Error::unauthenticated)
}

/// `POST /api/admin/users` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// Name (lower case).
    pub username: UserName,
    /// Initial password; the user must change it at first login.
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Client filter (regex, anchored).
    #[serde(default)]
    pub client_filter: Option<String>,
    /// Classifications the user may edit.
    #[serde(default)]
    pub classifications: Option<Vec<String>>,
}

/// `PUT /api/admin/users/{username}` body: only the fields to change.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserUpdate {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// New client filter (`""` removes it).
    #[serde(default)]
    pub client_filter: Option<String>,
    /// New classifications: absent leaves them, `null` allows every classification, a list
    /// exactly those (`[]` none).
    #[serde(default, deserialize_with = "present")]
    pub classifications: Option<Option<Vec<String>>>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value (`Some(Some(v))`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_filter(filter: Option<&str>) -> Result<()> {
    match filter {
        Some(f) if f.chars().count() > 500 => Err(Error::bad_request(
            "INVALID_CLIENT_FILTER",
            "The client filter is longer than 500 characters.",
        )),
        Some(f) if !f.is_empty() => compile_client_filter(f).map(|_| ()),
        _ => Ok(()),
    }
}

fn check_classifications(classifications: Option<&[String]>) -> Result<()> {
    match classifications {
        Some(list)
            if list.len() > 50 || list.iter().any(|c| c.is_empty() || c.chars().count() > 64) =>
        {
            Err(Error::bad_request(
                "INVALID_CLASSIFICATIONS",
                "Give at most 50 classifications of 1 to 64 characters.",
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn actor_of(principal: &Principal) -> Actor {
    Actor::User {
        name: principal.username.clone(),
    }
}

/// Lists users (Administrator).
pub async fn list_users(
    app: &Arc<App>,
    principal: &Principal,
    source: &Source,
) -> Result<Vec<UserView>> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    let mut users = Vec::new();
    for item in app.store.query_partition(crate::schema::USERS_PK).await? {
        if let Some(name) = text(&item, "username")
            && let Some(user) = load_user(app, name).await?
        {
            users.push(UserView::from(&user));
        }
    }
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(users)
}

/// Reads one user (Administrator).
pub async fn get_user(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    source: &Source,
) -> Result<UserView> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    load_user(app, username)
        .await?
        .map(|u| UserView::from(&u))
        .ok_or_else(not_found)
}

fn index_put(app: &App, username: &str) -> Result<Write> {
    let item = to_item(
        crate::schema::USERS_PK,
        &user_pk(username),
        &serde_json::json!({ "username": username }),
    )?;
    app.store.put(item, None)
}

fn index_delete(app: &App, username: &str) -> Result<Write> {
    app.store
        .delete_in_transaction(crate::schema::USERS_PK, &user_pk(username))
}

/// Creates a user (Administrator). The password must meet the password rule and be changed
/// at first login.
pub async fn create_user(
    app: &Arc<App>,
    principal: &Principal,
    request: NewUser,
    source: &Source,
) -> Result<UserView> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    check_filter(request.client_filter.as_deref())?;
    check_classifications(request.classifications.as_deref())?;
    let password = password::normalize(&request.password);
    password::check_new_password(request.username.as_str(), &password)?;
    let now = clock::now_rfc3339();
    let user = UserRecord {
        username: request.username.to_string(),
        password_hash: hash(app, password).await?,
        role: request.role,
        client_filter: request.client_filter.filter(|f| !f.is_empty()),
        classifications: request.classifications,
        password_change_required: true,
        enabled: true,
        mfa: None,
        version: 1,
        created: now.clone(),
        updated: now,
    };
    let mut items = vec![user_put(app, &user, None)?, index_put(app, &user.username)?];
    if user.is_enabled_administrator() {
        items.push(admin_count_change(app, 1)?);
    }
    let event = AuditEvent::new(
        EventKind::UserCreated {
            username: user.username.clone(),
            role: format!("{:?}", user.role),
        },
        actor_of(principal),
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            items,
            &event,
            ("USER_EXISTS", "A user with that name already exists."),
        )
        .await?;
    clear_login_throttle(app, &user.username).await?;
    Ok(UserView::from(&user))
}

/// Changes a user's role, client filter, classifications or enabled flag (Administrator).
/// The last enabled Administrator cannot be disabled or demoted; disabling ends the user's
/// sessions.
pub async fn update_user(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    request: UserUpdate,
    source: &Source,
) -> Result<UserView> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    check_filter(request.client_filter.as_deref())?;
    check_classifications(request.classifications.clone().flatten().as_deref())?;
    let mut user = load_user(app, username).await?.ok_or_else(not_found)?;
    let before = user.clone();
    let mut changes = Vec::new();
    if let Some(role) = request.role.filter(|r| *r != user.role) {
        user.role = role;
        changes.push("role".to_owned());
    }
    if let Some(filter) = request.client_filter {
        let filter = Some(filter).filter(|f| !f.is_empty());
        if filter != user.client_filter {
            user.client_filter = filter;
            changes.push("clientFilter".to_owned());
        }
    }
    if let Some(classifications) = request.classifications
        && classifications != user.classifications
    {
        user.classifications = classifications;
        changes.push("classifications".to_owned());
    }
    if let Some(enabled) = request.enabled.filter(|e| *e != user.enabled) {
        user.enabled = enabled;
        changes.push("enabled".to_owned());
    }
    if changes.is_empty() {
        return Ok(UserView::from(&user));
    }
    user.version += 1;
    user.updated = clock::now_rfc3339();
    let mut items = vec![user_put(app, &user, Some(before.version))?];
    match (
        before.is_enabled_administrator(),
        user.is_enabled_administrator(),
    ) {
        (true, false) => items.push(admin_count_change(app, -1)?),
        (false, true) => items.push(admin_count_change(app, 1)?),
        _ => {}
    }
    let actor = actor_of(principal);
    let mut events = vec![AuditEvent::new(
        EventKind::UserUpdated {
            username: user.username.clone(),
            changes: changes.clone(),
        },
        actor.clone(),
        source.clone(),
        clock::now(),
    )];
    if before.role != user.role {
        events.push(AuditEvent::new(
            EventKind::UserRoleChanged {
                username: user.username.clone(),
                from: format!("{:?}", before.role),
                to: format!("{:?}", user.role),
            },
            actor.clone(),
            source.clone(),
            clock::now(),
        ));
    }
    // Any change to what the user may do ends their sessions: the next refresh picks up the
    // new rights (or, when disabled, fails); access tokens expire within 15 minutes.
    let ends = session_deletes(app, &user.username, None).await?;
    with_session_ends(
        app,
        items,
        events,
        ends,
        &user.username,
        &actor,
        source,
        last_admin(),
    )
    .await?;
    Ok(UserView::from(&user))
}

/// Deletes a user (Administrator). The last enabled Administrator cannot be deleted.
pub async fn delete_user(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    source: &Source,
) -> Result<()> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    let Some(user) = load_user(app, username).await? else {
        // A deletion that failed after the profile went (or a login that raced it) may have
        // left sessions or throttle counters: the same request removes them, then says 404.
        if UserName::parse(username).is_ok() {
            let leftovers = app.store.query_partition(&user_pk(username)).await?;
            app.store.delete_items(&leftovers).await?;
            clear_login_throttle(app, username).await?;
        }
        return Err(not_found());
    };
    let delete = app.store.delete_checked(
        &user_pk(&user.username),
        META,
        Some("version = :v"),
        vec![(":v", AttrValue::number(user.version))],
    )?;
    let mut items = vec![delete, index_delete(app, &user.username)?];
    if user.is_enabled_administrator() {
        items.push(admin_count_change(app, -1)?);
    }
    let actor = actor_of(principal);
    let event = AuditEvent::new(
        EventKind::UserDeleted {
            username: user.username.clone(),
        },
        actor.clone(),
        source.clone(),
        clock::now(),
    );
    let ends = session_deletes(app, &user.username, None).await?;
    with_session_ends(
        app,
        items,
        vec![event],
        ends,
        &user.username,
        &actor,
        source,
        last_admin(),
    )
    .await?;
    // A login that committed between the session read above and the deletion left a session:
    // sweep the user's partition now. None can appear after the deletion (a login's writes
    // are conditioned on the user's item, which is gone).
    let leftovers = app.store.query_partition(&user_pk(&user.username)).await?;
    app.store.delete_items(&leftovers).await?;
    clear_login_throttle(app, &user.username).await
}

/// Lifts the login throttle of `username` (the account's counter and lock, and those of its
/// known-good addresses): part of an administrator's password reset, and of a user's deletion
/// and creation (a new user of a name once throttled starts clean).
async fn clear_login_throttle(app: &App, username: &str) -> Result<()> {
    let items = app
        .store
        .query_partition(&crate::schema::account_throttle_pk(username))
        .await?;
    app.store.delete_items(&items).await
}

/// The answer to a password reset: the one-time password, shown once.
#[derive(Debug, Serialize)]
pub struct PasswordResetResult {
    /// Random one-time password; the user must change it at next login.
    pub password: String,
}

/// Sets a random one-time password that must be changed, and ends the user's sessions
/// (Administrator).
pub async fn reset_password(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    source: &Source,
) -> Result<PasswordResetResult> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    let mut user = load_user(app, username).await?.ok_or_else(not_found)?;
    let expected = user.version;
    let password = SecretString::new(URL_SAFE_NO_PAD.encode(random_bytes(18)));
    user.password_hash = hash(app, password.clone()).await?;
    user.password_change_required = true;
    user.version += 1;
    user.updated = clock::now_rfc3339();
    let actor = actor_of(principal);
    let event = AuditEvent::new(
        EventKind::PasswordReset {
            username: user.username.clone(),
        },
        actor.clone(),
        source.clone(),
        clock::now(),
    );
    let ends = session_deletes(app, &user.username, None).await?;
    with_session_ends(
        app,
        vec![user_put(app, &user, Some(expected))?],
        vec![event],
        ends,
        &user.username,
        &actor,
        source,
        ("CONFLICT", "The user changed at the same time. Try again."),
    )
    .await?;
    // A user locked out by failures gets in with the new password.
    clear_login_throttle(app, &user.username).await?;
    Ok(PasswordResetResult {
        password: password.expose().to_owned(),
    })
}

/// Ends every session of a user (Administrator). Their access tokens expire within 15 minutes.
pub async fn terminate_sessions(
    app: &Arc<App>,
    principal: &Principal,
    username: &str,
    source: &Source,
) -> Result<usize> {
    require(app, principal, Action::ManageUsers, Resource::None, source).await?;
    let user = load_user(app, username).await?.ok_or_else(not_found)?;
    let ends = session_deletes(app, &user.username, None).await?;
    let count = ends.len();
    let actor = actor_of(principal);
    let mut rest = ends;
    loop {
        let batch: Vec<Write> = rest.drain(..rest.len().min(90)).collect();
        let event = AuditEvent::new(
            EventKind::SessionsTerminated {
                username: user.username.clone(),
                count: batch.len(),
            },
            actor.clone(),
            source.clone(),
            clock::now(),
        );
        app.store
            .transact(batch, &event, ("CONFLICT", "Try again."))
            .await?;
        if rest.is_empty() {
            return Ok(count);
        }
    }
}

#[cfg(test)]
mod tests;
