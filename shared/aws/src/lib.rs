//! The only Fig crate that talks to AWS (docs/ARCHITECTURE.md §2): the SDK clients with their
//! timeouts and retries ([`sdk`]), the DynamoDB store ([`store`]), KMS ([`kms`]) and the S3
//! audit trail's digest chain ([`audit_trail`]).
//!
//! It builds on `fig-core` only; the operations (`fig-shared`) build on it. `figctl audit`
//! uses it without the operations or the HTTP glue.

pub mod audit_trail;
pub mod kms;
pub mod sdk;
pub mod store;
