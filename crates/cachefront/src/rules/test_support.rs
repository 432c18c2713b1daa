//! Helpers shared by the tests of the `rules` modules.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::CacheControl;

pub(super) fn cc(line: &str) -> CacheControl {
    let mut cc = CacheControl::default();
    cc.parse_line(line.as_bytes());
    cc
}

pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}
