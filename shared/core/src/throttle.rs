//! Login throttling (NIST SP 800-63B §5.2.2, OWASP ASVS 6.3.1).
//!
//! Failures are counted per account (the name typed, whether or not it exists, so the answer
//! reveals nothing) and per source address (from the API Gateway request context):
//!
//! - account: after 3 consecutive failures each further attempt must wait 1, 2, 4 … 64 s after
//!   the last failure; every 10th consecutive failure locks the account for 15 min, doubling
//!   with each lock (up to 7 days). 100 consecutive failures thus take more than five days:
//!   guessing stays far below NIST's cap of 100 failures. A success resets the count.
//! - source address: at most 30 failures per clock hour, then 429 until the hour ends.
//! - the known-good path: an address from which the account logged in successfully within the
//!   last 30 days is exempt from the *account* lock (not from its own address limit), so an
//!   attacker who locks every admin account from elsewhere does not lock the admins out. The
//!   address is the viewer's own (behind CloudFront, `CloudFront-Viewer-Address`), so viewers
//!   sharing an edge address never share an exemption.
//!
//! Every attempt counts, and is reserved atomically before the password is checked: one `ADD`
//! on the account's counter and one on the address's, each returning the state just before it.
//! The verdict is taken on that state, so N parallel guesses count N and each is judged as if
//! the others had come first (a burst gets 429s, not N password checks). An attempt refused
//! with 429 counts too (hammering a locked account only lengthens the lock). A success resets
//! the account's count and gives the address's reservation back.

use serde::{Deserialize, Serialize};

/// Failures before delays start.
pub const FREE_FAILURES: u32 = 3;
/// Consecutive failures per lock.
pub const FAILURES_PER_LOCK: u32 = 10;
/// First lock duration, seconds.
pub const FIRST_LOCK_SECONDS: i64 = 15 * 60;
/// Longest lock, seconds.
pub const MAX_LOCK_SECONDS: i64 = 7 * 86_400;
/// Failures per source address per hour.
pub const ADDRESS_FAILURES_PER_HOUR: u32 = 30;
/// How long a successful address stays known-good, seconds.
pub const KNOWN_GOOD_SECONDS: i64 = 30 * 86_400;
/// Known-good addresses kept per account.
pub const KNOWN_GOOD_MAX: usize = 10;

/// The throttle state of one account (`THROTTLE#USER#{name}` / `META`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountThrottle {
    /// Consecutive failures.
    pub failures: u32,
    /// Epoch seconds of the last failure.
    pub last_failure: i64,
    /// Epoch seconds until which the account is locked.
    pub locked_until: i64,
    /// Addresses with a recent success: (address, epoch seconds).
    pub known_good: Vec<(String, i64)>,
    /// Optimistic concurrency.
    pub version: u64,
}

/// The throttle state of one source address for one hour (`THROTTLE#IP#{ip}` / `{hour}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AddressThrottle {
    /// Failures this hour.
    pub failures: u32,
}

/// The address a per-address limit counts against: an IPv4 address as it is, an IPv6 address
/// by its /64 (one subscriber's network: a /64 gives anyone 2^64 addresses to rotate through).
pub fn throttle_address(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => ip.to_owned(),
    }
}

/// Whether an attempt may proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Wait this many seconds (account delay or address limit).
    Throttled(i64),
    /// The account is locked for this many seconds.
    Locked(i64),
}

fn delay_after(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        0
    } else {
        1i64 << (failures - FREE_FAILURES).min(6)
    }
}

impl AccountThrottle {
    /// Whether `address` had a success on this account recently.
    pub fn is_known_good(&self, address: Option<&str>, now: i64) -> bool {
        address.is_some_and(|a| {
            self.known_good
                .iter()
                .any(|(known, at)| known == a && now - at < KNOWN_GOOD_SECONDS)
        })
    }

    /// May an attempt from `address` proceed at `now`?
    pub fn check(&self, address: Option<&str>, now: i64) -> Verdict {
        if self.is_known_good(address, now) {
            return Verdict::Allow;
        }
        if self.locked_until > now {
            return Verdict::Locked(self.locked_until - now);
        }
        let next = self.last_failure + delay_after(self.failures);
        if self.failures >= FREE_FAILURES && next > now {
            return Verdict::Throttled(next - now);
        }
        Verdict::Allow
    }

    /// The state after a failure at `now`; the flag says whether this failure locked it.
    pub fn after_failure(&self, now: i64) -> (Self, bool) {
        let mut next = self.clone();
        next.failures = self.failures.saturating_add(1);
        next.last_failure = now;
        let lock = lock_seconds(next.failures);
        if let Some(seconds) = lock {
            next.locked_until = now + seconds;
        }
        next.version += 1;
        (next, lock.is_some())
    }
}

/// How long the `failures`th consecutive failure locks the account, if it locks it: every
/// [`FAILURES_PER_LOCK`]th does, for [`FIRST_LOCK_SECONDS`] doubling each time, at most
/// [`MAX_LOCK_SECONDS`].
pub fn lock_seconds(failures: u32) -> Option<i64> {
    if failures == 0 || !failures.is_multiple_of(FAILURES_PER_LOCK) {
        return None;
    }
    let nth = failures / FAILURES_PER_LOCK;
    Some(
        FIRST_LOCK_SECONDS
            .saturating_mul(1i64 << (nth - 1).min(20))
            .min(MAX_LOCK_SECONDS),
    )
}

impl AccountThrottle {
    /// The state after a success from `address` at `now`: count reset, address remembered.
    pub fn after_success(&self, address: Option<&str>, now: i64) -> Self {
        let mut known: Vec<(String, i64)> = self
            .known_good
            .iter()
            .filter(|(a, at)| Some(a.as_str()) != address && now - at < KNOWN_GOOD_SECONDS)
            .cloned()
            .collect();
        if let Some(a) = address {
            known.push((a.to_owned(), now));
        }
        let skip = known.len().saturating_sub(KNOWN_GOOD_MAX);
        Self {
            failures: 0,
            last_failure: 0,
            locked_until: 0,
            known_good: known.into_iter().skip(skip).collect(),
            version: self.version + 1,
        }
    }
}

impl AddressThrottle {
    /// May another attempt come from this address this hour? `seconds_left` is the rest of the hour.
    pub fn check(&self, seconds_left: i64) -> Verdict {
        if self.failures >= ADDRESS_FAILURES_PER_HOUR {
            Verdict::Throttled(seconds_left.max(1))
        } else {
            Verdict::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_the_account_locks() {
        let mut state = AccountThrottle::default();
        let mut now = 1_000_000;
        for i in 0..FREE_FAILURES {
            assert_eq!(state.check(None, now), Verdict::Allow, "failure {i}");
            state = state.after_failure(now).0;
        }
        // 3 failures: wait 1 s.
        assert_eq!(state.check(None, now), Verdict::Throttled(1));
        now += 1;
        assert_eq!(state.check(None, now), Verdict::Allow);
        let mut locked_at = None;
        for n in FREE_FAILURES..FAILURES_PER_LOCK {
            now += 100;
            assert_eq!(state.check(None, now), Verdict::Allow, "after {n}");
            let (next, locked) = state.after_failure(now);
            state = next;
            if locked {
                locked_at = Some(state.failures);
            }
        }
        assert_eq!(locked_at, Some(10));
        assert_eq!(state.check(None, now), Verdict::Locked(FIRST_LOCK_SECONDS));
        assert!(matches!(
            state.check(None, now + FIRST_LOCK_SECONDS - 1),
            Verdict::Locked(1)
        ));
    }

    #[test]
    fn a_hundred_consecutive_failures_take_more_than_five_days() {
        let mut state = AccountThrottle::default();
        let mut now = 0i64;
        let mut failures = 0;
        while failures < 100 {
            match state.check(None, now) {
                Verdict::Allow => {
                    state = state.after_failure(now).0;
                    failures += 1;
                }
                Verdict::Throttled(s) | Verdict::Locked(s) => now += s,
            }
        }
        assert!(now > 5 * 86_400, "100 failures in {now} s");
    }

    #[test]
    fn success_resets_and_known_good_addresses_bypass_the_lock() {
        let mut state = AccountThrottle::default().after_success(Some("198.51.100.1"), 0);
        for t in 0..10 {
            state = state.after_failure(1_000 + t * 100).0;
        }
        let now = 2_000;
        assert!(matches!(
            state.check(Some("203.0.113.9"), now),
            Verdict::Locked(_)
        ));
        assert_eq!(state.check(Some("198.51.100.1"), now), Verdict::Allow);
        assert!(
            !state.is_known_good(Some("198.51.100.1"), KNOWN_GOOD_SECONDS + 1),
            "expires"
        );
        let reset = state.after_success(Some("198.51.100.1"), now);
        assert_eq!(reset.failures, 0);
        assert_eq!(reset.check(Some("203.0.113.9"), now), Verdict::Allow);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(
            throttle_address("2001:db8:1:2:aaaa::1"),
            throttle_address("2001:db8:1:2:ffff:1:2:3")
        );
        assert_ne!(
            throttle_address("2001:db8:1:2::1"),
            throttle_address("2001:db8:1:3::1")
        );
        assert_eq!(throttle_address("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(throttle_address("198.51.100.7"), "198.51.100.7");
        assert_eq!(throttle_address("::ffff:198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn addresses_have_an_hourly_limit() {
        let state = AddressThrottle {
            failures: ADDRESS_FAILURES_PER_HOUR - 1,
        };
        assert_eq!(state.check(100), Verdict::Allow);
        let state = AddressThrottle {
            failures: ADDRESS_FAILURES_PER_HOUR,
        };
        assert_eq!(state.check(100), Verdict::Throttled(100));
    }
}
