//! HTTP-date parsing (RFC 9110 §5.6.7), as a cache recipient reads dates (RFC 9111 §4.2), and
//! date header fields read as absent, invalid or valid ([`DateField`]).
//!
//! One parser for every date the core reads: `Date`, `Expires`, `Last-Modified` and
//! `If-Modified-Since`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName};

/// Parses an HTTP-date in any of the three formats a recipient must accept (RFC 9110 §5.6.7):
///
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the obsolete RFC 850 format: `Sunday, 06-Nov-94 08:49:37 GMT`, whose two-digit year is
///   read as the latest year with those digits that is not more than 50 years in the future;
/// - ANSI C's asctime format: `Sun Nov  6 08:49:37 1994`, in UTC.
///
/// As RFC 9111 §4.2 asks of a cache, day names, month names and `GMT` are matched
/// case-insensitively, and a zone other than `GMT` makes the date invalid. In the spirit of
/// RFC 9110 §5.6.7's robustness advice, whitespace around the value and runs of whitespace
/// between its parts are accepted, a day of the month may have one digit, either form of day
/// name (`Sun`, `Sunday`) may open any format, and the day name is not checked against the
/// date. Everything else is strict: digit counts (a four-digit year, two-digit hours, minutes
/// and seconds), ranges (a day that exists in its month, at most `23:59:60`) and nothing after
/// the date.
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    parse_at(text, SystemTime::now())
}

/// [`parse_http_date`] as of `now`, which decides the century of an RFC 850 date's year.
fn parse_at(text: &str, now: SystemTime) -> Option<SystemTime> {
    let mut parts = text.split_ascii_whitespace();
    let first = parts.next()?;
    let date = if let Some(day_name) = first.strip_suffix(',') {
        if !is_day_name(day_name) {
            return None;
        }
        let date = parts.next()?;
        let date = match date.split_once('-') {
            // RFC 850: `06-Nov-94 08:49:37 GMT`.
            Some((day, rest)) => {
                let (month_name, year) = rest.split_once('-')?;
                let time = time_of_day(parts.next()?)?;
                let mut date = Civil::new(number(year, 2, 2)?, month(month_name)?, day_of_month(day)?, time);
                date.year = two_digit_year(date, now);
                date
            }
            // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`.
            None => {
                let month = month(parts.next()?)?;
                let year = number(parts.next()?, 4, 4)?;
                Civil::new(year, month, day_of_month(date)?, time_of_day(parts.next()?)?)
            }
        };
        if !parts.next()?.eq_ignore_ascii_case("GMT") {
            return None;
        }
        date
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994`.
        if !is_day_name(first) {
            return None;
        }
        let month = month(parts.next()?)?;
        let day = day_of_month(parts.next()?)?;
        let time = time_of_day(parts.next()?)?;
        Civil::new(number(parts.next()?, 4, 4)?, month, day, time)
    };
    if parts.next().is_some() {
        return None;
    }
    date.to_system_time()
}

/// A UTC date and time of the proleptic Gregorian calendar, as written in an HTTP-date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    /// Hour, minute and second.
    time: (i64, i64, i64),
}

impl Civil {
    fn new(year: i64, month: i64, day: i64, time: (i64, i64, i64)) -> Self {
        Self {
            year,
            month,
            day,
            time,
        }
    }

    /// The UTC date and time of `time` (the epoch, for a time before it).
    fn of(time: SystemTime) -> Self {
        let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        let of_day = seconds.rem_euclid(86_400);
        Self::new(year, month, day, (of_day / 3600, of_day / 60 % 60, of_day % 60))
    }

    /// The instant, or `None` for a date that does not exist (e.g. 30 February).
    fn to_system_time(self) -> Option<SystemTime> {
        let (hour, minute, second) = self.time;
        let month_length = match self.month {
            2 if is_leap_year(self.year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if self.day > month_length || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let seconds =
            days_from_civil(self.year, self.month, self.day) * 86_400 + hour * 3600 + minute * 60 + second;
        let magnitude = Duration::from_secs(seconds.unsigned_abs());
        if seconds >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        }
    }
}

/// The full year of an RFC 850 date whose year is `date.year`'s two digits, as of `now`: the
/// latest year ending in those digits that does not put the date more than 50 years after
/// `now` (RFC 9110 §5.6.7).
fn two_digit_year(date: Civil, now: SystemTime) -> i64 {
    let now = Civil::of(now);
    let limit = Civil {
        year: now.year + 50,
        ..now
    };
    let mut candidate = Civil {
        year: now.year - now.year.rem_euclid(100) + 100 + date.year,
        ..date
    };
    while candidate > limit {
        candidate.year -= 100;
    }
    candidate.year
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`): year, month, day.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A run of `min` to `max` ASCII digits (no sign, no spaces).
fn number(text: &str, min: usize, max: usize) -> Option<i64> {
    if !(min..=max).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// A day of the month, `1` to `31` (one or two digits); [`Civil::to_system_time`] checks it
/// against its month.
fn day_of_month(text: &str) -> Option<i64> {
    number(text, 1, 2).filter(|day| (1..=31).contains(day))
}

/// `hour:minute:second`, two digits each; [`Civil::to_system_time`] checks their ranges.
fn time_of_day(text: &str) -> Option<(i64, i64, i64)> {
    let mut fields = text.split(':');
    let mut field = || number(fields.next()?, 2, 2);
    let time = (field()?, field()?, field()?);
    fields.next().is_none().then_some(time)
}

/// A month name (`Jan` to `Dec`, any case): its number, 1 to 12.
fn month(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .zip(1..)
        .find_map(|(month, number)| month.eq_ignore_ascii_case(name).then_some(number))
}

/// Whether `name` is a day name, short (`Sun`) or long (`Sunday`), in any case.
fn is_day_name(name: &str) -> bool {
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    DAYS.iter()
        .any(|day| day.eq_ignore_ascii_case(name) || day[..3].eq_ignore_ascii_case(name))
}

/// A date header: absent, present but invalid, or a valid HTTP-date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateField {
    Absent,
    Invalid,
    Valid(SystemTime),
}

impl DateField {
    pub(crate) fn valid(self) -> Option<SystemTime> {
        match self {
            Self::Valid(time) => Some(time),
            Self::Absent | Self::Invalid => None,
        }
    }
}

/// Parses an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, RFC 850 or asctime; see
/// [`parse_http_date`]).
pub(crate) fn http_date(headers: &HeaderMap, name: HeaderName) -> DateField {
    let Some(value) = headers.get(name) else {
        return DateField::Absent;
    };
    match value.to_str().ok().and_then(parse_http_date) {
        Some(time) => DateField::Valid(time),
        None => DateField::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06 08:49:37 UTC, RFC 9110's example.
    const EXAMPLE: u64 = 784_111_777;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn parse(text: &str) -> Option<SystemTime> {
        parse_http_date(text)
    }

    #[test]
    fn all_three_formats_of_rfc_9110_are_accepted() {
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
        ] {
            assert_eq!(parse(text), Some(at(EXAMPLE)), "{text:?}");
        }
    }

    #[test]
    fn day_and_month_names_and_gmt_match_in_any_case() {
        // RFC 9111 §4.2: a cache recipient SHOULD match dates case-insensitively.
        for text in [
            "sun, 06 nov 1994 08:49:37 gmt",
            "SUN, 06 NOV 1994 08:49:37 GMT",
            "sUn, 06 nOv 1994 08:49:37 Gmt",
            "SUNDAY, 06-NOV-94 08:49:37 GMT",
            "sunday, 06-nov-94 08:49:37 gmt",
            "sun nov  6 08:49:37 1994",
            "SUN NOV  6 08:49:37 1994",
        ] {
            assert_eq!(parse(text), Some(at(EXAMPLE)), "{text:?}");
        }
    }

    #[test]
    fn whitespace_around_and_within_a_date_is_tolerated() {
        for text in [
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT \t",
            "\tSunday, 06-Nov-94 08:49:37 GMT ",
            "  Sun Nov  6 08:49:37 1994  ",
            "Sun,  06  Nov  1994  08:49:37  GMT",
            "Sun Nov 6 08:49:37 1994",
        ] {
            assert_eq!(parse(text), Some(at(EXAMPLE)), "{text:?}");
        }
    }

    #[test]
    fn either_form_of_day_name_opens_any_format_and_is_not_checked_against_the_date() {
        for text in [
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday Nov  6 08:49:37 1994",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(text), Some(at(EXAMPLE)), "{text:?}");
        }
    }

    #[test]
    fn a_two_digit_year_more_than_50_years_ahead_is_in_the_previous_century() {
        // As of 2 December 2026: up to 2 December 2076 is read as the future, later as the past.
        let now = parse("Wed, 02 Dec 2026 00:00:00 GMT").unwrap();
        let year = |text: &str| parse_at(text, now).map(|time| Civil::of(time).year);
        assert_eq!(year("Wednesday, 02-Dec-26 00:00:00 GMT"), Some(2026));
        assert_eq!(year("Wednesday, 01-Jan-70 00:00:00 GMT"), Some(2070));
        assert_eq!(year("Wednesday, 02-Dec-76 00:00:00 GMT"), Some(2076));
        assert_eq!(year("Thursday, 03-Dec-76 00:00:00 GMT"), Some(1976));
        assert_eq!(year("Friday, 31-Dec-99 23:59:59 GMT"), Some(1999));
        assert_eq!(year("Saturday, 01-Jan-00 00:00:00 GMT"), Some(2000));
        // As of 1994 (the RFC's example): `94` is 1994, `44` is 2044, `45` is 1945.
        let now = at(EXAMPLE);
        let year = |text: &str| parse_at(text, now).map(|time| Civil::of(time).year);
        assert_eq!(year("Sunday, 06-Nov-94 08:49:37 GMT"), Some(1994));
        assert_eq!(year("Sunday, 06-Nov-44 08:49:37 GMT"), Some(2044));
        assert_eq!(
            parse_at("Tuesday, 06-Nov-45 08:49:37 GMT", now),
            parse("Tue, 06 Nov 1945 08:49:37 GMT")
        );
        // Late in a century, a small year is in the next one.
        let now = parse("Sun, 01 Jan 2090 00:00:00 GMT").unwrap();
        let year = |text: &str| parse_at(text, now).map(|time| Civil::of(time).year);
        assert_eq!(year("Wednesday, 01-Jan-10 00:00:00 GMT"), Some(2110));
        assert_eq!(year("Thursday, 01-Jan-60 00:00:00 GMT"), Some(2060));
    }

    #[test]
    fn dates_outside_the_unix_era_are_read() {
        assert_eq!(parse("Fri, 31 Dec 9999 23:59:59 GMT"), Some(at(253_402_300_799)));
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(UNIX_EPOCH));
        assert_eq!(
            parse("Wed, 31 Dec 1969 23:59:59 GMT"),
            UNIX_EPOCH.checked_sub(Duration::from_secs(1))
        );
    }

    #[test]
    fn leap_days_and_leap_seconds_exist_only_where_they_may() {
        assert_eq!(parse("Thu, 29 Feb 2024 00:00:00 GMT"), Some(at(1_709_164_800)));
        assert_eq!(parse("Tue, 29 Feb 2000 00:00:00 GMT"), Some(at(951_782_400)));
        assert_eq!(parse("Thu, 29 Feb 2100 00:00:00 GMT"), None);
        assert_eq!(parse("Wed, 29 Feb 2023 00:00:00 GMT"), None);
        assert_eq!(parse("Mon, 31 Apr 2024 00:00:00 GMT"), None);
        // 23:59:60, a leap second (RFC 9110 §5.6.7), is the next day's first second.
        assert_eq!(parse("Sat, 31 Dec 2016 23:59:60 GMT"), Some(at(1_483_228_800)));
    }

    #[test]
    fn malformed_dates_are_invalid() {
        for text in [
            "",
            "   ",
            "0",
            "-1",
            "next tuesday",
            // Another zone than GMT (RFC 9111 §4.2), or none.
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 08:49:37",
            "Sunday, 06-Nov-94 08:49:37",
            // Something after the date.
            "Sun, 06 Nov 1994 08:49:37 GMT GMT",
            "Sun Nov  6 08:49:37 1994 GMT",
            // Names that are not day or month names.
            "Dim, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "Su, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 11 1994 08:49:37 GMT",
            // Digit counts and ranges.
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 01994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 006 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            // Pieces missing or misplaced.
            "Sun, Nov 06 1994 08:49:37 GMT",
            "Sun 06 Nov 1994 08:49:37 GMT",
            "06 Nov 1994 08:49:37 GMT",
            "Sun,",
            "Sunday, 06-Nov 08:49:37 GMT",
            "Sunday, 06-Nov-94-1 08:49:37 GMT",
            "Sun Nov  6 08:49:37",
            "Sun Nov  6 1994 08:49:37",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_imf_fixdate_reads_back_in_any_case(seconds in 0u64..253_402_300_800) {
            let imf = httpdate::fmt_http_date(at(seconds));
            proptest::prop_assert_eq!(parse(&imf), Some(at(seconds)));
            proptest::prop_assert_eq!(parse(&imf.to_ascii_lowercase()), Some(at(seconds)));
        }

        #[test]
        fn any_text_is_a_date_or_invalid_without_panicking(
            text in "\\PC{0,40}|[A-Za-z]{3,9},? [0-9]{1,2}[ -][A-Za-z]{3}[ -][0-9]{2,4} [0-9:]{5,9} [A-Za-z]{0,4}",
        ) {
            let _ = parse(&text);
        }
    }

    #[test]
    fn the_calendar_conversions_agree_with_each_other() {
        for days in (-800_000..3_000_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(Civil::of(at(EXAMPLE)), Civil::new(1994, 11, 6, (8, 49, 37)));
    }
}
