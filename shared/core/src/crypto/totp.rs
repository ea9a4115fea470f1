//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), the second factor's primitive:
//! codes compared in constant time, each step accepted once; and the base32 text that
//! authenticator apps and recovery codes use. Enrolment and storage are `fig_shared::mfa`.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::{Error, Result};

/// Seconds per TOTP step.
pub const STEP: u64 = 30;
/// Steps accepted either side of now (clock drift).
pub const SKEW: u64 = 1;
fn totp(secret: &[u8]) -> Result<TOTP> {
    TOTP::new(Algorithm::SHA1, 6, 0, STEP, secret.to_vec())
        .map_err(|_| Error::internal("totp secret rejected"))
}

/// The time step whose code equals `code`, among now ± [`SKEW`] and after `last_step`
/// (so a code works once). Compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: u64, last_step: u64) -> Result<Option<u64>> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret)?;
    let current = now / STEP;
    let mut found = None;
    for step in current.saturating_sub(SKEW)..=current + SKEW {
        let expected = totp.generate(step * STEP);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && step > last_step {
            found = Some(step);
        }
    }
    Ok(found)
}

/// `bytes` in RFC 4648 base32 (upper case), as `otpauth://` URIs carry secrets.
pub fn base32(bytes: &[u8]) -> Result<String> {
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(s) => Ok(s),
        Secret::Raw(_) => Err(Error::internal("base32 encoding failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::random_bytes;

    #[test]
    fn rfc_6238_vector() {
        // RFC 6238 appendix B, SHA-1, 8 digits at T = 59: 94287082; 6 digits: 287082.
        let secret = b"12345678901234567890";
        assert_eq!(matching_step(secret, "287082", 59, 0).unwrap(), Some(1));
    }

    #[test]
    fn a_code_works_once_and_only_in_the_window() {
        let secret = random_bytes(20);
        let t = totp(&secret).unwrap();
        let now = 1_800_000_000u64;
        let code = t.generate(now);
        let step = matching_step(&secret, &code, now, 0).unwrap().unwrap();
        assert_eq!(step, now / STEP);
        assert_eq!(
            matching_step(&secret, &code, now, step).unwrap(),
            None,
            "replay"
        );
        // One step of drift either way is fine; two are not.
        assert!(
            matching_step(&secret, &t.generate(now - STEP), now, 0)
                .unwrap()
                .is_some()
        );
        assert!(
            matching_step(&secret, &t.generate(now + STEP), now, 0)
                .unwrap()
                .is_some()
        );
        assert!(
            matching_step(&secret, &t.generate(now - 2 * STEP), now, 0)
                .unwrap()
                .is_none()
        );
        assert!(
            matching_step(&secret, &t.generate(now + 2 * STEP), now, 0)
                .unwrap()
                .is_none()
        );
        assert!(matching_step(&secret, "12345", now, 0).unwrap().is_none());
        assert!(matching_step(&secret, "abcdef", now, 0).unwrap().is_none());
    }
}
