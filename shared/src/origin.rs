//! The API answers only requests that came through its CloudFront distribution.
//!
//! Behind CloudFront, the API Gateway request context's source address is CloudFront's own,
//! shared by many viewers; the viewer's address is what CloudFront saw. So on AWS
//! (`FIG_ORIGIN_VERIFY=true`) the distribution's viewer-request function adds two headers to
//! every API request, replacing any a viewer sent:
//!
//! - [`SECRET_HEADER`]: a random origin secret, which only the distribution (from its
//!   CloudFront KeyValueStore) and these functions (from the table, wrapped by KMS under
//!   `{app, purpose: origin-verify}`) know;
//! - [`VIEWER_HEADER`]: the viewer's address (`event.viewer.ip`).
//!
//! A request without the current (or, for a grace period, the previous) origin secret is
//! refused with 403 before any route runs: the `execute-api` URL serves nothing. Only then is
//! the viewer header trusted, and it replaces the source address everywhere (login and
//! client-auth throttles, the known-good exemption, audit records and SIEM events). Locally the
//! gateway plays CloudFront; without `FIG_ORIGIN_VERIFY` the headers are ignored, never trusted.
//!
//! The maintenance run rotates the secret daily ([`OriginSecrets::rotate_if_due`]): the new one is stored as
//! current with the old one kept as previous, then published to the KeyValueStore; the next
//! rotation waits until that publication succeeded, so the secret CloudFront sends is always
//! accepted.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::{Error, Result};
use crate::kms::Kms;
use crate::secret::{SecretBytes, SecretString};
use crate::store::{AttrValue, Store, from_item, to_item};

/// The header carrying the origin secret.
pub const SECRET_HEADER: &str = "x-fig-origin-verify";
/// The header carrying the viewer's address (trusted only with a valid origin secret).
pub const VIEWER_HEADER: &str = "x-fig-viewer-address";
/// The KeyValueStore key the distribution's function reads the secret from.
pub const STORE_KEY: &str = "origin-secret";

const PK: &str = crate::schema::KEYS_PK;
const SK: &str = crate::schema::ORIGIN_SK;
/// How long a function trusts its copy of the secrets.
const CACHE_FOR: Duration = Duration::from_secs(60);
/// Shortest time between two reloads caused by a secret that matched nothing.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The stored secrets (`KEYS` / `ORIGIN`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OriginItem {
    /// The current secret, wrapped (base64).
    current: String,
    /// The one before it, wrapped, still accepted until `previous_until`.
    #[serde(default)]
    previous: Option<String>,
    /// Epoch seconds.
    #[serde(default)]
    previous_until: i64,
    /// When the current one was made (epoch seconds).
    created: i64,
    /// Whether the current one reached the distribution (no rotation before it did).
    #[serde(default)]
    published: bool,
}

/// Accepted secrets in plaintext, and when they were read.
#[derive(Default)]
struct Loaded {
    secrets: Vec<SecretBytes>,
    at: Option<Instant>,
}

/// The origin secret: a warm function's copy of the accepted ones (verification), and the
/// stored item behind them (rotation, publication).
pub struct OriginSecrets {
    loaded: Mutex<Loaded>,
    store: Store,
    kms: Kms,
    app: String,
}

impl std::fmt::Debug for OriginSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecrets(***)")
    }
}

fn context(app: &str) -> [(&str, &str); 2] {
    [("app", app), ("purpose", "origin-verify")]
}

async fn read(store: &Store) -> Result<Option<OriginItem>> {
    store.get(PK, SK).await?.map(from_item).transpose()
}

async fn unwrap(kms: &Kms, app: &str, wrapped: &str) -> Result<SecretBytes> {
    let blob = B64
        .decode(wrapped)
        .map_err(|_| Error::internal("origin secret is not base64"))?;
    kms.decrypt(&blob, &context(app)).await
}

impl OriginSecrets {
    /// The origin secret of application `app` in `store`, unwrapped with `kms`; nothing is
    /// read before the first [`OriginSecrets::verify`].
    pub fn new(store: Store, kms: Kms, app: impl Into<String>) -> Self {
        Self {
            loaded: Mutex::default(),
            store,
            kms,
            app: app.into(),
        }
    }

    async fn reload(&self) -> Result<()> {
        let mut secrets = Vec::new();
        if let Some(item) = read(&self.store).await? {
            secrets.push(unwrap(&self.kms, &self.app, &item.current).await?);
            let now = crate::clock::now().unix_timestamp();
            if let Some(previous) = item.previous.filter(|_| item.previous_until > now) {
                secrets.push(unwrap(&self.kms, &self.app, &previous).await?);
            }
        }
        let mut loaded = self.loaded.lock().map_err(|_| Error::internal("lock"))?;
        loaded.secrets = secrets;
        loaded.at = Some(Instant::now());
        Ok(())
    }

    fn matches(&self, presented: &[u8]) -> Result<(bool, Option<Instant>)> {
        let loaded = self.loaded.lock().map_err(|_| Error::internal("lock"))?;
        let hit = crypto::matches_any(presented, loaded.secrets.iter().map(|s| s.expose()));
        Ok((hit, loaded.at))
    }

    /// Whether `presented` is an accepted origin secret (compared in constant time). The copy
    /// is read again when older than a minute, and when nothing matched (at most once a
    /// second, so made-up secrets cannot turn requests into table reads).
    pub async fn verify(&self, presented: Option<&str>) -> Result<bool> {
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return Ok(false);
        };
        let (hit, at) = self.matches(presented.as_bytes())?;
        let stale = at.is_none_or(|at| at.elapsed() >= CACHE_FOR);
        if hit && !stale {
            return Ok(true);
        }
        if stale || at.is_some_and(|at| at.elapsed() >= RELOAD_INTERVAL) {
            self.reload().await?;
            return Ok(self.matches(presented.as_bytes())?.0);
        }
        Ok(hit)
    }
}

/// What a rotation did: the secret to publish to the distribution, if there is one it has not
/// got yet.
#[derive(Debug)]
pub struct Rotation {
    /// The current secret (new, or an earlier one whose publication failed).
    pub secret: SecretString,
    /// Whether a new secret was made now.
    pub rotated: bool,
}

impl OriginSecrets {
    /// The current origin secret, for whatever plays the distribution (the local gateway; on AWS
    /// the maintenance run publishes it instead). `None` before the first one was made.
    pub async fn current(&self) -> Result<Option<SecretString>> {
        match read(&self.store).await? {
            Some(item) => {
                let secret = unwrap(&self.kms, &self.app, &item.current).await?;
                Ok(Some(SecretString::new(
                    String::from_utf8(secret.expose().to_vec())
                        .map_err(|_| Error::internal("origin secret is not text"))?,
                )))
            }
            None => Ok(None),
        }
    }

    /// Makes the first origin secret, or a new one when the current one is `max_age` old and was
    /// published; returns the secret the distribution must get (none when it has it already). The
    /// old secret stays accepted for `grace`.
    pub async fn rotate_if_due(
        &self,
        max_age: time::Duration,
        grace: time::Duration,
        now: time::OffsetDateTime,
    ) -> Result<Option<Rotation>> {
        let t = now.unix_timestamp();
        let existing = read(&self.store).await?;
        if let Some(item) = &existing {
            if !item.published {
                // The distribution has not got it yet: publish it again, rotate later.
                let secret = unwrap(&self.kms, &self.app, &item.current).await?;
                return Ok(Some(Rotation {
                    secret: SecretString::new(
                        String::from_utf8(secret.expose().to_vec())
                            .map_err(|_| Error::internal("origin secret is not text"))?,
                    ),
                    rotated: false,
                }));
            }
            if t - item.created < max_age.whole_seconds() {
                return Ok(None);
            }
        }
        let secret = SecretString::new(URL_SAFE_NO_PAD.encode(crypto::random_bytes(32)));
        let wrapped = self
            .kms
            .encrypt(
                &SecretBytes::new(secret.expose().as_bytes().to_vec()),
                &context(&self.app),
            )
            .await?;
        let item = OriginItem {
            current: B64.encode(wrapped),
            previous: existing.as_ref().map(|i| i.current.clone()),
            previous_until: t + grace.whole_seconds(),
            created: t,
            published: false,
        };
        let version = existing.as_ref().map(|i| i.created);
        let item = to_item(PK, SK, &item)?;
        let put = match version {
            None => self.store.put(item, Some("attribute_not_exists(PK)"))?,
            Some(created) => self.store.put_checked(
                item,
                Some("created = :c"),
                vec![(":c", AttrValue::number(created))],
            )?,
        };
        self.store
            .transact(
                vec![put],
                &crate::events::AuditEvent::new(
                    crate::events::EventKind::OriginSecretRotated,
                    crate::events::Actor::System,
                    Default::default(),
                    now,
                ),
                (
                    "CONFLICT",
                    "The origin secret was rotated at the same time.",
                ),
            )
            .await?;
        Ok(Some(Rotation {
            secret,
            rotated: true,
        }))
    }

    /// Records that the current secret reached the distribution.
    pub async fn mark_published(&self) -> Result<()> {
        self.store
            .update_returning_old(
                PK,
                SK,
                "SET published = :t",
                vec![(":t", AttrValue::bool(true))],
            )
            .await
            .map(|_| ())
    }
}

/// Publishes an origin secret to what sends it with every request (on AWS, the distribution's
/// CloudFront KeyValueStore; see the events binary).
pub trait Publisher: Send + Sync {
    /// Makes `secret` the one the distribution sends.
    fn publish<'a>(
        &'a self,
        secret: &'a SecretString,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;
}

/// The viewer's address from [`VIEWER_HEADER`]: an IP address and nothing else.
pub fn viewer_address(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .and_then(|v| v.parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_addresses_are_addresses_only() {
        assert_eq!(
            viewer_address(Some("198.51.100.7")).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            viewer_address(Some(" 2001:db8::1 ")).as_deref(),
            Some("2001:db8::1")
        );
        for bad in [
            "",
            "198.51.100.7:443",
            "evil\nline",
            "1.2.3.4, 5.6.7.8",
            "localhost",
        ] {
            assert_eq!(viewer_address(Some(bad)), None, "{bad}");
        }
        assert_eq!(viewer_address(None), None);
    }
}
