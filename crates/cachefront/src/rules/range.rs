//! Byte ranges answered from a stored complete response (RFC 9110 §14).
//!
//! A `GET` with `Range: bytes=…` naming one range is answered from a stored `200`: a
//! `206 Partial Content` with `Content-Range` ([`partial`]), or a
//! `416 Range Not Satisfiable` with `Content-Range: bytes */length` ([`unsatisfiable`]), or the
//! whole `200` when `If-Range` does not match (RFC 9110 §13.1.5). What the cache does not answer
//! itself — several ranges, another range unit, a malformed field — [`requested`] reports as
//! [`Requested::Other`], and the request is forwarded as it came, its response not stored.
//!
//! The cache never stores partial content: a range request that finds no usable stored response
//! asks the handler for the whole representation instead (without `Range` and `If-Range`,
//! see [`Forward::conditional_headers`](crate::flow::Forward::conditional_headers)), which is stored.

use http::{HeaderName, HeaderValue, StatusCode, header};

use super::{
    date::parse_http_date,
    validation::{HeaderLookup, strong_eq},
};
use crate::entry::Entry;

/// What a request's `Range` field asks for, as far as the cache is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requested {
    /// One byte range: the cache answers it from a stored `200`.
    Single(ByteRange),
    /// Several ranges, another unit, invalid syntax, or several `Range` field lines: the cache
    /// does not answer it, the origin does.
    Other,
}

/// One `range-spec` of the `bytes` unit (RFC 9110 §14.1.2). Positions too large for a `u64`
/// saturate: they are beyond the end of any representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// `first-last` or, without `last`, `first-`.
    FromTo(u64, Option<u64>),
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

/// What a hit answers to a request's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The stored response as it is (no range asked for, a stored status other than 200, an
    /// `If-Range` that does not match, or a range the cache leaves to the origin).
    Whole,
    /// `206` with the bytes `first..=last` of the stored body.
    Partial { first: u64, last: u64 },
    /// `416`: no byte of the range is within the stored body.
    Unsatisfiable,
}

/// Reads the request's `Range` field: `None` without one.
pub(crate) fn requested<R: HeaderLookup + ?Sized>(request: &R) -> Option<Requested> {
    let mut lines = 0;
    let mut parsed = Requested::Other;
    request.each_value(&header::RANGE, &mut |value| {
        lines += 1;
        parsed = parse(value);
    });
    match lines {
        0 => None,
        1 => Some(parsed),
        _ => Some(Requested::Other),
    }
}

/// The request header edits that ask for the whole representation instead of a range: `Range`
/// and `If-Range` removed (RFC 9110 §14.2 lets a cache ignore `Range`; `If-Range` means nothing
/// without it, §13.1.5).
pub(crate) fn whole_representation_headers() -> [(HeaderName, Option<HeaderValue>); 2] {
    [(header::RANGE, None), (header::IF_RANGE, None)]
}

/// Parses one `Range` field value (RFC 9110 §14.1.1, §14.2).
pub(crate) fn parse(value: &[u8]) -> Requested {
    let Some(at) = value.iter().position(|b| *b == b'=') else {
        return Requested::Other;
    };
    let (unit, set) = (value[..at].trim_ascii(), &value[at + 1..]);
    // Range units are case-insensitive (§14.1).
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Requested::Other;
    }
    // `1#range-spec`: empty list elements are ignored (§5.6.1).
    let mut specs = set
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|spec| !spec.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Requested::Other;
    };
    parse_spec(spec).map_or(Requested::Other, Requested::Single)
}

fn parse_spec(spec: &[u8]) -> Option<ByteRange> {
    let dash = spec.iter().position(|b| *b == b'-')?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        return Some(ByteRange::Suffix(digits(last)?));
    }
    let first = digits(first)?;
    if last.is_empty() {
        return Some(ByteRange::FromTo(first, None));
    }
    let last = digits(last)?;
    // A last position before the first makes the range invalid (§14.1.2).
    (last >= first).then_some(ByteRange::FromTo(first, Some(last)))
}

/// `1*DIGIT`, saturating at `u64::MAX`.
fn digits(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Where `range` falls in a representation of `len` bytes (RFC 9110 §14.1.1, §14.1.2).
pub(crate) fn resolve(range: ByteRange, len: u64) -> Answer {
    match range {
        ByteRange::FromTo(first, _) if first >= len => Answer::Unsatisfiable,
        ByteRange::FromTo(first, last) => Answer::Partial {
            first,
            // A last position beyond the end means the end.
            last: last.map_or(len - 1, |last| last.min(len - 1)),
        },
        ByteRange::Suffix(0) => Answer::Unsatisfiable,
        // The whole of an empty representation has no range to name.
        ByteRange::Suffix(_) if len == 0 => Answer::Whole,
        ByteRange::Suffix(n) => Answer::Partial {
            first: len.saturating_sub(n),
            last: len - 1,
        },
    }
}

/// What a hit on `entry` answers to the request's `Range` (never called for `HEAD`, for which
/// range handling is not defined, §14.2). Only a stored `200` is sliced; `If-Range` is
/// evaluated first, and when it does not match the whole response is the answer (§13.1.5).
pub(crate) fn answer<R: HeaderLookup + ?Sized>(request: &R, entry: &Entry) -> Answer {
    let Some(Requested::Single(range)) = requested(request) else {
        return Answer::Whole;
    };
    if entry.status != StatusCode::OK || !if_range_holds(request, entry) {
        return Answer::Whole;
    }
    resolve(range, entry.body.len() as u64)
}

/// Whether the request's `If-Range`, if any, lets its range be served (RFC 9110 §13.1.5): an
/// entity-tag must match the stored `ETag` by strong comparison; an HTTP-date must equal the
/// stored `Last-Modified` exactly, and that must be a strong validator: at least one second
/// before the stored `Date` (§8.8.2.2). Anything else (a weak tag, a malformed value, several
/// field lines) does not match.
fn if_range_holds<R: HeaderLookup + ?Sized>(request: &R, entry: &Entry) -> bool {
    let mut lines = 0;
    let mut holds = false;
    request.each_value(&header::IF_RANGE, &mut |value| {
        lines += 1;
        holds = if_range_matches(value.trim_ascii(), entry);
    });
    lines == 0 || (lines == 1 && holds)
}

fn if_range_matches(value: &[u8], entry: &Entry) -> bool {
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        return entry
            .headers
            .get(header::ETAG)
            .is_some_and(|etag| strong_eq(value, etag.as_bytes()));
    }
    let date = |value: &[u8]| std::str::from_utf8(value).ok().and_then(parse_http_date);
    let stored = |name| {
        entry
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| date(v.as_bytes()))
    };
    let (Some(since), Some(modified), Some(dated)) =
        (date(value), stored(header::LAST_MODIFIED), stored(header::DATE))
    else {
        return false;
    };
    let strong = dated.duration_since(modified).is_ok_and(|gap| gap.as_secs() >= 1);
    strong && since == modified
}

/// The `206` for the bytes `first..=last` of a stored `200`: its headers with `Content-Range`
/// (§14.4), the slice as its body. The copy shares the stored body; its freshness and age are
/// the stored response's.
pub(crate) fn partial(entry: &Entry, first: u64, last: u64) -> Entry {
    let len = entry.body.len();
    let (start, end) = (first as usize, last as usize);
    let mut partial = entry.clone();
    partial.status = StatusCode::PARTIAL_CONTENT;
    partial.body = entry.body.slice(start..=end);
    partial.headers.insert(
        header::CONTENT_RANGE,
        content_range(&format!("bytes {first}-{last}/{len}")),
    );
    partial
}

/// The `416` for a range outside a stored `200` (§15.5.17): `Content-Range: bytes */length`,
/// the stored validators, `Date` and `Vary`, no body. The stored `Cache-Control` and `Expires`
/// are left out, so that no cache downstream stores the error as the resource.
pub(crate) fn unsatisfiable(entry: &Entry) -> Entry {
    let mut refused = entry.clone();
    refused.status = StatusCode::RANGE_NOT_SATISFIABLE;
    refused.body = bytes::Bytes::new();
    refused.headers = http::HeaderMap::new();
    for name in [header::DATE, header::ETAG, header::LAST_MODIFIED, header::VARY] {
        for value in entry.headers.get_all(&name) {
            refused.headers.append(name.clone(), value.clone());
        }
    }
    refused.headers.insert(
        header::CONTENT_RANGE,
        content_range(&format!("bytes */{}", entry.body.len())),
    );
    refused
}

fn content_range(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("digits, spaces, '-', '/' and '*' are valid")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use http::HeaderMap;

    use super::*;
    use crate::key::CacheKey;

    fn single(range: ByteRange) -> Requested {
        Requested::Single(range)
    }

    fn stored(status: StatusCode, body: &'static str, headers: &[(&'static str, &str)]) -> Entry {
        let mut entry = Entry::new(
            CacheKey::from_parts(["r"]),
            status,
            Bytes::from_static(body.as_bytes()),
            Duration::from_secs(60),
        );
        for (name, value) in headers {
            entry.headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        entry
    }

    fn request(headers: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn date(secs_ago: u64) -> String {
        httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(secs_ago))
    }

    #[test]
    fn range_parses_first_last_open_ended_and_suffix_ranges() {
        assert_eq!(parse(b"bytes=0-4"), single(ByteRange::FromTo(0, Some(4))));
        assert_eq!(parse(b"bytes=5-"), single(ByteRange::FromTo(5, None)));
        assert_eq!(parse(b"bytes=-3"), single(ByteRange::Suffix(3)));
        assert_eq!(parse(b"bytes=7-7"), single(ByteRange::FromTo(7, Some(7))));
    }

    #[test]
    fn range_unit_is_case_insensitive_and_whitespace_around_the_spec_is_allowed() {
        assert_eq!(parse(b"Bytes=0-1"), single(ByteRange::FromTo(0, Some(1))));
        assert_eq!(parse(b"BYTES= 2-3 "), single(ByteRange::FromTo(2, Some(3))));
        assert_eq!(
            parse(b"bytes=0-1,"),
            single(ByteRange::FromTo(0, Some(1))),
            "empty element"
        );
    }

    #[test]
    fn range_invalid_syntax_is_left_to_the_origin() {
        for value in [
            &b""[..],
            b"bytes",
            b"bytes=",
            b"bytes=-",
            b"bytes=a-b",
            b"bytes=1-x",
            b"bytes=+1-2",
            b"bytes=1 - 2",
            b"bytes=0x10-",
            b"bytes=5-2",
            b"bytes=--1",
            b"bytes=1-2-3",
            b"bytes=\xff",
        ] {
            assert_eq!(parse(value), Requested::Other, "{value:?}");
        }
    }

    #[test]
    fn range_in_another_unit_is_left_to_the_origin() {
        assert_eq!(parse(b"items=0-1"), Requested::Other);
        assert_eq!(parse(b"bytesx=0-1"), Requested::Other);
    }

    #[test]
    fn range_with_several_ranges_is_left_to_the_origin() {
        assert_eq!(parse(b"bytes=0-1,4-5"), Requested::Other);
        assert_eq!(parse(b"bytes=0-1, -2"), Requested::Other);
        assert_eq!(parse(b"bytes=0-1,0-1"), Requested::Other);
        let two_lines = request(&[("range", "bytes=0-1"), ("range", "bytes=2-3")]);
        assert_eq!(requested(&two_lines), Some(Requested::Other));
        assert_eq!(requested(&request(&[])), None);
    }

    #[test]
    fn range_positions_too_large_for_u64_saturate() {
        let huge = b"bytes=99999999999999999999999999-";
        assert_eq!(parse(huge), single(ByteRange::FromTo(u64::MAX, None)));
        assert_eq!(
            parse(b"bytes=0-99999999999999999999999999"),
            single(ByteRange::FromTo(0, Some(u64::MAX)))
        );
        assert_eq!(
            parse(b"bytes=-99999999999999999999999999"),
            single(ByteRange::Suffix(u64::MAX))
        );
        assert_eq!(
            resolve(ByteRange::FromTo(u64::MAX, None), 10),
            Answer::Unsatisfiable
        );
        assert_eq!(
            resolve(ByteRange::FromTo(0, Some(u64::MAX)), 10),
            Answer::Partial { first: 0, last: 9 }
        );
        assert_eq!(
            resolve(ByteRange::Suffix(u64::MAX), 10),
            Answer::Partial { first: 0, last: 9 }
        );
    }

    #[test]
    fn range_resolves_within_the_representation_and_clamps_beyond_its_end() {
        let partial = |first, last| Answer::Partial { first, last };
        assert_eq!(resolve(ByteRange::FromTo(0, Some(4)), 10), partial(0, 4));
        assert_eq!(resolve(ByteRange::FromTo(5, None), 10), partial(5, 9));
        assert_eq!(resolve(ByteRange::FromTo(8, Some(20)), 10), partial(8, 9));
        assert_eq!(resolve(ByteRange::FromTo(9, Some(9)), 10), partial(9, 9));
        assert_eq!(resolve(ByteRange::Suffix(3), 10), partial(7, 9));
        assert_eq!(
            resolve(ByteRange::Suffix(30), 10),
            partial(0, 9),
            "the whole, as a 206"
        );
    }

    #[test]
    fn range_starting_at_or_beyond_the_end_or_an_empty_suffix_is_unsatisfiable() {
        assert_eq!(resolve(ByteRange::FromTo(10, None), 10), Answer::Unsatisfiable);
        assert_eq!(
            resolve(ByteRange::FromTo(11, Some(12)), 10),
            Answer::Unsatisfiable
        );
        assert_eq!(resolve(ByteRange::Suffix(0), 10), Answer::Unsatisfiable);
        assert_eq!(resolve(ByteRange::FromTo(0, None), 0), Answer::Unsatisfiable);
        assert_eq!(resolve(ByteRange::Suffix(5), 0), Answer::Whole, "nothing to name");
    }

    #[test]
    fn range_is_answered_only_from_a_stored_200() {
        let range = request(&[("range", "bytes=0-1")]);
        let ok = stored(StatusCode::OK, "0123456789", &[]);
        assert_eq!(answer(&range, &ok), Answer::Partial { first: 0, last: 1 });
        for status in [StatusCode::NOT_FOUND, StatusCode::NON_AUTHORITATIVE_INFORMATION] {
            let other = stored(status, "0123456789", &[]);
            assert_eq!(answer(&range, &other), Answer::Whole, "{status}");
        }
        assert_eq!(answer(&request(&[]), &ok), Answer::Whole, "no Range");
    }

    #[test]
    fn if_range_with_the_stored_strong_etag_serves_the_range() {
        let entry = stored(StatusCode::OK, "0123456789", &[("etag", "\"v1\"")]);
        let asked = request(&[("range", "bytes=2-3"), ("if-range", "\"v1\"")]);
        assert_eq!(answer(&asked, &entry), Answer::Partial { first: 2, last: 3 });
    }

    #[test]
    fn if_range_with_another_etag_serves_the_whole_response() {
        let entry = stored(StatusCode::OK, "0123456789", &[("etag", "\"v1\"")]);
        let asked = request(&[("range", "bytes=2-3"), ("if-range", "\"v2\"")]);
        assert_eq!(answer(&asked, &entry), Answer::Whole);
        let untagged = stored(StatusCode::OK, "0123456789", &[]);
        let asked = request(&[("range", "bytes=2-3"), ("if-range", "\"v1\"")]);
        assert_eq!(answer(&asked, &untagged), Answer::Whole);
    }

    #[test]
    fn if_range_compares_entity_tags_strongly_so_weak_tags_never_match() {
        let weak = stored(StatusCode::OK, "0123456789", &[("etag", "W/\"v1\"")]);
        let strong = stored(StatusCode::OK, "0123456789", &[("etag", "\"v1\"")]);
        for (entry, tag) in [(&weak, "W/\"v1\""), (&weak, "\"v1\""), (&strong, "W/\"v1\"")] {
            let asked = request(&[("range", "bytes=2-3"), ("if-range", tag)]);
            assert_eq!(answer(&asked, entry), Answer::Whole, "{tag}");
        }
    }

    #[test]
    fn if_range_date_equal_to_a_strong_last_modified_serves_the_range() {
        let modified = date(3600);
        let entry = stored(
            StatusCode::OK,
            "0123456789",
            &[("last-modified", &modified), ("date", &date(0))],
        );
        let asked = request(&[("range", "bytes=0-0"), ("if-range", &modified)]);
        assert_eq!(answer(&asked, &entry), Answer::Partial { first: 0, last: 0 });
    }

    #[test]
    fn if_range_date_other_than_last_modified_serves_the_whole_response() {
        let entry = stored(
            StatusCode::OK,
            "0123456789",
            &[("last-modified", &date(3600)), ("date", &date(0))],
        );
        // Later than Last-Modified is not equal to it either (unlike If-Modified-Since).
        for since in [date(7200), date(60)] {
            let asked = request(&[("range", "bytes=0-0"), ("if-range", &since)]);
            assert_eq!(answer(&asked, &entry), Answer::Whole, "{since}");
        }
    }

    #[test]
    fn if_range_date_against_a_weak_last_modified_serves_the_whole_response() {
        let now = date(0);
        // Last-Modified within a second of Date, or no Date to tell: weak (RFC 9110 §8.8.2.2).
        let same_second = stored(
            StatusCode::OK,
            "0123456789",
            &[("last-modified", &now), ("date", &now)],
        );
        let undated = stored(StatusCode::OK, "0123456789", &[("last-modified", &now)]);
        for entry in [&same_second, &undated] {
            let asked = request(&[("range", "bytes=0-0"), ("if-range", &now)]);
            assert_eq!(answer(&asked, entry), Answer::Whole);
        }
    }

    #[test]
    fn if_range_malformed_or_repeated_serves_the_whole_response() {
        let entry = stored(
            StatusCode::OK,
            "0123456789",
            &[
                ("etag", "\"v1\""),
                ("last-modified", &date(3600)),
                ("date", &date(0)),
            ],
        );
        for if_range in ["garbage", "", "\"v1", "v1"] {
            let asked = request(&[("range", "bytes=0-0"), ("if-range", if_range)]);
            assert_eq!(answer(&asked, &entry), Answer::Whole, "{if_range:?}");
        }
        let twice = request(&[
            ("range", "bytes=0-0"),
            ("if-range", "\"v1\""),
            ("if-range", "\"v1\""),
        ]);
        assert_eq!(answer(&twice, &entry), Answer::Whole);
    }

    #[test]
    fn partial_response_carries_the_slice_and_its_content_range() {
        let entry = stored(
            StatusCode::OK,
            "0123456789",
            &[("etag", "\"v1\""), ("content-type", "text/plain")],
        );
        let partial = partial(&entry, 2, 5);
        assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(partial.body, "2345");
        assert_eq!(partial.headers["content-range"], "bytes 2-5/10");
        assert_eq!(partial.headers["etag"], "\"v1\"");
        assert_eq!(partial.headers["content-type"], "text/plain");
        assert_eq!(partial.stored_at, entry.stored_at, "the stored response's age");
    }

    #[test]
    fn unsatisfiable_response_names_the_length_and_keeps_validators_only() {
        let entry = stored(
            StatusCode::OK,
            "0123456789",
            &[
                ("etag", "\"v1\""),
                ("cache-control", "max-age=60"),
                ("content-type", "text/plain"),
            ],
        );
        let refused = unsatisfiable(&entry);
        assert_eq!(refused.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert!(refused.body.is_empty());
        assert_eq!(refused.headers["content-range"], "bytes */10");
        assert_eq!(refused.headers["etag"], "\"v1\"");
        assert!(!refused.headers.contains_key("cache-control"));
        assert!(!refused.headers.contains_key("content-type"));
    }
}
