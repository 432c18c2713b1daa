//! `Cache-Control` parsing (RFC 9111 §5.2) on arbitrary bytes: never a panic, and parsing is
//! deterministic and idempotent (the first occurrence of a directive wins).
#![no_main]

use cachefront::fuzzing::CacheControl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut once = CacheControl::default();
    once.parse_line(data);

    let mut again = CacheControl::default();
    again.parse_line(data);
    assert_eq!(once, again);

    // A repeated line changes none of the valued directives.
    let mut twice = once.clone();
    twice.parse_line(data);
    assert_eq!(twice.max_age, once.max_age);
    assert_eq!(twice.s_maxage, once.s_maxage);
    assert_eq!(twice.max_stale, once.max_stale);
    assert_eq!(twice.min_fresh, once.min_fresh);

    // The same bytes as a header field, when they are a valid field value.
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CACHE_CONTROL, value);
        assert_eq!(CacheControl::from_headers(&headers), once);
    }
});
