//! Lambda entry point of the `auth` function: build state once, create the first
//! administrator if there is none, serve.

use fig_shared::lambda::{WarmUp, app_from_env, init_or_exit, warm_up};
use fig_shared::users::{Bootstrap, bootstrap_admin};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fig_shared::telemetry::init();
    let app = init_or_exit(app_from_env()).await;
    warm_up(&app, WarmUp::SigningKey);
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
