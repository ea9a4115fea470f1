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
