//! Lambda entry point of the `auth` function: build state once, create the first
//! administrator if there is none, serve.

use fig_shared::App;
use fig_shared::aws::{AwsClients, load_sdk_config};
use fig_shared::config::Config;
use fig_shared::users::{Bootstrap, bootstrap_admin};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fig_shared::telemetry::init();
    let config = Config::from_env()?;
    let app = App::new(config, AwsClients::new(&load_sdk_config().await))?;
    match bootstrap_admin(&app).await {
        Ok(Bootstrap::CreatedWithRandomPassword(password)) => {
            // Shown once, in this cold start's log only; it must be changed at first login.
            #[allow(clippy::print_stdout)]
            {
                println!(
                    "fig: created administrator 'admin' with one-time password: {}",
                    password.expose()
                );
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not check for the first administrator; will retry at next start")
        }
    }
    let service = fig_shared::http::service(fig_auth::routes(app.clone()), &app);
    lambda_http::run(service).await
}
