//! Parsing `Cache-Control` into [`CacheControl`]: the directives of a request or a response
//! (RFC 9111 §5.2, §1.2.2 delta-seconds, RFC 5861 §3–4).

use http::{HeaderMap, HeaderName, header};

/// The directives of `Cache-Control` the core acts on (RFC 9111 §5.2, RFC 5861), for a request
/// or a response.
///
/// Parsing is lenient, as §5.2 asks: unknown directives are ignored, names are
/// case-insensitive, values may be tokens or quoted strings, the first occurrence of a repeated
/// directive wins (§4.2.1), and a malformed delta-seconds value makes the directive count as
/// invalid rather than failing the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` without field names.
    pub no_cache: bool,
    /// The fields named by `no-cache="..."`.
    pub no_cache_fields: Vec<HeaderName>,
    /// `private` without field names.
    pub private: bool,
    /// The fields named by `private="..."`.
    pub private_fields: Vec<HeaderName>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `must-understand`.
    pub must_understand: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `only-if-cached` (request).
    pub only_if_cached: bool,
    /// `max-age`: `Some(Ok(n))` when valid, `Some(Err(()))` when present but malformed.
    pub max_age: Option<Result<u64, ()>>,
    /// `s-maxage`, as `max_age`.
    pub s_maxage: Option<Result<u64, ()>>,
    /// `max-stale` (request): `Some(None)` without a value (any staleness), `Some(Some(n))`.
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh` (request).
    pub min_fresh: Option<u64>,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4), request or response.
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field line of `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut cc = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            cc.parse_line(value.as_bytes());
        }
        cc
    }

    /// Parses one field value and adds its directives.
    pub fn parse_line(&mut self, line: &[u8]) {
        for (name, value) in Directives::new(line) {
            let valid = || delta_seconds(value).ok();
            match name.to_ascii_lowercase().as_slice() {
                b"no-store" => self.no_store = true,
                b"no-cache" => match field_names(value) {
                    Some(names) => self.no_cache_fields.extend(names),
                    None => self.no_cache = true,
                },
                b"private" => match field_names(value) {
                    Some(names) => self.private_fields.extend(names),
                    None => self.private = true,
                },
                b"public" => self.public = true,
                b"must-revalidate" => self.must_revalidate = true,
                b"proxy-revalidate" => self.proxy_revalidate = true,
                b"must-understand" => self.must_understand = true,
                b"no-transform" => self.no_transform = true,
                b"only-if-cached" => self.only_if_cached = true,
                b"max-age" => {
                    self.max_age.get_or_insert(delta_seconds(value));
                }
                b"s-maxage" => {
                    self.s_maxage.get_or_insert(delta_seconds(value));
                }
                b"max-stale" => {
                    // A malformed value is read as "no limit given", the lenient reading.
                    self.max_stale.get_or_insert(valid());
                }
                b"min-fresh" => self.min_fresh = self.min_fresh.or(valid()),
                b"stale-while-revalidate" => {
                    self.stale_while_revalidate = self.stale_while_revalidate.or(valid());
                }
                b"stale-if-error" => self.stale_if_error = self.stale_if_error.or(valid()),
                _ => {}
            }
        }
    }
}

/// The field names of a qualified `no-cache`/`private` value, or `None` when unqualified.
fn field_names(value: Option<&[u8]>) -> Option<Vec<HeaderName>> {
    let value = value?;
    let names: Vec<HeaderName> = value
        .split(|b| *b == b',')
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Parses delta-seconds (RFC 9111 §1.2.2): digits only; values too large are read as
/// 2147483648, as the RFC requires.
pub(super) fn delta_seconds(value: Option<&[u8]>) -> Result<u64, ()> {
    const MAX: u64 = 2_147_483_648;
    let value = value.ok_or(())?;
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(value
        .iter()
        .fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
        .min(MAX))
}

/// Iterates `name[=value]` directives of a comma-separated field value, unquoting quoted values.
struct Directives<'a> {
    rest: &'a [u8],
}

impl<'a> Directives<'a> {
    fn new(line: &'a [u8]) -> Self {
        Self { rest: line }
    }
}

impl<'a> Iterator for Directives<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest.trim_ascii_start();
            if rest.is_empty() {
                return None;
            }
            let name_end = rest
                .iter()
                .position(|b| matches!(b, b'=' | b','))
                .unwrap_or(rest.len());
            let name = rest[..name_end].trim_ascii();
            let mut rest = &rest[name_end..];
            let mut value = None;
            if let Some(after_eq) = rest.strip_prefix(b"=") {
                let after_eq = after_eq.trim_ascii_start();
                if let Some(quoted) = after_eq.strip_prefix(b"\"") {
                    // Quoted string: up to the next unescaped quote.
                    let mut end = 0;
                    while end < quoted.len() && quoted[end] != b'"' {
                        end += if quoted[end] == b'\\' { 2 } else { 1 };
                    }
                    let end = end.min(quoted.len());
                    value = Some(&quoted[..end]);
                    rest = &quoted[(end + 1).min(quoted.len())..];
                    let comma = rest.iter().position(|b| *b == b',').unwrap_or(rest.len());
                    rest = &rest[comma..];
                } else {
                    let end = after_eq.iter().position(|b| *b == b',').unwrap_or(after_eq.len());
                    value = Some(after_eq[..end].trim_ascii());
                    rest = &after_eq[end..];
                }
            }
            self.rest = rest.strip_prefix(b",").unwrap_or(rest);
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    }
}

/// Whether a `Pragma` field line says `no-cache` (RFC 9111 §5.4), which a request's
/// `Pragma` means only when it has no `Cache-Control`.
pub(crate) fn pragma_no_cache(line: &[u8]) -> bool {
    line.split(|b| *b == b',')
        .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::cc;

    #[test]
    fn parses_common_directives_case_insensitively() {
        let c = cc("Public, MAX-AGE=60, s-maxage=\"30\", no-cache=\"set-cookie, x\"");
        assert!(c.public);
        // A qualified no-cache names fields; it does not make the whole response no-cache.
        assert!(!c.no_cache);
        assert_eq!(
            c.no_cache_fields,
            [header::SET_COOKIE, HeaderName::from_static("x")]
        );
        assert_eq!(c.max_age, Some(Ok(60)));
        assert_eq!(c.s_maxage, Some(Ok(30)));
        assert!(!c.private && !c.no_store);
        let p = cc("private=\"a,b\", no-store");
        assert!(!p.private && p.no_store);
        assert_eq!(p.private_fields.len(), 2);
        assert!(cc("private, no-cache").private);
        assert!(cc("private, no-cache").no_cache);
    }

    #[test]
    fn first_occurrence_wins_and_request_directives_parse() {
        let c = cc("max-age=10, max-age=20");
        assert_eq!(c.max_age, Some(Ok(10)));
        let r = cc("max-stale, min-fresh=5, only-if-cached, stale-if-error=30");
        assert_eq!(r.max_stale, Some(None));
        assert_eq!(r.min_fresh, Some(5));
        assert!(r.only_if_cached);
        assert_eq!(r.stale_if_error, Some(30));
        assert_eq!(cc("max-stale=7").max_stale, Some(Some(7)));
        // Recorded (a cache never transforms, so it only reports it), not confused with others.
        let t = cc("no-transform, max-age=5");
        assert!(t.no_transform && !t.no_store && !t.no_cache);
        assert!(!cc("max-age=5").no_transform);
        // A quoted value with a comma inside, then more directives.
        let q = cc("private=\"a, b\", max-age=5, must-understand");
        assert_eq!(
            (q.private_fields.len(), q.max_age, q.must_understand),
            (2, Some(Ok(5)), true)
        );
    }

    #[test]
    fn malformed_values_are_invalid_not_errors() {
        assert_eq!(cc("max-age=abc").max_age, Some(Err(())));
        assert_eq!(cc("max-age=").max_age, Some(Err(())));
        assert_eq!(cc("max-age").max_age, Some(Err(())));
        assert_eq!(
            cc("max-age=99999999999999999999999").max_age,
            Some(Ok(2_147_483_648))
        );
        assert_eq!(cc(",,, ,=,\"").max_age, None);
        assert!(cc("=\"unterminated, no-store").max_age.is_none());
    }

    #[test]
    fn pragma_no_cache_is_one_member_of_the_list() {
        assert!(pragma_no_cache(b"no-cache"));
        assert!(pragma_no_cache(b"foo=1,  NO-CACHE "));
        assert!(!pragma_no_cache(b"no-cache-please"));
        assert!(!pragma_no_cache(b""));
    }
}
