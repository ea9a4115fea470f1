//! What every Lambda entry point shares: a start-up that reports its own failure.
//!
//! A function whose configuration is wrong must say so where an operator looks: one JSON log
//! line (CloudWatch) and the Runtime API's init-error endpoint (the invocation then fails with
//! that error type and message instead of a bare "Runtime exited"), then exit.

use std::fmt::Display;
use std::future::Future;

/// The error type Lambda reports for a failed start-up.
pub const INIT_ERROR_TYPE: &str = "Runtime.InitError";

/// Runs a function's initialisation. On failure: logs one JSON line, posts the error to the
/// Runtime API (`/runtime/init/error`) and exits with status 1. The error's `Display` is what
/// is reported: configuration errors name the setting, never a value.
pub async fn init_or_exit<T, E: Display>(init: impl Future<Output = Result<T, E>>) -> T {
    match init.await {
        Ok(value) => value,
        Err(e) => {
            let message = e.to_string();
            tracing::error!(error_type = INIT_ERROR_TYPE, error = %message, "start-up failed");
            if let Err(report) = report_init_error(&message).await {
                tracing::error!(error = %report, "could not report the start-up failure to the Runtime API");
            }
            std::process::exit(1)
        }
    }
}

/// Posts `{"errorType", "errorMessage"}` to the Runtime API named by `AWS_LAMBDA_RUNTIME_API`.
async fn report_init_error(message: &str) -> Result<(), String> {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return Err("AWS_LAMBDA_RUNTIME_API is not set (not running in Lambda)".into());
    };
    let uri: http::Uri = format!("http://{api}")
        .parse()
        .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API: {e}"))?;
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(uri)
        .build();
    let body = serde_json::to_vec(&serde_json::json!({
        "errorType": INIT_ERROR_TYPE,
        "errorMessage": message,
        "stackTrace": [],
    }))
    .map_err(|e| e.to_string())?;
    let request = http::Request::post("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", INIT_ERROR_TYPE)
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = client.call(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the Runtime API answered {}", response.status()))
    }
}

/// A function's state from its environment: the configuration (`FIG_*`), the AWS clients
/// (with [`fig_shared::aws::timeouts`] and [`fig_shared::aws::retries`]) and the app built on them.
/// The CA bundle is checked first ([`fig_shared::aws::check_ca_bundle`]).
pub async fn app_from_env() -> Result<std::sync::Arc<fig_shared::App>, String> {
    fig_shared::aws::check_ca_bundle()?;
    let config = fig_shared::config::Config::from_env().map_err(|e| e.to_string())?;
    let sdk = fig_shared::aws::load_sdk_config().await;
    fig_shared::App::new(config, fig_shared::aws::AwsServices::new(&sdk)).map_err(|e| e.to_string())
}

/// What a function loads ahead of its first request (see [`warm_up`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmUp {
    /// The token signing key (auth): DynamoDB and KMS.
    SigningKey,
    /// The token verification keys (admin): DynamoDB and KMS.
    VerificationKeys,
    /// The client-secret pepper (settings): DynamoDB and KMS.
    Pepper,
}

/// Loads, in the background, what the first request would otherwise load itself, so that its
/// DynamoDB and KMS connections (TLS handshakes) are open or opening when it arrives. It does
/// not delay the first poll of the Runtime API; the first request waits for the same load
/// instead of starting its own. Best effort: a failure is logged and the request tries again.
pub fn warm_up(app: &std::sync::Arc<fig_shared::App>, what: WarmUp) {
    let app = app.clone();
    tokio::spawn(async move {
        let loaded = match what {
            WarmUp::SigningKey => app.keys.signing_key().await.map(|_| ()),
            WarmUp::VerificationKeys => app.keys.verifying_key("warm-up").await.map(|_| ()),
            WarmUp::Pepper => app.keys.secret_hasher().await.map(|_| ()),
        };
        if let Err(e) = loaded {
            tracing::warn!(error = %e, ?what, "warm-up failed; the first request loads it");
        }
    });
}
