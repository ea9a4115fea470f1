//! A client's data key: a new one, and its definitions and values sealed again under it.

use super::*;

/// Most items one data-key rotation may write in its single transaction (the limit is 100, less
/// the new key, the definitions, the `META` update and the event).
pub(super) const MAX_VALUES_PER_ROTATION: usize = 96;

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
    let mut items = vec![app.store.put(
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
    )?];
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
        items.push(app.store.put_checked(
            to_item(&pk, sk, &resealed)?,
            Some("valueVersion = :prev"),
            vec![(":prev", AttrValue::number(item.value_version))],
        )?);
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
            (":k", AttrValue::number(version)),
            (":next", AttrValue::number(state.meta.version + 1)),
            (":v", AttrValue::number(state.meta.version)),
            (":t", AttrValue::text(now)),
        ],
    )?;
    items.push(meta);
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
