//! RFC 3339 timestamps from milliseconds since the Unix epoch.
//!
//! The task engine stores times as integer milliseconds (cheap to compare and
//! to keep in Redis); the wire wants ISO 8601 / RFC 3339 strings.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The first millisecond of year 10 000, past what four year digits can show.
const YEAR_10000_MS: u64 = 253_402_300_800_000;

/// Format epoch milliseconds as an RFC 3339 UTC timestamp with millisecond precision
/// (always 24 characters; times from year 10 000 on read as the epoch).
///
/// ```
/// assert_eq!(ferry_protocol::time_fmt::rfc3339(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(ferry_protocol::time_fmt::rfc3339(1_764_620_000_123), "2025-12-01T20:13:20.123Z");
/// ```
pub fn rfc3339(epoch_ms: u64) -> String {
    let ms = if epoch_ms >= YEAR_10000_MS { 0 } else { epoch_ms };
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (secs, millis) = (ms_of_day / 1000, ms_of_day % 1000);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    put(20, 3, millis);
    out.iter().map(|&b| char::from(b)).collect()
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`,
/// for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: what `time` formats, for every kind of day (leap years, century rules, month ends).
    fn with_time(ms: u64) -> String {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }

    #[test]
    fn fixed_width_writer_agrees_with_time_and_parses_back() {
        let mut ms = 0u64;
        // Every ~1.1 days over 10 000 years, at a varying time of day.
        while ms < YEAR_10000_MS {
            assert_eq!(rfc3339(ms), with_time(ms), "{ms}");
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
            ms += 97_654_321;
        }
        for ms in [951_782_400_000, 951_868_799_999, 4_107_542_400_000, YEAR_10000_MS - 1] {
            assert_eq!(rfc3339(ms), with_time(ms), "{ms}");
        }
        assert_eq!(rfc3339(YEAR_10000_MS), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(u64::MAX), "1970-01-01T00:00:00.000Z");
    }
}
