//! Passphrase sealing, for export files: a key derived from the passphrase with Argon2id
//! (parameters fixed here, not the crate's defaults, which may change: 64 MiB, 3 passes,
//! 1 lane; an export file can be attacked offline for as long as it exists), then AES-256-GCM
//! under that key with a fresh 96-bit nonce. Both calls are CPU-bound (about 64 MiB and tens of
//! milliseconds): run them on a blocking thread.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The key-derivation function's name, as export files record it.
pub const KDF: &str = "argon2id";
/// Argon2id memory, KiB.
pub const MEMORY_KIB: u32 = 65_536;
/// Argon2id passes.
pub const ITERATIONS: u32 = 3;
/// Argon2id lanes.
pub const LANES: u32 = 1;
/// Salt length, bytes (the shortest accepted when opening).
pub const SALT_LEN: usize = 16;
/// Nonce length, bytes.
pub const NONCE_LEN: usize = 12;

/// A sealed plaintext and what opening it needs besides the passphrase.
#[derive(Debug)]
pub struct Sealed {
    /// The Argon2id salt.
    pub salt: Vec<u8>,
    /// The AES-GCM nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

fn derive(passphrase: &SecretString, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let mut key = Zeroizing::new([0u8; 32]);
    let params = argon2::Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(32))
        .map_err(|_| Error::internal("argon2 parameters"))?;
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
        .map_err(|_| Error::internal("argon2 key derivation failed"))?;
    Ok(key)
}

/// Seals `plaintext` under `passphrase`, bound to `aad`, with a fresh salt and nonce.
pub fn seal(passphrase: &SecretString, aad: &[u8], plaintext: &[u8]) -> Result<Sealed> {
    let salt = super::random_bytes(SALT_LEN);
    let nonce = super::random_bytes(NONCE_LEN);
    let key = derive(passphrase, &salt)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| Error::internal("aes key"))?;
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::internal("aes-gcm seal"))?;
    Ok(Sealed {
        salt,
        nonce,
        ciphertext,
    })
}

/// Opens what [`seal`] sealed. `Ok(None)`: it does not open (a wrong passphrase, another
/// `aad`, a changed file, a nonce or salt of the wrong size); `Err` only when the derivation
/// itself fails.
pub fn open(
    passphrase: &SecretString,
    aad: &[u8],
    sealed: &Sealed,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if sealed.nonce.len() != NONCE_LEN || sealed.salt.len() < SALT_LEN {
        return Ok(None);
    }
    let key = derive(passphrase, &sealed.salt)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| Error::internal("aes key"))?;
    Ok(cipher
        .decrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_passphrase_and_aad_open_it() {
        let passphrase = SecretString::new("correct horse battery staple");
        let sealed = seal(&passphrase, b"aad", b"the secrets").unwrap();
        assert_eq!(
            open(&passphrase, b"aad", &sealed)
                .unwrap()
                .unwrap()
                .as_slice(),
            b"the secrets"
        );
        let wrong = SecretString::new("correct horse battery stapler");
        assert!(open(&wrong, b"aad", &sealed).unwrap().is_none());
        assert!(open(&passphrase, b"other", &sealed).unwrap().is_none());
        let mut changed = Sealed {
            salt: sealed.salt.clone(),
            nonce: sealed.nonce.clone(),
            ciphertext: sealed.ciphertext.clone(),
        };
        changed.ciphertext[0] ^= 1;
        assert!(open(&passphrase, b"aad", &changed).unwrap().is_none());
        changed.nonce.pop();
        assert!(open(&passphrase, b"aad", &changed).unwrap().is_none());
    }
}
