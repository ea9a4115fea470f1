//! Registration: a client's definitions (new client, changed definitions, overrides from the
//! client's environment), the client limit, and clients an Administrator creates.

use super::*;

/// The outcome of a registration.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResult {
    /// `registered`, `updated` or `unchanged`.
    pub status: &'static str,
    /// The client's version after the registration.
    pub version: u64,
}

/// Registers a client or updates its definitions (`POST /api/clients`).
pub async fn register(
    app: &Arc<App>,
    secret: SecretString,
    registration: Registration,
    source: &Source,
) -> Result<RegistrationResult> {
    registration.validate()?;
    let name = registration.name.clone();
    let (state, throttles) = load_partition(app, name.as_str(), Some(source)).await?;
    check_throttle(app, name.as_str(), &throttles, source).await?;
    if let Some(state) = &state
        && !verify_secret(app, name.as_str(), Some(&state.meta), &secret).await?
    {
        return Err(refuse_client(app, name.as_str(), source).await);
    }
    let overrides = registration.client_setting_overrides.clone();
    if !overrides.is_empty() {
        let config = server_config::load(app).await?;
        let listed = config.client_overrides_allow_list.iter().any(|p| {
            crate::policy::compile_client_filter(p).is_ok_and(|re| re.is_match(name.as_str()))
        });
        if !config.allow_client_overrides || !listed {
            return refuse_registration(
                app,
                name.as_str(),
                "overridesDisabled",
                source,
                Error::Forbidden {
                    code: "CLIENT_OVERRIDES_DISABLED",
                    message: "Client overrides are switched off on this server, or not allowed for this client. Remove the overrides, or ask an administrator to allow them in the server configuration.",
                },
            )
            .await;
        }
        for o in &overrides {
            let Some(def) = registration.settings.iter().find(|d| d.name == o.name) else {
                return Err(Error::bad_request(
                    "UNKNOWN_SETTING",
                    format!(
                        "Override of '{}', which the registration does not define.",
                        o.name
                    ),
                ));
            };
            def.check_value(&o.value)?;
        }
    }
    let result = match state {
        None => register_new(app, secret, registration, source).await?,
        Some(state) => update_registration(app, state, registration, source).await?,
    };
    if overrides.is_empty() {
        return Ok(result);
    }
    apply_overrides(app, name.as_str(), &overrides, result, source).await
}

/// Applies client overrides after a registration: only values that differ from the current
/// ones are written, marked externally managed, in one transaction with their audit event.
pub(super) async fn apply_overrides(
    app: &Arc<App>,
    name: &str,
    overrides: &[crate::model::SettingOverride],
    result: RegistrationResult,
    source: &Source,
) -> Result<RegistrationResult> {
    let state = load_client(app, name)
        .await?
        .ok_or_else(|| Error::internal("client vanished"))?;
    let key = state.data_key(app, state.meta.dek_version).await?;
    let mut changed = Vec::new();
    for o in overrides {
        let current = state.value(app, o.name.as_str()).await?;
        let managed = state
            .values
            .get(o.name.as_str())
            .is_some_and(|i| i.externally_managed);
        if current.as_ref() != Some(&o.value) || !managed {
            changed.push(NewValue {
                name: o.name.clone(),
                value: o.value.clone(),
            });
        }
    }
    if changed.is_empty() {
        return Ok(result);
    }
    let version = write_values(
        app,
        &state,
        &key,
        &changed,
        None,
        (
            &format!("client:{name}"),
            Actor::Client {
                name: name.to_owned(),
            },
        ),
        "client override",
        true,
        source,
    )
    .await?;
    Ok(RegistrationResult {
        status: if result.status == "unchanged" {
            "updated"
        } else {
            result.status
        },
        version,
    })
}

pub(super) async fn refuse_registration(
    app: &App,
    client: &str,
    reason: &str,
    source: &Source,
    err: Error,
) -> Result<RegistrationResult> {
    let event = AuditEvent::new(
        EventKind::RegistrationRefused {
            client: client.to_owned(),
            reason: reason.to_owned(),
        },
        Actor::Client {
            name: client.to_owned(),
        },
        source.clone(),
        clock::now(),
    );
    app.store.record(&event).await?;
    Err(err)
}

pub(super) async fn register_new(
    app: &Arc<App>,
    secret: SecretString,
    registration: Registration,
    source: &Source,
) -> Result<RegistrationResult> {
    let name = registration.name.as_str();
    let config = server_config::load(app).await?;
    if !config.allow_new_registrations {
        return refuse_registration(
            app,
            name,
            "registrationsDisabled",
            source,
            Error::Forbidden {
                code: "REGISTRATIONS_DISABLED",
                message: "New client registrations are switched off on this server. An administrator can allow them in the server configuration.",
            },
        )
        .await;
    }
    if let Err(limit) = check_client_limit(app).await {
        return refuse_registration(app, name, "clientLimit", source, limit).await;
    }
    if secret.expose().chars().count() < MIN_SECRET_CHARS
        || estimated_secret_bits(secret.expose()) < MIN_SECRET_BITS
    {
        return refuse_registration(
            app,
            name,
            "weakSecret",
            source,
            Error::bad_request(
                "WEAK_CLIENT_SECRET",
                format!("The client secret must have at least {MIN_SECRET_CHARS} characters and 128 bits of randomness. Generate one with `figctl secret generate`."),
            ),
        )
        .await;
    }
    let hasher = app.keys.secret_hasher().await?;
    let secret_hash = B64.encode(hasher.hash(name, &secret)?);
    let event = AuditEvent::new(
        EventKind::NewClientRegistration {
            client: name.to_owned(),
            settings: registration
                .settings
                .iter()
                .map(|d| d.name.to_string())
                .collect(),
        },
        Actor::Client {
            name: name.to_owned(),
        },
        source.clone(),
        clock::now(),
    );
    create_client(
        app,
        name,
        &registration.description,
        &registration.settings,
        secret_hash,
        &event,
    )
    .await?;
    Ok(RegistrationResult {
        status: "registered",
        version: 1,
    })
}

/// The item that counts clients (created with the first, decremented when one is deleted).
use crate::schema::CLIENT_COUNT;

pub(super) fn client_limit_reached() -> Error {
    Error::Conflict {
        code: "CLIENT_LIMIT_REACHED",
        message: "This server holds as many clients as its configuration allows (maxClients). Delete unused clients, or ask an Administrator to raise the limit.",
    }
}

/// The client count's change for a transaction: one more (only while below `max`), or one less.
pub(crate) fn client_count_change(app: &App, delta: i64, max: Option<u32>) -> Result<Write> {
    let (pk, sk) = CLIENT_COUNT;
    match max {
        None => app.store.update(
            pk,
            sk,
            "ADD #count :d",
            None,
            vec![(":d", AttrValue::number(delta))],
        ),
        Some(max) => app.store.update(
            pk,
            sk,
            "ADD #count :d",
            Some("attribute_not_exists(#count) OR #count < :max"),
            vec![
                (":d", AttrValue::number(delta)),
                (":max", AttrValue::number(max)),
            ],
        ),
    }
}

/// Refuses a new client when the server already holds `maxClients` (the transaction's
/// condition on the count settles a race).
pub(super) async fn check_client_limit(app: &App) -> Result<u32> {
    let max = server_config::load(app).await?.max_clients;
    let count = match app.store.get(CLIENT_COUNT.0, CLIENT_COUNT.1).await? {
        Some(item) => match number::<String>(&item, "count") {
            Some(n) => n.parse::<i64>().unwrap_or(i64::MAX),
            None => 0,
        },
        // A table from before the count: it starts from the clients that exist.
        None => {
            let existing = list_client_names(app).await?.len();
            let item = item_of([
                ("PK", AttrValue::text(CLIENT_COUNT.0)),
                ("SK", AttrValue::text(CLIENT_COUNT.1)),
                ("count", AttrValue::number(existing)),
            ]);
            app.store.put_if_absent(item).await?;
            i64::try_from(existing).unwrap_or(i64::MAX)
        }
    };
    if count >= i64::from(max) {
        return Err(client_limit_reached());
    }
    Ok(max)
}

/// Writes a new client in one transaction with `event`: its `META` (definitions sealed under a
/// new data key), the wrapped key, the index entry and the client count (bounded by the
/// server's `maxClients`). `secret_hash` may be empty (an imported client has no secret until
/// an administrator rotates one).
pub(crate) async fn create_client(
    app: &App,
    name: &str,
    description: &str,
    settings: &[SettingDefinition],
    secret_hash: String,
    event: &AuditEvent,
) -> Result<()> {
    let max = check_client_limit(app).await?;
    let dek_version = 1;
    let (key, wrapped) = app.new_client_data_key(name, dek_version).await?;
    let now = clock::now_rfc3339();
    let meta = ClientMeta {
        name: name.to_owned(),
        description: description.to_owned(),
        secret_hash,
        previous_secret_hash: None,
        previous_secret_expires: None,
        version: 1,
        definitions_version: 1,
        definitions: String::new(),
        dek_version,
        created: now.clone(),
        updated: now.clone(),
        incarnation: ulid::Ulid::new().to_string(),
    };
    let pk = client_pk(name);
    let puts = [
        (to_item(&pk, META, &meta)?, Some("attribute_not_exists(PK)")),
        (
            to_item(
                &pk,
                &dek_sk(dek_version),
                &DekItem {
                    version: dek_version,
                    wrapped: B64.encode(wrapped),
                    created: now,
                },
            )?,
            None,
        ),
        (
            to_item(
                crate::schema::CLIENTS_PK,
                &client_pk(name),
                &IndexItem {
                    name: name.to_owned(),
                },
            )?,
            None,
        ),
    ];
    let mut items = puts
        .into_iter()
        .map(|(item, cond)| app.store.put(item, cond))
        .collect::<Result<Vec<_>>>()?;
    items.push(definitions_put(
        app,
        name,
        seal_definitions(name, settings, 1, dek_version, &key)?,
    )?);
    items.push(client_count_change(app, 1, Some(max))?);
    app.store
        .transact(
            items,
            event,
            (
                "CLIENT_EXISTS",
                "The client was registered at the same time. Try again.",
            ),
        )
        .await?;
    Ok(())
}

/// The change of a client's description and definitions, for a transaction: an update of only
/// those `META` attributes (and the versions), under a condition on the version loaded, and the
/// new [`DEFINITIONS_SK`] item. Every other attribute is left as it is, so a secret rotated
/// meanwhile (which does not move the version) is never undone. Definitions a `META` still held
/// itself are removed from it.
pub(crate) fn definitions_update(
    app: &App,
    state: &ClientState,
    description: &str,
    settings: &[SettingDefinition],
    key: &SecretBytes,
) -> Result<Vec<Write>> {
    let name = state.meta.name.as_str();
    let definitions_version = state.meta.definitions_version + 1;
    let sealed = seal_definitions(
        name,
        settings,
        definitions_version,
        state.meta.dek_version,
        key,
    )?;
    let update = app.store.update(
        &client_pk(name),
        META,
        "SET #description = :description, definitionsVersion = :dv, version = :next, \
         updated = :t REMOVE #definitions",
        Some("version = :v AND dekVersion = :k"),
        vec![
            (":description", AttrValue::text(description.to_owned())),
            (":dv", AttrValue::number(definitions_version)),
            (":next", AttrValue::number(state.meta.version + 1)),
            (":t", AttrValue::text(clock::now_rfc3339())),
            (":v", AttrValue::number(state.meta.version)),
            (":k", AttrValue::number(state.meta.dek_version)),
        ],
    )?;
    Ok(vec![update, definitions_put(app, name, sealed)?])
}

/// The settings that `new` would turn from secret into plain while they hold a value (base or
/// instance) or history: a secret stays secret. Only an Administrator's declassification
/// (which deletes the values and history first) may make such a setting plain.
pub(crate) async fn secrets_made_plain(
    app: &App,
    state: &ClientState,
    old: &[SettingDefinition],
    new: &[SettingDefinition],
) -> Result<Vec<String>> {
    let mut refused = Vec::new();
    for definition in new.iter().filter(|d| !d.secret) {
        let setting = definition.name.as_str();
        if !old.iter().any(|o| o.name.as_str() == setting && o.secret) {
            continue;
        }
        let has_value = state.values.contains_key(setting)
            || state.instances.values().any(|v| v.contains_key(setting));
        let mut has_history = false;
        if !has_value {
            let pk = history_pk(&state.meta.name);
            let instances = state.instances.keys().map(|i| Some(i.as_str()));
            for instance in std::iter::once(None).chain(instances) {
                let prefix = format!("{}#", history_name(instance, setting));
                if app.store.any_with_prefix(&pk, &prefix).await? {
                    has_history = true;
                    break;
                }
            }
        }
        if has_value || has_history {
            refused.push(setting.to_owned());
        }
    }
    Ok(refused)
}

/// The refusal of a change that would make a secret setting with values or history plain.
pub(crate) fn declassification_refused() -> Error {
    Error::Conflict {
        code: "SECRET_STAYS_SECRET",
        message: "A secret setting that has a value or history cannot be made plain by a registration or an import. Keep \"secret\": true, or ask an Administrator to declassify the setting (which deletes its values and their history).",
    }
}

pub(super) async fn update_registration(
    app: &Arc<App>,
    state: ClientState,
    registration: Registration,
    source: &Source,
) -> Result<RegistrationResult> {
    let name = state.meta.name.clone();
    let key = state.data_key(app, state.meta.dek_version).await?;
    let old = state.definitions(&key)?;
    let by_name: HashMap<&str, &SettingDefinition> =
        old.iter().map(|d| (d.name.as_str(), d)).collect();
    let new_names: std::collections::HashSet<&str> = registration
        .settings
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let added: Vec<String> = registration
        .settings
        .iter()
        .filter(|d| !by_name.contains_key(d.name.as_str()))
        .map(|d| d.name.to_string())
        .collect();
    let changed: Vec<String> = registration
        .settings
        .iter()
        .filter(|d| by_name.get(d.name.as_str()).is_some_and(|o| *o != *d))
        .map(|d| d.name.to_string())
        .collect();
    let removed: Vec<String> = old
        .iter()
        .filter(|d| !new_names.contains(d.name.as_str()))
        .map(|d| d.name.to_string())
        .collect();
    let description_changed = registration.description != state.meta.description;
    if added.is_empty() && changed.is_empty() && removed.is_empty() && !description_changed {
        return Ok(RegistrationResult {
            status: "unchanged",
            version: state.meta.version,
        });
    }
    let config = server_config::load(app).await?;
    if !config.allow_updated_registrations {
        return refuse_registration(
            app,
            &name,
            "updatesDisabled",
            source,
            Error::Forbidden {
                code: "REGISTRATION_UPDATES_DISABLED",
                message: "Updated client registrations are switched off on this server. An administrator can allow them in the server configuration.",
            },
        )
        .await;
    }
    let made_plain = secrets_made_plain(app, &state, &old, &registration.settings).await?;
    if !made_plain.is_empty() {
        return refuse_registration(
            app,
            &name,
            "secretStaysSecret",
            source,
            declassification_refused(),
        )
        .await;
    }
    let pk = client_pk(&name);
    let mut items = definitions_update(
        app,
        &state,
        &registration.description,
        &registration.settings,
        &key,
    )?;
    // A removed setting takes its values with it: the base value and every instance's.
    for setting in removed.iter().filter(|s| state.values.contains_key(*s)) {
        items.push(app.store.delete_in_transaction(&pk, &setting_sk(setting))?);
    }
    for (instance, values) in &state.instances {
        for setting in removed.iter().filter(|s| values.contains_key(*s)) {
            items.push(
                app.store
                    .delete_in_transaction(&pk, &instance_setting_sk(instance, setting))?,
            );
        }
    }
    let event = AuditEvent::new(
        EventKind::UpdatedClientRegistration {
            client: name.clone(),
            added,
            removed,
            changed,
        },
        Actor::Client { name: name.clone() },
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            items,
            &event,
            (
                "CONFLICT",
                "The client changed at the same time. Try again.",
            ),
        )
        .await?;
    Ok(RegistrationResult {
        status: "updated",
        version: state.meta.version + 1,
    })
}

/// `POST /api/admin/clients` body: a client an Administrator creates, so that its service can
/// register its definitions while new registrations are switched off.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClient {
    /// Client name.
    pub name: ClientName,
    /// What the client is.
    #[serde(default)]
    pub description: String,
}

/// A client created by an Administrator, with its secret (shown once).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClient {
    /// Client name.
    pub name: String,
    /// Its secret: 256 random bits, base64url. Shown once; stored only as a keyed hash. The
    /// service registers its definitions with it.
    pub client_secret: String,
}

pub(super) fn new_client_secret() -> SecretString {
    SecretString::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crypto::random_bytes(32)),
    )
}

/// Creates an empty client with a new random secret (Administrator): its service then
/// registers its definitions with that secret (an update of an existing client), whether or
/// not new registrations are allowed. Bounded by `maxClients` like every new client.
pub async fn create_by_administrator(
    app: &Arc<App>,
    principal: &crate::policy::Principal,
    request: NewClient,
    source: &Source,
) -> Result<CreatedClient> {
    use crate::policy::{Action, Resource};
    let name = request.name.as_str();
    crate::authz::require(
        app,
        principal,
        Action::ManageClients,
        Resource::Client(name),
        source,
    )
    .await?;
    if request.description.chars().count() > 2_000 {
        return Err(Error::bad_request(
            "INVALID_CLIENT",
            "The description is longer than 2000 characters.",
        ));
    }
    if load_client(app, name).await?.is_some() {
        return Err(Error::Conflict {
            code: "CLIENT_EXISTS",
            message: "A client with that name already exists.",
        });
    }
    let secret = new_client_secret();
    let hasher = app.keys.secret_hasher().await?;
    let event = AuditEvent::new(
        EventKind::NewClientRegistration {
            client: name.to_owned(),
            settings: Vec::new(),
        },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        clock::now(),
    );
    create_client(
        app,
        name,
        &request.description,
        &[],
        B64.encode(hasher.hash(name, &secret)?),
        &event,
    )
    .await?;
    Ok(CreatedClient {
        name: name.to_owned(),
        client_secret: secret.expose().to_owned(),
    })
}
