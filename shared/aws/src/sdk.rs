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
/// A whole call with its retries, well inside the API functions' 10 s timeout, so a stalled
/// dependency becomes a 503 the caller can retry instead of a function timeout.
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
/// the platform's bundle, so that a cold start parses one file instead of a directory): a
/// readable file with at least one certificate. Without one no TLS connection to AWS could be
/// verified, and every call would fail at its handshake, far from the cause; a function checks
/// it at start-up and reports it as its init error. The message names the variable and path.
pub fn check_ca_bundle() -> Result<(), String> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE") else {
        return Ok(());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let bundle = std::fs::read(&path)
        .map_err(|e| format!("SSL_CERT_FILE: cannot read the CA bundle {shown}: {e}"))?;
    if bundle
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
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
