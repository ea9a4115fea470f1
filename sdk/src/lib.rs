//! The Rust client library for services that use Fig.
//!
//! ```no_run
//! use fig_sdk::{ClientSecret, FigClient, Setting, WatchOptions, OfflineStore};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = FigClient::new("https://fig.example.com", "billing", ClientSecret::from_env()?)?;
//! client.register("Billing service", &[
//!     Setting::string("Greeting").default_value("hello"),
//!     Setting::string("DbPassword").secret(),
//! ]).await?;
//! let options = WatchOptions {
//!     offline: Some(OfflineStore::new("/var/lib/billing/fig.offline", std::time::Duration::from_secs(7 * 86_400))),
//!     ..WatchOptions::default()
//! };
//! let mut watch = fig_sdk::watch(client, options).await?;
//! let db_password = watch.receiver.borrow().settings.values["DbPassword"].clone();
//! watch.receiver.changed().await?; // a value changed
//! # let _ = db_password; Ok(()) }
//! ```
//!
//! - The client secret comes from `FIG_CLIENT_SECRET` or the file named by
//!   `FIG_CLIENT_SECRET_FILE` (a Docker or Kubernetes secret).
//! - Plain HTTP is refused except to a loopback address.
//! - The offline file is sealed with AES-256-GCM under a key derived from the client secret.

pub mod client;
pub mod offline;
pub mod secret;
pub mod watch;

pub use client::{
    Fetched, FigClient, FigError, Override, Setting, Settings, StatusAnswer, override_variable,
    overrides_from, overrides_from_env,
};
pub use offline::OfflineStore;
pub use secret::{ClientSecret, SecretError};
pub use watch::{Current, Origin, Watch, WatchOptions, watch};
