//! KMS, the envelope's outer layer (docs/ARCHITECTURE.md §5): generates and unwraps the
//! per-client data keys and wraps the service keys, behind a call counter.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use fig_core::crypto::KEY_LEN;
use fig_core::error::{Error, Result};
use fig_core::secret::SecretBytes;

/// A KMS encryption context: ordered name/value pairs.
pub type EncryptionContext<'a> = &'a [(&'a str, &'a str)];

/// KMS behind a counter: every call is counted, so tests and benchmarks can prove the cache works.
#[derive(Clone, Debug)]
pub struct Kms {
    sdk: aws_sdk_kms::Client,
    key_id: String,
    calls: Arc<AtomicU64>,
    /// The local key that stands for the KMS key ([`Kms::in_memory`]).
    #[cfg(feature = "memory")]
    memory: Option<Arc<SecretBytes>>,
}

/// A blob wrapped in memory is bound to its encryption context, in a canonical order, as a
/// sealed value is to its binding: it opens only under the context it was made with.
#[cfg(feature = "memory")]
fn with_memory_binding<T>(
    ctx: EncryptionContext<'_>,
    f: impl FnOnce(&fig_core::crypto::ValueBinding<'_>) -> T,
) -> T {
    let mut pairs: Vec<String> = ctx
        .iter()
        .map(|(k, v)| format!("{}:{k}={}:{v}", k.len(), v.len()))
        .collect();
    pairs.sort();
    let context = pairs.concat();
    f(&fig_core::crypto::ValueBinding {
        client: &context,
        setting: "kms-in-memory",
        value_version: 0,
        key_version: 0,
        secret: true,
    })
}

#[cfg(feature = "memory")]
fn memory_seal(key: &SecretBytes, ctx: EncryptionContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
    with_memory_binding(ctx, |binding| {
        fig_core::crypto::seal(key, binding, plaintext)
    })
}

#[cfg(feature = "memory")]
fn memory_open(
    key: &SecretBytes,
    ctx: EncryptionContext<'_>,
    wrapped: &[u8],
) -> Option<SecretBytes> {
    with_memory_binding(ctx, |binding| fig_core::crypto::open(key, binding, wrapped))
        .ok()
        .map(|plain| SecretBytes::new(plain.to_vec()))
}

impl Kms {
    /// Wraps a client and the id, ARN or alias of the key that wraps data keys.
    pub fn new(sdk: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            sdk,
            key_id: key_id.into(),
            calls: Arc::default(),
            #[cfg(feature = "memory")]
            memory: None,
        }
    }

    /// KMS played by a key in this process's memory, for unit tests of the operations: data
    /// keys are random, wrapped blobs are sealed under the local key and bound to their
    /// encryption context, and every call is counted as a real one would be. The SDK client is
    /// never called.
    #[cfg(feature = "memory")]
    pub fn in_memory() -> Self {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("memory"))
            .build();
        Self {
            memory: Some(Arc::new(SecretBytes::new(fig_core::crypto::random_bytes(
                KEY_LEN,
            )))),
            ..Self::new(aws_sdk_kms::Client::from_conf(config), "alias/memory")
        }
    }

    /// The KMS SDK client itself (for the audit trail's signing key, which is not counted).
    pub(crate) fn sdk(&self) -> &aws_sdk_kms::Client {
        &self.sdk
    }

    /// How many KMS calls this instance has made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn context(ctx: EncryptionContext<'_>) -> HashMap<String, String> {
        ctx.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A new AES-256 data key: the plaintext (for this process only) and the wrapped blob.
    pub async fn generate_data_key(
        &self,
        ctx: EncryptionContext<'_>,
    ) -> Result<(SecretBytes, Vec<u8>)> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "memory")]
        if let Some(root) = &self.memory {
            let plaintext = SecretBytes::new(fig_core::crypto::random_bytes(KEY_LEN));
            let wrapped = memory_seal(root, ctx, plaintext.expose())?;
            return Ok((plaintext, wrapped));
        }
        let out = self
            .sdk
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| kms_unavailable("GenerateDataKey", &e))?;
        let plaintext = out
            .plaintext
            .map(Blob::into_inner)
            .filter(|k| k.len() == KEY_LEN)
            .ok_or_else(|| Error::internal("kms GenerateDataKey returned no 32-byte key"))?;
        let wrapped = out
            .ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| Error::internal("kms GenerateDataKey returned no blob"))?;
        Ok((SecretBytes::new(plaintext), wrapped))
    }

    /// Wraps a small secret (a signing key, a pepper) under the KMS key.
    pub async fn encrypt(
        &self,
        plaintext: &SecretBytes,
        ctx: EncryptionContext<'_>,
    ) -> Result<Vec<u8>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "memory")]
        if let Some(root) = &self.memory {
            return memory_seal(root, ctx, plaintext.expose());
        }
        let out = self
            .sdk
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plaintext.expose().to_vec()))
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| kms_unavailable("Encrypt", &e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| Error::internal("kms Encrypt returned no blob"))
    }

    /// Like [`Kms::decrypt`], but a blob KMS refuses as not its own under this context
    /// (invalid ciphertext, another key) is `None` rather than an error: for blobs read from a
    /// table that someone else may have written. KMS being unreachable is still an error.
    pub async fn decrypt_if_ours(
        &self,
        wrapped: &[u8],
        ctx: EncryptionContext<'_>,
    ) -> Result<Option<SecretBytes>> {
        use aws_sdk_kms::operation::decrypt::DecryptError;
        self.calls.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "memory")]
        if let Some(root) = &self.memory {
            return Ok(memory_open(root, ctx, wrapped));
        }
        let result = self
            .sdk
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.plaintext.map(|b| SecretBytes::new(b.into_inner()))),
            Err(e) => match e.as_service_error() {
                Some(
                    DecryptError::InvalidCiphertextException(_)
                    | DecryptError::IncorrectKeyException(_),
                ) => Ok(None),
                _ => Err(kms_unavailable("Decrypt", &e)),
            },
        }
    }

    /// Unwraps a blob made by [`Kms::generate_data_key`] or [`Kms::encrypt`]; the context must
    /// match exactly.
    pub async fn decrypt(&self, wrapped: &[u8], ctx: EncryptionContext<'_>) -> Result<SecretBytes> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "memory")]
        if let Some(root) = &self.memory {
            return memory_open(root, ctx, wrapped)
                .ok_or_else(|| kms_unavailable("Decrypt", &"InvalidCiphertextException"));
        }
        let out = self
            .sdk
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| kms_unavailable("Decrypt", &e))?;
        out.plaintext
            .map(|b| SecretBytes::new(b.into_inner()))
            .ok_or_else(|| Error::internal("kms Decrypt returned no plaintext"))
    }
}

/// A KMS call that failed for want of KMS (unreachable, throttled, the key disabled): an
/// `unavailable` error (503), and an error log line with the alarm tag the template's KMS
/// metric filters count ([`fig_core::telemetry::alarm::KMS_ERROR`]).
pub fn kms_unavailable(operation: &str, error: &dyn std::fmt::Debug) -> Error {
    tracing::error!(
        alarm = fig_core::telemetry::alarm::KMS_ERROR,
        operation,
        "a KMS call failed"
    );
    Error::unavailable(format!("kms {operation}: {error:?}"))
}
