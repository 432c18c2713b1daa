//! Validators and conditional requests: entity-tags and their comparison (RFC 9110 §8.8.3),
//! a client's `If-None-Match`/`If-Modified-Since` (RFC 9110 §13.1–13.2), the headers of a 304
//! (§15.4.5), and freshening a stored response with a 304 or a `HEAD` (RFC 9111 §3.2, §4.3.4,
//! §4.3.5).

use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::{
    date::{DateField, http_date, parse_http_date},
    storability::storable_headers,
};
use crate::{entry::Entry, request::RequestHead};

/// Evaluates a client's `If-None-Match` / `If-Modified-Since` against a stored response
/// (RFC 9110 §13.2.2): `true` when the client's copy is current and a 304 is the answer.
/// `If-None-Match` (weak comparison) takes precedence; `If-Modified-Since` is used only without
/// it, and only with a valid date.
///
/// Only a stored 2xx answers conditionals: for any other status the conditions are ignored
/// (RFC 9110 §13.2.1), and `If-None-Match: *` matches a current representation only (§13.1.2),
/// which a stored 404 is not.
///
/// `If-None-Match` is `"*"` or a list of entity-tags (§13.1.2), read over all its field lines:
/// `*` counts only as the whole value, and a malformed member (`*` in a list, an unquoted tag,
/// a missing closing quote, a character an entity-tag may not hold) matches nothing.
pub(crate) fn not_modified<R: HeaderLookup + ?Sized>(request: &R, entry: &Entry) -> bool {
    if !entry.status.is_success() {
        return false;
    }
    // (members, whether one is `*`, whether one matches the stored ETag)
    let mut if_none_match: Option<(usize, bool, bool)> = None;
    let etag = entry.headers.get(header::ETAG).map(|v| v.as_bytes());
    request.each_value(&header::IF_NONE_MATCH, &mut |value| {
        let (members, star, matched) = if_none_match.get_or_insert((0, false, false));
        for member in entity_tag_list(value) {
            *members += 1;
            *star |= member == b"*";
            *matched |= etag.is_some_and(|etag| weak_eq(member, etag));
        }
    });
    if let Some((members, star, matched)) = if_none_match {
        return matched || (star && members == 1);
    }
    let mut since = None;
    request.each_value(&header::IF_MODIFIED_SINCE, &mut |value| {
        since = std::str::from_utf8(value).ok().and_then(parse_http_date);
    });
    // A date in the future is no date the client's copy could have (RFC 2616 §14.25 called it
    // invalid; servers such as Apache httpd ignore it): the condition is ignored.
    let Some(since) = since.filter(|since| *since <= SystemTime::now()) else {
        return false;
    };
    let modified = http_date(&entry.headers, header::LAST_MODIFIED)
        .valid()
        .or_else(|| http_date(&entry.headers, header::DATE).valid())
        .unwrap_or(entry.stored_at);
    modified <= since
}

/// Reads header values from a request head or a plain header map.
pub(crate) trait HeaderLookup {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8]));
}

impl<R: RequestHead> HeaderLookup for R {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        self.for_each_header_value(name, f);
    }
}

impl HeaderLookup for HeaderMap {
    fn each_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        for value in self.get_all(name) {
            f(value.as_bytes());
        }
    }
}

/// The members of one field line of an entity-tag list (RFC 9110 §5.6.1), split at the commas
/// outside quotes (an opaque-tag may hold a comma), trimmed, empty members skipped. After an
/// unterminated quote the rest of the line is one (malformed) member.
fn entity_tag_list(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = line;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let mut quoted = false;
            let end = rest
                .iter()
                .position(|b| {
                    quoted ^= *b == b'"';
                    *b == b',' && !quoted
                })
                .unwrap_or(rest.len());
            let member = rest[..end].trim_ascii();
            rest = rest.get(end + 1..).unwrap_or_default();
            if !member.is_empty() {
                return Some(member);
            }
        }
        None
    })
}

/// An entity-tag (RFC 9110 §8.8.3), surrounding whitespace aside: whether it is weak, and its
/// opaque-tag without the quotes. `None` when it is malformed: unquoted, without its closing
/// quote, with a character outside `etagc` (a space, a control, a `"`) or a weak prefix other
/// than `W/`.
fn entity_tag(tag: &[u8]) -> Option<(bool, &[u8])> {
    let tag = tag.trim_ascii();
    let (weak, opaque) = match tag.strip_prefix(b"W/") {
        Some(opaque) => (true, opaque),
        None => (false, tag),
    };
    let opaque = opaque.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    // etagc = %x21 / %x23-7E / obs-text
    let etagc = |b: &u8| *b == 0x21 || (0x23..=0x7e).contains(b) || *b >= 0x80;
    opaque.iter().all(etagc).then_some((weak, opaque))
}

/// Weak comparison of two entity-tags (RFC 9110 §8.8.3.2): both well-formed, equal opaque
/// tags, `W/` ignored. A malformed tag matches nothing, not even itself.
pub(crate) fn weak_eq(a: &[u8], b: &[u8]) -> bool {
    matches!((entity_tag(a), entity_tag(b)), (Some((_, a)), Some((_, b))) if a == b)
}

/// The headers of a 304 answered from a stored response (RFC 9110 §15.4.5): those a 200 would
/// carry among `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires`, `Vary`, plus
/// `Last-Modified`.
pub(crate) fn not_modified_headers(stored: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [
        header::CACHE_CONTROL,
        header::CONTENT_LOCATION,
        header::DATE,
        header::ETAG,
        header::EXPIRES,
        header::VARY,
        header::LAST_MODIFIED,
    ] {
        for value in stored.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// Whether a 304 may update a stored response (RFC 9111 §4.3.4), the one the cache's
/// conditional request was built from:
///
/// - a 304 with a strong `ETag` updates only a stored response with the same strong `ETag`
///   (strong comparison, RFC 9110 §8.8.3.2); with any other, it MUST NOT update it;
/// - a 304 with a weak `ETag` updates a stored response whose `ETag` matches it weakly;
/// - a 304 with `Last-Modified` and no `ETag` updates a stored response with the same
///   `Last-Modified` date;
/// - a 304 with no validator updates the stored response when that has no `ETag`. §4.3.4
///   asks that it have no validator at all, to choose among several stored responses;
///   cachefront nominates exactly one, with its own validators, and a 304 answering an
///   `If-Modified-Since` need not repeat `Last-Modified` (RFC 9110 §15.4.5), whereas it must
///   repeat the `ETag` a 200 would carry.
pub(crate) fn freshens(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let stored_etag = stored.get(header::ETAG).map(HeaderValue::as_bytes);
    if let Some(etag) = not_modified.get(header::ETAG).map(HeaderValue::as_bytes) {
        return stored_etag.is_some_and(|stored| {
            if is_weak(etag) {
                weak_eq(etag, stored)
            } else {
                strong_eq(etag, stored)
            }
        });
    }
    match http_date(not_modified, header::LAST_MODIFIED) {
        DateField::Valid(date) => http_date(stored, header::LAST_MODIFIED).valid() == Some(date),
        // An unparsable Last-Modified identifies nothing.
        DateField::Invalid => false,
        DateField::Absent => stored_etag.is_none(),
    }
}

/// Whether a 200 to a `HEAD` request may update the stored `GET` response (RFC 9111 §4.3.5):
/// every validator the `HEAD` response carries (`ETag`, `Last-Modified`) matches the stored
/// one — the `ETag` as a 304's would ([`freshens`]) — and so does its `Content-Length`, when it
/// has one. Without validators it updates only a stored response that has none either.
pub(crate) fn head_freshens(stored: &Entry, head: &HeaderMap) -> bool {
    let last_modified_matches = match http_date(head, header::LAST_MODIFIED) {
        DateField::Absent => true,
        DateField::Valid(date) => http_date(&stored.headers, header::LAST_MODIFIED).valid() == Some(date),
        DateField::Invalid => false,
    };
    let length_matches = head.get(header::CONTENT_LENGTH).is_none_or(|length| {
        length.to_str().ok().and_then(|l| l.trim().parse::<u64>().ok()) == Some(stored.body.len() as u64)
    });
    let no_validators = !head.contains_key(header::ETAG) && !head.contains_key(header::LAST_MODIFIED);
    let validators_match = if no_validators {
        !stored.headers.contains_key(header::ETAG) && !stored.headers.contains_key(header::LAST_MODIFIED)
    } else {
        freshens(&stored.headers, head) && last_modified_matches
    };
    validators_match && length_matches
}

fn is_weak(tag: &[u8]) -> bool {
    tag.trim_ascii().starts_with(b"W/")
}

/// Strong comparison of two entity-tags (RFC 9110 §8.8.3.2), the one `If-Match` and
/// `If-Range` use: both well-formed and strong, equal opaque tags. A malformed tag matches
/// nothing.
pub(crate) fn strong_eq(a: &[u8], b: &[u8]) -> bool {
    matches!(
        (entity_tag(a), entity_tag(b)),
        (Some((false, a)), Some((false, b))) if a == b
    )
}

/// Updates stored headers with those of a 304 (RFC 9111 §3.2): every field of the 304 replaces
/// the stored one, except fields never stored and `Content-Length`. The result is a complete
/// response head, which then goes through the same decision of what may be stored as a full
/// response (`Storable::stored_headers`): a 304's `private="f"` field, its `Set-Cookie` and its
/// tag headers are kept out of the store as a 200's are.
pub(crate) fn merge_not_modified(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    let update = storable_headers(not_modified, &[], &[]);
    for name in update.keys() {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        merged.remove(name);
        for value in update.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::rules::test_support::headers;

    fn entry_with(status: u16, pairs: &[(&str, &str)]) -> Entry {
        let mut entry = Entry::for_tests();
        entry.status = http::StatusCode::from_u16(status).unwrap();
        entry.headers = headers(pairs);
        entry
    }

    #[test]
    fn a_stored_error_never_answers_client_conditionals_with_304() {
        // RFC 9110 §13.1.2: `*` matches a current representation only; §13.2.1: preconditions
        // apply only where the response would otherwise be 2xx.
        let hour_ago = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
        let now = httpdate::fmt_http_date(SystemTime::now());
        let stored = [("etag", "\"a\""), ("last-modified", hour_ago.as_str())];
        let ok = entry_with(200, &stored);
        let no_content = entry_with(204, &stored);
        for request in [
            headers(&[("if-none-match", "*")]),
            headers(&[("if-none-match", "\"a\"")]),
            headers(&[("if-modified-since", now.as_str())]),
        ] {
            assert!(not_modified(&request, &ok), "{request:?} against a 200");
            assert!(not_modified(&request, &no_content), "{request:?} against a 204");
            for status in [301, 404, 410, 501] {
                assert!(
                    !not_modified(&request, &entry_with(status, &stored)),
                    "{request:?} answered a stored {status} with 304"
                );
            }
        }
    }

    #[test]
    fn a_304_freshens_only_a_stored_response_whose_validator_it_matches() {
        // RFC 9111 §4.3.4.
        let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
        let other_lm = "Tue, 02 Jan 2024 00:00:00 GMT";
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields<'_>, Fields<'_>, bool); 14] = [
            // A strong ETag identifies the stored responses with the same strong ETag only.
            (&[("etag", "\"a\"")], &[("etag", "\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "\"b\"")], false),
            (&[("etag", "W/\"a\"")], &[("etag", "\"a\"")], false),
            (&[("last-modified", lm)], &[("etag", "\"a\"")], false),
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("etag", "\"a\""), ("last-modified", other_lm)],
                true,
            ),
            // A weak ETag: the stored response it weakly matches.
            (&[("etag", "W/\"a\"")], &[("etag", "W/\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "W/\"a\"")], true),
            (&[("etag", "W/\"a\"")], &[("etag", "W/\"b\"")], false),
            // Last-Modified without an ETag: the same date.
            (&[("last-modified", lm)], &[("last-modified", lm)], true),
            (&[("last-modified", lm)], &[("last-modified", other_lm)], false),
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("last-modified", other_lm)],
                false,
            ),
            // No validator in the 304: the stored response it was asked about, when that has no
            // ETag (RFC 9110 §15.4.5 does not make a 304 repeat Last-Modified, but it does make
            // it repeat the ETag a 200 would carry).
            (&[("last-modified", lm)], &[], true),
            (&[], &[], true),
            (&[("etag", "\"a\"")], &[], false),
        ];
        for (stored, not_modified, expected) in cases {
            assert_eq!(
                freshens(&headers(stored), &headers(not_modified)),
                expected,
                "stored {stored:?}, 304 {not_modified:?}"
            );
        }
    }

    #[test]
    fn a_head_response_freshens_only_a_stored_get_with_its_validators_and_length() {
        // RFC 9111 §4.3.5.
        let lm = "Mon, 01 Jan 2024 00:00:00 GMT";
        let other_lm = "Tue, 02 Jan 2024 00:00:00 GMT";
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields<'_>, Fields<'_>, bool); 11] = [
            (&[("etag", "\"a\"")], &[("etag", "\"a\"")], true),
            (&[("etag", "\"a\"")], &[("etag", "\"b\"")], false),
            // Every validator the HEAD response carries must match, Last-Modified too.
            (
                &[("etag", "\"a\""), ("last-modified", lm)],
                &[("etag", "\"a\""), ("last-modified", other_lm)],
                false,
            ),
            (&[("last-modified", lm)], &[("last-modified", lm)], true),
            (&[("last-modified", lm)], &[("last-modified", "garbage")], false),
            // Without validators, only a stored response without any is updated.
            (&[], &[], true),
            (&[("etag", "\"a\"")], &[], false),
            (&[("last-modified", lm)], &[], false),
            // Content-Length, when the HEAD response has one, is the stored body's length.
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "4")],
                true,
            ),
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "5")],
                false,
            ),
            (
                &[("etag", "\"a\"")],
                &[("etag", "\"a\""), ("content-length", "x")],
                false,
            ),
        ];
        for (stored, head, expected) in cases {
            let mut entry = Entry::new(
                crate::CacheKey::from_parts(["k"]),
                http::StatusCode::OK,
                bytes::Bytes::from_static(b"body"),
                Duration::from_secs(60),
            );
            entry.headers = headers(stored);
            assert_eq!(
                head_freshens(&entry, &headers(head)),
                expected,
                "stored {stored:?}, HEAD {head:?}"
            );
        }
    }

    #[test]
    fn entity_tags_compare_weakly() {
        assert!(weak_eq(b"W/\"a\"", b"\"a\""));
        assert!(weak_eq(b"\"a\"", b"\"a\""));
        assert!(!weak_eq(b"\"a\"", b"\"b\""));
        assert!(!weak_eq(b"a", b"a"), "an unquoted tag is not an entity-tag");
    }

    #[test]
    fn malformed_entity_tags_match_nothing_not_even_themselves() {
        // RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc excluding
        // spaces, controls and DQUOTE.
        for tag in [
            &b"\"a b\""[..],
            b"\"a\"b\"",
            b"\"a\tb\"",
            b"\"a\x01\"",
            b"W/\"a b\"",
            b"w/\"a\"",
            b"W/ \"a\"",
            b"\"a",
            b"a\"",
            b"\"",
            b"W/",
            b"*",
        ] {
            assert!(!weak_eq(tag, tag), "weak: {tag:?}");
            assert!(!strong_eq(tag, tag), "strong: {tag:?}");
        }
        // The edges of etagc, and obs-text, are allowed.
        for tag in [&b"\"\""[..], b"\"!#~\"", b"\"caf\xc3\xa9\"", b"\"a,b\""] {
            assert!(weak_eq(tag, tag), "{tag:?}");
            assert!(strong_eq(tag, tag), "{tag:?}");
        }
    }

    #[test]
    fn strong_comparison_needs_two_well_formed_strong_tags() {
        // RFC 9110 §8.8.3.2's table.
        assert!(strong_eq(b"\"1\"", b"\"1\""));
        assert!(strong_eq(b" \"1\" ", b"\"1\""), "surrounding whitespace aside");
        assert!(!strong_eq(b"W/\"1\"", b"W/\"1\""));
        assert!(!strong_eq(b"W/\"1\"", b"\"1\""));
        assert!(!strong_eq(b"\"1\"", b"W/\"1\""));
        assert!(!strong_eq(b"\"1\"", b"\"2\""));
        assert!(!strong_eq(b"\"1 2\"", b"\"1 2\""), "a space is not an etagc");
    }

    #[test]
    fn if_none_match_splits_its_list_outside_quotes() {
        // An opaque-tag may hold a comma (0x2C is an etagc): `"a,b"` is one entity-tag.
        let entry = entry_with(200, &[("etag", "\"a,b\"")]);
        for value in ["\"a,b\"", "\"x\", \"a,b\"", "W/\"a,b\" , \"y\""] {
            assert!(
                not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
        for value in ["\"a\"", "\"b\"", "\"a\", \"b\""] {
            assert!(
                !not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
    }

    #[test]
    fn malformed_entity_tags_never_yield_304() {
        // A malformed stored ETag is matched by nothing, not even the same bytes.
        for etag in ["\"a b\"", "W/\"a b\"", "\"a\"b\"", "a"] {
            let entry = entry_with(200, &[("etag", etag)]);
            assert!(
                !not_modified(&headers(&[("if-none-match", etag)]), &entry),
                "{etag}"
            );
        }
        let entry = entry_with(200, &[("etag", "\"a\"")]);
        for value in ["a", "\"a", "a\"", "W/a", "w/\"a\"", "\"a\" \"a\"", "\"a, \"b\""] {
            assert!(
                !not_modified(&headers(&[("if-none-match", value)]), &entry),
                "{value}"
            );
        }
        // A malformed member leaves the well-formed ones their say.
        assert!(not_modified(&headers(&[("if-none-match", "a, \"a\"")]), &entry));
    }

    #[test]
    fn if_none_match_star_matches_only_as_the_whole_value() {
        // RFC 9110 §13.1.2: If-None-Match = "*" / #entity-tag.
        let entry = entry_with(200, &[("etag", "\"a\"")]);
        let matches = |lines: &[&str]| {
            let pairs: Vec<(&str, &str)> = lines.iter().map(|line| ("if-none-match", *line)).collect();
            not_modified(&headers(&pairs), &entry)
        };
        assert!(matches(&["*"]));
        assert!(matches(&[" * "]));
        assert!(matches(&["*", ""]), "an empty field line adds no member");
        assert!(!matches(&["\"x\", *"]));
        assert!(!matches(&["*, \"x\""]));
        assert!(!matches(&["*", "\"x\""]), "several field lines are one list");
        assert!(matches(&["*, \"a\""]), "a matching member still matches");
        // With no ETag stored, `*` still matches the current representation.
        assert!(not_modified(
            &headers(&[("if-none-match", "*")]),
            &entry_with(200, &[])
        ));
    }

    #[test]
    fn if_modified_since_is_read_in_every_http_date_format_and_case() {
        let entry = entry_with(200, &[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        for since in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "sun, 06 nov 1994 08:49:37 gmt",
            "SUNDAY, 06-NOV-94 08:49:37 GMT",
        ] {
            assert!(
                not_modified(&headers(&[("if-modified-since", since)]), &entry),
                "{since}"
            );
        }
    }

    #[test]
    fn merging_a_304_replaces_fields_but_not_content_length() {
        let stored = headers(&[
            ("etag", "\"1\""),
            ("content-length", "5"),
            ("x-a", "old"),
            ("x-b", "kept"),
        ]);
        let update = headers(&[("x-a", "new"), ("content-length", "0"), ("connection", "close")]);
        let merged = merge_not_modified(&stored, &update);
        assert_eq!(merged["x-a"], "new");
        assert_eq!(merged["x-b"], "kept");
        assert_eq!(merged["content-length"], "5");
        assert!(!merged.contains_key("connection"));
    }
}
