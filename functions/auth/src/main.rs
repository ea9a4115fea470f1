//! Lambda entry point of the `auth` function: build state once, serve; the first
//! administrator is created (if there is none) in the background and before any login.

use fig_http::lambda::{WarmUp, app_from_env, init_or_exit, warm_up};
use fig_shared::users::ensure_bootstrapped;

// One thread: Lambda hands an instance one event at a time, and the start-up's background
// loads run while the first poll waits, not on other cores beside it (README, "The Lambda artifacts").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    fig_shared::telemetry::init();
    let app = init_or_exit(app_from_env()).await;
    warm_up(&app, WarmUp::SigningKey);
    // In the background: the first poll does not wait for it; a login does.
    let bootstrapping = app.clone();
    tokio::spawn(async move {
        if let Err(e) = ensure_bootstrapped(&bootstrapping).await {
            tracing::warn!(error = %e, "could not check for the first administrator; the first login tries again");
        }
    });
    let service = fig_http::service(fig_auth::routes(app.clone()), &app);
    lambda_http::run(service).await
}
