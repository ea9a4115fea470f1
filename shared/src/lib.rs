//! The operations and the HTTP glue every Fig function shares (docs/ARCHITECTURE.md §2).
//! Functions stay thin: they parse the request, call one operation here, and map the result.
//!
//! It sits on `fig-aws` (the store, KMS, the audit trail) and `fig-core` (model, policy,
//! events, errors, crypto, configuration, schema), whose modules it re-exports under their old
//! paths (`fig_shared::model`, `fig_shared::store`, …) so callers name one crate. Neither of
//! those can import anything from here.

pub mod app;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod clients;
pub mod keys;
pub mod maintenance;
pub mod mfa;
pub mod origin;
pub mod outbound;
pub mod personal_data;
pub mod server_config;
pub mod tokens;
pub mod transfer;
pub mod users;
pub mod webhooks;

#[cfg(test)]
mod testing;

pub use fig_aws::sdk as aws;
pub use fig_aws::{audit_trail, kms, store};
pub use fig_core::{
    clock, config, crypto, error, events, json, model, pack, password, policy, polls, schema,
    secret, telemetry, throttle,
};

pub use app::App;
pub use error::{Error, Result};
