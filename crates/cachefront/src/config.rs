//! Settings read from the environment (`CACHEFRONT_*`), validated; [`duration`](fn@duration) and [`bytes`](fn@bytes)
//! read an application's own variables in the same formats.
//!
//! | variable | setting | accepted form |
//! | --- | --- | --- |
//! | `CACHEFRONT_MAX_BYTES` | [`CacheBuilder::max_bytes`](crate::CacheBuilder::max_bytes) | bytes: `67108864`, `64MiB`, `512KB`, `1GiB` |
//! | `CACHEFRONT_COALESCE_WAIT` | [`CacheBuilder::coalesce_wait`](crate::CacheBuilder::coalesce_wait) | a duration: `10s`, `500ms`, `2m` |
//! | `CACHEFRONT_ADMIN_TOKEN` | the admin endpoints' bearer token (see `Admin`) | at least 16 characters |
//!
//! Precedence: a value set on the builder wins over the environment, which wins over the
//! default. A variable that is set but malformed is an error naming the variable and the
//! accepted form, never a silent default.

use std::time::Duration;

use crate::error::Error;

/// Reads a variable; `Ok(None)` when unset, an error when set but not valid Unicode.
pub(crate) fn var(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::config(name, "the value is not valid UTF-8")),
    }
}

/// Reads a duration variable (`250ms`, `10s`, `2m`, `1h`): `Ok(None)` when unset, an error
/// naming the variable when set but malformed.
///
/// ```
/// let timeout = cachefront::config::duration("MY_APP_TIMEOUT")?.unwrap_or(std::time::Duration::from_secs(30));
/// # Ok::<(), cachefront::Error>(())
/// ```
pub fn duration(name: &str) -> Result<Option<Duration>, Error> {
    var(name)?.map(|value| parse_duration(name, &value)).transpose()
}

/// Reads a size variable (`1048576`, `512KB`, `64MiB`, `1GiB`; `KB`, `MB`, `GB` are powers of
/// 1000, `KiB`, `MiB`, `GiB` of 1024): `Ok(None)` when unset, an error naming the variable
/// when set but malformed.
pub fn bytes(name: &str) -> Result<Option<u64>, Error> {
    var(name)?.map(|value| parse_bytes(name, &value)).transpose()
}

/// Parses a byte size: a number with an optional unit (`B`, `KB`, `KiB`, `MB`, `MiB`, `GB`,
/// `GiB`; case-insensitive).
pub(crate) fn parse_bytes(setting: &str, value: &str) -> Result<u64, Error> {
    let error = || {
        Error::config(
            setting,
            format!("{value:?}: expected bytes like 64MiB, 512KB or 1048576"),
        )
    };
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        _ => return Err(error()),
    };
    number.checked_mul(multiplier).ok_or_else(error)
}

/// Parses a duration: a number with a unit (`ms`, `s`, `m`, `h`).
pub(crate) fn parse_duration(setting: &str, value: &str) -> Result<Duration, Error> {
    let error = || {
        Error::config(
            setting,
            format!("{value:?}: expected a duration like 10s, 500ms or 2m"),
        )
    };
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| error())?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(number)),
        "s" => Ok(Duration::from_secs(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs).ok_or_else(error),
        "h" => number
            .checked_mul(3600)
            .map(Duration::from_secs)
            .ok_or_else(error),
        _ => Err(error()),
    }
}

/// Parses a duration (as [`parse_duration`]) that must lie within `range`; the error names
/// the setting and the range.
#[cfg(feature = "redis")]
pub(crate) fn parse_duration_within(
    setting: &str,
    value: &str,
    range: std::ops::RangeInclusive<Duration>,
) -> Result<Duration, Error> {
    let duration = parse_duration(setting, value)?;
    if range.contains(&duration) {
        return Ok(duration);
    }
    // Written as the variables are: whole hours, else whole seconds, else milliseconds.
    let written = |d: &Duration| match (d.subsec_nanos(), d.as_secs()) {
        (0, secs) if secs > 0 && secs % 3600 == 0 => format!("{}h", secs / 3600),
        (0, secs) if secs > 0 => format!("{secs}s"),
        _ => format!("{}ms", d.as_millis()),
    };
    Err(Error::config(
        setting,
        format!(
            "{value:?}: expected a duration from {} to {}",
            written(range.start()),
            written(range.end())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("x", "1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("x", "64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("x", "64 mib").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("x", "512KB").unwrap(), 512_000);
        assert_eq!(parse_bytes("x", "1GiB").unwrap(), 1 << 30);
        let error = parse_bytes("CACHEFRONT_MAX_BYTES", "12XB")
            .unwrap_err()
            .to_string();
        assert!(error.contains("CACHEFRONT_MAX_BYTES") && error.contains("12XB") && error.contains("64MiB"));
        assert!(parse_bytes("x", "").is_err());
        assert!(parse_bytes("x", "-5").is_err());
        assert!(parse_bytes("x", "99999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("x", "10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("x", "500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("x", "2m").unwrap(), Duration::from_secs(120));
        let error = parse_duration("CACHEFRONT_COALESCE_WAIT", "10")
            .unwrap_err()
            .to_string();
        assert!(error.contains("CACHEFRONT_COALESCE_WAIT") && error.contains("10s"));
        assert!(parse_duration("x", "ten seconds").is_err());
    }
}
