//! Polls that changed nothing: a `304` is counted in memory and recorded in aggregate.
//!
//! Services poll far more often than anything changes, and a poll answered `304 Not Modified`
//! discloses nothing: no value, no definition, only that the ETag the service holds is still
//! current, which the service had proved by presenting its client secret. Writing a full
//! `SettingsRead` event for each of them would make an idle fleet cost as much as a busy one
//! (one write unit per poll). So a warm instance counts its `304`s per client and instance,
//! with the addresses they came from, and writes one `SettingsPolled` event per client and
//! instance when the oldest count is a minute old, when the hour changes, or when the tally
//! grows large ([`PollLedger::due`]); the write happens inside a request, before its answer,
//! and a failed write fails that request (503) and keeps the counts.
//!
//! What this gives up, on purpose: the polls an instance answered in the last minute before
//! it stopped receiving requests are not recorded if Lambda then reclaims it (an instance
//! cannot run code after its last request). Everything that discloses a value (a `200`),
//! every failed authentication and every throttled request is still recorded one event per
//! request, before the answer, failing closed.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::events::{Actor, AuditEvent, EventKind, PolledFrom, Source};

/// How long a count waits in memory at most (while requests keep coming).
pub const FLUSH_AFTER: Duration = Duration::from_secs(60);
/// Most clients (and instances) counted before a write is due.
pub const MAX_TALLIES: usize = 50;
/// Most distinct addresses listed per client; polls from further addresses are counted in
/// `otherAddresses`.
pub const MAX_ADDRESSES: usize = 20;

#[derive(Debug)]
struct Tally {
    polls: u64,
    first: OffsetDateTime,
    last: OffsetDateTime,
    addresses: BTreeMap<Option<String>, u64>,
    other_polls: u64,
}

#[derive(Debug, Default)]
struct Pending {
    /// When the oldest count was made (monotonic), and its UTC hour.
    since: Option<(Instant, i64)>,
    tallies: BTreeMap<(String, Option<String>), Tally>,
}

/// A warm instance's uncounted `304`s.
#[derive(Debug, Default)]
pub struct PollLedger {
    pending: Mutex<Pending>,
}

/// Counts taken out of the ledger to be written; [`PollLedger::restore`] puts them back when
/// the write fails.
#[derive(Debug, Default)]
pub struct Taken {
    since: Option<(Instant, i64)>,
    tallies: BTreeMap<(String, Option<String>), Tally>,
}

impl Taken {
    /// Whether nothing was taken.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// One `SettingsPolled` event per client and instance, at `now`.
    pub fn events(&self, now: OffsetDateTime) -> Vec<AuditEvent> {
        self.tallies
            .iter()
            .map(|((client, instance), tally)| {
                AuditEvent::new(
                    EventKind::SettingsPolled {
                        client: client.clone(),
                        instance: instance.clone(),
                        polls: tally.polls,
                        first: crate::clock::rfc3339(tally.first),
                        last: crate::clock::rfc3339(tally.last),
                        addresses: tally
                            .addresses
                            .iter()
                            .map(|(ip, polls)| PolledFrom {
                                ip: ip.clone(),
                                polls: *polls,
                            })
                            .collect(),
                        other_addresses: tally.other_polls,
                    },
                    Actor::Client {
                        name: client.clone(),
                    },
                    Source::default(),
                    now,
                )
            })
            .collect()
    }
}

fn hour_of(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(3600)
}

impl PollLedger {
    /// Counts one `304` for `client` (and `instance`) from `ip` at `now`.
    pub fn count(
        &self,
        client: &str,
        instance: Option<&str>,
        ip: Option<&str>,
        now: OffsetDateTime,
        at: Instant,
    ) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.since.get_or_insert((at, hour_of(now)));
        let tally = pending
            .tallies
            .entry((client.to_owned(), instance.map(str::to_owned)))
            .or_insert_with(|| Tally {
                polls: 0,
                first: now,
                last: now,
                addresses: BTreeMap::new(),
                other_polls: 0,
            });
        tally.polls += 1;
        tally.last = now;
        let ip = ip.map(str::to_owned);
        if let Some(n) = tally.addresses.get_mut(&ip) {
            *n += 1;
        } else if tally.addresses.len() < MAX_ADDRESSES {
            tally.addresses.insert(ip, 1);
        } else {
            tally.other_polls += 1;
        }
    }

    /// Whether the counts must be written now: the oldest is [`FLUSH_AFTER`] old, it was made
    /// in an earlier UTC hour, or [`MAX_TALLIES`] clients are counted.
    pub fn due(&self, now: OffsetDateTime, at: Instant) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match pending.since {
            None => false,
            Some((since, hour)) => {
                at.saturating_duration_since(since) >= FLUSH_AFTER
                    || hour != hour_of(now)
                    || pending.tallies.len() >= MAX_TALLIES
            }
        }
    }

    /// Takes the counts of at most `limit` clients (and instances) out of the ledger.
    pub fn take(&self, limit: usize) -> Taken {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut tallies = BTreeMap::new();
        while tallies.len() < limit {
            let Some((key, tally)) = pending.tallies.pop_first() else {
                break;
            };
            tallies.insert(key, tally);
        }
        let since = pending.since;
        if pending.tallies.is_empty() {
            pending.since = None;
        }
        Taken { since, tallies }
    }

    /// Puts counts whose write failed back, merged with what was counted meanwhile.
    pub fn restore(&self, taken: Taken) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.since = match (pending.since, taken.since) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        for (key, old) in taken.tallies {
            match pending.tallies.get_mut(&key) {
                None => {
                    pending.tallies.insert(key, old);
                }
                Some(new) => {
                    new.polls += old.polls;
                    new.first = new.first.min(old.first);
                    new.last = new.last.max(old.last);
                    new.other_polls += old.other_polls;
                    for (ip, n) in old.addresses {
                        if let Some(m) = new.addresses.get_mut(&ip) {
                            *m += n;
                        } else if new.addresses.len() < MAX_ADDRESSES {
                            new.addresses.insert(ip, n);
                        } else {
                            new.other_polls += n;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn polled(event: &AuditEvent) -> (u64, Vec<PolledFrom>, u64) {
        match &event.kind {
            EventKind::SettingsPolled {
                polls,
                addresses,
                other_addresses,
                ..
            } => (*polls, addresses.clone(), *other_addresses),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn polls_are_counted_per_client_instance_and_address() {
        let ledger = PollLedger::default();
        let (now, at) = (crate::clock::now(), Instant::now());
        ledger.count("billing", None, Some("192.0.2.1"), now, at);
        ledger.count("billing", None, Some("192.0.2.1"), now, at);
        ledger.count("billing", None, Some("192.0.2.2"), now, at);
        ledger.count("billing", Some("eu"), Some("192.0.2.1"), now, at);
        ledger.count("orders", None, None, now, at);
        let events = ledger.take(100).events(now);
        assert_eq!(events.len(), 3);
        let (polls, addresses, other) = polled(&events[0]);
        assert_eq!((polls, other), (3, 0));
        assert_eq!(
            addresses,
            vec![
                PolledFrom {
                    ip: Some("192.0.2.1".into()),
                    polls: 2
                },
                PolledFrom {
                    ip: Some("192.0.2.2".into()),
                    polls: 1
                }
            ]
        );
        assert_eq!(polled(&events[1]).0, 1);
        assert_eq!(
            events[2].actor,
            Actor::Client {
                name: "orders".into()
            }
        );
        assert!(ledger.take(100).is_empty(), "taking empties the ledger");
    }

    #[test]
    fn a_write_is_due_after_a_minute_an_hour_change_or_many_clients() {
        let ledger = PollLedger::default();
        let (now, at) = (crate::clock::now(), Instant::now());
        assert!(!ledger.due(now, at), "nothing counted, nothing due");
        ledger.count("billing", None, None, now, at);
        assert!(!ledger.due(now, at + Duration::from_secs(59)));
        assert!(ledger.due(now, at + FLUSH_AFTER));
        assert!(ledger.due(now + time::Duration::hours(1), at));
        ledger.take(100);
        for i in 0..MAX_TALLIES {
            assert!(!ledger.due(now, at), "{i}");
            ledger.count(&format!("c{i}"), None, None, now, at);
        }
        assert!(ledger.due(now, at));
    }

    #[test]
    fn addresses_beyond_the_limit_are_counted_not_listed() {
        let ledger = PollLedger::default();
        let (now, at) = (crate::clock::now(), Instant::now());
        for i in 0..(MAX_ADDRESSES + 5) {
            ledger.count("billing", None, Some(&format!("192.0.2.{i}")), now, at);
        }
        let (polls, addresses, other) = polled(&ledger.take(100).events(now)[0]);
        assert_eq!(
            (polls, addresses.len(), other),
            ((MAX_ADDRESSES + 5) as u64, MAX_ADDRESSES, 5)
        );
    }

    #[test]
    fn a_take_is_bounded_and_leaves_the_rest_due() {
        let ledger = PollLedger::default();
        let (now, at) = (crate::clock::now(), Instant::now());
        for i in 0..3 {
            ledger.count(&format!("c{i}"), None, None, now, at);
        }
        assert_eq!(ledger.take(2).events(now).len(), 2);
        assert!(ledger.due(now, at + FLUSH_AFTER), "the rest is still due");
        assert_eq!(ledger.take(2).events(now).len(), 1);
        assert!(!ledger.due(now, at + FLUSH_AFTER));
    }

    #[test]
    fn counts_whose_write_failed_come_back_merged() {
        let ledger = PollLedger::default();
        let (now, at) = (crate::clock::now(), Instant::now());
        ledger.count("billing", None, Some("192.0.2.1"), now, at);
        let taken = ledger.take(100);
        ledger.count("billing", None, Some("192.0.2.1"), now, at);
        ledger.count("billing", None, Some("192.0.2.9"), now, at);
        ledger.restore(taken);
        assert!(ledger.due(now, at + FLUSH_AFTER), "the older start is kept");
        let (polls, addresses, _) = polled(&ledger.take(100).events(now)[0]);
        assert_eq!(polls, 3);
        assert_eq!(addresses[0].polls, 2);
    }
}
