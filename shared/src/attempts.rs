//! Attempts to prove a password or a second factor, reserved against the login throttles
//! before anything is checked (rules in [`crate::throttle`]; NIST SP 800-63B §5.2.2): login,
//! password change and MFA changes all open one with `begin_attempt`.

use crate::app::App;
use crate::clock;
use crate::error::{Error, Result};
use crate::events::{Actor, AuditEvent, EventKind, Source};
use crate::schema::META;
use crate::store::{AttrValue, Write, from_item, to_item};
use crate::throttle::{AccountThrottle, AddressThrottle, Verdict};

/// The account throttle's partition for a typed user name. The name of no user (it may be a
/// password typed into the wrong field) is kept only as a digest.
fn throttle_account_pk(username: &str, exists: bool) -> String {
    if exists {
        crate::schema::account_throttle_pk(username)
    } else {
        crate::schema::unknown_account_throttle_pk(&hex::encode(
            &crate::crypto::sha256(username.as_bytes())[..16],
        ))
    }
}

fn address_key(ip: &str, now: time::OffsetDateTime) -> (String, String) {
    let hour = clock::rfc3339(now).get(..13).unwrap_or("").to_owned();
    (
        crate::schema::address_throttle_pk(&crate::throttle::throttle_address(ip)),
        hour,
    )
}

/// A failure counter with the account schedule (delays, then locks): the account's own
/// (`META`), or the one a known-good address has on that account (`GOOD#{address}`).
#[derive(Clone, Debug)]
struct Counter {
    pk: String,
    sk: String,
}

impl Counter {
    /// Counts one attempt at `t` and returns the state every attempt before it left.
    async fn reserve(&self, app: &App, t: i64) -> Result<AccountThrottle> {
        app.store
            .update_returning_old(
                &self.pk,
                &self.sk,
                "ADD failures :one SET lastFailure = :now, #ttl = :ttl",
                vec![
                    (":one", AttrValue::number(1)),
                    (":now", AttrValue::number(t)),
                    (":ttl", AttrValue::number(t + 60 * 86_400)),
                ],
            )
            .await?
            .map(from_item::<AccountThrottle>)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Sets the lock that the `failures`th attempt brings, if it brings one (never shortening a
    /// longer lock), with its event.
    async fn lock_if_due(
        &self,
        app: &App,
        failures: u32,
        t: i64,
        event: impl FnOnce(EventKind) -> AuditEvent,
    ) -> Result<()> {
        let Some(seconds) = crate::throttle::lock_seconds(failures) else {
            return Ok(());
        };
        let until = t + seconds;
        let lock = app.store.update(
            &self.pk,
            &self.sk,
            "SET lockedUntil = :until",
            Some("attribute_not_exists(lockedUntil) OR lockedUntil < :until"),
            vec![(":until", AttrValue::number(until))],
        )?;
        match app
            .store
            .transact(
                vec![lock],
                &event(EventKind::AccountLocked { failures, seconds }),
                ("LOCKED", "locked"),
            )
            .await
        {
            // A concurrent attempt set a longer lock already.
            Err(Error::Conflict { .. }) => Ok(()),
            other => other,
        }
    }

    fn give_back(&self, app: &App) -> Result<Write> {
        let update = app.store.update(
            &self.pk,
            &self.sk,
            "ADD failures :minus",
            None,
            vec![(":minus", AttrValue::number(-1))],
        )?;
        Ok(update)
    }
}

/// One attempt to prove a password or a code for an account, reserved against the throttles
/// before anything is checked (see [`crate::throttle`]): the account's counter (or, from a
/// known-good address, that address's own counter on the account) and the address's hourly
/// counter.
#[derive(Debug)]
pub(crate) struct Attempt {
    account: Counter,
    /// The known-good address's counter on this account, when the caller comes from one.
    good: Option<Counter>,
    /// The address counter's key, when the caller has an address.
    address: Option<(String, String)>,
    ip: Option<String>,
    /// The account's state just before this attempt's reservation.
    before: AccountThrottle,
    at: i64,
}

/// Opens an attempt for `username` from the caller's address: refused with 429 (and audited
/// with `actor`) when the throttles forbid it, before or after its reservation.
///
/// A known-good address is judged by its own failures on the account instead of the
/// account's, so a lock that others caused does not keep the owner out, while guesses from that
/// address still meet the whole schedule.
pub(crate) async fn begin_attempt(
    app: &App,
    username: &str,
    exists: bool,
    actor: &Actor,
    source: &Source,
) -> Result<Attempt> {
    let now = clock::now();
    let t = now.unix_timestamp();
    let ip = source.ip.as_deref();
    let pk = throttle_account_pk(username, exists);
    let account = Counter {
        pk: pk.clone(),
        sk: META.into(),
    };
    let address = ip.map(|ip| address_key(ip, now));
    let event = |kind| AuditEvent::new(kind, actor.clone(), source.clone(), clock::now());
    let refuse = |wait: i64| async move {
        tracing::warn!(
            alarm = crate::telemetry::alarm::LOGIN_THROTTLED,
            retry_after = wait,
            "login attempt refused by a throttle or lock"
        );
        app.store
            .record(&event(EventKind::AccountThrottled { retry_after: wait }))
            .await?;
        Err(Error::TooManyRequests { retry_after: wait })
    };
    let seconds_left = 3600 - t.rem_euclid(3600);
    let verdict = |own: &AccountThrottle, address: &AddressThrottle| match own.check(None, t) {
        Verdict::Allow => address.check(seconds_left),
        other => other,
    };
    // The reservation comes first, for every attempt (refused ones count too): atomic, and
    // judged on the state it found, so N attempts at once count N.
    let reserve_address = || async {
        match &address {
            Some((pk, sk)) => app
                .store
                .update_returning_old(
                    pk,
                    sk,
                    "ADD failures :one SET #ttl = :ttl",
                    vec![
                        (":one", AttrValue::number(1)),
                        (":ttl", AttrValue::number(t + 7200)),
                    ],
                )
                .await?
                .map(from_item::<AddressThrottle>)
                .transpose()
                .map(Option::unwrap_or_default),
            None => Ok(AddressThrottle::default()),
        }
    };
    let (before, address_before) = tokio::try_join!(account.reserve(app, t), reserve_address())?;
    account
        .lock_if_due(app, before.failures.saturating_add(1), t, event)
        .await?;
    // From a known-good address, the attempt also counts against that address's own counter on
    // the account, and is judged by it.
    let good = ip
        .filter(|_| before.is_known_good(ip, t))
        .map(|ip| Counter {
            pk: pk.clone(),
            sk: crate::schema::known_good_sk(ip),
        });
    let good_before = match &good {
        Some(counter) => {
            let state = counter.reserve(app, t).await?;
            counter
                .lock_if_due(app, state.failures.saturating_add(1), t, event)
                .await?;
            Some(state)
        }
        None => None,
    };
    let own = good_before.as_ref().unwrap_or(&before);
    if let Verdict::Throttled(wait) | Verdict::Locked(wait) = verdict(own, &address_before) {
        return refuse(wait).await;
    }
    Ok(Attempt {
        account,
        good,
        address,
        ip: ip.map(str::to_owned),
        before,
        at: t,
    })
}

impl Attempt {
    /// The attempt failed: its reservations stay (and any lock they brought), and `events` are
    /// written.
    pub(crate) async fn fail(self, app: &App, events: Vec<AuditEvent>) -> Result<()> {
        app.store
            .transact_events(Vec::new(), &events, ("CONFLICT", "Try again."))
            .await
    }

    /// Neither a success nor a failure (the password was right and the second factor is still
    /// to come): the reservations are given back.
    pub(crate) async fn give_back(self, app: &App) -> Result<()> {
        let mut items = vec![self.account.give_back(app)?];
        if let Some(good) = &self.good {
            items.push(good.give_back(app)?);
        }
        if let Some((pk, sk)) = &self.address {
            items.push(
                Counter {
                    pk: pk.clone(),
                    sk: sk.clone(),
                }
                .give_back(app)?,
            );
        }
        app.store
            .transact_events(items, &[], ("CONFLICT", "Try again."))
            .await
    }

    /// The writes of a successful attempt, for its transaction: the account's count reset and
    /// the address remembered as known-good (its own count reset too), and the address's
    /// reservation given back.
    pub(crate) fn success_items(&self, app: &App) -> Result<Vec<Write>> {
        let expires = AttrValue::number(self.at + 60 * 86_400);
        let mut item = to_item(
            &self.account.pk,
            META,
            &self.before.after_success(self.ip.as_deref(), self.at),
        )?;
        crate::store::set(&mut item, "ttl", expires);
        let mut items = vec![app.store.put(item, None)?];
        if let Some(good) = &self.good {
            items.push(app.store.delete_in_transaction(&good.pk, &good.sk)?);
        }
        if let Some((pk, sk)) = &self.address {
            items.push(
                Counter {
                    pk: pk.clone(),
                    sk: sk.clone(),
                }
                .give_back(app)?,
            );
        }
        Ok(items)
    }
}
