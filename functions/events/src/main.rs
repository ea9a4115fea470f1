//! Lambda entry point of the `events` function (DynamoDB stream consumer).

use aws_lambda_events::event::dynamodb::Event;
use fig_shared::aws::{AwsClients, load_sdk_config};
use fig_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fig_shared::telemetry::init();
    let config = Config::from_env()?;
    let clients = AwsClients::new(&load_sdk_config().await);
    let writer = fig_events::AuditWriter::new(
        clients.s3,
        &config.audit_bucket,
        &config.kms_key_id,
        config.audit_retention_days,
    );
    let writer = &writer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(fig_events::handle(writer, event.payload).await)
    }))
    .await
}
