//! Milliseconds since the Unix epoch to RFC 3339 UTC text and back, whole
//! seconds (`2026-11-28T15:04:54Z`). Days to dates by Howard Hinnant's
//! civil-from-days algorithm, so no date crate is needed.

const MS_PER_DAY: u64 = 86_400_000;
/// 9999-12-31T23:59:59Z: the last instant a four-digit year can show.
const MAX_MS: u64 = 253_402_300_799_000;

/// Formats an instant as RFC 3339 in UTC, dropping milliseconds. Instants
/// past the year 9999 are shown as its last second.
pub fn to_rfc3339(ms: u64) -> String {
    let ms = ms.min(MAX_MS);
    let days = ms / MS_PER_DAY;
    let secs_of_day = (ms % MS_PER_DAY) / 1000;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fff…]Z` (UTC only, as this worker writes)
/// back to milliseconds since the epoch. `None` for anything else.
pub fn from_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let (date_time, rest) = (b.get(..19)?, b.get(19..)?);
    let sep = |i: usize, c: u8| date_time.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b't') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = digits(date_time, 0, 4)?;
    let month = digits(date_time, 5, 2)?;
    let day = digits(date_time, 8, 2)?;
    let hour = digits(date_time, 11, 2)?;
    let minute = digits(date_time, 14, 2)?;
    let second = digits(date_time, 17, 2)?;
    let millis = fraction_ms(rest)?;
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = u64::try_from(days_from_civil(year as i64, month, day)).ok()?;
    Some(days * MS_PER_DAY + (hour * 3600 + minute * 60 + second) * 1000 + millis)
}

/// The part after the seconds: an optional fraction, then `Z`.
fn fraction_ms(rest: &[u8]) -> Option<u64> {
    let (last, body) = rest.split_last()?;
    if !last.eq_ignore_ascii_case(&b'z') {
        return None;
    }
    match body.split_first() {
        None => Some(0),
        Some((b'.', frac)) if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {
            // Milliseconds from the first three digits, zero-padded.
            Some(
                (0..3)
                    .map(|i| frac.get(i).map_or(0, |d| u64::from(d - b'0')))
                    .fold(0, |acc, d| acc * 10 + d),
            )
        }
        _ => None,
    }
}

fn digits(b: &[u8], at: usize, len: usize) -> Option<u64> {
    b.get(at..at + len)?.iter().try_fold(0u64, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
    })
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01; the inverse of the above.
fn days_from_civil(year: i64, month: u64, day: u64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = month as i64;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(to_rfc3339(1_767_225_600_000), "2026-01-01T00:00:00Z");
        assert_eq!(to_rfc3339(1_795_878_294_999), "2026-11-28T15:04:54Z");
        assert_eq!(to_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(to_rfc3339(4_107_456_000_000), "2100-02-28T00:00:00Z");
        assert_eq!(to_rfc3339(4_107_542_400_000), "2100-03-01T00:00:00Z");
        assert_eq!(to_rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_it_writes_and_fractions() {
        assert_eq!(
            from_rfc3339("2026-11-28T15:04:54Z"),
            Some(1_795_878_294_000)
        );
        assert_eq!(
            from_rfc3339("2026-11-28t15:04:54z"),
            Some(1_795_878_294_000)
        );
        assert_eq!(
            from_rfc3339("2026-11-28T15:04:54.5Z"),
            Some(1_795_878_294_500)
        );
        assert_eq!(
            from_rfc3339("2026-11-28T15:04:54.123456Z"),
            Some(1_795_878_294_123)
        );
        assert_eq!(from_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }

    #[test]
    fn refuses_impossible_or_foreign_text() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T15:04:54",
            "2026-11-28T15:04:54+00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T15:60:00Z",
            "2026-11-28T15:04:60Z",
            "1969-12-31T23:59:59Z",
            "2026-11-28T15:04:54.Z",
            "2026/11/28T15:04:54Z",
            "2026-1a-28T15:04:54Z",
            "2026-11-28T15:04:54Zjunk",
            "２026-11-28T15:04:54Z",
        ] {
            assert_eq!(from_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn leap_days_round_trip() {
        for text in [
            "2024-02-29T12:00:00Z",
            "2000-02-29T23:59:59Z",
            "2028-12-31T00:00:00Z",
        ] {
            assert_eq!(to_rfc3339(from_rfc3339(text).unwrap()), text);
        }
    }

    proptest! {
        #[test]
        fn round_trip_whole_seconds(secs in 0u64..=MAX_MS / 1000) {
            let ms = secs * 1000;
            prop_assert_eq!(from_rfc3339(&to_rfc3339(ms)), Some(ms));
        }

        #[test]
        fn formatting_drops_only_the_milliseconds(ms in 0u64..=MAX_MS) {
            prop_assert_eq!(from_rfc3339(&to_rfc3339(ms)), Some(ms - ms % 1000));
        }
    }
}
