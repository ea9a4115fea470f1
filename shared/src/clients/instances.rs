//! A client's instances: values of their own over the base client's, created and deleted.

use super::*;

/// `POST /api/admin/clients/{name}/instances` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInstance {
    /// Instance name.
    pub instance: crate::model::ClientName,
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
    let mut items = vec![app.store.put(marker, Some("attribute_not_exists(PK)"))?];
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
        items.push(app.store.put(
            to_item(&pk, &instance_setting_sk(instance, setting), &item)?,
            None,
        )?);
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
