//! `fig-gateway`: runs Fig locally against the emulator (`make run`).
//!
//! Provisions the local resources, creates the first administrator, serves the web client and
//! the API on `127.0.0.1:$FIG_PORT` (default 8080), and polls the table's stream into the
//! `events` handler. Ctrl-C stops it.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fig_events::Consumer;
use fig_events::webhooks::WebhookDeliverer;
use fig_gateway::{LocalNames, StreamPoller, local_sdk_config, provision, router};
use fig_shared::App;
use fig_shared::audit_trail::DigestChain;
use fig_shared::aws::AwsServices;
use fig_shared::config::Config;
use fig_shared::users::{Bootstrap, bootstrap_admin};

#[tokio::main]
async fn main() -> Result<(), fig_gateway::Error> {
    fig_shared::telemetry::init();
    let config = Config::from_env()?;
    let port: u16 = std::env::var("FIG_PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(8080);
    let web_dir = PathBuf::from(std::env::var("FIG_WEB_DIR").unwrap_or_else(|_| "web/dist".into()));
    let sdk = local_sdk_config().await;
    let names = LocalNames {
        table: config.table.clone(),
        identity_table: config.identity_table.clone(),
        audit_bucket: config.audit_bucket.clone(),
        kms_alias: config.kms_key_id.clone(),
        ..LocalNames::default()
    };
    provision(&sdk, &names).await?;
    let aws = AwsServices::new(&sdk);
    let writer = fig_events::AuditWriter::new(
        aws.s3.clone(),
        &config.audit_bucket,
        &config.kms_key_id,
        config.audit_retention_days,
    )
    .with_digests(DigestChain::for_config(&aws, &config));
    let app = App::new(config.clone(), aws)?;
    match bootstrap_admin(&app).await? {
        Bootstrap::CreatedWithRandomPassword(password) => {
            println!(
                "\nCreated the first administrator.\n  user name: admin\n  one-time password: {}\n  (shown once; you must change it at first login)\n",
                password.expose()
            );
        }
        Bootstrap::CreatedWithConfiguredPassword => {
            println!(
                "\nCreated the first administrator 'admin' with FIG_BOOTSTRAP_ADMIN_PASSWORD (must be changed at first login).\n"
            );
        }
        Bootstrap::AlreadyDone => {}
    }

    // Two consumers of the stream, as on AWS: the audit trail and webhook delivery.
    let pollers = [
        StreamPoller::new(&sdk, &config.table, writer),
        StreamPoller::new(
            &sdk,
            &config.table,
            Consumer::Webhooks(WebhookDeliverer::new(app.clone())),
        ),
    ];
    for mut poller in pollers {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                if let Err(e) = poller.poll_once().await {
                    tracing::warn!(error = %e, "stream poll failed; retrying");
                }
            }
        });
    }

    if !web_dir.join("index.html").exists() {
        println!(
            "note: {} has no index.html; run `make web` to build the web client",
            web_dir.display()
        );
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // FIG_PORT=0 picks a free port; this line names the real one (the browser tests read it).
    let addr = listener.local_addr()?;
    println!("Fig is running at http://{addr}/  (API under /api, Ctrl-C to stop)");
    // No Nagle delay on small responses.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router(app.clone(), Some(web_dir)).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // The 304s counted since the last write, before the process goes.
    if let Err(e) = fig_shared::clients::flush_polls(&app).await {
        eprintln!("poll counts not written at shutdown: {e}");
    }
    Ok(())
}
