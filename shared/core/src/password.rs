//! The password rule (NIST SP 800-63B): 12 to 128 characters after NFKC normalisation, a zxcvbn
//! score of at least 3 with the user name and product name as context, no composition rules.

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// Fewest characters accepted.
pub const MIN_CHARS: usize = 12;
/// Most characters accepted.
pub const MAX_CHARS: usize = 128;
/// Lowest zxcvbn score accepted.
pub const MIN_SCORE: u8 = 3;
/// zxcvbn's cost grows fast with length; the first 64 characters decide the score.
const SCORED_CHARS: usize = 64;

/// NFKC-normalises a password so that the same text typed on two keyboards matches.
pub fn normalize(password: &SecretString) -> SecretString {
    SecretString::new(password.expose().nfkc().collect::<String>())
}

/// Checks a new password; the error says why it was refused and how to fix it.
pub fn check_new_password(username: &str, password: &SecretString) -> Result<()> {
    let chars = password.expose().chars().count();
    if chars < MIN_CHARS {
        return Err(Error::bad_request(
            "PASSWORD_TOO_SHORT",
            format!(
                "The password must have at least {MIN_CHARS} characters. A few unrelated words make a long password that is easy to remember."
            ),
        ));
    }
    if chars > MAX_CHARS {
        return Err(Error::bad_request(
            "PASSWORD_TOO_LONG",
            format!("The password must have at most {MAX_CHARS} characters."),
        ));
    }
    let scored: String = password.expose().chars().take(SCORED_CHARS).collect();
    let scored = SecretString::new(scored);
    let estimate = zxcvbn::zxcvbn(scored.expose(), &[username, "fig", "figsettings"]);
    if u8::from(estimate.score()) < MIN_SCORE {
        return Err(Error::bad_request(
            "PASSWORD_TOO_WEAK",
            format!(
                "The password is too easy to guess (strength {} of 4; at least {MIN_SCORE} is needed). Avoid common words, names, dates and keyboard patterns; add more unrelated words.",
                u8::from(estimate.score())
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: &str) -> Result<()> {
        check_new_password("alice", &SecretString::new(p))
    }

    #[test]
    fn length_rules() {
        assert!(matches!(
            check("Tr0ub4dor&3"),
            Err(Error::BadRequest {
                code: "PASSWORD_TOO_SHORT",
                ..
            })
        ));
        assert!(check(&"correct horse battery staple ".repeat(2)[..58]).is_ok());
        let sixty_four = "vivid-otter-quartz-lantern-mosaic-ember-thistle-pylon-driftwood1";
        assert_eq!(sixty_four.chars().count(), 64);
        assert!(check(sixty_four).is_ok());
        let one_twenty_eight = sixty_four.repeat(2);
        assert!(check(&one_twenty_eight).is_ok());
        assert!(matches!(
            check(&(one_twenty_eight + "x")),
            Err(Error::BadRequest {
                code: "PASSWORD_TOO_LONG",
                ..
            })
        ));
    }

    #[test]
    fn weak_and_contextual_passwords_are_refused_with_a_reason() {
        for weak in [
            "password1234",
            "aaaaaaaaaaaaaaaa",
            "alice-alice-alice",
            "qwertyuiopasdf",
            "figfigfigfig1",
        ] {
            match check(weak) {
                Err(Error::BadRequest {
                    code: "PASSWORD_TOO_WEAK",
                    message,
                }) => {
                    assert!(message.contains("at least 3"), "{message}");
                }
                other => panic!("{weak}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_composition_rules_and_unicode_counts_characters() {
        // All lower case, no digits or symbols: fine when long and unpredictable.
        assert!(check("glacier orbit velvet tambourine").is_ok());
        // 12 characters of 2-byte text count as 12, not 24.
        let twelve = "ßüöäéèàçñøåæ";
        assert_eq!(twelve.chars().count(), 12);
        assert!(!matches!(
            check(twelve),
            Err(Error::BadRequest {
                code: "PASSWORD_TOO_SHORT",
                ..
            })
        ));
    }

    #[test]
    fn nfkc_normalises() {
        let composed = normalize(&SecretString::new("ﬁ café"));
        assert_eq!(composed.expose(), "fi café");
    }
}
