//! RFC 3339 timestamps from milliseconds since the Unix epoch.
//!
//! The task engine stores times as integer milliseconds (cheap to compare and
//! to keep in Redis); the wire wants ISO 8601 / RFC 3339 strings.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Format epoch milliseconds as an RFC 3339 UTC timestamp with millisecond precision.
///
/// ```
/// assert_eq!(ferry_protocol::time_fmt::rfc3339(0), "1970-01-01T00:00:00.000Z");
/// ```
pub fn rfc3339(epoch_ms: u64) -> String {
    let nanos = i128::from(epoch_ms) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let date = t.date();
            let time = t.time();
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                date.year(),
                u8::from(date.month()),
                date.day(),
                time.hour(),
                time.minute(),
                time.second(),
                time.millisecond()
            )
        }
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parse an RFC 3339 timestamp into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> u64 {
    let now = OffsetDateTime::now_utc();
    u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}
