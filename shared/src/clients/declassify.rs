//! Declassification: a secret setting made plain by an Administrator, its values and history
//! deleted first.

use super::*;

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
