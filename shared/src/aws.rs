//! AWS clients, built once per process from the standard AWS configuration chain.
//!
//! `AWS_ENDPOINT_URL` (LocalStack's convention) points every client at the emulator; S3 then
//! uses path-style addressing, which emulators need.

use aws_config::{BehaviorVersion, SdkConfig};

/// The clients every function may use.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// S3.
    pub s3: aws_sdk_s3::Client,
}

/// Loads the shared SDK configuration (region, credentials, endpoint override). ~7 ms: once.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

impl AwsClients {
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
