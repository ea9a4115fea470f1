//! Offline settings: the last values in a file sealed with AES-256-GCM under a key derived from
//! the client secret (Argon2id, random salt per write).
//!
//! The file records when it was fetched and the server's version. It is refused when older
//! than its maximum age, or older than a version this process has already seen (no rollback).
//! The owner deletes it when the server answers 401/403 or disallows offline use.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::{FigError, Settings};
use crate::secret::ClientSecret;

const FORMAT: &str = "fig-offline-v1";

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    salt: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Contents {
    fetched_at: u64,
    settings: Settings,
}

/// An offline settings file.
#[derive(Clone, Debug)]
pub struct OfflineStore {
    path: PathBuf,
    max_age: Duration,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn derive_key(secret: &ClientSecret, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, FigError> {
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::default()
        .hash_password_into(secret.expose().as_bytes(), salt, key.as_mut())
        .map_err(|_| FigError::Offline("key derivation failed".into()))?;
    Ok(key)
}

fn associated_data(client: &str) -> Vec<u8> {
    format!("{FORMAT}\0{client}").into_bytes()
}

impl OfflineStore {
    /// A file at `path`, trusted for at most `max_age`.
    pub fn new(path: impl Into<PathBuf>, max_age: Duration) -> Self {
        Self {
            path: path.into(),
            max_age,
        }
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seals and writes `settings` (atomically: a temporary file, then a rename; mode 0600).
    pub fn save(&self, settings: &Settings, secret: &ClientSecret) -> Result<(), FigError> {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let key = derive_key(secret, &salt)?;
        let plain = Zeroizing::new(
            serde_json::to_vec(&Contents {
                fetched_at: now_secs(),
                settings: settings.clone(),
            })
            .map_err(|_| FigError::Offline("encoding failed".into()))?,
        );
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| FigError::Offline("bad key".into()))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &associated_data(&settings.client),
                },
            )
            .map_err(|_| FigError::Offline("sealing failed".into()))?;
        let envelope = Envelope {
            format: FORMAT.into(),
            salt: B64.encode(salt),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(sealed),
        };
        let text = serde_json::to_vec(&envelope)
            .map_err(|_| FigError::Offline("encoding failed".into()))?;
        let tmp = self.path.with_extension("tmp");
        write_private(&tmp, &text)
            .map_err(|e| FigError::Offline(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| FigError::Offline(format!("cannot write {}: {e}", self.path.display())))
    }

    /// Opens the file for `client`. Refused when missing, tampered, sealed with another secret,
    /// older than the maximum age, or older than `min_version` (a version already seen).
    pub fn load(
        &self,
        client: &str,
        secret: &ClientSecret,
        min_version: u64,
    ) -> Result<Settings, FigError> {
        self.load_at(client, secret, min_version, now_secs())
    }

    /// [`OfflineStore::load`] at a given time (seconds since the epoch), for tests.
    pub fn load_at(
        &self,
        client: &str,
        secret: &ClientSecret,
        min_version: u64,
        now: u64,
    ) -> Result<Settings, FigError> {
        let text =
            std::fs::read(&self.path).map_err(|_| FigError::Offline("no offline file".into()))?;
        let envelope: Envelope = serde_json::from_slice(&text)
            .map_err(|_| FigError::Offline("not an offline settings file".into()))?;
        if envelope.format != FORMAT {
            return Err(FigError::Offline("unknown format".into()));
        }
        let decode = |s: &str| {
            B64.decode(s)
                .map_err(|_| FigError::Offline("corrupt file".into()))
        };
        let (salt, nonce, sealed) = (
            decode(&envelope.salt)?,
            decode(&envelope.nonce)?,
            decode(&envelope.ciphertext)?,
        );
        if nonce.len() != 12 {
            return Err(FigError::Offline("corrupt file".into()));
        }
        let key = derive_key(secret, &salt)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| FigError::Offline("bad key".into()))?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed,
                        aad: &associated_data(client),
                    },
                )
                .map_err(|_| {
                    FigError::Offline(
                        "the file does not open with this client's secret (changed or tampered)"
                            .into(),
                    )
                })?,
        );
        let contents: Contents = serde_json::from_slice(&plain)
            .map_err(|_| FigError::Offline("corrupt contents".into()))?;
        let age = now.saturating_sub(contents.fetched_at);
        if age > self.max_age.as_secs() {
            return Err(FigError::Offline(format!(
                "the file is {age} s old, more than the allowed {} s",
                self.max_age.as_secs()
            )));
        }
        if contents.settings.version < min_version {
            return Err(FigError::Offline(format!(
                "the file holds version {}, older than version {min_version} already seen",
                contents.settings.version
            )));
        }
        Ok(contents.settings)
    }

    /// Deletes the file (missing is fine).
    pub fn delete(&self) -> Result<(), FigError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FigError::Offline(format!(
                "cannot delete {}: {e}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn settings(version: u64) -> Settings {
        Settings {
            client: "svc".into(),
            version,
            values: BTreeMap::from([(
                "DbPassword".to_owned(),
                serde_json::json!("s3cr3t-offline"),
            )]),
            allow_offline: true,
            poll_interval_ms: 30_000,
            etag: None,
        }
    }

    fn store(name: &str, max_age: Duration) -> OfflineStore {
        let dir = std::env::temp_dir().join(format!("fig-offline-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        OfflineStore::new(dir.join("settings.fig"), max_age)
    }

    #[test]
    fn round_trip_is_encrypted_and_bound_to_secret_and_client() {
        let s = store("rt", Duration::from_secs(3600));
        let secret = ClientSecret::generate();
        s.save(&settings(3), &secret).unwrap();
        let raw = std::fs::read_to_string(s.path()).unwrap();
        assert!(!raw.contains("s3cr3t-offline") && !raw.contains("DbPassword"));
        assert_eq!(s.load("svc", &secret, 0).unwrap(), settings(3));
        assert!(
            s.load("svc", &ClientSecret::generate(), 0).is_err(),
            "another secret"
        );
        assert!(s.load("other", &secret, 0).is_err(), "another client");
        let mut tampered: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let mut ct = B64
            .decode(tampered["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[0] ^= 1;
        tampered["ciphertext"] = B64.encode(ct).into();
        std::fs::write(s.path(), tampered.to_string()).unwrap();
        assert!(s.load("svc", &secret, 0).is_err(), "tampered");
        s.delete().unwrap();
        assert!(s.load("svc", &secret, 0).is_err(), "deleted");
        s.delete().unwrap();
    }

    #[test]
    fn old_files_and_rollbacks_are_refused() {
        let secret = ClientSecret::generate();
        let s = store("age", Duration::from_secs(600));
        s.save(&settings(3), &secret).unwrap();
        assert!(s.load_at("svc", &secret, 0, now_secs() + 500).is_ok());
        assert!(
            s.load_at("svc", &secret, 0, now_secs() + 700)
                .unwrap_err()
                .to_string()
                .contains("old")
        );
        let s = store("rollback", Duration::from_secs(3600));
        s.save(&settings(3), &secret).unwrap();
        assert!(s.load("svc", &secret, 3).is_ok());
        assert!(
            s.load("svc", &secret, 4)
                .unwrap_err()
                .to_string()
                .contains("older than version 4")
        );
    }
}
