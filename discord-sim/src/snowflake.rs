//! Discord snowflakes: `(ms since 2015-01-01) << 22 | worker << 17 | process << 12 | increment`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Discord's epoch, the first millisecond of 2015, in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Builds a snowflake from a Unix timestamp in milliseconds and a 22-bit low part.
pub fn snowflake(unix_ms: u64, low: u64) -> u64 {
    (unix_ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | (low & 0x3f_ffff)
}

/// The Unix timestamp in milliseconds encoded in a snowflake.
pub fn timestamp_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Hands out increasing snowflakes stamped with the current time.
#[derive(Debug, Default)]
pub(crate) struct SnowflakeGen {
    last: AtomicU64,
}

impl SnowflakeGen {
    /// The next id: the current time, and strictly greater than every id handed out before.
    pub(crate) fn next(&self) -> u64 {
        let candidate = snowflake(now_ms(), 1 << 17);
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(prev + 1);
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }

    /// Makes sure later ids are above `id` (ids of the seeded world).
    pub(crate) fn observe(&self, id: u64) {
        self.last.fetch_max(id, Ordering::Relaxed);
    }
}

/// Formats Unix milliseconds as an ISO 8601 timestamp (`2024-01-02T03:04:05.678000+00:00`),
/// the way Discord writes them.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}000+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses the ISO 8601 timestamps Discord accepts (`YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]`) into
/// Unix milliseconds; `None` when malformed. Offsets other than UTC are applied.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut padded: String = frac[..digits].chars().take(3).collect();
        while padded.len() < 3 {
            padded.push('0');
        }
        ms = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(rest.len() - 2..)?.parse().ok()?;
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo, d);
    let total = ((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000) + ms;
    u64::try_from(total).ok()
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_round_trips() {
        let ms = 1_704_164_645_678;
        let s = iso8601(ms);
        assert_eq!(s, "2024-01-02T03:04:05.678000+00:00");
        assert_eq!(parse_iso8601(&s), Some(ms));
        assert_eq!(
            parse_iso8601("2024-01-02T03:04:05Z"),
            Some(1_704_164_645_000)
        );
        assert_eq!(parse_iso8601("nope"), None);
    }

    #[test]
    fn snowflake_timestamps() {
        let id = snowflake(1_704_164_645_678, 5);
        assert_eq!(timestamp_ms(id), 1_704_164_645_678);
        let g = SnowflakeGen::default();
        let a = g.next();
        assert!(g.next() > a);
    }
}
