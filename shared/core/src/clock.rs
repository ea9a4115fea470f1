//! Time helpers. Rules that depend on time take `now` as a parameter; this is where it is read.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current UTC time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `t` as UTC RFC 3339.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// The current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(now())
}
