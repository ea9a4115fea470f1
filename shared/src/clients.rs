//! Setting clients: registration, authentication by client secret, and the settings fetch.
//!
//! A client's partition holds its `META` item (secret hashes, versions, incarnation), its
//! definitions sealed with its data key (`DEFINITIONS`), its wrapped data keys (`DEK#…`), one
//! `SETTING#…` item per value an admin has set, its instances (`INSTANCE#…`), this hour's
//! failure counters (`META#THROTTLE#…`) and the values pack (`META#VALUES`). A fetch reads the
//! head of that partition, and the whole of it only when the pack cannot answer ([`fetch`];
//! docs/ARCHITECTURE.md §4 and §7).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
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
use crate::secret::{SecretBytes, SecretString};
use crate::server_config;
use crate::store::{client_pk, dek_sk, from_item, setting_sk, sort_key, to_item};

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
fn definitions_put(app: &App, client: &str, sealed: String) -> Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(app.store.put(
            to_item(
                &client_pk(client),
                DEFINITIONS_SK,
                &DefinitionsItem { sealed },
            )?,
            None,
        )?)
        .build())
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

/// Most items one data-key rotation may write in its single transaction (the limit is 100, less
/// the new key, the definitions, the `META` update and the event).
const MAX_VALUES_PER_ROTATION: usize = 96;

/// Seals the client's definitions and every value (base and instances) again under a new data
/// key, in one transaction with `event`: a concurrent change of the client or of any value makes
/// it fail, so nothing is half re-sealed. Old keys stay (history rows name the key that sealed
/// them). Returns the new key's version and how many values were sealed again.
pub(crate) async fn reseal_under_new_key(
    app: &App,
    state: &ClientState,
    event: impl FnOnce(u32, usize) -> AuditEvent,
) -> Result<(u32, usize)> {
    let name = state.meta.name.as_str();
    let values: Vec<(String, &SettingItem)> = state
        .values
        .iter()
        .map(|(s, item)| (setting_sk(s), item))
        .chain(state.instances.iter().flat_map(|(instance, items)| {
            items
                .iter()
                .map(move |(s, item)| (instance_setting_sk(instance, s), item))
        }))
        .collect();
    if values.len() > MAX_VALUES_PER_ROTATION {
        return Err(Error::Conflict {
            code: "CLIENT_TOO_LARGE",
            message: "The client has too many values to seal again in one step. Delete some instances first.",
        });
    }
    let version = state.deks.keys().max().copied().unwrap_or(0) + 1;
    let old = state.data_key(app, state.meta.dek_version).await?;
    let definitions = state.definitions(&old)?;
    let (key, wrapped) = app.new_client_data_key(name, version).await?;
    let pk = client_pk(name);
    let now = clock::now_rfc3339();
    let mut items = vec![
        TransactWriteItem::builder()
            .put(app.store.put(
                to_item(
                    &pk,
                    &dek_sk(version),
                    &DekItem {
                        version,
                        wrapped: B64.encode(wrapped),
                        created: now.clone(),
                    },
                )?,
                Some("attribute_not_exists(PK)"),
            )?)
            .build(),
    ];
    for (sk, item) in &values {
        let value = open_value(name, item, &state.data_key(app, item.dek_version).await?)?;
        let resealed = SettingItem {
            value: seal_value(
                ValuePlace {
                    client: name,
                    setting: &item.name,
                    value_version: item.value_version,
                    dek_version: version,
                    secret: item.secret,
                },
                &value,
                &key,
            )?,
            dek_version: version,
            ..(*item).clone()
        };
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(app.store.table())
            .set_item(Some(to_item(&pk, sk, &resealed)?))
            .condition_expression("valueVersion = :prev")
            .expression_attribute_values(
                ":prev",
                AttributeValue::N(item.value_version.to_string()),
            );
        items.push(
            TransactWriteItem::builder()
                .put(
                    put.build()
                        .map_err(|e| Error::internal(format!("put builder: {e}")))?,
                )
                .build(),
        );
    }
    items.push(definitions_put(
        app,
        name,
        seal_definitions(
            name,
            &definitions,
            state.meta.definitions_version,
            version,
            &key,
        )?,
    )?);
    let meta = app.store.update(
        &pk,
        META,
        "SET dekVersion = :k, version = :next, updated = :t REMOVE definitions",
        Some("version = :v"),
        vec![
            (":k", AttributeValue::N(version.to_string())),
            (
                ":next",
                AttributeValue::N((state.meta.version + 1).to_string()),
            ),
            (":v", AttributeValue::N(state.meta.version.to_string())),
            (":t", AttributeValue::S(now)),
        ],
    )?;
    items.push(TransactWriteItem::builder().update(meta).build());
    app.store
        .transact(
            items,
            &event(version, values.len()),
            (
                "CONFLICT",
                "The client changed at the same time. Try again.",
            ),
        )
        .await?;
    Ok((version, values.len()))
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
    if let Some(AttributeValue::N(n)) = item.get("failures") {
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

/// The stored values pack: for which client state it was made, the wrapped data key that
/// seals it and the ciphertext. Attribute names are one letter: the item's size is what every
/// fetch pays for.
#[derive(Debug)]
struct PackItem {
    version: u64,
    definitions_version: u64,
    dek_version: u32,
    incarnation: String,
    wrapped: Vec<u8>,
    sealed: Vec<u8>,
}

impl PackItem {
    /// `None` for an item that is not a well-formed pack (it is then made again). Takes the
    /// item: its two blobs (the larger the more values) move, they are not copied.
    fn from_item(mut item: crate::store::Item) -> Option<Self> {
        let n = |item: &crate::store::Item, k: &str| match item.get(k) {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        let mut b = |k: &str| match item.remove(k) {
            Some(AttributeValue::B(b)) => Some(b.into_inner()),
            _ => None,
        };
        let (wrapped, sealed) = (b("w")?, b("p")?);
        Some(Self {
            version: n(&item, "v")?,
            definitions_version: n(&item, "d")?,
            dek_version: u32::try_from(n(&item, "k")?).ok()?,
            incarnation: match item.remove("i") {
                Some(AttributeValue::S(s)) => s,
                _ => return None,
            },
            wrapped,
            sealed,
        })
    }

    fn to_item(&self, client: &str) -> crate::store::Item {
        use aws_sdk_dynamodb::primitives::Blob;
        [
            ("PK", AttributeValue::S(client_pk(client))),
            ("SK", AttributeValue::S(VALUES_SK.to_owned())),
            ("v", AttributeValue::N(self.version.to_string())),
            ("d", AttributeValue::N(self.definitions_version.to_string())),
            ("k", AttributeValue::N(self.dek_version.to_string())),
            ("i", AttributeValue::S(self.incarnation.clone())),
            ("w", AttributeValue::B(Blob::new(self.wrapped.clone()))),
            ("p", AttributeValue::B(Blob::new(self.sealed.clone()))),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Whether the pack shows the client as `meta` says it is now.
    fn is_current_for(&self, meta: &ClientMeta) -> bool {
        self.version == meta.version
            && self.definitions_version == meta.definitions_version
            && self.dek_version == meta.dek_version
            && self.incarnation == meta.incarnation
    }

    /// The settings in the pack, opened with its data key for the client state `meta` says
    /// is current (never for the state the pack's own attributes claim).
    async fn open(&self, app: &App, meta: &ClientMeta) -> Result<Vec<Packed>> {
        let key = app
            .client_data_key_if_ours(&meta.name, meta.dek_version, &self.wrapped)
            .await?
            .ok_or_else(|| Error::internal("pack: its data key is not this client's"))?;
        crate::pack::open(place(meta), &self.sealed, &key)
    }
}

/// Where the pack of the client state `meta` belongs ([`crate::pack`]).
fn place(meta: &ClientMeta) -> PackPlace<'_> {
    PackPlace {
        client: &meta.name,
        incarnation: &meta.incarnation,
        version: meta.version,
        definitions_version: meta.definitions_version,
        dek_version: meta.dek_version,
    }
}

/// Most definitions a client may have for its fetches to be packed: the pack is written in one
/// transaction with a condition on `META` and on each setting's value item (100 items at most).
pub const MAX_PACKED_SETTINGS: usize = 98;

/// Writes the pack of the base client's `settings`, as just answered from the whole partition
/// (`state`). One transaction: the pack, on condition that `META` still has the versions,
/// data key and incarnation read and that every defined setting's value item still has the
/// version read (or still does not exist). A `Query` is not isolated from transactions, so
/// the partition read may have mixed two states; then some condition fails and nothing is
/// written. The answer does not depend on this write: a failure is logged and the next fetch
/// answers from the partition again.
async fn write_pack(
    app: &App,
    state: &ClientState,
    definitions: &[SettingDefinition],
    settings: &[Packed],
    key: &SecretBytes,
) -> Result<()> {
    use aws_sdk_dynamodb::types::ConditionCheck;
    let meta = &state.meta;
    if definitions.len() > MAX_PACKED_SETTINGS {
        return Ok(());
    }
    let Some(wrapped) = state.deks.get(&meta.dek_version) else {
        return Ok(());
    };
    let pack = PackItem {
        version: meta.version,
        definitions_version: meta.definitions_version,
        dek_version: meta.dek_version,
        incarnation: meta.incarnation.clone(),
        wrapped: wrapped.clone(),
        sealed: Vec::new(),
    };
    let sealed = crate::pack::seal(place(meta), settings, key)?;
    let pack = PackItem { sealed, ..pack };
    let pk = client_pk(&meta.name);
    let check = |sk: String, condition: &str, values: Vec<(&str, AttributeValue)>| {
        let mut builder = ConditionCheck::builder()
            .table_name(app.store.table())
            .key("PK", AttributeValue::S(pk.clone()))
            .key("SK", AttributeValue::S(sk))
            .condition_expression(condition);
        for (k, v) in values {
            builder = builder.expression_attribute_values(k, v);
        }
        builder
            .build()
            .map(|c| TransactWriteItem::builder().condition_check(c).build())
            .map_err(|e| Error::internal(format!("condition check builder: {e}")))
    };
    let n = |v: u64| AttributeValue::N(v.to_string());
    let mut items = vec![check(
        META.to_owned(),
        if meta.incarnation.is_empty() {
            "version = :v AND definitionsVersion = :d AND dekVersion = :k AND attribute_not_exists(incarnation)"
        } else {
            "version = :v AND definitionsVersion = :d AND dekVersion = :k AND incarnation = :i"
        },
        {
            let mut values = vec![
                (":v", n(meta.version)),
                (":d", n(meta.definitions_version)),
                (":k", n(u64::from(meta.dek_version))),
            ];
            if !meta.incarnation.is_empty() {
                values.push((":i", AttributeValue::S(meta.incarnation.clone())));
            }
            values
        },
    )?];
    for def in definitions {
        items.push(match state.values.get(def.name.as_str()) {
            Some(item) => check(
                setting_sk(def.name.as_str()),
                "valueVersion = :n",
                vec![(":n", n(item.value_version))],
            )?,
            None => check(
                setting_sk(def.name.as_str()),
                "attribute_not_exists(PK)",
                Vec::new(),
            )?,
        });
    }
    items.push(
        TransactWriteItem::builder()
            .put(app.store.put(pack.to_item(&meta.name), None)?)
            .build(),
    );
    app.store
        .transact_events(
            items,
            &[],
            ("CONFLICT", "The client changed while its pack was made."),
        )
        .await
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

fn auth_failed() -> Error {
    Error::Unauthorized {
        code: "CLIENT_AUTH_FAILED",
        message: "The client name or secret is not valid.",
    }
}

/// Checks `secret` against the client's current hash, and its previous one during a rotation's
/// grace period. Always does the same work, also for an unknown client (`meta` = `None`).
async fn verify_secret(
    app: &App,
    name: &str,
    meta: Option<&ClientMeta>,
    secret: &SecretString,
) -> Result<bool> {
    let hasher = app.keys.secret_hasher().await?;
    let now = clock::now().unix_timestamp();
    let mut stored: Vec<Vec<u8>> = Vec::new();
    if let Some(meta) = meta {
        stored.extend(B64.decode(&meta.secret_hash).ok());
        if meta.previous_secret_expires.is_some_and(|t| t > now) {
            stored.extend(
                meta.previous_secret_hash
                    .as_deref()
                    .and_then(|h| B64.decode(h).ok()),
            );
        }
    }
    let refs: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
    Ok(hasher.verify(name, secret, &refs) && meta.is_some())
}

/// Records a failed client authentication and counts it against the caller's address (in the
/// client's own partition, so the fetch `Query` reads the counter for free). Returns the 401.
async fn refuse_client(app: &App, name: &str, source: &Source) -> Error {
    let event = AuditEvent::new(
        EventKind::ClientAuthenticationFailed {
            client: name.to_owned(),
        },
        Actor::Client {
            name: name.to_owned(),
        },
        source.clone(),
        clock::now(),
    );
    let counted = match (ClientName::parse(name), throttle_sk(source)) {
        (Ok(valid), Some(sk)) => {
            let expires = clock::now().unix_timestamp() + 7200;
            app.store
                .update(
                    &client_pk(valid.as_str()),
                    &sk,
                    "ADD failures :one SET #ttl = :ttl",
                    None,
                    vec![
                        (":one", AttributeValue::N("1".into())),
                        (":ttl", AttributeValue::N(expires.to_string())),
                    ],
                )
                .map(|update| vec![TransactWriteItem::builder().update(update).build()])
        }
        _ => Ok(Vec::new()),
    };
    let result = match counted {
        Ok(items) => {
            app.store
                .transact(items, &event, ("CONFLICT", "Try again."))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => auth_failed(),
        Err(e) => e,
    }
}

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
async fn apply_overrides(
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

async fn refuse_registration(
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

async fn register_new(
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

fn client_limit_reached() -> Error {
    Error::Conflict {
        code: "CLIENT_LIMIT_REACHED",
        message: "This server holds as many clients as its configuration allows (maxClients). Delete unused clients, or ask an Administrator to raise the limit.",
    }
}

/// The client count's change for a transaction: one more (only while below `max`), or one less.
pub(crate) fn client_count_change(
    app: &App,
    delta: i64,
    max: Option<u32>,
) -> Result<TransactWriteItem> {
    let mut update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(app.store.table())
        .key("PK", AttributeValue::S(CLIENT_COUNT.0.into()))
        .key("SK", AttributeValue::S(CLIENT_COUNT.1.into()))
        .update_expression("ADD #c :d")
        .expression_attribute_names("#c", "count")
        .expression_attribute_values(":d", AttributeValue::N(delta.to_string()));
    if let Some(max) = max {
        update = update
            .condition_expression("attribute_not_exists(#c) OR #c < :max")
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()));
    }
    Ok(TransactWriteItem::builder()
        .update(
            update
                .build()
                .map_err(|e| Error::internal(format!("update builder: {e}")))?,
        )
        .build())
}

/// Refuses a new client when the server already holds `maxClients` (the transaction's
/// condition on the count settles a race).
async fn check_client_limit(app: &App) -> Result<u32> {
    let max = server_config::load(app).await?.max_clients;
    let count = match app.store.get(CLIENT_COUNT.0, CLIENT_COUNT.1).await? {
        Some(item) => match item.get("count") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(i64::MAX),
            _ => 0,
        },
        // A table from before the count: it starts from the clients that exist.
        None => {
            let existing = list_client_names(app).await?.len();
            let item: crate::store::Item = [
                ("PK".to_owned(), AttributeValue::S(CLIENT_COUNT.0.into())),
                ("SK".to_owned(), AttributeValue::S(CLIENT_COUNT.1.into())),
                ("count".to_owned(), AttributeValue::N(existing.to_string())),
            ]
            .into_iter()
            .collect();
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
        .map(|(item, cond)| {
            Ok(TransactWriteItem::builder()
                .put(app.store.put(item, cond)?)
                .build())
        })
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
) -> Result<Vec<TransactWriteItem>> {
    let name = state.meta.name.as_str();
    let definitions_version = state.meta.definitions_version + 1;
    let sealed = seal_definitions(
        name,
        settings,
        definitions_version,
        state.meta.dek_version,
        key,
    )?;
    let update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(app.store.table())
        .key("PK", AttributeValue::S(client_pk(name)))
        .key("SK", AttributeValue::S(META.to_owned()))
        .update_expression(
            "SET #description = :description, definitionsVersion = :dv, version = :next, \
             updated = :t REMOVE #definitions",
        )
        .condition_expression("version = :v AND dekVersion = :k")
        .expression_attribute_names("#description", "description")
        .expression_attribute_names("#definitions", "definitions")
        .expression_attribute_values(":description", AttributeValue::S(description.to_owned()))
        .expression_attribute_values(":dv", AttributeValue::N(definitions_version.to_string()))
        .expression_attribute_values(
            ":next",
            AttributeValue::N((state.meta.version + 1).to_string()),
        )
        .expression_attribute_values(":t", AttributeValue::S(clock::now_rfc3339()))
        .expression_attribute_values(":v", AttributeValue::N(state.meta.version.to_string()))
        .expression_attribute_values(":k", AttributeValue::N(state.meta.dek_version.to_string()))
        .build()
        .map_err(|e| Error::internal(format!("update builder: {e}")))?;
    Ok(vec![
        TransactWriteItem::builder().update(update).build(),
        definitions_put(app, name, sealed)?,
    ])
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

async fn update_registration(
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

/// One value in a fetch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchedSetting {
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: crate::model::SettingType,
    /// The value (an admin's, else the default, else null).
    pub value: Value,
}

/// The body of a settings fetch.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchResponse {
    /// Client name.
    pub client: String,
    /// Instance (none yet: instances come with client overrides).
    pub instance: Option<String>,
    /// Client version (changes with every value or definition change).
    pub version: u64,
    /// Values.
    pub settings: Vec<FetchedSetting>,
    /// Whether the client may keep an offline copy.
    pub allow_offline: bool,
    /// How often to poll.
    pub poll_interval_ms: u64,
}

/// A fetch's outcome.
#[derive(Debug)]
pub enum Fetch {
    /// The values, with their ETag.
    Settings(FetchResponse, String),
    /// `If-None-Match` matched: nothing was opened.
    NotModified(String),
}

/// The strong ETag of a client version: its version, definitions version and incarnation (and
/// the instance). Opaque to services.
pub fn etag(meta: &ClientMeta, instance: Option<&str>) -> String {
    let mut tag = format!("\"{}-{}", meta.version, meta.definitions_version);
    if !meta.incarnation.is_empty() {
        tag.push('-');
        tag.push_str(&meta.incarnation);
    }
    if let Some(i) = instance {
        tag.push('-');
        tag.push_str(i);
    }
    tag.push('"');
    tag
}

/// Refuses a caller whose address is over the failure limit, then checks the secret against
/// `meta` (the same work for an unknown client); a wrong secret is counted and recorded (401).
async fn authenticate(
    app: &App,
    name: &str,
    meta: Option<&ClientMeta>,
    throttles: &Throttles,
    secret: &SecretString,
    source: &Source,
) -> Result<()> {
    check_throttle(app, name, throttles, source).await?;
    if verify_secret(app, name, meta, secret).await? {
        Ok(())
    } else {
        Err(refuse_client(app, name, source).await)
    }
}

/// The client's head ([`load_head`]: `META` to `to`), once `secret` is proven for it.
async fn authenticated_head(
    app: &App,
    name: &ClientName,
    to: &str,
    secret: &SecretString,
    source: &Source,
) -> Result<Head> {
    let head = load_head(app, name.as_str(), to, source).await?;
    authenticate(
        app,
        name.as_str(),
        head.meta.as_ref(),
        &head.throttles,
        secret,
        source,
    )
    .await?;
    Ok(head)
}

/// Fetches a client's settings, decrypted (`GET /api/clients/{name}/settings`). Three paths,
/// each one `Query`:
///
/// 1. a poll (`If-None-Match`) reads the client's head only (`META` and the failure counters);
///    a current ETag is answered `304` and counted in aggregate ([`crate::polls`]);
/// 2. the base client reads its head with the values pack ([`crate::pack`]) and, when the pack
///    is current, answers from it: one ciphertext opened;
/// 3. otherwise (an instance, no pack yet, a pack older than the client) the whole partition
///    is read and every value opened, and a base-client answer is packed for the next fetch.
///
/// No KMS call with a warm data key; every answer with values records its `SettingsRead`
/// event before it is sent.
pub async fn fetch(
    app: &Arc<App>,
    name: &str,
    instance: Option<&str>,
    secret: &SecretString,
    if_none_match: Option<&str>,
    source: &Source,
) -> Result<Fetch> {
    let bounded: String = name.chars().take(64).collect();
    let matches = |tag: &str| if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let valid = ClientName::parse(name).ok();
    // 1. The ETag names the instance only if the instance existed when it was made, and every
    //    change of the client's instances changes its version, so an unchanged version means
    //    an unchanged instance.
    if if_none_match.is_some()
        && let Some(valid) = &valid
    {
        let head = authenticated_head(app, valid, HEAD_END, secret, source).await?;
        if let Some(meta) = head.meta {
            let tag = etag(&meta, instance);
            if matches(&tag) {
                record_poll(app, &meta.name, instance, source).await?;
                return Ok(Fetch::NotModified(tag));
            }
        }
    }
    // 2. The base client, from its pack.
    if instance.is_none()
        && let Some(valid) = &valid
    {
        let head = authenticated_head(app, valid, VALUES_SK, secret, source).await?;
        if let (Some(meta), Some(pack)) = (&head.meta, &head.pack)
            && pack.is_current_for(meta)
        {
            // A pack that does not open (not this client's, or not this state's) is no
            // answer and no failure: the partition is read and packed again. KMS being away
            // is a failure: the partition's values need the same key.
            match pack.open(app, meta).await {
                Ok(settings) => return answer(app, meta, None, settings, source).await,
                Err(e @ Error::Unavailable { .. }) => return Err(e),
                Err(e) => tracing::warn!(
                    client = %meta.name,
                    error = %e,
                    "values pack does not open; reading the partition"
                ),
            }
        }
    }
    // 3. The whole partition.
    let (state, throttles) = match &valid {
        Some(valid) => load_partition(app, valid.as_str(), Some(source)).await?,
        None => (None, Throttles::new()),
    };
    authenticate(
        app,
        &bounded,
        state.as_ref().map(|s| &s.meta),
        &throttles,
        secret,
        source,
    )
    .await?;
    let Some(state) = state else {
        return Err(auth_failed());
    };
    // An instance that does not exist falls back to the base client.
    let instance = instance.filter(|i| state.instances.contains_key(*i));
    let tag = etag(&state.meta, instance);
    if matches(&tag) {
        record_poll(app, &state.meta.name, instance, source).await?;
        return Ok(Fetch::NotModified(tag));
    }
    let key = state.data_key(app, state.meta.dek_version).await?;
    let definitions = state.definitions(&key)?;
    let mut settings: Vec<Packed> = Vec::with_capacity(definitions.len());
    let instance_values = instance.and_then(|i| state.instances.get(i));
    for def in &definitions {
        let item = instance_values
            .and_then(|values| values.get(def.name.as_str()))
            .or_else(|| state.values.get(def.name.as_str()));
        let value = match item {
            Some(item) if item.dek_version == state.meta.dek_version => {
                open_value(&state.meta.name, item, &key)?
            }
            Some(item) => {
                let key = state.data_key(app, item.dek_version).await?;
                open_value(&state.meta.name, item, &key)?
            }
            None => def.default_value.clone().unwrap_or(Value::Null),
        };
        settings.push((def.name.to_string(), def.kind, value));
    }
    if instance.is_none()
        && let Err(e) = write_pack(app, &state, &definitions, &settings, &key).await
    {
        tracing::info!(client = %state.meta.name, error = %e, "values pack not written");
    }
    answer(app, &state.meta, instance, settings, source).await
}

/// A fetch's answer with values: the server's offline and poll settings, and the
/// `SettingsRead` event recorded before it is sent.
async fn answer(
    app: &App,
    meta: &ClientMeta,
    instance: Option<&str>,
    settings: Vec<Packed>,
    source: &Source,
) -> Result<Fetch> {
    let config = server_config::load_recent(app).await?;
    flush_due_polls(app).await;
    app.store
        .record(&AuditEvent::new(
            EventKind::SettingsRead {
                client: meta.name.clone(),
                instance: instance.map(str::to_owned),
                count: settings.len(),
            },
            Actor::Client {
                name: meta.name.clone(),
            },
            source.clone(),
            clock::now(),
        ))
        .await?;
    Ok(Fetch::Settings(
        FetchResponse {
            client: meta.name.clone(),
            instance: instance.map(str::to_owned),
            version: meta.version,
            settings: settings
                .into_iter()
                .map(|(name, kind, value)| FetchedSetting { name, kind, value })
                .collect(),
            allow_offline: config.allow_offline_settings,
            poll_interval_ms: config.poll_interval_ms,
        },
        etag(meta, instance),
    ))
}

/// When this instance's poll ledger is due, writes its aggregate events (a failed write
/// answers 503 and keeps the counts), then counts this `304` in it.
async fn record_poll(
    app: &App,
    client: &str,
    instance: Option<&str>,
    source: &Source,
) -> Result<()> {
    let (now, at) = (clock::now(), std::time::Instant::now());
    // The counts due are written first: a poll whose answer fails (503) is not counted.
    if app.polls.due(now, at) {
        flush_polls(app).await?;
    }
    app.polls
        .count(client, instance, source.ip.as_deref(), now, at);
    Ok(())
}

/// Writes the poll ledger when it is due, on a request that is not a poll (a fetch with
/// values, a heartbeat), so that counts are written within about a minute whatever a service
/// sends next. Best effort: a failure keeps the counts for the next request and does not fail
/// this one, which records itself.
async fn flush_due_polls(app: &App) {
    if app.polls.due(clock::now(), std::time::Instant::now())
        && let Err(e) = flush_polls(app).await
    {
        tracing::warn!(error = %e, "poll counts not written; kept for the next request");
    }
}

/// Writes every `304` this instance has counted as `SettingsPolled` events (one per client and
/// instance) and empties the ledger; on failure the counts stay for the next attempt. Polls
/// write on their own when due; tests and shutdown paths call this to write the rest.
pub async fn flush_polls(app: &App) -> Result<()> {
    loop {
        // At most 100 events per write (a transaction's limit).
        let taken = app.polls.take(100);
        if taken.is_empty() {
            return Ok(());
        }
        let events = taken.events(clock::now());
        let written = match events.as_slice() {
            [one] => app.store.record(one).await,
            many => {
                app.store
                    .transact_events(Vec::new(), many, ("CONFLICT", "An event id repeated."))
                    .await
            }
        };
        if let Err(e) = written {
            app.polls.restore(taken);
            return Err(e);
        }
    }
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

fn new_client_secret() -> SecretString {
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

/// `POST /api/admin/clients/{name}/secret` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRotation {
    /// How long the old secret keeps working (0 to 10080 minutes, 7 days).
    pub grace_minutes: u32,
}

/// A new client secret, shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// The new secret: 256 random bits, base64url. Shown once; stored only as a keyed hash.
    pub client_secret: String,
    /// When the old secret stops working (UTC, RFC 3339).
    pub previous_secret_valid_until: String,
}

/// Longest grace period of a rotation.
pub const MAX_GRACE_MINUTES: u32 = 7 * 24 * 60;

/// Rotates a client's secret (Administrator): a new random secret is shown once; the old one
/// keeps working until the grace period ends, then stops.
pub async fn rotate_secret(
    app: &Arc<App>,
    principal: &crate::policy::Principal,
    client: &str,
    request: SecretRotation,
    source: &Source,
) -> Result<RotatedSecret> {
    use crate::policy::{Action, Resource};
    crate::authz::require(
        app,
        principal,
        Action::ManageClients,
        Resource::Client(client),
        source,
    )
    .await?;
    if request.grace_minutes > MAX_GRACE_MINUTES {
        return Err(Error::bad_request(
            "INVALID_GRACE_PERIOD",
            format!("graceMinutes must be between 0 and {MAX_GRACE_MINUTES} (7 days)."),
        ));
    }
    let state = load_client(app, client).await?.ok_or(Error::NotFound {
        code: "CLIENT_NOT_FOUND",
        message: "There is no client with that name.",
    })?;
    let name = state.meta.name.clone();
    let hasher = app.keys.secret_hasher().await?;
    let secret = new_client_secret();
    let until = clock::now() + time::Duration::minutes(i64::from(request.grace_minutes));
    let update = app.store.update(
        &client_pk(&name),
        META,
        "SET secretHash = :new, previousSecretHash = :old, previousSecretExpires = :until",
        Some("secretHash = :old"),
        vec![
            (
                ":new",
                AttributeValue::S(B64.encode(hasher.hash(&name, &secret)?)),
            ),
            (":old", AttributeValue::S(state.meta.secret_hash.clone())),
            (
                ":until",
                AttributeValue::N(until.unix_timestamp().to_string()),
            ),
        ],
    )?;
    let event = AuditEvent::new(
        EventKind::ClientSecretRotated {
            client: name.clone(),
            grace_minutes: request.grace_minutes,
        },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            vec![TransactWriteItem::builder().update(update).build()],
            &event,
            (
                "CONFLICT",
                "The secret was rotated at the same time. Reload and try again.",
            ),
        )
        .await?;
    Ok(RotatedSecret {
        client_secret: secret.expose().to_owned(),
        previous_secret_valid_until: clock::rfc3339(until),
    })
}

/// `PUT /api/clients/{name}/status` body: a running instance's heartbeat.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusReport {
    /// One process of the service (random per start).
    pub run_session_id: ClientName,
    /// Instance name, if the service runs as one.
    #[serde(default)]
    pub instance: Option<ClientName>,
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The service's version.
    #[serde(default)]
    pub application_version: Option<String>,
    /// The client library's version.
    #[serde(default)]
    pub fig_version: Option<String>,
    /// Seconds since the service started.
    #[serde(default)]
    pub uptime_seconds: Option<u64>,
    /// The settings version the service has applied.
    #[serde(default)]
    pub last_setting_version: Option<u64>,
    /// Whether the service is running on its offline copy.
    #[serde(default)]
    pub offline_settings_in_use: bool,
}

/// The answer to a heartbeat.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusAnswer {
    /// Newer values are waiting: fetch them.
    pub update_available: bool,
    /// The client's current version.
    pub current_version: u64,
    /// Whether the service may keep an offline copy.
    pub allow_offline_settings: bool,
    /// How often to poll.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusItem {
    client: String,
    run_session_id: String,
    instance: Option<String>,
    hostname: Option<String>,
    application_version: Option<String>,
    fig_version: Option<String>,
    uptime_seconds: Option<u64>,
    last_setting_version: Option<u64>,
    offline_settings_in_use: bool,
    last_seen: String,
    ttl: i64,
}

fn bounded(text: Option<String>) -> Option<String> {
    text.map(|t| t.chars().filter(|c| !c.is_control()).take(128).collect())
}

/// Records a heartbeat (`PUT /api/clients/{name}/status`). The first heartbeat of a run
/// session is a `ClientStatusChanged` (connected) event; the item expires after three poll
/// intervals without a heartbeat (the TTL deletion is the disconnect).
pub async fn report_status(
    app: &Arc<App>,
    name: &str,
    secret: &SecretString,
    report: StatusReport,
    source: &Source,
) -> Result<StatusAnswer> {
    let bounded_name: String = name.chars().take(64).collect();
    // A heartbeat needs the client's head only (its secret hashes and version).
    let head = match ClientName::parse(name) {
        Ok(valid) => Some(load_head(app, valid.as_str(), HEAD_END, source).await?),
        Err(_) => None,
    };
    let (meta, throttles) = match head {
        Some(head) => (head.meta, head.throttles),
        None => (None, Throttles::new()),
    };
    authenticate(
        app,
        &bounded_name,
        meta.as_ref(),
        &throttles,
        secret,
        source,
    )
    .await?;
    let Some(meta) = meta else {
        return Err(auth_failed());
    };
    flush_due_polls(app).await;
    let config = server_config::load_recent(app).await?;
    let now = clock::now();
    let expires = now.unix_timestamp()
        + i64::try_from(config.poll_interval_ms / 1000 * 3)
            .unwrap_or(90)
            .max(90);
    let item = StatusItem {
        client: meta.name.clone(),
        run_session_id: report.run_session_id.to_string(),
        instance: report.instance.as_ref().map(ToString::to_string),
        hostname: bounded(report.hostname.clone()),
        application_version: bounded(report.application_version),
        fig_version: bounded(report.fig_version),
        uptime_seconds: report.uptime_seconds,
        last_setting_version: report.last_setting_version,
        offline_settings_in_use: report.offline_settings_in_use,
        last_seen: clock::rfc3339(now),
        ttl: expires,
    };
    let item = to_item(
        &crate::schema::client_status_pk(&meta.name),
        report.run_session_id.as_str(),
        &item,
    )?;
    let event = AuditEvent::new(
        EventKind::ClientStatusChanged {
            client: meta.name.clone(),
            instance: report.instance.as_ref().map(ToString::to_string),
            run_session_id: report.run_session_id.to_string(),
            hostname: bounded(report.hostname),
            status: "connected".into(),
        },
        Actor::Client {
            name: meta.name.clone(),
        },
        source.clone(),
        now,
    );
    let first = TransactWriteItem::builder()
        .put(
            app.store
                .put(item.clone(), Some("attribute_not_exists(PK)"))?,
        )
        .build();
    match app
        .store
        .transact(vec![first], &event, ("EXISTS", "exists"))
        .await
    {
        Ok(()) => {}
        // Not the first heartbeat of this run session: refresh it (no event; see above).
        Err(Error::Conflict { .. }) => app.store.put_item(item).await?,
        Err(e) => return Err(e),
    }
    Ok(StatusAnswer {
        // Any other version than the current one (also a higher one, from before the client
        // was deleted and registered again) is not what the server holds now.
        update_available: report
            .last_setting_version
            .is_some_and(|v| v != meta.version),
        current_version: meta.version,
        allow_offline_settings: config.allow_offline_settings,
        poll_interval_ms: config.poll_interval_ms,
    })
}

/// The longest change message kept (history and audit); longer ones are refused.
pub(crate) const MAX_CHANGE_MESSAGE: usize = 1_000;

/// One value to set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewValue {
    /// Setting name.
    pub name: SettingName,
    /// The new value (`null` clears it).
    pub value: Value,
}

/// A history row: one value a change wrote, sealed like the setting's own.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryItem {
    pub(crate) client: String,
    pub(crate) setting: String,
    pub(crate) time: String,
    pub(crate) user: String,
    pub(crate) message: String,
    pub(crate) value_version: u64,
    /// The new value, sealed like the setting's own (base64).
    pub(crate) value: String,
    pub(crate) dek_version: u32,
    /// A secret setting's value (bound into the ciphertext): never shown, whatever the
    /// setting's definition says later. A row without the flag was written before it existed
    /// and may hold a secret: it counts as one (its value is not shown).
    #[serde(default = "unknown_is_secret")]
    pub(crate) secret: bool,
}

fn unknown_is_secret() -> bool {
    true
}

/// Writes already validated values in one transaction: each value sealed under the client's
/// data key with its history row, the client's version bump, and one `SettingValueChanged`
/// event (names only). Returns the client's new version.
#[allow(clippy::too_many_arguments)]
pub async fn write_values(
    app: &App,
    state: &ClientState,
    key: &SecretBytes,
    values: &[NewValue],
    instance: Option<&str>,
    (who, actor): (&str, Actor),
    message: &str,
    externally_managed: bool,
    source: &Source,
) -> Result<u64> {
    let name = state.meta.name.clone();
    let now = clock::now_rfc3339();
    let pk = client_pk(&name);
    let definitions = state.definitions(key)?;
    let mut items = Vec::with_capacity(values.len() * 2 + 1);
    for new in values {
        let setting = new.name.as_str();
        let secret = definitions
            .iter()
            .find(|d| d.name == new.name)
            .ok_or_else(|| Error::internal("value for an undefined setting"))?
            .secret;
        let (previous, bound, sk, history_key) = match instance {
            Some(i) => (
                state.instances.get(i).and_then(|v| v.get(setting)),
                instance_binding(i, setting),
                instance_setting_sk(i, setting),
                crate::clients::history_name(Some(i), setting),
            ),
            None => (
                state.values.get(setting),
                setting.to_owned(),
                setting_sk(setting),
                setting.to_owned(),
            ),
        };
        let version = previous.map_or(1, |p| p.value_version + 1);
        let place = ValuePlace {
            client: &name,
            setting: &bound,
            value_version: version,
            dek_version: state.meta.dek_version,
            secret,
        };
        let item = SettingItem {
            name: bound.clone(),
            value: seal_value(place, &new.value, key)?,
            value_version: version,
            dek_version: state.meta.dek_version,
            last_changed: now.clone(),
            last_changed_by: who.to_owned(),
            externally_managed,
            secret,
        };
        let condition = match previous {
            Some(p) => (Some("valueVersion = :prev"), Some(p.value_version)),
            None => (Some("attribute_not_exists(PK)"), None),
        };
        let mut put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(app.store.table())
            .set_item(Some(to_item(&pk, &sk, &item)?))
            .set_condition_expression(condition.0.map(str::to_owned));
        if let Some(prev) = condition.1 {
            put = put.expression_attribute_values(":prev", AttributeValue::N(prev.to_string()));
        }
        let put = put
            .build()
            .map_err(|e| Error::internal(format!("put builder: {e}")))?;
        items.push(TransactWriteItem::builder().put(put).build());
        let history = HistoryItem {
            client: name.clone(),
            setting: history_key.clone(),
            time: now.clone(),
            user: who.to_owned(),
            message: message.to_owned(),
            value_version: version,
            value: seal_value(
                ValuePlace {
                    setting: &format!("#history#{bound}"),
                    ..place
                },
                &new.value,
                key,
            )?,
            dek_version: state.meta.dek_version,
            secret,
        };
        items.push(
            TransactWriteItem::builder()
                .put(app.store.put(
                    to_item(
                        &crate::clients::history_pk(&name),
                        &crate::schema::history_sk(&history_key, &now, version),
                        &history,
                    )?,
                    None,
                )?)
                .build(),
        );
    }
    let bump = app.store.update(
        &pk,
        crate::schema::META,
        "SET version = :next, updated = :t",
        Some("version = :v"),
        vec![
            (
                ":next",
                AttributeValue::N((state.meta.version + 1).to_string()),
            ),
            (":v", AttributeValue::N(state.meta.version.to_string())),
            (":t", AttributeValue::S(now)),
        ],
    )?;
    items.push(TransactWriteItem::builder().update(bump).build());
    let event = AuditEvent::new(
        EventKind::SettingValueChanged {
            client: name.clone(),
            settings: values.iter().map(|v| v.name.to_string()).collect(),
            change_message: message.chars().take(MAX_CHANGE_MESSAGE).collect(),
        },
        actor,
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            items,
            &event,
            (
                "CONFLICT",
                "The settings changed at the same time. Reload and try again.",
            ),
        )
        .await?;
    Ok(state.meta.version + 1)
}
