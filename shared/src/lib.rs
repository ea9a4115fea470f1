//! The library every Fig function shares: domain model, policy, crypto, store, events and the
//! HTTP glue. Functions stay thin: they parse the request, call one operation here, and map
//! the result.

pub mod admin;
pub mod app;
pub mod audit;
pub mod audit_trail;
pub mod auth;
pub mod aws;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod events;
pub mod http;
pub mod keys;
pub mod lambda;
pub mod maintenance;
pub mod mfa;
pub mod model;
pub mod origin;
pub mod outbound;
pub mod pack;
pub mod password;
pub mod personal_data;
pub mod policy;
pub mod polls;
pub mod schema;
pub mod secret;
pub mod server_config;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod tokens;
pub mod transfer;
pub mod users;
pub mod webhooks;

pub use app::App;
pub use error::{Error, Result};
