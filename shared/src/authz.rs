//! Authorization of admin requests: the policy's answer ([`crate::policy::authorize`]), with a
//! refusal recorded as an `AccessDenied` audit event before it is returned (fail closed: a
//! refusal that cannot be recorded is a 503, never a silent 403). Every admin operation calls
//! [`require`] first.

use crate::app::App;
use crate::clock;
use crate::error::Result;
use crate::events::{Actor, AuditEvent, EventKind, Source};
use crate::policy::{Action, Principal, Resource, authorize};

/// Asks the policy; a refusal is audited (fail closed) and returned.
pub async fn require(
    app: &App,
    principal: &Principal,
    action: Action,
    resource: Resource<'_>,
    source: &Source,
) -> Result<()> {
    match authorize(principal, action, resource) {
        Ok(()) => Ok(()),
        Err(err) => {
            let event = AuditEvent::new(
                EventKind::AccessDenied {
                    action: action.name().to_owned(),
                },
                Actor::User {
                    name: principal.username.clone(),
                },
                source.clone(),
                clock::now(),
            );
            app.store.record(&event).await?;
            Err(err)
        }
    }
}
