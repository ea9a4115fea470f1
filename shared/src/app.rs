//! The state a function builds once at start and passes to every handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::aws::AwsServices;
use crate::config::Config;
use crate::crypto::{DataKeyCache, PasswordHasher};
use crate::error::Result;
use crate::keys::ServiceKeys;
use crate::kms::Kms;
use crate::secret::SecretBytes;
use crate::store::Store;
use fig_core::server_config::ServerConfig;

/// The cache entry of a client's data key: the client name and a fingerprint of the wrapped
/// blob, so a client deleted and registered again under the same name (a new key with the
/// same version number) never meets the old key in a warm instance's cache.
fn cache_id(client: &str, wrapped: &[u8]) -> String {
    let digest = crate::crypto::sha256(wrapped);
    format!("{client}#{}", hex::encode(&digest[..8]))
}

/// Held while one request unwraps a data key.
type UnwrapLock = Arc<tokio::sync::Mutex<()>>;

/// Everything a handler needs: configuration, AWS access, caches and keys.
#[derive(Debug)]
pub struct App {
    /// Configuration.
    pub config: Config,
    /// The table.
    pub store: Store,
    /// KMS, counted.
    pub kms: Kms,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Plaintext data keys of this warm instance.
    pub data_keys: DataKeyCache,
    /// Password hashing.
    pub passwords: PasswordHasher,
    /// Token signing keys and the client-secret pepper.
    pub keys: ServiceKeys,
    /// The origin secrets requests through the distribution carry.
    pub origin: crate::origin::OriginSecrets,
    /// This instance's `304` answers not yet written (see [`crate::polls`]).
    pub polls: crate::polls::PollLedger,
    /// This instance's copy of the server configuration, and when it was read.
    pub server_config: Mutex<Option<(Instant, ServerConfig)>>,
    /// One lock per data key being unwrapped (single flight).
    unwrap_locks: Mutex<HashMap<(String, u32), UnwrapLock>>,
    /// The webhook HTTP client, built on first use.
    outbound: std::sync::OnceLock<crate::outbound::Outbound>,
    /// Set once this process has made sure the first administrator exists
    /// ([`crate::users::ensure_bootstrapped`]).
    pub bootstrapped: tokio::sync::OnceCell<()>,
}

impl App {
    /// Builds the state from a configuration and the AWS services.
    pub fn new(config: Config, aws: AwsServices) -> Result<Arc<Self>> {
        let store = Store::new(
            aws.dynamodb,
            &config.table,
            &config.identity_table,
            config.event_ttl_days,
        );
        let kms = Kms::new(aws.kms, &config.kms_key_id);
        Self::with_parts(config, store, kms, aws.s3)
    }

    /// The state of a unit test: the tables and KMS in memory (`fig-aws`'s `memory` feature),
    /// the configuration from `FIG_*`-named pairs over the local defaults. Nothing it does
    /// leaves the process.
    #[cfg(test)]
    pub(crate) fn in_memory(settings: &[(&str, &str)]) -> Arc<Self> {
        let config = Config::from_lookup(|name| {
            settings
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("test configuration");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("memory"))
                .build(),
        );
        let store = Store::in_memory(config.event_ttl_days);
        Self::with_parts(config, store, Kms::in_memory(), s3).expect("test state")
    }

    fn with_parts(
        config: Config,
        store: Store,
        kms: Kms,
        s3: aws_sdk_s3::Client,
    ) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            data_keys: DataKeyCache::new(
                config.data_key_max_age,
                config.data_key_max_uses,
                config.data_key_cache_entries,
            ),
            passwords: PasswordHasher::new()?,
            keys: ServiceKeys::new(store.clone(), kms.clone(), &config.app),
            origin: crate::origin::OriginSecrets::new(store.clone(), kms.clone(), &config.app),
            polls: crate::polls::PollLedger::default(),
            server_config: Mutex::new(None),
            unwrap_locks: Mutex::new(HashMap::new()),
            outbound: std::sync::OnceLock::new(),
            bootstrapped: tokio::sync::OnceCell::new(),
            store,
            kms,
            s3,
            config,
        }))
    }

    /// The plaintext data key `version` of `client`, from the cache or unwrapped by KMS with
    /// the encryption context `{app, client}`.
    pub async fn client_data_key(
        &self,
        client: &str,
        version: u32,
        wrapped: &[u8],
    ) -> Result<SecretBytes> {
        self.cached_data_key(client, version, wrapped, false)
            .await?
            .ok_or_else(|| crate::error::Error::internal("data key not unwrapped"))
    }

    /// Like [`App::client_data_key`], but `None` when KMS says `wrapped` is not a key of
    /// `client`'s (an item copied from elsewhere or relabelled) rather than an error; KMS
    /// being unavailable is still one.
    pub async fn client_data_key_if_ours(
        &self,
        client: &str,
        version: u32,
        wrapped: &[u8],
    ) -> Result<Option<SecretBytes>> {
        self.cached_data_key(client, version, wrapped, true).await
    }

    async fn cached_data_key(
        &self,
        client: &str,
        version: u32,
        wrapped: &[u8],
        if_ours: bool,
    ) -> Result<Option<SecretBytes>> {
        let id = cache_id(client, wrapped);
        if let Some(key) = self.data_keys.get(&id, version, Instant::now()) {
            return Ok(Some(key));
        }
        // Single flight: when a key expires under load, one request unwraps it and the others
        // wait for it, instead of every concurrent request calling KMS.
        let lock = {
            let mut locks = self
                .unwrap_locks
                .lock()
                .map_err(|_| crate::error::Error::internal("lock"))?;
            locks
                .entry((id.clone(), version))
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let _guard = lock.lock().await;
        if let Some(key) = self.data_keys.peek(&id, version, Instant::now()) {
            return Ok(Some(key));
        }
        let context = [("app", self.config.app.as_str()), ("client", client)];
        let key = if if_ours {
            self.kms.decrypt_if_ours(wrapped, &context).await
        } else {
            self.kms.decrypt(wrapped, &context).await.map(Some)
        };
        if let Ok(Some(key)) = &key {
            self.data_keys
                .insert(&id, version, key.clone(), Instant::now());
        }
        if let Ok(mut locks) = self.unwrap_locks.lock() {
            locks.remove(&(id, version));
        }
        key
    }

    /// The webhook HTTP client (SSRF-guarded), built on first use.
    pub fn outbound(&self) -> Result<&crate::outbound::Outbound> {
        if let Some(outbound) = self.outbound.get() {
            return Ok(outbound);
        }
        let total = self.config.webhook_timeout;
        let built = crate::outbound::Outbound::new(total.min(Duration::from_secs(3)), total)?;
        Ok(self.outbound.get_or_init(|| built))
    }

    /// A new data key for `client`: the plaintext (cached) and the wrapped blob to store.
    pub async fn new_client_data_key(
        &self,
        client: &str,
        version: u32,
    ) -> Result<(SecretBytes, Vec<u8>)> {
        let (key, wrapped) = self
            .kms
            .generate_data_key(&[("app", &self.config.app), ("client", client)])
            .await?;
        self.data_keys.insert(
            &cache_id(client, &wrapped),
            version,
            key.clone(),
            Instant::now(),
        );
        Ok((key, wrapped))
    }
}
