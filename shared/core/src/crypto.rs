//! The crypto facade (docs/ARCHITECTURE.md §5): the only code of the service that calls the
//! cryptographic primitives (AES-GCM, Argon2, HMAC, SHA-256, TOTP, the CSPRNG, Ed25519 key
//! generation); `tests/tests/layers.rs` holds every other crate of the service to that. JWT
//! signing and checking (`jsonwebtoken`, in `fig_shared::tokens`) and TLS (rustls) are
//! protocols built on primitives, not primitives, and stay where they are used.
//!
//! - Envelope encryption: a KMS key wraps per-client AES-256 data keys (`fig_aws::kms::Kms`,
//!   the one part of the envelope that talks to AWS); values are sealed with AES-256-GCM under
//!   a data key, with associated data that binds the ciphertext to its client, setting, value
//!   version and data-key version ([`seal`], [`open`]).
//! - A bounded cache of plaintext data keys ([`DataKeyCache`]) so a warm fetch makes no KMS call.
//! - Passwords: Argon2id in PHC strings ([`PasswordHasher`]).
//! - Client secrets: a keyed hash (HMAC-SHA256 under a KMS-wrapped pepper), verified in
//!   constant time ([`SecretHasher`]).
//! - Export files: sealing under a passphrase ([`passphrase`]).
//! - Second factors: TOTP codes ([`totp`]).
//! - Digests, MACs and comparisons: [`sha256`], [`hmac_sha256`], [`matches_any`] (constant time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, SaltString};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};

pub mod passphrase;
pub mod totp;

const NONCE_LEN: usize = 12;
/// The length of a data key (AES-256), in bytes.
pub const KEY_LEN: usize = 32;

/// Fills a fresh buffer with `n` bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// What a sealed value is bound to. A ciphertext opens only with the same binding.
#[derive(Clone, Copy, Debug)]
pub struct ValueBinding<'a> {
    /// Client name.
    pub client: &'a str,
    /// Setting name.
    pub setting: &'a str,
    /// Version of the value (increments on every change).
    pub value_version: u64,
    /// Version of the data key that sealed it.
    pub key_version: u32,
    /// Whether the value is a secret setting's. A secret value opens only as a secret one, so a
    /// ciphertext whose item was relabelled as plain (or whose setting was declassified behind
    /// the product's back) fails to open instead of reaching the web client.
    pub secret: bool,
}

impl ValueBinding<'_> {
    /// Length-prefixed, so no two bindings share a byte string. Secret values carry their own
    /// domain tag; plain values keep the original one, so values sealed before the flag was
    /// bound still open.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64);
        let tag: &[u8] = if self.secret {
            b"fig-secret-v1"
        } else {
            b"fig-value-v1"
        };
        aad.extend_from_slice(tag);
        for part in [self.client.as_bytes(), self.setting.as_bytes()] {
            aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
            aad.extend_from_slice(part);
        }
        aad.extend_from_slice(&self.value_version.to_be_bytes());
        aad.extend_from_slice(&self.key_version.to_be_bytes());
        aad
    }
}

fn cipher(key: &SecretBytes) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key.expose()).map_err(|_| Error::internal("data key is not 32 bytes"))
}

/// Seals `plaintext` with AES-256-GCM under `key`: `nonce (12 bytes) || ciphertext || tag`.
pub fn seal(key: &SecretBytes, binding: &ValueBinding<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
    let nonce_bytes = random_bytes(NONCE_LEN);
    let aad = binding.associated_data();
    let sealed = cipher(key)?
        .encrypt(
            Nonce::from_slice(&nonce_bytes),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::internal("seal failed"))?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a value sealed by [`seal`]; fails if the key, the binding or a single byte differs.
pub fn open(
    key: &SecretBytes,
    binding: &ValueBinding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(Error::internal("sealed value too short"));
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let aad = binding.associated_data();
    cipher(key)?
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::internal("sealed value failed to open"))
}

struct CachedKey {
    key: SecretBytes,
    loaded: Instant,
    uses: u64,
}

/// Plaintext data keys of warm functions, bounded by age, uses and entries (docs/ARCHITECTURE.md §5).
///
/// Evicted keys are zeroised (`SecretBytes` wipes on drop). The clock is passed in so tests
/// can move it.
#[derive(Debug)]
pub struct DataKeyCache {
    entries: Mutex<HashMap<(String, u32), CachedKeyDebug>>,
    max_age: Duration,
    max_uses: u64,
    max_entries: usize,
}

/// Newtype so the map can derive `Debug` without printing keys.
struct CachedKeyDebug(CachedKey);

impl std::fmt::Debug for CachedKeyDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CachedKey(uses: {})", self.0.uses)
    }
}

impl DataKeyCache {
    /// A cache with the given bounds.
    pub fn new(max_age: Duration, max_uses: u64, max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max_age,
            max_uses,
            max_entries: max_entries.max(1),
        }
    }

    /// The cached key of `client` at `version`, counting one use; `None` when absent or expired.
    pub fn get(&self, client: &str, version: u32, now: Instant) -> Option<SecretBytes> {
        let mut entries = self.entries.lock().ok()?;
        let id = (client.to_owned(), version);
        let fresh = match entries.get_mut(&id) {
            Some(CachedKeyDebug(entry))
                if now.saturating_duration_since(entry.loaded) < self.max_age
                    && entry.uses < self.max_uses =>
            {
                entry.uses += 1;
                Some(entry.key.clone())
            }
            Some(_) => None,
            None => return None,
        };
        if fresh.is_none() {
            entries.remove(&id);
        }
        fresh
    }

    /// Like [`DataKeyCache::get`], without counting a use (a waiter re-checking after another
    /// request unwrapped the key).
    pub fn peek(&self, client: &str, version: u32, now: Instant) -> Option<SecretBytes> {
        let entries = self.entries.lock().ok()?;
        match entries.get(&(client.to_owned(), version)) {
            Some(CachedKeyDebug(entry))
                if now.saturating_duration_since(entry.loaded) < self.max_age
                    && entry.uses < self.max_uses =>
            {
                Some(entry.key.clone())
            }
            _ => None,
        }
    }

    /// Stores a freshly unwrapped key, evicting the oldest entry when full.
    pub fn insert(&self, client: &str, version: u32, key: SecretBytes, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.max_entries
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, CachedKeyDebug(e))| e.loaded)
                .map(|(id, _)| id.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            (client.to_owned(), version),
            CachedKeyDebug(CachedKey {
                key,
                loaded: now,
                uses: 1,
            }),
        );
    }
}

/// Argon2id password hashing with OWASP parameters (19 MiB, 2 passes, 1 lane), PHC strings.
///
/// Hashing takes ~20 ms of CPU: call it through `tokio::task::spawn_blocking`.
///
/// Memory: every hash and check needs 19 MiB of Argon2 blocks. Allocated and freed per call,
/// glibc's dynamic mmap threshold makes the first free raise the threshold and later buffers
/// come from (and stay in) the heap, so a warm function grew ~19 MiB per check; instead the
/// buffers are kept in a small pool and reused (one stays resident where checks run one at a
/// time, as in Lambda), wiped after every use.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    /// A PHC string with the parameters of a real hash, a random salt and a random output:
    /// checking a password against it costs what a real check costs (so an unknown user takes
    /// as long as a wrong password) and it matches nothing. Made from random bytes, not by
    /// hashing, so it costs nothing at start-up.
    dummy: Arc<String>,
    blocks: Arc<BlockPool>,
}

/// Buffers of Argon2 blocks for the password parameters, reused across calls.
#[derive(Debug, Default)]
struct BlockPool {
    free: Mutex<Vec<Vec<argon2::Block>>>,
}

/// How many idle buffers the pool keeps (more only when checks run in parallel, as in the
/// local gateway; Lambda runs one request at a time).
const POOL_IDLE_MAX: usize = 2;

/// The most memory a stored hash may ask for (a tampered row must not make a check allocate
/// without bound): the parameters' own 19 MiB, with room for stronger ones.
const PASSWORD_MAX_MEMORY_KIB: u32 = 64 * 1024;
/// The most passes a stored hash may ask for (the parameters' own: 2).
const PASSWORD_MAX_PASSES: u32 = 10;
/// The most lanes a stored hash may ask for (the parameters' own: 1).
const PASSWORD_MAX_LANES: u32 = 4;

impl BlockPool {
    fn with_blocks<R>(&self, count: usize, run: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
        let taken = self.free.lock().ok().and_then(|mut free| {
            let at = free.iter().position(|b| b.len() == count)?;
            Some(free.swap_remove(at))
        });
        let mut blocks = taken.unwrap_or_else(|| vec![argon2::Block::default(); count]);
        let result = run(&mut blocks);
        blocks.iter_mut().for_each(zeroize::Zeroize::zeroize);
        // Only buffers of the standard parameters are kept: a stored hash with other ones
        // costs its own allocation, never resident memory.
        if count == argon2::Params::default().block_count()
            && let Ok(mut free) = self.free.lock()
            && free.len() < POOL_IDLE_MAX
        {
            free.push(blocks);
        }
        result
    }
}

/// Salt length of our password hashes (the PHC recommendation, as `SaltString::generate`).
const PASSWORD_SALT_LEN: usize = 16;

/// The PHC string of an Argon2id hash with the standard parameters.
fn phc_string(salt: &[u8], output: &[u8]) -> Result<String> {
    let params = argon2::Params::default();
    let salt =
        SaltString::encode_b64(salt).map_err(|_| Error::internal("argon2 salt encoding failed"))?;
    let output = argon2::password_hash::Output::new(output)
        .map_err(|_| Error::internal("argon2 output encoding failed"))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        output
    ))
}

impl PasswordHasher {
    /// Builds the hasher (no hashing: see the dummy).
    pub fn new() -> Result<Self> {
        let dummy = phc_string(
            &random_bytes(PASSWORD_SALT_LEN),
            &random_bytes(argon2::Params::DEFAULT_OUTPUT_LEN),
        )?;
        Ok(Self {
            dummy: Arc::new(dummy),
            blocks: Arc::default(),
        })
    }

    /// Hashes a password into a PHC string.
    pub fn hash(&self, password: &SecretString) -> Result<String> {
        let params = argon2::Params::default();
        let salt = random_bytes(PASSWORD_SALT_LEN);
        let mut out = Zeroizing::new([0u8; argon2::Params::DEFAULT_OUTPUT_LEN]);
        let argon2 = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params.clone(),
        );
        self.blocks
            .with_blocks(params.block_count(), |blocks| {
                argon2.hash_password_into_with_memory(
                    password.expose().as_bytes(),
                    &salt,
                    out.as_mut_slice(),
                    blocks,
                )
            })
            .map_err(|_| Error::internal("argon2 hashing failed"))?;
        phc_string(&salt, out.as_slice())
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is no user, so
    /// both paths do the same work. Returns `false` for the dummy.
    pub fn verify(&self, phc: Option<&str>, password: &SecretString) -> bool {
        let (hash, real) = match phc {
            Some(phc) => (phc, true),
            None => (self.dummy.as_str(), false),
        };
        let ok = self
            .check(hash, password.expose().as_bytes())
            .unwrap_or(false);
        ok && real
    }

    /// Recomputes the hash of a PHC string for `password` (in a pooled buffer) and compares
    /// it in constant time. `None` for a string that is not an Argon2 hash we accept.
    fn check(&self, phc: &str, password: &[u8]) -> Option<bool> {
        use subtle::ConstantTimeEq;
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let params = argon2::Params::try_from(&parsed).ok()?;
        if params.m_cost() > PASSWORD_MAX_MEMORY_KIB
            || params.t_cost() > PASSWORD_MAX_PASSES
            || params.p_cost() > PASSWORD_MAX_LANES
        {
            return None;
        }
        let expected = parsed.hash?;
        let mut salt_bytes = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let block_count = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        self.blocks
            .with_blocks(block_count, |blocks| {
                argon2.hash_password_into_with_memory(password, salt, out.as_mut_slice(), blocks)
            })
            .ok()?;
        Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Keyed hashes of client secrets: HMAC-SHA256 under a pepper that exists in plaintext only in
/// a warm function's memory (stored wrapped by KMS).
#[derive(Clone)]
pub struct SecretHasher {
    pepper: SecretBytes,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(***)")
    }
}

impl SecretHasher {
    /// Uses `pepper` (32 random bytes) as the HMAC key.
    pub fn new(pepper: SecretBytes) -> Self {
        Self { pepper }
    }

    fn mac(&self, client: &str, secret: &SecretString) -> Result<HmacSha256> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.pepper.expose())
            .map_err(|_| Error::internal("bad pepper"))?;
        mac.update(b"fig-client-secret-v1");
        mac.update(&(client.len() as u64).to_be_bytes());
        mac.update(client.as_bytes());
        mac.update(secret.expose().as_bytes());
        Ok(mac)
    }

    /// The keyed hash stored for `client`'s secret.
    pub fn hash(&self, client: &str, secret: &SecretString) -> Result<Vec<u8>> {
        Ok(self.mac(client, secret)?.finalize().into_bytes().to_vec())
    }

    /// Whether `secret` matches any of `stored` hashes, in constant time per hash. Always
    /// computes the MAC, even when `stored` is empty (unknown client), so both take the same work.
    pub fn verify(&self, client: &str, secret: &SecretString, stored: &[&[u8]]) -> bool {
        let Ok(mac) = self.mac(client, secret) else {
            return false;
        };
        let computed = mac.finalize().into_bytes();
        matches_any(&computed, stored.iter().copied())
    }
}

/// SHA-256 of `data` (digests: audit objects, token and cache fingerprints, event seeds).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(data).into()
}

/// HMAC-SHA256 under `key` (any length) of `parts`, one after the other.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `presented` equals any of `candidates`, compared with each in constant time and
/// with every one compared (no early exit on a match).
pub fn matches_any<'a>(presented: &[u8], candidates: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for candidate in candidates {
        matched |= constant_time_eq(presented, candidate);
    }
    bool::from(matched)
}

/// Equality of two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    if a.len() != b.len() {
        return subtle::Choice::from(0u8);
    }
    a.ct_eq(b)
}

/// Generates an Ed25519 signing key as PKCS#8 v1, and its raw public key.
pub fn generate_signing_key() -> Result<(SecretBytes, Vec<u8>)> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&rng)
        .map_err(|_| Error::internal("ed25519 key generation failed"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| Error::internal("ed25519 key rejected"))?;
    Ok((
        SecretBytes::new(pkcs8.as_ref().to_vec()),
        pair.public_key().as_ref().to_vec(),
    ))
}

/// A strength estimate of a caller-chosen client secret, in bits: the smaller of the
/// character-class estimate and the Shannon estimate of the string itself.
pub fn estimated_secret_bits(secret: &str) -> f64 {
    let chars: Vec<char> = secret.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    let mut classes = 0u32;
    if chars.iter().any(|c| c.is_ascii_lowercase()) {
        classes += 26;
    }
    if chars.iter().any(|c| c.is_ascii_uppercase()) {
        classes += 26;
    }
    if chars.iter().any(|c| c.is_ascii_digit()) {
        classes += 10;
    }
    if chars.iter().any(|c| !c.is_ascii_alphanumeric()) {
        classes += 33;
    }
    let len = chars.len() as f64;
    let by_class = len * f64::from(classes.max(1)).log2();
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    let shannon: f64 = counts
        .values()
        .map(|&n| {
            let p = n as f64 / len;
            -p * p.log2()
        })
        .sum();
    by_class.min(shannon * len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretBytes {
        SecretBytes::new(random_bytes(32))
    }

    fn binding<'a>(client: &'a str, setting: &'a str, v: u64, k: u32) -> ValueBinding<'a> {
        ValueBinding {
            client,
            setting,
            value_version: v,
            key_version: k,
            secret: false,
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let k = key();
        for plaintext in [&b""[..], b"x", b"a longer value with \0 bytes and \xff"] {
            let b = binding("demo", "DbPassword", 3, 1);
            let sealed = seal(&k, &b, plaintext).unwrap();
            assert_eq!(open(&k, &b, &sealed).unwrap().as_slice(), plaintext);
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key();
        let b = binding("demo", "s", 1, 1);
        assert_ne!(
            seal(&k, &b, b"same").unwrap(),
            seal(&k, &b, b"same").unwrap()
        );
    }

    #[test]
    fn a_moved_ciphertext_fails_to_open() {
        let k = key();
        let sealed = seal(&k, &binding("demo", "DbPassword", 3, 1), b"s3cr3t").unwrap();
        for other in [
            binding("other", "DbPassword", 3, 1),
            binding("demo", "ApiKey", 3, 1),
            binding("demo", "DbPassword", 4, 1),
            binding("demo", "DbPassword", 3, 2),
            // Length prefixes: moving bytes between client and setting names does not collide.
            binding("demoD", "bPassword", 3, 1),
        ] {
            assert!(open(&k, &other, &sealed).is_err(), "{other:?}");
        }
        assert!(open(&key(), &binding("demo", "DbPassword", 3, 1), &sealed).is_err());
        // The secret flag is bound: a secret value does not open as a plain one, nor the reverse.
        let secret = ValueBinding {
            secret: true,
            ..binding("demo", "DbPassword", 3, 1)
        };
        let sealed_secret = seal(&k, &secret, b"s3cr3t").unwrap();
        assert!(open(&k, &binding("demo", "DbPassword", 3, 1), &sealed_secret).is_err());
        assert!(open(&k, &secret, &sealed).is_err());
        assert_eq!(
            open(&k, &secret, &sealed_secret).unwrap().as_slice(),
            b"s3cr3t"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&k, &binding("demo", "DbPassword", 3, 1), &tampered).is_err());
        assert!(open(&k, &binding("demo", "DbPassword", 3, 1), &sealed[..10]).is_err());
    }

    #[test]
    fn data_key_cache_bounds_age_uses_and_entries() {
        let cache = DataKeyCache::new(Duration::from_secs(300), 3, 2);
        let t0 = Instant::now();
        cache.insert("a", 1, key(), t0);
        assert!(cache.get("a", 1, t0).is_some()); // use 2
        assert!(cache.get("a", 1, t0).is_some()); // use 3
        assert!(cache.get("a", 1, t0).is_none(), "max uses");
        cache.insert("a", 1, key(), t0);
        assert!(
            cache.get("a", 1, t0 + Duration::from_secs(301)).is_none(),
            "max age"
        );
        assert!(cache.get("a", 2, t0).is_none(), "other version");
        cache.insert("a", 1, key(), t0);
        cache.insert("b", 1, key(), t0 + Duration::from_secs(1));
        cache.insert("c", 1, key(), t0 + Duration::from_secs(2));
        assert!(cache.get("a", 1, t0).is_none(), "oldest evicted when full");
        assert!(cache.get("c", 1, t0).is_some());
    }

    #[test]
    fn password_hashes_are_standard_phc_strings() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new().unwrap();
        let pw = SecretString::new("correct horse battery staple");
        // Ours verifies with the library's verifier, and the library's hash with ours (rows
        // written before the pooled buffers).
        let ours = hasher.hash(&pw).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery staple", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(Some(&theirs), &pw));
        assert!(!hasher.verify(
            Some(&theirs),
            &SecretString::new("correct horse battery stapler")
        ));
        // The dummy has the parameters of a real hash (same work) and its own salt per hasher.
        let prefix = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(prefix(&hasher.dummy), prefix(&ours));
        assert_ne!(hasher.dummy, PasswordHasher::new().unwrap().dummy);
        // A stored hash that asks for unbounded memory is refused, not computed.
        let greedy = ours.replace("m=19456", "m=4194304");
        assert!(!hasher.verify(Some(&greedy), &pw));
        let slow = ours.replace("t=2", "t=4294967295");
        assert!(!hasher.verify(Some(&slow), &pw), "unbounded passes refused");
        // Other (bounded) parameters are computed, and their buffer is not kept.
        let light = PasswordHasher::new().unwrap();
        let phc = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery staple", &salt)
        .unwrap()
        .to_string();
        assert!(light.verify(Some(&phc), &pw));
        assert!(light.blocks.free.lock().unwrap().is_empty(), "not kept");
        assert!(!hasher.verify(Some("not a hash"), &pw));
    }

    #[test]
    fn password_buffers_are_reused_not_reallocated() {
        let hasher = PasswordHasher::new().unwrap();
        let pw = SecretString::new("correct horse battery staple");
        let phc = hasher.hash(&pw).unwrap();
        for _ in 0..3 {
            assert!(hasher.verify(Some(&phc), &pw));
        }
        let idle = hasher.blocks.free.lock().unwrap();
        assert_eq!(idle.len(), 1, "one buffer, reused by every call");
        let zero = format!("{:?}", argon2::Block::new());
        let n = idle[0].len();
        for at in [0, n / 2, n - 1] {
            assert_eq!(format!("{:?}", idle[0][at]), zero, "wiped after use");
        }
    }

    #[test]
    fn passwords_verify_and_dummy_never_matches() {
        let hasher = PasswordHasher::new().unwrap();
        let pw = SecretString::new("correct horse battery staple");
        let phc = hasher.hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify(Some(&phc), &pw));
        assert!(!hasher.verify(
            Some(&phc),
            &SecretString::new("correct horse battery stapl")
        ));
        assert!(!hasher.verify(None, &pw));
        // The whole password is verified: no truncation at 72 bytes or anywhere else.
        let long = "x".repeat(127) + "a";
        let phc = hasher.hash(&SecretString::new(long.clone())).unwrap();
        assert!(!hasher.verify(Some(&phc), &SecretString::new("x".repeat(127) + "b")));
        assert!(hasher.verify(Some(&phc), &SecretString::new(long)));
    }

    #[test]
    fn client_secret_hashes_are_keyed_and_bound_to_the_client() {
        let h = SecretHasher::new(SecretBytes::new(random_bytes(32)));
        let s = SecretString::new("0123456789abcdefghijklmnopqrstuvwxyzABCD");
        let stored = h.hash("a", &s).unwrap();
        assert!(h.verify("a", &s, &[&stored]));
        assert!(!h.verify("b", &s, &[&stored]), "bound to the client");
        assert!(!h.verify("a", &SecretString::new("other"), &[&stored]));
        assert!(!h.verify("a", &s, &[]), "unknown client");
        let other = SecretHasher::new(SecretBytes::new(random_bytes(32)));
        assert!(!other.verify("a", &s, &[&stored]), "keyed");
    }

    #[test]
    fn secret_strength_estimate() {
        assert!(estimated_secret_bits(&"a".repeat(64)) < 1.0);
        assert!(estimated_secret_bits("abababababababababababababababab") < 128.0);
        let random = base64_url(&random_bytes(32));
        assert!(estimated_secret_bits(&random) >= 128.0, "{random}");
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn signing_keys_are_fresh() {
        let (a, pa) = generate_signing_key().unwrap();
        let (b, pb) = generate_signing_key().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(pa, pb);
        assert_eq!(pa.len(), 32);
    }
}
