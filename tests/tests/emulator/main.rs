//! The emulator tests, as one test binary.
//!
//! Each module was once its own binary; together they link the AWS SDK once instead of ten
//! times, which saves minutes of linking and gigabytes of disk on a clean build. Test names keep
//! their module prefix (`foundation::…`, `admin::…`), which is how `tests/SECURITY.md` cites them.

mod admin;
mod audit_trail;
mod authorization;
mod clients;
mod faults;
mod foundation;
mod hardening;
mod identity;
mod lambda;
mod load;
mod maintenance;
mod openapi;
mod personal_data;
mod restore;
mod robustness;
mod sdk;
mod transfer;
mod webhooks;
