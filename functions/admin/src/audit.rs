//! The audit view (`fig_shared::audit`).

use super::*;

pub(crate) async fn audit(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    RawQuery(query): RawQuery,
    caller: Caller,
) -> Result<Response> {
    let query: fig_shared::audit::AuditQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).map_err(|_| {
            Error::bad_request(
                "INVALID_AUDIT_QUERY",
                "The query string is not valid: use from, to (RFC 3339), type, user, client, limit (a number) and cursor, each once.",
            )
        })?;
    Ok(json(
        &fig_shared::audit::query(&app, &principal, query, &caller).await?,
    ))
}
