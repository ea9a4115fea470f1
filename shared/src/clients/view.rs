//! Clients as admins see them: the list and one client, with each setting's definition and
//! value (a secret setting's value never: `isSet` and `lastChanged` only). Every operation
//! asks the policy first.

use super::*;

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
pub(super) async fn admin_view(app: &App, state: &ClientState) -> Result<AdminClient> {
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
