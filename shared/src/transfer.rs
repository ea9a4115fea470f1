//! Export and import of clients, definitions and values (Administrator).
//!
//! An export holds every client the caller may see: description, definitions, non-secret
//! values and instance values. Secret values are left out, unless the administrator gives a
//! passphrase: then they travel in one AES-256-GCM blob under a key derived from it with
//! Argon2id (64 MiB, 3 passes, random salt). No client-secret material is ever exported;
//! imported clients that are new have no secret until an administrator rotates one.
//!
//! Import modes: `addNewClients` (clients that exist are left alone), `replaceClients`
//! (existing clients are replaced in place: definitions, values and instances become the
//! file's, while the client keeps its secret, data keys and history and never goes missing)
//! and `valuesOnly` (values of existing clients, validated against their own definitions).
//! Everything is validated before anything is written; imports can be switched off.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::app::App;
use crate::authz::require;
use crate::clients::NewValue;
use crate::clients::load_client;
use crate::clock;
use crate::crypto::passphrase;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::model::{ClientName, SettingDefinition, SettingName};
use crate::policy::{Action, Principal, Resource};
use crate::secret::SecretString;

/// The format name of export documents.
pub const FORMAT: &str = "fig-export/v1";
/// Most clients one import may hold.
const MAX_CLIENTS: usize = 500;
const AAD: &[u8] = b"fig-export/v1 secrets";
/// The key-derivation parameters of export files ([`crate::crypto::passphrase`]).
const KDF_MEMORY_KIB: u32 = passphrase::MEMORY_KIB;
const KDF_ITERATIONS: u32 = passphrase::ITERATIONS;
const KDF_LANES: u32 = passphrase::LANES;

/// One client in an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportedClient {
    /// Name.
    pub name: ClientName,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Definitions.
    pub settings: Vec<SettingDefinition>,
    /// Values set by admins (non-secret settings only).
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    /// Instance values (non-secret settings only), by instance.
    #[serde(default)]
    pub instances: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Secret values, sealed with a passphrase.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedSecrets {
    /// `argon2id`.
    pub kdf: String,
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Salt, base64.
    pub salt: String,
    /// AES-256-GCM nonce, base64.
    pub nonce: String,
    /// Ciphertext with tag, base64: JSON `{client: {setting or "@instance/setting": value}}`.
    pub ciphertext: String,
}

/// An export document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportDocument {
    /// Always [`FORMAT`].
    pub format: String,
    /// When (UTC).
    pub exported_at: String,
    /// By whom.
    #[serde(default)]
    pub exported_by: String,
    /// The clients.
    pub clients: Vec<ExportedClient>,
    /// Secret values, when exported with a passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SealedSecrets>,
}

/// `POST /api/admin/export` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    /// Seals secret values with a key derived from this.
    pub passphrase: SecretString,
}

/// How an import treats existing clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportMode {
    /// Only clients that do not exist are created.
    AddNewClients,
    /// Existing clients are replaced (their client secret is kept).
    ReplaceClients,
    /// Only values of existing clients are set.
    ValuesOnly,
}

impl ImportMode {
    fn name(self) -> &'static str {
        match self {
            Self::AddNewClients => "addNewClients",
            Self::ReplaceClients => "replaceClients",
            Self::ValuesOnly => "valuesOnly",
        }
    }
}

/// `POST /api/admin/import` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRequest {
    /// How to treat existing clients.
    pub mode: ImportMode,
    /// Opens the document's secret values (without it they are not imported).
    #[serde(default)]
    pub passphrase: Option<SecretString>,
    /// The export document.
    pub document: ExportDocument,
}

/// What an import wrote.
#[derive(Debug, Serialize)]
pub struct ImportResult {
    /// Clients created or changed.
    pub clients: usize,
    /// Values written.
    pub values: usize,
}

fn check_passphrase(passphrase: &SecretString) -> Result<()> {
    crate::password::check_new_password("export", passphrase).map_err(|_| {
        Error::bad_request(
            "WEAK_PASSPHRASE",
            "The passphrase must have at least 12 characters and be hard to guess (strength 3 of 4): a few unrelated words work well. Anyone with the file and the passphrase can read the secrets.",
        )
    })
}

async fn seal(passphrase: SecretString, plaintext: Zeroizing<Vec<u8>>) -> Result<SealedSecrets> {
    tokio::task::spawn_blocking(move || {
        let passphrase::Sealed {
            salt,
            nonce,
            ciphertext,
        } = passphrase::seal(&passphrase, AAD, &plaintext)?;
        Ok(SealedSecrets {
            kdf: passphrase::KDF.into(),
            memory_kib: KDF_MEMORY_KIB,
            iterations: KDF_ITERATIONS,
            parallelism: KDF_LANES,
            salt: B64.encode(salt),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        })
    })
    .await
    .map_err(|_| Error::internal("seal task"))?
}

type Secrets = BTreeMap<String, BTreeMap<String, Value>>;

async fn open(passphrase: SecretString, sealed: &SealedSecrets) -> Result<Secrets> {
    let wrong = || {
        Error::bad_request(
            "WRONG_PASSPHRASE",
            "The passphrase does not open the secrets in this file (or the file was changed).",
        )
    };
    if sealed.kdf != passphrase::KDF
        || sealed.memory_kib != KDF_MEMORY_KIB
        || sealed.iterations != KDF_ITERATIONS
        || sealed.parallelism != KDF_LANES
    {
        return Err(Error::bad_request(
            "INVALID_IMPORT",
            "The secrets in this file use key-derivation settings this server does not accept.",
        ));
    }
    let decode = |v: &str| B64.decode(v).map_err(|_| wrong());
    let (salt, nonce, ciphertext) = (
        decode(&sealed.salt)?,
        decode(&sealed.nonce)?,
        decode(&sealed.ciphertext)?,
    );
    if nonce.len() != 12 || salt.len() < 16 {
        return Err(wrong());
    }
    let plaintext = tokio::task::spawn_blocking(move || {
        let sealed = passphrase::Sealed {
            salt,
            nonce,
            ciphertext,
        };
        passphrase::open(&passphrase, AAD, &sealed)?.ok_or_else(wrong)
    })
    .await
    .map_err(|_| Error::internal("open task"))??;
    serde_json::from_slice(&plaintext).map_err(|_| wrong())
}

/// `GET /api/admin/export` (no passphrase: no secret values) and `POST` (with one).
pub async fn export(
    app: &Arc<App>,
    principal: &Principal,
    passphrase: Option<SecretString>,
    source: &Source,
) -> Result<ExportDocument> {
    require(app, principal, Action::ImportExport, Resource::None, source).await?;
    if let Some(p) = &passphrase {
        check_passphrase(p)?;
    }
    let mut clients = Vec::new();
    let mut secrets: Secrets = BTreeMap::new();
    for name in crate::clients::list_client_names(app).await? {
        let Some(state) = load_client(app, &name).await? else {
            continue;
        };
        let key = state.data_key(app, state.meta.dek_version).await?;
        let definitions = state.definitions(&key)?;
        // A value is secret when its setting is, or when it was sealed as a secret's.
        let secret = |setting: &str, item: &crate::clients::SettingItem| {
            item.secret
                || definitions
                    .iter()
                    .any(|d| d.name.as_str() == setting && d.secret)
        };
        let mut values = BTreeMap::new();
        for (setting, item) in &state.values {
            let key = state.data_key(app, item.dek_version).await?;
            let value = crate::clients::open_value(&name, item, &key)?;
            if secret(setting, item) {
                secrets
                    .entry(name.clone())
                    .or_default()
                    .insert(setting.clone(), value);
            } else {
                values.insert(setting.clone(), value);
            }
        }
        let mut instances = BTreeMap::new();
        for (instance, items) in &state.instances {
            let mut values = BTreeMap::new();
            for (setting, item) in items {
                let key = state.data_key(app, item.dek_version).await?;
                let value = crate::clients::open_value(&name, item, &key)?;
                if secret(setting, item) {
                    secrets
                        .entry(name.clone())
                        .or_default()
                        .insert(format!("@{instance}/{setting}"), value);
                } else {
                    values.insert(setting.clone(), value);
                }
            }
            instances.insert(instance.clone(), values);
        }
        clients.push(ExportedClient {
            name: ClientName::parse(&name)?,
            description: state.meta.description.clone(),
            settings: definitions,
            values,
            instances,
        });
    }
    let with_secrets = passphrase.is_some();
    let sealed = match passphrase {
        Some(p) => {
            let plaintext = Zeroizing::new(
                serde_json::to_vec(&secrets)
                    .map_err(|e| Error::internal(format!("export: {e}")))?,
            );
            Some(seal(p, plaintext).await?)
        }
        None => None,
    };
    app.store
        .record(&AuditEvent::new(
            EventKind::ClientsExported {
                clients: clients.len(),
                with_secrets,
            },
            Actor::User {
                name: principal.username.clone(),
            },
            source.clone(),
            clock::now(),
        ))
        .await?;
    Ok(ExportDocument {
        format: FORMAT.into(),
        exported_at: clock::now_rfc3339(),
        exported_by: principal.username.clone(),
        clients,
        secrets: sealed,
    })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request("INVALID_IMPORT", message)
}

/// Values of one client (base, then per instance) as the import will write them.
struct Planned {
    base: Vec<NewValue>,
    instances: BTreeMap<String, Vec<NewValue>>,
}

fn plan(
    client: &ExportedClient,
    definitions: &[SettingDefinition],
    secrets: Option<&BTreeMap<String, Value>>,
) -> Result<Planned> {
    let check = |setting: &str, value: &Value| -> Result<NewValue> {
        let definition = definitions
            .iter()
            .find(|d| d.name.as_str() == setting)
            .ok_or_else(|| {
                invalid(format!(
                    "Client '{}' has no setting '{setting}'.",
                    client.name
                ))
            })?;
        definition.check_value(value).map_err(|e| {
            invalid(format!(
                "Client '{}', setting '{setting}': {}",
                client.name,
                e.public().1
            ))
        })?;
        Ok(NewValue {
            name: SettingName::parse(setting)?,
            value: value.clone(),
        })
    };
    let mut base = Vec::new();
    let mut instances: BTreeMap<String, Vec<NewValue>> = BTreeMap::new();
    for (setting, value) in &client.values {
        base.push(check(setting, value)?);
    }
    for (instance, values) in &client.instances {
        ClientName::parse(instance)?;
        let entry = instances.entry(instance.clone()).or_default();
        for (setting, value) in values {
            entry.push(check(setting, value)?);
        }
    }
    let is_secret = |setting: &str| {
        definitions
            .iter()
            .any(|d| d.name.as_str() == setting && d.secret)
    };
    for (key, value) in secrets.into_iter().flatten() {
        let setting = key.rsplit('/').next().unwrap_or(key);
        if !is_secret(setting) {
            // The sealed part is not bound to the definitions: a file edited to turn a secret
            // setting into a plain one must not make a secret value readable.
            return Err(invalid(format!(
                "Client '{}': a sealed value for '{setting}', which is not a secret setting.",
                client.name
            )));
        }
        match key.strip_prefix('@').and_then(|k| k.split_once('/')) {
            Some((instance, setting)) => {
                ClientName::parse(instance)?;
                instances
                    .entry(instance.to_owned())
                    .or_default()
                    .push(check(setting, value)?);
            }
            None => base.push(check(key, value)?),
        }
    }
    for values in std::iter::once(&base).chain(instances.values()) {
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = values.iter().find(|v| !seen.insert(v.name.as_str())) {
            return Err(invalid(format!(
                "Client '{}' sets '{}' twice.",
                client.name, twice.name
            )));
        }
    }
    let too_many = base.len() > 90 || instances.values().any(|v| v.len() > 90);
    if too_many {
        return Err(invalid(format!(
            "Client '{}' has more than 90 values; import it in parts.",
            client.name
        )));
    }
    Ok(Planned { base, instances })
}

/// Most items the first step of replacing a client in place may write (one transaction, with
/// its audit events).
const MAX_RESHAPE_ITEMS: usize = 80;

/// The first step of `replaceClients` for a client that exists, as one transaction: the new
/// description and definitions (sealed under the client's current data key), the values and
/// instances the file does not hold removed, the instances it adds created (empty: they show
/// the base values until their own are written). The client keeps its secret, data keys,
/// history and identity throughout, so a service never sees it missing, and a failure in a
/// later step leaves a client that serves, for each setting, its old value, its new one or
/// (while a value whose type changed waits to be written again) its default.
struct Reshape {
    items: Vec<crate::store::Write>,
    events: Vec<AuditEvent>,
}

async fn reshape(
    app: &App,
    principal: &Principal,
    state: &crate::clients::ClientState,
    client: &ExportedClient,
    planned: &Planned,
    source: &Source,
) -> Result<Reshape> {
    use crate::clients::{instance_setting_sk, instance_sk};
    use crate::store::{client_pk, setting_sk, to_item};

    let name = state.meta.name.as_str();
    let pk = client_pk(name);
    let key = state.data_key(app, state.meta.dek_version).await?;
    let old = state.definitions(&key)?;
    // A file cannot declassify a secret that holds a value or history (as a registration
    // cannot): only an Administrator's declassification can.
    if !crate::clients::secrets_made_plain(app, state, &old, &client.settings)
        .await?
        .is_empty()
    {
        return Err(crate::clients::declassification_refused());
    }
    let new_type = |setting: &str| {
        client
            .settings
            .iter()
            .find(|d| d.name.as_str() == setting)
            .map(|d| d.kind)
    };
    // A value stays only where the file sets it again (it is overwritten in the next step) and
    // its setting keeps its type; every other value goes, so the setting shows its new default.
    let old_type = |setting: &str| {
        old.iter()
            .find(|d| d.name.as_str() == setting)
            .map(|d| d.kind)
    };
    let set_in =
        |setting: &str, values: &[NewValue]| values.iter().any(|v| v.name.as_str() == setting);
    let keeps = |setting: &str, set_again: &[NewValue]| {
        set_in(setting, set_again)
            && new_type(setting).is_some()
            && new_type(setting) == old_type(setting)
    };
    let mut deletes = Vec::new();
    let mut reset: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    // Values of settings that are still defined and not set again go back to the default (a
    // value change, named as value changes are: by setting); values of removed settings just go
    // with them, and values set again are changed by the next step.
    for setting in state.values.keys() {
        if !keeps(setting, &planned.base) {
            deletes.push(setting_sk(setting));
            if new_type(setting).is_some() && !set_in(setting, &planned.base) {
                reset.insert(setting.clone());
            }
        }
    }
    let mut events = Vec::new();
    let actor = || Actor::User {
        name: principal.username.clone(),
    };
    let event = |kind| AuditEvent::new(kind, actor(), source.clone(), clock::now());
    for (instance, values) in &state.instances {
        match planned.instances.get(instance) {
            None => {
                deletes.push(instance_sk(instance));
                deletes.extend(values.keys().map(|s| instance_setting_sk(instance, s)));
                events.push(event(EventKind::InstanceDeleted {
                    client: name.to_owned(),
                    instance: instance.clone(),
                }));
            }
            Some(set_again) => {
                for setting in values.keys() {
                    if !keeps(setting, set_again) {
                        deletes.push(instance_setting_sk(instance, setting));
                        if new_type(setting).is_some() && !set_in(setting, set_again) {
                            reset.insert(setting.clone());
                        }
                    }
                }
            }
        }
    }
    let mut items = crate::clients::definitions_update(
        app,
        state,
        &client.description,
        &client.settings,
        &key,
    )?;
    for sk in &deletes {
        items.push(app.store.delete_in_transaction(&pk, sk)?);
    }
    let now = clock::now_rfc3339();
    for instance in planned.instances.keys() {
        if state.instances.contains_key(instance) {
            continue;
        }
        let marker = to_item(
            &pk,
            &instance_sk(instance),
            &serde_json::json!({ "instance": instance, "created": now }),
        )?;
        items.push(app.store.put(marker, Some("attribute_not_exists(PK)"))?);
        events.push(event(EventKind::InstanceCreated {
            client: name.to_owned(),
            instance: instance.clone(),
        }));
    }
    let names = |defs: &[SettingDefinition]| -> Vec<String> {
        defs.iter().map(|d| d.name.to_string()).collect()
    };
    let (old_names, new_names) = (names(&old), names(&client.settings));
    events.insert(
        0,
        event(EventKind::UpdatedClientRegistration {
            client: name.to_owned(),
            added: new_names
                .iter()
                .filter(|n| !old_names.contains(n))
                .cloned()
                .collect(),
            removed: old_names
                .iter()
                .filter(|n| !new_names.contains(n))
                .cloned()
                .collect(),
            changed: client
                .settings
                .iter()
                .filter(|d| old.iter().any(|o| o.name == d.name && o != *d))
                .map(|d| d.name.to_string())
                .collect(),
        }),
    );
    if !reset.is_empty() {
        events.push(event(EventKind::SettingValueChanged {
            client: name.to_owned(),
            settings: reset.into_iter().collect(),
            change_message: "Imported (replaceClients): not in the file, back to the default"
                .to_owned(),
        }));
    }
    if items.len() + events.len() > MAX_RESHAPE_ITEMS {
        return Err(invalid(format!(
            "Client '{name}' has too many values and instances to replace in one step; delete its instances first or use 'valuesOnly'."
        )));
    }
    Ok(Reshape { items, events })
}

/// `POST /api/admin/import`.
pub async fn import(
    app: &Arc<App>,
    principal: &Principal,
    request: ImportRequest,
    source: &Source,
) -> Result<ImportResult> {
    require(app, principal, Action::ImportExport, Resource::None, source).await?;
    if !crate::server_config::load(app).await?.allow_file_imports {
        return Err(Error::Forbidden {
            code: "IMPORTS_DISABLED",
            message: "File imports are switched off on this server. An administrator can allow them in the server configuration.",
        });
    }
    let document = request.document;
    if document.format != FORMAT {
        return Err(invalid(format!("This is not a {FORMAT} document.")));
    }
    if document.clients.len() > MAX_CLIENTS {
        return Err(invalid(format!(
            "An import may hold at most {MAX_CLIENTS} clients."
        )));
    }
    let secrets = match (&document.secrets, request.passphrase) {
        (Some(sealed), Some(p)) => Some(open(p, sealed).await?),
        (Some(_), None) => {
            return Err(Error::bad_request(
                "PASSPHRASE_REQUIRED",
                "This file holds sealed secret values: give the passphrase it was exported with.",
            ));
        }
        (None, _) => None,
    };
    // Validate everything first.
    let mut seen = std::collections::HashSet::new();
    let mut work = Vec::new();
    for client in &document.clients {
        let name = client.name.as_str();
        if !seen.insert(name) {
            return Err(invalid(format!("Client '{name}' appears twice.")));
        }
        let registration = crate::model::Registration {
            name: client.name.clone(),
            description: client.description.clone(),
            instance: None,
            settings: client.settings.clone(),
            client_setting_overrides: Vec::new(),
        };
        registration
            .validate()
            .map_err(|e| invalid(format!("Client '{name}': {}", e.public().1)))?;
        let existing = load_client(app, name).await?;
        let client_secrets = secrets.as_ref().and_then(|s| s.get(name));
        let planned = match (request.mode, &existing) {
            (ImportMode::ValuesOnly, None) => {
                return Err(invalid(format!(
                    "Client '{name}' does not exist; 'valuesOnly' sets values of existing clients."
                )));
            }
            (ImportMode::ValuesOnly, Some(state)) => {
                let key = state.data_key(app, state.meta.dek_version).await?;
                let planned = plan(client, &state.definitions(&key)?, client_secrets)?;
                if let Some(missing) = planned
                    .instances
                    .keys()
                    .find(|i| !state.instances.contains_key(*i))
                {
                    return Err(invalid(format!(
                        "Client '{name}' has no instance '{missing}'; 'valuesOnly' does not create instances."
                    )));
                }
                planned
            }
            (ImportMode::AddNewClients, Some(_)) => continue,
            _ => plan(client, &client.settings, client_secrets)?,
        };
        require(
            app,
            principal,
            Action::ManageClients,
            Resource::Client(name),
            source,
        )
        .await?;
        let replace = match (request.mode, &existing) {
            (ImportMode::ReplaceClients, Some(state)) => {
                Some(reshape(app, principal, state, client, &planned, source).await?)
            }
            _ => None,
        };
        work.push((client, existing, planned, replace));
    }
    // Then write, client by client.
    let actor = || Actor::User {
        name: principal.username.clone(),
    };
    let message = format!("Imported ({})", request.mode.name());
    let mut written_clients = Vec::new();
    let mut written_values = 0;
    for (client, existing, planned, replace) in work {
        let name = client.name.as_str();
        if let Some(Reshape { items, events }) = replace {
            // An existing client is replaced in place: never missing, its secret kept.
            app.store
                .transact_events(
                    items,
                    &events,
                    (
                        "CONFLICT",
                        "A client changed while the import ran. Import the file again.",
                    ),
                )
                .await?;
        } else if request.mode != ImportMode::ValuesOnly && existing.is_none() {
            let event = AuditEvent::new(
                EventKind::NewClientRegistration {
                    client: name.to_owned(),
                    settings: client.settings.iter().map(|d| d.name.to_string()).collect(),
                },
                actor(),
                source.clone(),
                clock::now(),
            );
            // A new client has no secret until an administrator rotates one.
            crate::clients::create_client(
                app,
                name,
                &client.description,
                &client.settings,
                String::new(),
                &event,
            )
            .await?;
            for instance in planned.instances.keys() {
                crate::clients::create_instance(
                    app,
                    principal,
                    name,
                    crate::clients::NewInstance {
                        instance: ClientName::parse(instance)?,
                    },
                    source,
                )
                .await?;
            }
        }
        let fresh = || async {
            load_client(app, name)
                .await?
                .ok_or_else(|| Error::unavailable("imported client vanished"))
        };
        // The base values, then each instance's, in chunks that fit one transaction.
        let groups = std::iter::once((None, &planned.base)).chain(
            planned
                .instances
                .iter()
                .map(|(instance, values)| (Some(instance.as_str()), values)),
        );
        for (instance, values) in groups {
            for chunk in values.chunks(crate::clients::MAX_VALUES_PER_CHANGE) {
                let state = fresh().await?;
                let key = state.data_key(app, state.meta.dek_version).await?;
                crate::clients::write_values(
                    app,
                    &state,
                    &key,
                    chunk,
                    instance,
                    (&principal.username, actor()),
                    &message,
                    false,
                    source,
                )
                .await?;
                written_values += chunk.len();
            }
        }
        written_clients.push(name.to_owned());
    }
    app.store
        .record(&AuditEvent::new(
            EventKind::ClientsImported {
                mode: request.mode.name().into(),
                clients: written_clients.clone(),
                values: written_values,
            },
            actor(),
            source.clone(),
            clock::now(),
        ))
        .await?;
    Ok(ImportResult {
        clients: written_clients.len(),
        values: written_values,
    })
}
