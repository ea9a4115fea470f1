//! A client's secret: authentication by it (constant time, throttled per address, refusals
//! audited), its generation, and its rotation with a grace period.

use super::*;

pub(super) fn auth_failed() -> Error {
    Error::Unauthorized {
        code: "CLIENT_AUTH_FAILED",
        message: "The client name or secret is not valid.",
    }
}

/// Checks `secret` against the client's current hash, and its previous one during a rotation's
/// grace period. Always does the same work, also for an unknown client (`meta` = `None`).
pub(super) async fn verify_secret(
    app: &App,
    name: &str,
    meta: Option<&ClientMeta>,
    secret: &SecretString,
) -> Result<bool> {
    let hasher = app.keys.secret_hasher().await?;
    let now = clock::now().unix_timestamp();
    let mut stored: Vec<Vec<u8>> = Vec::new();
    if let Some(meta) = meta {
        stored.extend(B64.decode(&meta.secret_hash).ok());
        if meta.previous_secret_expires.is_some_and(|t| t > now) {
            stored.extend(
                meta.previous_secret_hash
                    .as_deref()
                    .and_then(|h| B64.decode(h).ok()),
            );
        }
    }
    let refs: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
    Ok(hasher.verify(name, secret, &refs) && meta.is_some())
}

/// Records a failed client authentication and counts it against the caller's address (in the
/// client's own partition, so the fetch `Query` reads the counter for free). Returns the 401.
pub(super) async fn refuse_client(app: &App, name: &str, source: &Source) -> Error {
    let event = AuditEvent::new(
        EventKind::ClientAuthenticationFailed {
            client: name.to_owned(),
        },
        Actor::Client {
            name: name.to_owned(),
        },
        source.clone(),
        clock::now(),
    );
    let counted = match (ClientName::parse(name), throttle_sk(source)) {
        (Ok(valid), Some(sk)) => {
            let expires = clock::now().unix_timestamp() + 7200;
            app.store
                .update(
                    &client_pk(valid.as_str()),
                    &sk,
                    "ADD failures :one SET #ttl = :ttl",
                    None,
                    vec![
                        (":one", AttrValue::number(1)),
                        (":ttl", AttrValue::number(expires)),
                    ],
                )
                .map(|update| vec![update])
        }
        _ => Ok(Vec::new()),
    };
    let result = match counted {
        Ok(items) => {
            app.store
                .transact(items, &event, ("CONFLICT", "Try again."))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => auth_failed(),
        Err(e) => e,
    }
}

/// `POST /api/admin/clients/{name}/secret` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRotation {
    /// How long the old secret keeps working (0 to 10080 minutes, 7 days).
    pub grace_minutes: u32,
}

/// A new client secret, shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatedSecret {
    /// The new secret: 256 random bits, base64url. Shown once; stored only as a keyed hash.
    pub client_secret: String,
    /// When the old secret stops working (UTC, RFC 3339).
    pub previous_secret_valid_until: String,
}

/// Longest grace period of a rotation.
pub const MAX_GRACE_MINUTES: u32 = 7 * 24 * 60;

/// Rotates a client's secret (Administrator): a new random secret is shown once; the old one
/// keeps working until the grace period ends, then stops.
pub async fn rotate_secret(
    app: &Arc<App>,
    principal: &crate::policy::Principal,
    client: &str,
    request: SecretRotation,
    source: &Source,
) -> Result<RotatedSecret> {
    use crate::policy::{Action, Resource};
    crate::authz::require(
        app,
        principal,
        Action::ManageClients,
        Resource::Client(client),
        source,
    )
    .await?;
    if request.grace_minutes > MAX_GRACE_MINUTES {
        return Err(Error::bad_request(
            "INVALID_GRACE_PERIOD",
            format!("graceMinutes must be between 0 and {MAX_GRACE_MINUTES} (7 days)."),
        ));
    }
    let state = load_client(app, client).await?.ok_or(Error::NotFound {
        code: "CLIENT_NOT_FOUND",
        message: "There is no client with that name.",
    })?;
    let name = state.meta.name.clone();
    let hasher = app.keys.secret_hasher().await?;
    let secret = new_client_secret();
    let until = clock::now() + time::Duration::minutes(i64::from(request.grace_minutes));
    let update = app.store.update(
        &client_pk(&name),
        META,
        "SET secretHash = :new, previousSecretHash = :old, previousSecretExpires = :until",
        Some("secretHash = :old"),
        vec![
            (
                ":new",
                AttrValue::text(B64.encode(hasher.hash(&name, &secret)?)),
            ),
            (":old", AttrValue::text(state.meta.secret_hash.clone())),
            (":until", AttrValue::number(until.unix_timestamp())),
        ],
    )?;
    let event = AuditEvent::new(
        EventKind::ClientSecretRotated {
            client: name.clone(),
            grace_minutes: request.grace_minutes,
        },
        Actor::User {
            name: principal.username.clone(),
        },
        source.clone(),
        clock::now(),
    );
    app.store
        .transact(
            vec![update],
            &event,
            (
                "CONFLICT",
                "The secret was rotated at the same time. Reload and try again.",
            ),
        )
        .await?;
    Ok(RotatedSecret {
        client_secret: secret.expose().to_owned(),
        previous_secret_valid_until: clock::rfc3339(until),
    })
}
