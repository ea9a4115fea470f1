//! AWS clients, built once per process from the standard AWS configuration chain.
//!
//! `AWS_ENDPOINT_URL` (LocalStack's convention) points every client at the emulator; S3 then
//! uses path-style addressing, which emulators need.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Connecting to an AWS endpoint (a TLS handshake in the region is a few ms).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of one call: DynamoDB and KMS answer in milliseconds; an S3 audit batch of a
/// few megabytes in well under a second.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole call with its retries, inside the API functions' 10 s timeout, so a stalled
/// dependency becomes a 503 the caller can retry instead of a function timeout. A request
/// that waits for several such calls in a row (a warm-up, then its own) is cut at its
/// invocation's deadline by the HTTP layer (`fig_http::DEADLINE_MARGIN`).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(7);
/// Attempts per call (the first and two retries, with the standard jittered back-off).
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts every AWS client uses.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every AWS client uses.
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The AWS services every function may use (their SDK clients).
#[derive(Clone, Debug)]
pub struct AwsServices {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// S3.
    pub s3: aws_sdk_s3::Client,
}

/// Checks the CA bundle that `SSL_CERT_FILE` names, when it is set (the template sets it to
/// the platform's bundle, so that a cold start parses one file instead of a directory): see
/// [`check_ca_bundle_at`]. A function checks it at start-up and reports a failure as its init
/// error; without roots no TLS connection to AWS could be verified, and every call would fail
/// at its handshake, far from the cause.
pub fn check_ca_bundle() -> Result<(), String> {
    match std::env::var_os("SSL_CERT_FILE") {
        Some(path) => check_ca_bundle_at(std::path::Path::new(&path)),
        None => Ok(()),
    }
}

/// The largest CA bundle read (platform bundles are about 200 KiB).
const MAX_CA_BUNDLE_BYTES: u64 = 16 << 20;

/// A CA bundle must be a readable regular file of at most 16 MiB holding at least one PEM
/// certificate that the TLS library would take as a root (the trust-anchor parse rustls
/// applies to each). It stops at the first such certificate; damaged entries beside a good
/// one are skipped, as rustls-native-certs skips them. The message names `SSL_CERT_FILE` and the path (a file name,
/// never its content).
pub fn check_ca_bundle_at(path: &std::path::Path) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let shown = path.display();
    let unreadable = |e: &dyn std::fmt::Display| {
        format!("SSL_CERT_FILE: cannot read the CA bundle {shown}: {e}")
    };
    // A regular file of bounded size: a FIFO would block the start-up, /dev/zero fill memory.
    let metadata = std::fs::metadata(path).map_err(|e| unreadable(&e))?;
    if !metadata.is_file() || metadata.len() > MAX_CA_BUNDLE_BYTES {
        return Err(unreadable(&format_args!(
            "not a regular file of at most {} MiB",
            MAX_CA_BUNDLE_BYTES >> 20
        )));
    }
    let bundle = std::fs::read(path).map_err(|e| unreadable(&e))?;
    let root = |cert: Result<CertificateDer<'_>, _>| {
        cert.is_ok_and(|der| webpki::anchor_from_trusted_cert(&der).is_ok())
    };
    if CertificateDer::pem_slice_iter(&bundle).any(root) {
        Ok(())
    } else {
        Err(format!(
            "SSL_CERT_FILE: {shown} holds no PEM certificate (the CA bundle TLS to AWS needs)"
        ))
    }
}

/// Loads the shared SDK configuration (region, credentials, endpoint override) with
/// [`timeouts`] and [`retries`]. ~7 ms: once.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

impl AwsServices {
    /// Builds the clients from one SDK configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A public root (Let's Encrypt's ISRG Root X2), as bundles hold it.
    const ISRG_ROOT_X2: &str = "-----BEGIN CERTIFICATE-----\n\
MIICGzCCAaGgAwIBAgIQQdKd0XLq7qeAwSxs6S+HUjAKBggqhkjOPQQDAzBPMQsw\n\
CQYDVQQGEwJVUzEpMCcGA1UEChMgSW50ZXJuZXQgU2VjdXJpdHkgUmVzZWFyY2gg\n\
R3JvdXAxFTATBgNVBAMTDElTUkcgUm9vdCBYMjAeFw0yMDA5MDQwMDAwMDBaFw00\n\
MDA5MTcxNjAwMDBaME8xCzAJBgNVBAYTAlVTMSkwJwYDVQQKEyBJbnRlcm5ldCBT\n\
ZWN1cml0eSBSZXNlYXJjaCBHcm91cDEVMBMGA1UEAxMMSVNSRyBSb290IFgyMHYw\n\
EAYHKoZIzj0CAQYFK4EEACIDYgAEzZvVn4CDCuwJSvMWSj5cz3es3mcFDR0HttwW\n\
+1qLFNvicWDEukWVEYmO6gbf9yoWHKS5xcUy4APgHoIYOIvXRdgKam7mAHf7AlF9\n\
ItgKbppbd9/w+kHsOdx1ymgHDB/qo0IwQDAOBgNVHQ8BAf8EBAMCAQYwDwYDVR0T\n\
AQH/BAUwAwEB/zAdBgNVHQ4EFgQUfEKWrt5LSDv6kviejM9ti6lyN5UwCgYIKoZI\n\
zj0EAwMDaAAwZQIwe3lORlCEwkSHRhtFcP9Ymd70/aTSVaYgLXTWNLxBo1BfASdW\n\
tL4ndQavEi51mI38AjEAi/V3bNTIZargCyzuFJ0nN6T5U6VR5CmD1/iQMVtCnwr1\n\
/q4AaOeMSQ+2b1tbFfLn\n\
-----END CERTIFICATE-----";

    #[test]
    fn a_ca_bundle_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("fig-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, content: &str| {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            path
        };
        for unreadable in [
            dir.join("missing.crt"),
            dir.clone(),
            std::path::PathBuf::from("/dev/null"),
        ] {
            let error = check_ca_bundle_at(&unreadable).unwrap_err();
            assert!(error.starts_with("SSL_CERT_FILE: cannot read"), "{error}");
        }
        for garbage in [
            "",
            "not a bundle",
            "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
        ] {
            let path = write("garbage.crt", garbage);
            let error = check_ca_bundle_at(&path).unwrap_err();
            assert!(
                error.contains("holds no PEM certificate"),
                "{garbage:?}: {error}"
            );
            assert!(!error.contains("xx"), "the content is never shown");
        }
        // A well-formed DER sequence that is no certificate is not a root either.
        let not_a_certificate = write(
            "sequence.crt",
            "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
        );
        assert!(check_ca_bundle_at(&not_a_certificate).is_err());
        let bundle = write(
            "bundle.crt",
            &format!(
                "# a comment\n-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n{ISRG_ROOT_X2}\n"
            ),
        );
        assert_eq!(check_ca_bundle_at(&bundle), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
