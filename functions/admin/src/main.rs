//! Lambda entry point of the `admin` function.

use fig_http::lambda::{WarmUp, app_from_env, init_or_exit, warm_up};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    fig_shared::telemetry::init();
    let app = init_or_exit(app_from_env()).await;
    warm_up(&app, WarmUp::VerificationKeys);
    let service = fig_http::service(fig_admin::routes(app.clone()), &app);
    lambda_http::run(service).await
}
