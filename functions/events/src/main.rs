//! Lambda entry point of the `events` binary: the table stream's consumers (`audit`,
//! `webhooks`) and the scheduled `maintenance` run, chosen by `FIG_EVENTS_CONSUMER`.

use aws_lambda_events::event::dynamodb::Event;
use fig_events::Consumer;
use fig_events::webhooks::WebhookDeliverer;
use fig_shared::App;
use fig_shared::audit_trail::DigestChain;
use fig_shared::aws::{AwsServices, load_sdk_config};
use fig_shared::config::Config;
use lambda_runtime::{LambdaEvent, service_fn};

/// Publishes the origin secret to the distribution's CloudFront KeyValueStore, where its
/// viewer-request function reads it (`FIG_ORIGIN_KVS_ARN`).
struct KeyValueStorePublisher {
    client: aws_sdk_cloudfrontkeyvaluestore::Client,
    arn: String,
}

impl fig_shared::origin::Publisher for KeyValueStorePublisher {
    fn publish<'a>(
        &'a self,
        secret: &'a fig_shared::secret::SecretString,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = fig_shared::Result<()>> + Send + 'a>>
    {
        Box::pin(async move {
            let unavailable = |what: &str, e: String| {
                fig_shared::Error::unavailable(format!("cloudfront-keyvaluestore {what}: {e}"))
            };
            let store = self
                .client
                .describe_key_value_store()
                .kvs_arn(&self.arn)
                .send()
                .await
                .map_err(|e| unavailable("DescribeKeyValueStore", format!("{e:?}")))?;
            self.client
                .put_key()
                .kvs_arn(&self.arn)
                .key(fig_shared::origin::STORE_KEY)
                .value(secret.expose())
                .if_match(store.e_tag)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| unavailable("PutKey", format!("{e:?}")))
        })
    }
}

/// What this process serves, chosen by `FIG_EVENTS_CONSUMER`.
enum Role {
    Maintenance(std::sync::Arc<App>, Option<KeyValueStorePublisher>),
    Stream(Consumer),
}

async fn init() -> Result<Role, String> {
    fig_shared::aws::check_ca_bundle()?;
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = load_sdk_config().await;
    let aws = AwsServices::new(&sdk);
    let app = || App::new(config.clone(), aws.clone()).map_err(|e| e.to_string());
    match std::env::var("FIG_EVENTS_CONSUMER").as_deref() {
        // A schedule (EventBridge) invokes maintenance; its event carries nothing it needs.
        Ok("maintenance") => {
            let publisher = std::env::var("FIG_ORIGIN_KVS_ARN")
                .ok()
                .filter(|arn| !arn.is_empty())
                .map(|arn| KeyValueStorePublisher {
                    client: aws_sdk_cloudfrontkeyvaluestore::Client::new(&sdk),
                    arn,
                });
            Ok(Role::Maintenance(app()?, publisher))
        }
        // One binary, two event source mappings on the table's stream.
        Ok("webhooks") => Ok(Role::Stream(Consumer::Webhooks(WebhookDeliverer::new(
            app()?,
        )))),
        Ok("audit") | Err(_) => Ok(Role::Stream(Consumer::Audit(
            fig_events::AuditWriter::new(
                aws.s3.clone(),
                &config.audit_bucket,
                &config.kms_key_id,
                config.audit_retention_days,
            )
            .with_digests(DigestChain::for_config(&aws, &config)),
        ))),
        Ok(other) => Err(format!(
            "FIG_EVENTS_CONSUMER must be audit, webhooks or maintenance, not {other}"
        )),
    }
}

// One thread: Lambda hands an instance one event at a time, and the start-up's background
// loads run while the first poll waits, not on other cores beside it (README, "The Lambda artifacts").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    fig_shared::telemetry::init();
    match fig_http::lambda::init_or_exit(init()).await {
        Role::Maintenance(app, publisher) => {
            let (app, publisher) = (&app, &publisher);
            lambda_runtime::run(service_fn(
                move |_: LambdaEvent<serde_json::Value>| async move {
                    let publisher = publisher
                        .as_ref()
                        .map(|p| p as &dyn fig_shared::origin::Publisher);
                    let report =
                        fig_shared::maintenance::run(app, fig_shared::clock::now(), publisher)
                            .await?;
                    tracing::info!(?report, "maintenance run");
                    Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
                },
            ))
            .await
        }
        Role::Stream(consumer) => {
            let consumer = &consumer;
            lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
                Ok::<_, lambda_runtime::Error>(consumer.handle(event.payload).await)
            }))
            .await
        }
    }
}
