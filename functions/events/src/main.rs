//! Lambda entry point of the `events` binary: the table stream's consumers (`audit`,
//! `webhooks`) and the scheduled `maintenance` run, chosen by `FIG_EVENTS_CONSUMER`.

use aws_lambda_events::event::dynamodb::Event;
use fig_events::Consumer;
use fig_events::webhooks::WebhookDeliverer;
use fig_shared::App;
use fig_shared::audit_trail::DigestChain;
use fig_shared::aws::{AwsClients, load_sdk_config};
use fig_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    fig_shared::telemetry::init();
    let config = Config::from_env()?;
    let clients = AwsClients::new(&load_sdk_config().await);
    // A schedule (EventBridge) invokes maintenance; its event carries nothing it needs.
    if std::env::var("FIG_EVENTS_CONSUMER").as_deref() == Ok("maintenance") {
        let app = App::new(config, clients)?;
        let app = &app;
        return lambda_runtime::run(service_fn(
            move |_: LambdaEvent<serde_json::Value>| async move {
                let report = fig_shared::maintenance::run(app, fig_shared::clock::now()).await?;
                tracing::info!(?report, "maintenance run");
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            },
        ))
        .await;
    }
    // One binary, two event source mappings on the table's stream.
    let consumer = match std::env::var("FIG_EVENTS_CONSUMER").as_deref() {
        Ok("webhooks") => Consumer::Webhooks(WebhookDeliverer::new(App::new(config, clients)?)),
        Ok("audit") | Err(_) => Consumer::Audit(
            fig_events::AuditWriter::new(
                clients.s3.clone(),
                &config.audit_bucket,
                &config.kms_key_id,
                config.audit_retention_days,
            )
            .with_digests(DigestChain::for_config(&clients, &config)),
        ),
        Ok(other) => {
            return Err(format!(
                "FIG_EVENTS_CONSUMER must be audit, webhooks or maintenance, not {other}"
            )
            .into());
        }
    };
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(consumer.handle(event.payload).await)
    }))
    .await
}
