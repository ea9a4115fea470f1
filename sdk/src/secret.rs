//! Client secrets: generation and loading from the environment or a file.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Environment variable holding the client secret.
pub const SECRET_ENV: &str = "FIG_CLIENT_SECRET";
/// Environment variable naming a file that holds the client secret.
pub const SECRET_FILE_ENV: &str = "FIG_CLIENT_SECRET_FILE";

/// A client secret. Prints as `***`; wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ClientSecret(String);

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// Why a secret could not be loaded.
#[derive(Debug)]
pub enum SecretError {
    /// Neither variable is set.
    Missing,
    /// The file could not be read (the path is in the message, the content never).
    Unreadable(String),
    /// The secret is empty.
    Empty,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "set {SECRET_ENV} or {SECRET_FILE_ENV}"),
            Self::Unreadable(path) => write!(f, "cannot read the client secret file {path}"),
            Self::Empty => write!(f, "the client secret is empty"),
        }
    }
}

impl std::error::Error for SecretError {}

impl ClientSecret {
    /// A new secret: 256 bits from the operating system's CSPRNG, base64url (43 characters).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = Self(URL_SAFE_NO_PAD.encode(bytes));
        bytes.zeroize();
        secret
    }

    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Result<Self, SecretError> {
        let secret = secret.into();
        if secret.trim().is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(secret))
    }

    /// Reads the secret from a file (a Docker or Kubernetes secret), trimming a final newline.
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path)
            .map_err(|_| SecretError::Unreadable(path.display().to_string()))?;
        Self::new(text.trim_end_matches(['\r', '\n']))
    }

    /// Reads the secret from `FIG_CLIENT_SECRET`, else from the file named by
    /// `FIG_CLIENT_SECRET_FILE`.
    pub fn from_env() -> Result<Self, SecretError> {
        match (std::env::var(SECRET_ENV), std::env::var(SECRET_FILE_ENV)) {
            (Ok(secret), _) if !secret.is_empty() => Self::new(secret),
            (_, Ok(path)) if !path.is_empty() => Self::from_file(Path::new(&path)),
            _ => Err(SecretError::Missing),
        }
    }

    /// The secret, for the `clientSecret` header and key derivation.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_random_and_redacted() {
        let a = ClientSecret::generate();
        let b = ClientSecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert_eq!(format!("{a:?}"), "ClientSecret(***)");
    }

    #[test]
    fn secrets_load_from_a_file() {
        let dir = std::env::temp_dir().join(format!("fig-sdk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "abc-secret\n").unwrap();
        assert_eq!(
            ClientSecret::from_file(&path).unwrap().expose(),
            "abc-secret"
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            ClientSecret::from_file(&path),
            Err(SecretError::Empty)
        ));
        let missing = ClientSecret::from_file(&dir.join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
