//! Admin operations on clients and values. Every operation asks the policy first.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::clients::{
    ClientState, HistoryItem, MAX_CHANGE_MESSAGE, SettingItem, ValuePlace, instance_binding,
    instance_setting_sk, list_client_names, load_client, seal_value,
};
pub use crate::clients::{NewValue, write_values};
use crate::clock;
use crate::error::{Error, Result};
use crate::events::Source;
use crate::events::{Actor, AuditEvent, EventKind};
use crate::model::{SettingDefinition, SettingName};
use crate::policy::{Action, Principal, Resource};
use crate::store::{client_pk, setting_sk, to_item};

/// Most values changed in one request (each change writes a value and a history row, and a
/// transaction holds at most 100 items).
pub const MAX_VALUES_PER_CHANGE: usize = 40;

pub use crate::authz::require;

/// A setting as the web client sees it: a secret setting shows `isSet`/`lastChanged`, never
/// its value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSetting {
    /// The definition.
    #[serde(flatten)]
    pub definition: SettingDefinition,
    /// The current value (non-secret settings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Whether an admin has set a value.
    pub is_set: bool,
    /// When the value last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<String>,
    /// Who changed it last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_changed_by: Option<String>,
    /// Set by the client from its environment (a client override).
    pub externally_managed: bool,
}

/// A client as the web client sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminClient {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Version.
    pub version: u64,
    /// Settings, in display order.
    pub settings: Vec<AdminSetting>,
    /// Instance names.
    pub instances: Vec<String>,
}

/// `GET /api/admin/clients`.
#[derive(Debug, Serialize)]
pub struct ClientList {
    /// Clients, by name.
    pub clients: Vec<AdminClient>,
}

/// Lists clients with definitions and values; secret values never leave this function.
pub async fn list_clients(
    app: &Arc<App>,
    principal: &Principal,
    source: &Source,
) -> Result<ClientList> {
    require(app, principal, Action::ReadClient, Resource::None, source).await?;
    let mut clients = Vec::new();
    let visible = principal.client_matcher();
    for name in list_client_names(app).await? {
        if !visible.sees(&name) {
            continue;
        }
        let Some(state) = load_client(app, &name).await? else {
            continue;
        };
        clients.push(admin_view(app, &state).await?);
    }
    Ok(ClientList { clients })
}

/// `GET /api/admin/clients/{name}`: one client, as in the list.
pub async fn get_client(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    source: &Source,
) -> Result<AdminClient> {
    require(
        app,
        principal,
        Action::ReadClient,
        Resource::Client(client),
        source,
    )
    .await?;
    let state = load_client(app, client)
        .await?
        .ok_or_else(client_not_found)?;
    admin_view(app, &state).await
}

/// A client as admins see it: definitions in display order, non-secret values (or their
/// defaults), and for secret settings only whether they are set and when they last changed.
async fn admin_view(app: &App, state: &ClientState) -> Result<AdminClient> {
    let key = state.data_key(app, state.meta.dek_version).await?;
    let mut definitions = state.definitions(&key)?;
    definitions.sort_by_key(|d| (d.display_order.unwrap_or(i32::MAX), d.name.clone()));
    let mut settings = Vec::with_capacity(definitions.len());
    for definition in definitions {
        let item = state.values.get(definition.name.as_str());
        let value = if definition.secret || item.is_some_and(|i| !i.is_visible_under(&definition)) {
            None
        } else {
            Some(
                state
                    .value(app, definition.name.as_str())
                    .await?
                    .or_else(|| definition.default_value.clone())
                    .unwrap_or(Value::Null),
            )
        };
        settings.push(AdminSetting {
            value,
            is_set: item.is_some(),
            last_changed: item.map(|i| i.last_changed.clone()),
            last_changed_by: item.map(|i| i.last_changed_by.clone()),
            externally_managed: item.is_some_and(|i| i.externally_managed),
            definition,
        });
    }
    Ok(AdminClient {
        name: state.meta.name.clone(),
        description: state.meta.description.clone(),
        version: state.meta.version,
        settings,
        instances: state.instances.keys().cloned().collect(),
    })
}

/// Items one client deletion may remove in its single transaction (the limit is 100, less the
/// client index entry, the client count and the event).
const MAX_ITEMS_PER_DELETE: usize = 97;

/// `DELETE /api/admin/clients/{name}` (Administrator): the client, its data keys, values and
/// instances go in one transaction with the `ClientDeleted` event, so a service never sees a
/// half-deleted client; from then on its secret gets 401. Its history rows are removed after
/// (a client registered later under the same name never reads them: they predate it).
pub async fn delete_client(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    expected_version: Option<u64>,
    source: &Source,
) -> Result<()> {
    let state = managed_client(app, principal, client, source).await?;
    check_version(&state, expected_version)?;
    let name = state.meta.name.clone();
    let pk = client_pk(&name);
    let mut keys: Vec<String> = state
        .deks
        .keys()
        .map(|v| crate::store::dek_sk(*v))
        .chain(state.values.keys().map(|s| setting_sk(s)))
        .chain(crate::clients::FIXED_SKS.iter().map(|s| (*s).to_owned()))
        .collect();
    for (instance, values) in &state.instances {
        keys.push(crate::clients::instance_sk(instance));
        keys.extend(values.keys().map(|s| instance_setting_sk(instance, s)));
    }
    if keys.len() + 1 > MAX_ITEMS_PER_DELETE {
        return Err(Error::Conflict {
            code: "CLIENT_TOO_LARGE",
            message: "The client has too many values and instances to delete in one step. Delete its instances first, then the client.",
        });
    }
    // The META item goes with a condition on its version: a concurrent edit makes this fail.
    let mut items = vec![conditional_delete(
        app,
        &pk,
        crate::schema::META,
        state.meta.version,
    )?];
    for sk in &keys {
        items.push(app.store.delete_in_transaction(&pk, sk)?);
    }
    items.push(
        app.store
            .delete_in_transaction(crate::schema::CLIENTS_PK, &crate::schema::client_pk(&name))?,
    );
    items.push(crate::clients::client_count_change(app, -1, None)?);
    let event = AuditEvent::new(
        EventKind::ClientDeleted {
            client: name.clone(),
        },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            items,
            &event,
            (
                "CONFLICT",
                "The client changed at the same time. Reload and try again.",
            ),
        )
        .await?;
    app.store
        .delete_partition(&crate::clients::history_pk(&name))
        .await
}

fn conditional_delete(app: &App, pk: &str, sk: &str, version: u64) -> Result<TransactWriteItem> {
    aws_sdk_dynamodb::types::Delete::builder()
        .table_name(app.store.table())
        .key("PK", AttributeValue::S(pk.to_owned()))
        .key("SK", AttributeValue::S(sk.to_owned()))
        .condition_expression("version = :v")
        .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
        .build()
        .map(|d| TransactWriteItem::builder().delete(d).build())
        .map_err(|e| Error::internal(format!("delete builder: {e}")))
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
const RETRIES: u32 = 5;

/// Runs `attempt` again (a few times, after a short doubling pause with jitter) while it fails
/// with a conflict it did not cause; the last conflict is returned.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
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
async fn apply_change(
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

/// One change of a setting, as admins see it. Secret settings show who and when, never values.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When (UTC, RFC 3339).
    pub time: String,
    /// Who (`client:{name}` for client overrides).
    pub user: String,
    /// The change message.
    pub message: String,
    /// Value version after the change.
    pub version: u64,
    /// The value before (non-secret settings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_value: Option<Value>,
    /// The value after (non-secret settings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_value: Option<Value>,
}

/// `GET /api/admin/clients/{name}/settings/{setting}/history`: newest first.
pub async fn history(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    setting: &str,
    source: &Source,
) -> Result<Vec<HistoryEntry>> {
    require(
        app,
        principal,
        Action::ReadHistory,
        Resource::Client(client),
        source,
    )
    .await?;
    let not_found = || Error::NotFound {
        code: "SETTING_NOT_FOUND",
        message: "There is no such client or setting.",
    };
    SettingName::parse(setting).map_err(|_| not_found())?;
    let state = load_client(app, client).await?.ok_or_else(not_found)?;
    let key = state.data_key(app, state.meta.dek_version).await?;
    let definition = state
        .definitions(&key)?
        .into_iter()
        .find(|d| d.name.as_str() == setting)
        .ok_or_else(not_found)?;
    let mut rows: Vec<HistoryItem> = app
        .store
        .query_prefix(
            &crate::clients::history_pk(&state.meta.name),
            &format!("{setting}#"),
        )
        .await?
        .into_iter()
        .map(crate::store::from_item)
        .collect::<Result<_>>()?;
    // Rows older than the client belong to a deleted client of the same name whose history
    // was not fully removed: never shown (its key is gone).
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    };
    let created = parse(&state.meta.created);
    rows.retain(|r| parse(&r.time) >= created);
    // In the order they happened: a value removed (an import that resets it to its default)
    // and set again starts its versions over.
    rows.sort_by_key(|r| (parse(&r.time), r.value_version));
    let mut entries = Vec::with_capacity(rows.len());
    let mut previous: Option<Value> = definition.default_value.clone();
    for row in rows {
        // A row sealed as a secret's is never opened here: its setting may have been removed
        // and registered again as a plain one.
        let shown = !definition.secret && !row.secret;
        let value = if shown {
            let key = state.data_key(app, row.dek_version).await?;
            let sealed = SettingItem {
                name: format!("#history#{setting}"),
                value: row.value.clone(),
                value_version: row.value_version,
                dek_version: row.dek_version,
                last_changed: String::new(),
                last_changed_by: String::new(),
                externally_managed: false,
                secret: false,
            };
            Some(crate::clients::open_value(&state.meta.name, &sealed, &key)?)
        } else {
            None
        };
        entries.push(HistoryEntry {
            time: row.time,
            user: row.user,
            message: row.message,
            version: row.value_version,
            old_value: if shown { previous.clone() } else { None },
            new_value: value.clone(),
        });
        previous = value;
    }
    entries.reverse();
    Ok(entries)
}

/// `POST /api/admin/clients/{name}/instances` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInstance {
    /// Instance name.
    pub instance: crate::model::ClientName,
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

fn meta_bump(app: &App, state: &ClientState) -> Result<TransactWriteItem> {
    let update = app.store.update(
        &client_pk(&state.meta.name),
        crate::schema::META,
        "SET version = :next, updated = :t",
        Some("version = :v"),
        vec![
            (
                ":next",
                AttributeValue::N((state.meta.version + 1).to_string()),
            ),
            (":v", AttributeValue::N(state.meta.version.to_string())),
            (":t", AttributeValue::S(clock::now_rfc3339())),
        ],
    )?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Creates an instance of a client from its base values (Administrator). A service that
/// fetches with `?instance=` gets the instance's values; values the instance does not have
/// fall back to the base client's.
pub async fn create_instance(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    request: NewInstance,
    source: &Source,
) -> Result<serde_json::Value> {
    let state = managed_client(app, principal, client, source).await?;
    let instance = request.instance.as_str();
    if state.instances.contains_key(instance) {
        return Err(Error::Conflict {
            code: "INSTANCE_EXISTS",
            message: "The client already has an instance with that name.",
        });
    }
    if state.values.len() > 90 {
        return Err(Error::bad_request(
            "TOO_MANY_CHANGES",
            "A client with more than 90 set values cannot be copied into an instance in one step.",
        ));
    }
    let name = state.meta.name.clone();
    let pk = client_pk(&name);
    let now = clock::now_rfc3339();
    let marker = to_item(
        &pk,
        &crate::clients::instance_sk(instance),
        &serde_json::json!({ "instance": instance, "created": now }),
    )?;
    let mut items = vec![
        TransactWriteItem::builder()
            .put(app.store.put(marker, Some("attribute_not_exists(PK)"))?)
            .build(),
    ];
    let current = state.data_key(app, state.meta.dek_version).await?;
    let definitions = state.definitions(&current)?;
    for (setting, base) in &state.values {
        let key = state.data_key(app, base.dek_version).await?;
        let value = crate::clients::open_value(&name, base, &key)?;
        let bound = instance_binding(instance, setting);
        let secret = base.secret
            || definitions
                .iter()
                .any(|d| d.name.as_str() == setting && d.secret);
        let item = SettingItem {
            name: bound.clone(),
            value: seal_value(
                ValuePlace {
                    client: &name,
                    setting: &bound,
                    value_version: 1,
                    dek_version: state.meta.dek_version,
                    secret,
                },
                &value,
                &current,
            )?,
            value_version: 1,
            dek_version: state.meta.dek_version,
            last_changed: now.clone(),
            last_changed_by: principal.username.clone(),
            externally_managed: false,
            secret,
        };
        items.push(
            TransactWriteItem::builder()
                .put(app.store.put(
                    to_item(&pk, &instance_setting_sk(instance, setting), &item)?,
                    None,
                )?)
                .build(),
        );
    }
    items.push(meta_bump(app, &state)?);
    let event = AuditEvent::new(
        EventKind::InstanceCreated {
            client: name.clone(),
            instance: instance.to_owned(),
        },
        Actor::User {
            name: principal.username.clone(),
        },
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
    Ok(serde_json::json!({ "instance": instance, "copiedValues": state.values.len() }))
}

/// `POST /api/admin/clients/{name}/data-key` (Administrator): a new data key for the client;
/// its definitions and values are sealed again under it in one transaction. Services notice
/// nothing but a new version (their next fetch is a 200 with the same values).
pub async fn rotate_data_key(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    source: &Source,
) -> Result<serde_json::Value> {
    // No version is asked for: an edit of the client meanwhile is not the caller's conflict.
    let (version, values) = retrying(|| async {
        let state = managed_client(app, principal, client, source).await?;
        crate::clients::reseal_under_new_key(app, &state, |dek_version, values| {
            AuditEvent::new(
                EventKind::DataKeyRotated {
                    client: state.meta.name.clone(),
                    dek_version,
                    values,
                },
                Actor::User {
                    name: principal.username.clone(),
                },
                source.clone(),
                clock::now(),
            )
        })
        .await
    })
    .await?;
    Ok(serde_json::json!({ "dataKeyVersion": version, "resealedValues": values }))
}

/// The answer to a declassification.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Declassified {
    /// The client's version after the change.
    pub version: u64,
    /// Values deleted (base and instances).
    pub deleted_values: usize,
    /// History rows deleted.
    pub deleted_history: usize,
}

/// `POST /api/admin/clients/{name}/settings/{setting}/declassify` (Administrator): makes a
/// secret setting plain. Its values (base and every instance's) are deleted in the same
/// transaction as the definition change, and its history rows right after, so no value that
/// was sealed as a secret ever becomes readable. History rows left behind by a failure are
/// still marked secret (bound into their ciphertext) and never shown.
pub async fn declassify_setting(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    setting: &str,
    source: &Source,
) -> Result<Declassified> {
    let state = managed_client(app, principal, client, source).await?;
    let key = state.data_key(app, state.meta.dek_version).await?;
    let mut definitions = state.definitions(&key)?;
    let definition = definitions
        .iter_mut()
        .find(|d| d.name.as_str() == setting)
        .ok_or(Error::NotFound {
            code: "SETTING_NOT_FOUND",
            message: "There is no such client or setting.",
        })?;
    if !definition.secret {
        return Err(Error::Conflict {
            code: "NOT_SECRET",
            message: "The setting is not secret.",
        });
    }
    definition.secret = false;
    let setting = definition.name.to_string();
    let name = state.meta.name.clone();
    let pk = client_pk(&name);
    let mut items = crate::clients::definitions_update(
        app,
        &state,
        &state.meta.description,
        &definitions,
        &key,
    )?;
    let mut deleted_values = 0;
    if state.values.contains_key(&setting) {
        items.push(
            app.store
                .delete_in_transaction(&pk, &setting_sk(&setting))?,
        );
        deleted_values += 1;
    }
    for (instance, values) in &state.instances {
        if values.contains_key(&setting) {
            items.push(
                app.store
                    .delete_in_transaction(&pk, &instance_setting_sk(instance, &setting))?,
            );
            deleted_values += 1;
        }
    }
    let event = AuditEvent::new(
        EventKind::SettingDeclassified {
            client: name.clone(),
            setting: setting.clone(),
            values: deleted_values,
        },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            items,
            &event,
            (
                "CONFLICT",
                "The client changed at the same time. Reload and try again.",
            ),
        )
        .await?;
    let history_pk = crate::clients::history_pk(&name);
    let mut rows = Vec::new();
    let instances = state.instances.keys().map(|i| Some(i.as_str()));
    for instance in std::iter::once(None).chain(instances) {
        let prefix = format!("{}#", crate::clients::history_name(instance, &setting));
        rows.extend(app.store.query_prefix(&history_pk, &prefix).await?);
    }
    app.store.delete_items(&rows).await?;
    Ok(Declassified {
        version: state.meta.version + 1,
        deleted_values,
        deleted_history: rows.len(),
    })
}

/// Deletes an instance and its values (Administrator); its services fall back to the base values.
pub async fn delete_instance(
    app: &Arc<App>,
    principal: &Principal,
    client: &str,
    instance: &str,
    source: &Source,
) -> Result<()> {
    let state = managed_client(app, principal, client, source).await?;
    let Some(values) = state.instances.get(instance) else {
        return Err(Error::NotFound {
            code: "INSTANCE_NOT_FOUND",
            message: "The client has no such instance.",
        });
    };
    let pk = client_pk(&state.meta.name);
    let delete = |sk: String| app.store.delete_in_transaction(&pk, &sk);
    let mut items = vec![delete(crate::clients::instance_sk(instance))?];
    for setting in values.keys() {
        items.push(delete(instance_setting_sk(instance, setting))?);
    }
    items.push(meta_bump(app, &state)?);
    let event = AuditEvent::new(
        EventKind::InstanceDeleted {
            client: state.meta.name.clone(),
            instance: instance.to_owned(),
        },
        Actor::User {
            name: principal.username.clone(),
        },
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
    // The instance's history goes with it (it was sealed under its name, and no instance of
    // that name exists any more to show it).
    let history = app
        .store
        .query_prefix(
            &crate::clients::history_pk(&state.meta.name),
            // `@{instance}/`: every setting's rows of this instance.
            &crate::clients::history_name(Some(instance), ""),
        )
        .await?;
    app.store.delete_items(&history).await
}
