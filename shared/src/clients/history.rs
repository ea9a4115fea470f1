//! A setting's history: who changed it when, with its old values (never a secret's).

use super::*;

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
