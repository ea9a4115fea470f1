//! Value writes: values sealed under the client's data key, with their history rows, the
//! client's version bump and one event, in one transaction.

use super::*;

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

pub(super) fn unknown_is_secret() -> bool {
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
        let item = to_item(&pk, &sk, &item)?;
        items.push(match previous {
            Some(p) => app.store.put_checked(
                item,
                Some("valueVersion = :prev"),
                vec![(":prev", AttrValue::number(p.value_version))],
            )?,
            None => app.store.put(item, Some("attribute_not_exists(PK)"))?,
        });
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
        items.push(app.store.put(
            to_item(
                &crate::clients::history_pk(&name),
                &crate::schema::history_sk(&history_key, &now, version),
                &history,
            )?,
            None,
        )?);
    }
    let bump = app.store.update(
        &pk,
        crate::schema::META,
        "SET version = :next, updated = :t",
        Some("version = :v"),
        vec![
            (":next", AttrValue::number(state.meta.version + 1)),
            (":v", AttrValue::number(state.meta.version)),
            (":t", AttrValue::text(now)),
        ],
    )?;
    items.push(bump);
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

/// Most values changed in one request (each change writes a value and a history row, and a
/// transaction holds at most 100 items).
pub const MAX_VALUES_PER_CHANGE: usize = 40;

pub use crate::authz::require;

/// `PUT /api/admin/clients/{name}/settings` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueChange {
    /// Why (kept in history and the audit trail).
    #[serde(default)]
    pub change_message: String,
    /// The values.
    pub values: Vec<NewValue>,
    /// Set the values of this instance instead of the base client's.
    #[serde(default)]
    pub instance: Option<crate::model::ClientName>,
    /// The client version the admin saw (or the `If-Match` header): a stale one gets 409.
    #[serde(default)]
    pub version: Option<u64>,
}

/// The answer to a value change.
#[derive(Debug, Serialize)]
pub struct ValueChangeResult {
    /// The client's version after the change.
    pub version: u64,
}

/// Sets several values in one all-or-nothing transaction: each value is validated against its
/// definition, sealed under the client's data key, written with its history row, the client's
/// version bump and one `SettingValueChanged` event (names only, never values).
pub async fn update_values(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    change: ValueChange,
    source: &Source,
) -> Result<ValueChangeResult> {
    require(
        app,
        principal,
        Action::EditSettings,
        Resource::Client(client),
        source,
    )
    .await?;
    if change.values.is_empty() || change.values.len() > MAX_VALUES_PER_CHANGE {
        return Err(Error::bad_request(
            "INVALID_CHANGE",
            format!("Send between 1 and {MAX_VALUES_PER_CHANGE} values."),
        ));
    }
    if change.change_message.chars().count() > MAX_CHANGE_MESSAGE {
        return Err(Error::bad_request(
            "INVALID_CHANGE",
            "The change message is longer than 1000 characters.",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if !change.values.iter().all(|v| seen.insert(v.name.as_str())) {
        return Err(Error::bad_request(
            "INVALID_CHANGE",
            "A setting appears twice in the change.",
        ));
    }
    // Without a version the caller asked for no optimistic concurrency: a conflict with another
    // writer of the same client is not theirs, so the change is applied again on the new state
    // (a few times, with jitter). With a version, a stale one is the caller's 409.
    let version = if change.version.is_some() {
        apply_change(app, principal, client, &change, source).await?
    } else {
        retrying(|| apply_change(app, principal, client, &change, source)).await?
    };
    Ok(ValueChangeResult { version })
}

/// Times an operation that did not ask for optimistic concurrency is tried again after another
/// writer of the same client won.
pub(super) const RETRIES: u32 = 5;

/// Runs `attempt` again (a few times, after a short doubling pause with jitter) while it fails
/// with a conflict it did not cause; the last conflict is returned.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    for n in 1..=RETRIES {
        match attempt().await {
            Err(Error::Conflict { .. }) => {
                let jitter = u64::from(crate::crypto::random_bytes(1)[0]) % 20;
                tokio::time::sleep(std::time::Duration::from_millis((5 << n) + jitter)).await;
            }
            other => return other,
        }
    }
    attempt().await
}

/// One attempt of a value change on the client's current state.
pub(super) async fn apply_change(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    change: &ValueChange,
    source: &Source,
) -> Result<u64> {
    let state = load_client(app, client).await?.ok_or(Error::NotFound {
        code: "CLIENT_NOT_FOUND",
        message: "There is no client with that name.",
    })?;
    check_version(&state, change.version)?;
    let name = state.meta.name.clone();
    let key = state.data_key(app, state.meta.dek_version).await?;
    let definitions = state.definitions(&key)?;
    for new in &change.values {
        let definition = definitions
            .iter()
            .find(|d| d.name == new.name)
            .ok_or_else(|| {
                Error::bad_request(
                    "UNKNOWN_SETTING",
                    format!("Client '{name}' has no setting '{}'.", new.name),
                )
            })?;
        require(
            app,
            principal,
            Action::EditSettings,
            Resource::Setting {
                client: &name,
                classification: definition.classification.as_deref(),
            },
            source,
        )
        .await?;
        definition.check_value(&new.value)?;
    }
    let actor = Actor::User {
        name: principal.username.clone(),
    };
    let instance = change
        .instance
        .as_ref()
        .map(crate::model::ClientName::as_str);
    if instance.is_some_and(|i| !state.instances.contains_key(i)) {
        return Err(Error::NotFound {
            code: "INSTANCE_NOT_FOUND",
            message: "The client has no such instance.",
        });
    }
    write_values(
        app,
        &state,
        &key,
        &change.values,
        instance,
        (&principal.username, actor),
        &change.change_message,
        false,
        source,
    )
    .await
}
