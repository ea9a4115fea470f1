//! Export and import (`fig_shared::transfer`).

use super::*;
use fig_shared::transfer;

/// Export documents are offered as a file download and never cached.
pub(crate) fn download(document: &transfer::ExportDocument) -> Response {
    let mut response = json(document);
    let name = format!(
        "attachment; filename=\"fig-export-{}.json\"",
        document.exported_at.get(..10).unwrap_or("export")
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

pub(crate) async fn export_plain(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
) -> Result<Response> {
    Ok(download(
        &transfer::export(&app, &principal, None, &caller).await?,
    ))
}

pub(crate) async fn export_sealed(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    body: std::result::Result<JsonBody<transfer::ExportRequest>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ImportExport, &caller, body).await?;
    Ok(download(
        &transfer::export(&app, &principal, Some(request.passphrase), &caller).await?,
    ))
}

pub(crate) async fn import(
    State(app): State<Arc<App>>,
    AuthUser(principal): AuthUser,
    caller: Caller,
    body: std::result::Result<JsonBody<transfer::ImportRequest>, Error>,
) -> Result<Response> {
    let request = allowed_body(&app, &principal, Action::ImportExport, &caller, body).await?;
    Ok(json(
        &transfer::import(&app, &principal, request, &caller).await?,
    ))
}
