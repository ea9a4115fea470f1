//! Lambda entry point of the `settings` function.

use fig_shared::App;
use fig_shared::aws::{AwsClients, load_sdk_config};
use fig_shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fig_shared::telemetry::init();
    let app = App::new(
        Config::from_env()?,
        AwsClients::new(&load_sdk_config().await),
    )?;
    let service = fig_shared::http::service(fig_settings::routes(app.clone()), &app);
    lambda_http::run(service).await
}
