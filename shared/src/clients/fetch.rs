//! The settings fetch: the head read and the 304 poll, the values pack, the partition read
//! when the pack cannot answer, and the poll counts' records (docs/ARCHITECTURE.md §7).

use super::*;

/// The stored values pack: for which client state it was made, the wrapped data key that
/// seals it and the ciphertext. Attribute names are one letter: the item's size is what every
/// fetch pays for.
#[derive(Debug)]
pub(super) struct PackItem {
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
    pub(super) fn from_item(mut item: crate::store::Item) -> Option<Self> {
        use crate::store::{take_bytes, take_text};
        let (wrapped, sealed) = (take_bytes(&mut item, "w")?, take_bytes(&mut item, "p")?);
        Some(Self {
            version: number::<u64>(&item, "v")?,
            definitions_version: number::<u64>(&item, "d")?,
            dek_version: u32::try_from(number::<u64>(&item, "k")?).ok()?,
            incarnation: take_text(&mut item, "i")?,
            wrapped,
            sealed,
        })
    }

    pub(super) fn to_item(&self, client: &str) -> crate::store::Item {
        item_of([
            ("PK", AttrValue::text(client_pk(client))),
            ("SK", AttrValue::text(VALUES_SK)),
            ("v", AttrValue::number(self.version)),
            ("d", AttrValue::number(self.definitions_version)),
            ("k", AttrValue::number(self.dek_version)),
            ("i", AttrValue::text(self.incarnation.clone())),
            ("w", AttrValue::bytes(self.wrapped.clone())),
            ("p", AttrValue::bytes(self.sealed.clone())),
        ])
    }

    /// Whether the pack shows the client as `meta` says it is now.
    pub(super) fn is_current_for(&self, meta: &ClientMeta) -> bool {
        self.version == meta.version
            && self.definitions_version == meta.definitions_version
            && self.dek_version == meta.dek_version
            && self.incarnation == meta.incarnation
    }

    /// The settings in the pack, opened with its data key for the client state `meta` says
    /// is current (never for the state the pack's own attributes claim).
    pub(super) async fn open(&self, app: &App, meta: &ClientMeta) -> Result<Vec<Packed>> {
        let key = app
            .client_data_key_if_ours(&meta.name, meta.dek_version, &self.wrapped)
            .await?
            .ok_or_else(|| Error::internal("pack: its data key is not this client's"))?;
        crate::pack::open(place(meta), &self.sealed, &key)
    }
}

/// Where the pack of the client state `meta` belongs ([`crate::pack`]).
pub(super) fn place(meta: &ClientMeta) -> PackPlace<'_> {
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
pub(super) async fn write_pack(
    app: &App,
    state: &ClientState,
    definitions: &[SettingDefinition],
    settings: &[Packed],
    key: &SecretBytes,
) -> Result<()> {
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
    let check = |sk: String, condition: &str, values: Vec<(&str, AttrValue)>| {
        app.store.check(&pk, &sk, condition, values)
    };
    let n = |v: u64| AttrValue::number(v);
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
                values.push((":i", AttrValue::text(meta.incarnation.clone())));
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
    items.push(app.store.put(pack.to_item(&meta.name), None)?);
    app.store
        .transact_events(
            items,
            &[],
            ("CONFLICT", "The client changed while its pack was made."),
        )
        .await
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
pub(super) async fn authenticate(
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
pub(super) async fn authenticated_head(
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
pub(super) async fn answer(
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
pub(super) async fn record_poll(
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
pub(super) async fn flush_due_polls(app: &App) {
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
