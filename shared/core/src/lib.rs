//! The bottom of Fig's stack (docs/ARCHITECTURE.md §2): the types and rules every other crate
//! builds on, with no AWS SDK and no I/O beyond the clock and the CSPRNG.
//!
//! - [`model`], [`policy`], [`events`] and [`error`]: what a setting, a role, an event and a
//!   failure are, and who may do what.
//! - [`crypto`]: the crypto facade (value sealing, data-key cache, password and client-secret
//!   hashing); KMS, its AWS part, is `fig_aws::kms`.
//! - [`schema`]: every partition and sort key of both tables, the persisted format.
//! - [`config`], [`clock`], [`secret`], [`telemetry`]: configuration, time, secret-holding
//!   types and logging.
//!
//! Nothing here may import a crate above it (`fig-aws`, `fig-shared`): Cargo refuses the cycle.
//! `axum` is compiled only with the `axum` feature, for the error's HTTP response.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod events;
pub mod json;
pub mod model;
pub mod pack;
pub mod password;
pub mod policy;
pub mod polls;
pub mod schema;
pub mod secret;
pub mod server_config;
pub mod telemetry;
pub mod throttle;

pub use error::{Error, Result};
