//! Deleting a client: its partition, history and index entry, with one event.

use super::*;

/// Items one client deletion may remove in its single transaction (the limit is 100, less the
/// client index entry, the client count and the event).
pub(super) const MAX_ITEMS_PER_DELETE: usize = 97;

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
