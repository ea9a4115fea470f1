//! Setting clients: registration, authentication by client secret, and the settings fetch.
//!
//! A client's partition holds its `META` item (secret hashes, versions, incarnation), its
//! definitions sealed with its data key (`DEFINITIONS`), its wrapped data keys (`DEK#…`), one
//! `SETTING#…` item per value an admin has set, its instances (`INSTANCE#…`), this hour's
//! failure counters (`META#THROTTLE#…`) and the values pack (`META#VALUES`). A fetch reads the
//! head of that partition, and the whole of it only when the pack cannot answer ([`fetch()`];
//! docs/ARCHITECTURE.md §4 and §7).
//!
//! This module holds the stored client (its items, its state, the sealing of its definitions
//! and values, the reads of its partition); its submodules act on it: [`registration`],
//! [`fetch`](mod@fetch), [`values`], [`secret`], [`status`] and [`data_key`]. Their items
//! are re-exported here (`clients::fetch`, `clients::register`, …).

pub mod data_key;
pub mod declassify;
pub mod fetch;
pub mod history;
pub mod instances;
pub mod lifecycle;
pub mod registration;
pub mod secret;
pub mod status;
pub mod values;
pub mod view;

#[cfg(test)]
mod tests;

pub use data_key::*;
pub use declassify::*;
pub use fetch::*;
pub use history::*;
pub use instances::*;
pub use lifecycle::*;
pub use registration::*;
pub use secret::*;
pub use status::*;
pub use values::*;
pub use view::*;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::clock;
use crate::crypto::{self, ValueBinding, estimated_secret_bits};
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::model::{ClientName, Registration, SettingDefinition, SettingName};
use crate::pack::{PackPlace, Packed};
use crate::policy::{Action, Principal, Resource};
use crate::secret::{SecretBytes, SecretString};
use crate::server_config;
use crate::store::{
    AttrValue, Write, client_pk, dek_sk, from_item, item_of, number, setting_sk, sort_key, to_item,
};

/// Shortest client secret accepted.
pub const MIN_SECRET_CHARS: usize = 32;
/// Least estimated randomness of a client secret, in bits.
pub const MIN_SECRET_BITS: f64 = 128.0;
/// Binding name of the sealed definitions (not a valid setting name, so it cannot collide).
const DEFINITIONS: &str = "#definitions";

/// The client's `META` item.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMeta {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Keyed hash of the current secret (base64).
    pub secret_hash: String,
    /// Keyed hash of the previous secret, during a rotation's grace period.
    #[serde(default)]
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops working (epoch seconds).
    #[serde(default)]
    pub previous_secret_expires: Option<i64>,
    /// Increments whenever a value or a definition changes (the ETag).
    pub version: u64,
    /// Increments whenever the definitions change.
    pub definitions_version: u64,
    /// Definitions, JSON sealed with the data key (base64). Stored in the client's
    /// [`DEFINITIONS_SK`] item (so that `META`, which every poll reads, stays small); a `META`
    /// written before that held them itself, and still may until the definitions next change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definitions: String,
    /// The data key that sealed the definitions and new values.
    pub dek_version: u32,
    /// Creation time.
    pub created: String,
    /// Last change.
    pub updated: String,
    /// Random id (ULID) of this incarnation of the client: a client deleted (or replaced by an
    /// import) and registered again gets a new one. Part of the fetch ETag, so a service's old
    /// ETag never matches the new client when its version numbers start over.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub incarnation: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DekItem {
    version: u32,
    wrapped: String,
    created: String,
}

/// A `SETTING#…` item: a value set by an admin.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingItem {
    /// Setting name.
    pub name: String,
    /// The JSON value, sealed (base64).
    pub value: String,
    /// Version of the value (part of the binding).
    pub value_version: u64,
    /// Data key that sealed it.
    pub dek_version: u32,
    /// When it last changed.
    pub last_changed: String,
    /// Who changed it.
    pub last_changed_by: String,
    /// Set by the client from its environment (a client override), not by an admin.
    #[serde(default)]
    pub externally_managed: bool,
    /// Sealed as a secret setting's value (bound into the ciphertext's associated data). A
    /// secret value is never shown to admins, whatever the definition says now.
    #[serde(default)]
    pub secret: bool,
}

impl SettingItem {
    /// Whether admins may see this value under `definition`: neither the setting nor the
    /// value itself is secret.
    pub fn is_visible_under(&self, definition: &SettingDefinition) -> bool {
        !definition.secret && !self.secret
    }
}

/// The fixed sort keys of a client's partition besides `META` (items deleted with the client
/// whether or not they exist).
pub const FIXED_SKS: &[&str] = &[DEFINITIONS_SK, VALUES_SK];

/// The [`DEFINITIONS_SK`] item: the definitions, sealed as they always were (bound to the
/// client, `#definitions`, the definitions version and the data key's version).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionsItem {
    sealed: String,
}

/// The `Put` of a client's sealed definitions, for a transaction.
fn definitions_put(app: &App, client: &str, sealed: String) -> Result<Write> {
    app.store.put(
        to_item(
            &client_pk(client),
            DEFINITIONS_SK,
            &DefinitionsItem { sealed },
        )?,
        None,
    )
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexItem {
    name: String,
}

/// Everything in a client's partition, with its data keys still wrapped.
#[derive(Debug)]
pub struct ClientState {
    /// The `META` item.
    pub meta: ClientMeta,
    pub(crate) deks: HashMap<u32, Vec<u8>>,
    /// When each data key was created (RFC 3339).
    pub(crate) dek_created: HashMap<u32, String>,
    /// Values set by admins, by setting name.
    pub values: HashMap<String, SettingItem>,
    /// Instances, each with the values set for it (by setting name).
    pub instances: BTreeMap<String, HashMap<String, SettingItem>>,
}

// The keys of a client's items (crate::schema), for the callers that name them from here.
pub use crate::schema::{DEFINITIONS_SK, HEAD_END, VALUES_SK, instance_setting_sk, instance_sk};
use crate::schema::{DEK_PREFIX, INSTANCE_PREFIX, INSTANCE_SETTING, META, SETTING_PREFIX};
use crate::schema::{THROTTLE_PREFIX, history_pk as history_partition};

/// The name an instance's value is sealed under: `{instance}#{setting}`. Names cannot
/// contain `#`, so an instance value never opens as the base value or another instance's.
pub fn instance_binding(instance: &str, setting: &str) -> String {
    format!("{instance}#{setting}")
}

impl ClientState {
    /// The plaintext data key `version` (cache, else one KMS call).
    pub async fn data_key(&self, app: &App, version: u32) -> Result<SecretBytes> {
        let wrapped = self
            .deks
            .get(&version)
            .ok_or_else(|| Error::internal("data key version missing"))?;
        app.client_data_key(&self.meta.name, version, wrapped).await
    }

    /// When the current data key was created (`None` if its item carries no valid time).
    pub fn data_key_created(&self) -> Option<time::OffsetDateTime> {
        self.dek_created.get(&self.meta.dek_version).and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    }

    /// Opens the sealed definitions.
    pub fn definitions(&self, key: &SecretBytes) -> Result<Vec<SettingDefinition>> {
        open_definitions(&self.meta, key)
    }

    /// Opens the value of `name`, if an admin set one.
    pub async fn value(&self, app: &App, name: &str) -> Result<Option<Value>> {
        let Some(item) = self.values.get(name) else {
            return Ok(None);
        };
        let key = self.data_key(app, item.dek_version).await?;
        open_value(&self.meta.name, item, &key).map(Some)
    }
}

fn open_definitions(meta: &ClientMeta, key: &SecretBytes) -> Result<Vec<SettingDefinition>> {
    let sealed = B64
        .decode(&meta.definitions)
        .map_err(|_| Error::internal("definitions are not base64"))?;
    let binding = ValueBinding {
        client: &meta.name,
        setting: DEFINITIONS,
        value_version: meta.definitions_version,
        key_version: meta.dek_version,
        secret: false,
    };
    let plain = crypto::open(key, &binding, &sealed)?;
    serde_json::from_slice(&plain).map_err(|e| Error::internal(format!("definitions: {e}")))
}

fn seal_definitions(
    client: &str,
    defs: &[SettingDefinition],
    version: u64,
    dek_version: u32,
    key: &SecretBytes,
) -> Result<String> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(defs).map_err(|e| Error::internal(format!("definitions: {e}")))?,
    );
    let binding = ValueBinding {
        client,
        setting: DEFINITIONS,
        value_version: version,
        key_version: dek_version,
        secret: false,
    };
    Ok(B64.encode(crypto::seal(key, &binding, &plain)?))
}

/// Opens one value item, as the secret or plain value its item says it is (a relabelled item
/// fails to open).
pub fn open_value(client: &str, item: &SettingItem, key: &SecretBytes) -> Result<Value> {
    let sealed = B64
        .decode(&item.value)
        .map_err(|_| Error::internal("value is not base64"))?;
    let binding = ValueBinding {
        client,
        setting: &item.name,
        value_version: item.value_version,
        key_version: item.dek_version,
        secret: item.secret,
    };
    let plain = crypto::open(key, &binding, &sealed)?;
    serde_json::from_slice(&plain).map_err(|e| Error::internal(format!("value: {e}")))
}

/// Where a sealed value belongs: client, the name it is bound to, its version, the data key
/// that seals it and whether it is a secret setting's.
#[derive(Clone, Copy, Debug)]
pub struct ValuePlace<'a> {
    /// Client name.
    pub client: &'a str,
    /// The name the value is bound to (setting, `{instance}#{setting}` or a history name).
    pub setting: &'a str,
    /// Value version.
    pub value_version: u64,
    /// Data-key version.
    pub dek_version: u32,
    /// Secret setting.
    pub secret: bool,
}

/// Seals one value for its place.
pub fn seal_value(place: ValuePlace<'_>, value: &Value, key: &SecretBytes) -> Result<String> {
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(value).map_err(|e| Error::internal(format!("value: {e}")))?,
    );
    let binding = ValueBinding {
        client: place.client,
        setting: place.setting,
        value_version: place.value_version,
        key_version: place.dek_version,
        secret: place.secret,
    };
    Ok(B64.encode(crypto::seal(key, &binding, &plain)?))
}

/// Reads a client's partition with one `Query`. `None` when the client does not exist (or the
/// name is not a client name: nothing is read for it).
pub async fn load_client(app: &App, name: &str) -> Result<Option<ClientState>> {
    if ClientName::parse(name).is_err() {
        return Ok(None);
    }
    Ok(load_partition(app, name, None).await?.0)
}

/// Failed client authentications from one address in one hour, before 429.
pub const CLIENT_FAILURES_PER_HOUR: u32 = 20;

/// Failure counters in a client's partition, by sort key (`META#THROTTLE#{ip}#{hour}`).
type Throttles = HashMap<String, u32>;

/// The caller's failure counter this hour ([`crate::schema::throttle_sk`]).
fn throttle_sk(source: &Source) -> Option<String> {
    let hour = clock::now_rfc3339().get(..13)?.to_owned();
    source
        .ip
        .as_ref()
        .map(|ip| crate::schema::throttle_sk(&crate::throttle::throttle_address(ip), &hour))
}

/// Refuses a caller whose address failed too often on this client name this hour.
async fn check_throttle(
    app: &App,
    name: &str,
    throttles: &Throttles,
    source: &Source,
) -> Result<()> {
    let failures = throttle_sk(source)
        .and_then(|sk| throttles.get(&sk).copied())
        .unwrap_or(0);
    if failures < CLIENT_FAILURES_PER_HOUR {
        return Ok(());
    }
    let now = clock::now();
    let wait = 3600 - now.unix_timestamp().rem_euclid(3600);
    app.store
        .record(&AuditEvent::new(
            EventKind::ClientThrottled {
                client: name.to_owned(),
                retry_after: wait,
            },
            Actor::Client {
                name: name.to_owned(),
            },
            source.clone(),
            now,
        ))
        .await?;
    Err(Error::TooManyRequests { retry_after: wait })
}

/// Most items one page of a partition read takes: a 50-setting client with a few instances
/// is one page.
const PARTITION_PAGE: i32 = 400;

/// Most failure counters a read takes in its stride. Anyone who knows a client's name can add
/// counters (one per address and hour that fails), so a partition or head holding more is
/// read around them: the items after the counters by range, the caller's own counter by key.
/// What one request reads stays bounded however many addresses failed this hour.
const COUNTERS_READ: usize = 32;

/// Most items the head read takes: `META`, the pack and a few counters.
const HEAD_ITEMS: i32 = 8;

fn is_counter(item: &crate::store::Item) -> bool {
    sort_key(item).starts_with(THROTTLE_PREFIX)
}

/// Every item of a client's partition but other addresses' failure counters when there are
/// many ([`COUNTERS_READ`]); `caller`'s own counter is always among them when it exists.
async fn partition_items(
    app: &App,
    pk: &str,
    source: Option<&Source>,
) -> Result<Vec<crate::store::Item>> {
    use crate::store::SortKeys;
    let (mut items, mut start, mut counters) = (Vec::new(), None, 0);
    loop {
        let (page, next) = app
            .store
            .query_page(pk, SortKeys::All, Some(PARTITION_PAGE), start)
            .await?;
        counters += page.iter().filter(|item| is_counter(item)).count();
        items.extend(page);
        match next {
            None => return Ok(items),
            Some(_) if counters > COUNTERS_READ => break,
            Some(key) => start = Some(key),
        }
    }
    // Crowded: what sorts before the counters is read; the rest after them (read again from
    // there, so nothing is held twice), and the caller's own counter.
    items.retain(|item| !is_counter(item) && sort_key(item) < THROTTLE_PREFIX);
    let own = source.and_then(throttle_sk);
    let (rest, own) = tokio::join!(app.store.query_all(pk, SortKeys::After(HEAD_END)), async {
        match &own {
            Some(sk) => app.store.get(pk, sk).await,
            None => Ok(None),
        }
    });
    items.extend(rest?);
    items.extend(own?);
    Ok(items)
}

/// The whole partition: the client (if it exists) and the failure counters (even if not; with
/// many, only `caller`'s: [`partition_items`]).
async fn load_partition(
    app: &App,
    name: &str,
    source: Option<&Source>,
) -> Result<(Option<ClientState>, Throttles)> {
    let items = partition_items(app, &client_pk(name), source).await?;
    let mut throttles = Throttles::new();
    let mut meta = None;
    let mut deks = HashMap::new();
    let mut dek_created = HashMap::new();
    let mut values = HashMap::new();
    let mut instances: BTreeMap<String, HashMap<String, SettingItem>> = BTreeMap::new();
    let mut definitions = None;
    for item in items {
        let sk = sort_key(&item).to_owned();
        if sk == META {
            meta = Some(from_item::<ClientMeta>(item)?);
        } else if sk == DEFINITIONS_SK {
            definitions = Some(from_item::<DefinitionsItem>(item)?.sealed);
        } else if sk.starts_with(DEK_PREFIX) {
            let dek: DekItem = from_item(item)?;
            let wrapped = B64
                .decode(&dek.wrapped)
                .map_err(|_| Error::internal("wrapped key is not base64"))?;
            deks.insert(dek.version, wrapped);
            dek_created.insert(dek.version, dek.created);
        } else if sk.starts_with(SETTING_PREFIX) {
            let setting: SettingItem = from_item(item)?;
            values.insert(setting.name.clone(), setting);
        } else if let Some(rest) = sk.strip_prefix(INSTANCE_PREFIX) {
            match rest.split_once(INSTANCE_SETTING) {
                Some((instance, setting)) => {
                    let value: SettingItem = from_item(item)?;
                    instances
                        .entry(instance.to_owned())
                        .or_default()
                        .insert(setting.to_owned(), value);
                }
                None => {
                    instances.entry(rest.to_owned()).or_default();
                }
            }
        } else if sk.starts_with(THROTTLE_PREFIX) {
            count_failures(&mut throttles, sk, &item);
        }
    }
    if let (Some(meta), Some(sealed)) = (meta.as_mut(), definitions) {
        meta.definitions = sealed;
    }
    Ok((
        meta.map(|meta| ClientState {
            meta,
            deks,
            dek_created,
            values,
            instances,
        }),
        throttles,
    ))
}

fn count_failures(throttles: &mut Throttles, sk: String, item: &crate::store::Item) {
    // A counter that does not parse counts as locked (fail closed).
    if let Some(n) = number::<String>(item, "failures") {
        throttles.insert(sk, n.parse().unwrap_or(u32::MAX));
    }
}

/// The head of a client's partition: `META`, the failure counters and (when read) the pack.
struct Head {
    meta: Option<ClientMeta>,
    throttles: Throttles,
    pack: Option<PackItem>,
}

/// Reads the head of a client's partition in one strongly consistent `Query`: the range
/// `META`..`to`. With `to` = [`HEAD_END`] that is what a poll needs (`META`: secret hashes,
/// versions, incarnation; and the failure counters); with [`VALUES_SK`] also the pack a fetch
/// answers from. The values, data keys, definitions and instances are outside both ranges and
/// are neither read nor paid for.
///
/// The read takes [`HEAD_ITEMS`] at most: when the counters crowd the range (many addresses
/// failed this hour), the caller's own counter and the pack are read by key instead, in one
/// `BatchGetItem`.
async fn load_head(app: &App, name: &str, to: &str, source: &Source) -> Result<Head> {
    use crate::store::SortKeys;
    let pk = client_pk(name);
    let (items, more) = app
        .store
        .query_page(&pk, SortKeys::Between(META, to), Some(HEAD_ITEMS), None)
        .await?;
    let mut head = Head {
        meta: None,
        throttles: Throttles::new(),
        pack: None,
    };
    let add = |head: &mut Head, item: crate::store::Item| -> Result<()> {
        let sk = sort_key(&item).to_owned();
        if sk == META {
            head.meta = Some(from_item::<ClientMeta>(item)?);
        } else if sk.starts_with(THROTTLE_PREFIX) {
            count_failures(&mut head.throttles, sk, &item);
        } else if sk == VALUES_SK {
            head.pack = PackItem::from_item(item);
        }
        Ok(())
    };
    for item in items {
        add(&mut head, item)?;
    }
    if more.is_some() {
        head.throttles.clear();
        let own = throttle_sk(source);
        let mut keys: Vec<(&str, &str)> = own.iter().map(|sk| (pk.as_str(), sk.as_str())).collect();
        if to == VALUES_SK {
            keys.push((&pk, VALUES_SK));
        }
        for item in app.store.get_many(&keys).await? {
            add(&mut head, item)?;
        }
    }
    Ok(head)
}

/// Names of every registered client, sorted.
pub async fn list_client_names(app: &App) -> Result<Vec<String>> {
    let mut names = app
        .store
        .query_partition(crate::schema::CLIENTS_PK)
        .await?
        .into_iter()
        .map(|item| from_item::<IndexItem>(item).map(|i| i.name))
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// History partition of a client ([`crate::schema::history_pk`]).
pub(crate) fn history_pk(client: &str) -> String {
    history_partition(client)
}

/// The history name of a value: the setting, or `@{instance}/{setting}`.
pub(crate) fn history_name(instance: Option<&str>, setting: &str) -> String {
    match instance {
        Some(i) => format!("@{i}/{setting}"),
        None => setting.to_owned(),
    }
}

fn conditional_delete(app: &App, pk: &str, sk: &str, version: u64) -> Result<Write> {
    app.store.delete_checked(
        pk,
        sk,
        Some("version = :v"),
        vec![(":v", AttrValue::number(version))],
    )
}

/// Optimistic concurrency: an edit made from a stale view of the client gets 409.
fn check_version(state: &ClientState, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(v) if v != state.meta.version => Err(Error::Conflict {
            code: "STALE_VERSION",
            message: "The client changed since you loaded it. Reload and try again.",
        }),
        _ => Ok(()),
    }
}

/// Asks the policy for [`Action::ManageClients`] on `client`, then loads it (404 if absent).
async fn managed_client(
    app: &App,
    principal: &Principal,
    client: &str,
    source: &Source,
) -> Result<ClientState> {
    require(
        app,
        principal,
        Action::ManageClients,
        Resource::Client(client),
        source,
    )
    .await?;
    load_client(app, client).await?.ok_or_else(client_not_found)
}

fn client_not_found() -> Error {
    Error::NotFound {
        code: "CLIENT_NOT_FOUND",
        message: "There is no client with that name.",
    }
}

fn meta_bump(app: &App, state: &ClientState) -> Result<Write> {
    let update = app.store.update(
        &client_pk(&state.meta.name),
        crate::schema::META,
        "SET version = :next, updated = :t",
        Some("version = :v"),
        vec![
            (":next", AttrValue::number(state.meta.version + 1)),
            (":v", AttrValue::number(state.meta.version)),
            (":t", AttrValue::text(clock::now_rfc3339())),
        ],
    )?;
    Ok(update)
}
