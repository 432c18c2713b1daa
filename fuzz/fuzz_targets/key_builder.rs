//! Key building on arbitrary request heads: never a panic, deterministic, and invariant under
//! the query spec that ignores the query.
//!
//! The input is split on NUL bytes into method, path, query, host and header values; each part
//! is read as (lossy) UTF-8 where the core takes `&str`, as any adapter must hand it strings.
#![no_main]

use cachefront::{KeySpec, QueryKey, adapter::RequestHead};
use http::{HeaderMap, HeaderName};
use libfuzzer_sys::fuzz_target;

struct Head {
    method: String,
    path: String,
    query: Option<String>,
    host: Option<String>,
    values: Vec<Vec<u8>>,
}

const KEYED: HeaderName = HeaderName::from_static("x-tenant");

impl RequestHead for Head {
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
    fn for_each_header_value(&self, name: &HeaderName, f: &mut dyn FnMut(&[u8])) {
        if *name == KEYED {
            self.values.iter().for_each(|v| f(v));
        }
    }
    fn contains_header(&self, name: &HeaderName) -> bool {
        *name == KEYED && !self.values.is_empty()
    }
    fn to_header_map(&self) -> HeaderMap {
        HeaderMap::new()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let mut text = |optional: bool| {
        parts.next().and_then(|p| {
            if optional && p.first() == Some(&b'-') {
                None
            } else {
                Some(String::from_utf8_lossy(p).into_owned())
            }
        })
    };
    let head = Head {
        method: text(false).unwrap_or_default(),
        path: text(false).unwrap_or_default(),
        query: text(true),
        host: text(true),
        values: data.split(|b| *b == 0).skip(4).map(<[u8]>::to_vec).collect(),
    };

    let specs = [
        KeySpec::default(),
        KeySpec::default().host(false).header(KEYED),
        KeySpec::default().query(QueryKey::only(["a", "b"])),
        KeySpec::default().query(QueryKey::except(["utm_source"])),
        KeySpec::default()
            .query(QueryKey::Ignore)
            .part(|request: &dyn RequestHead| request.query().map(str::to_owned)),
    ];
    for spec in &specs {
        let key = spec.build(&head);
        let again = spec.build(&head);
        assert_eq!(key.digest(), again.digest());
        assert_eq!(key.readable(), again.readable());
    }

    // Ignoring the query: any query gives the key of no query.
    let ignore = KeySpec::default().query(QueryKey::Ignore);
    let without = Head {
        query: None,
        values: Vec::new(),
        ..head
    };
    let with = Head {
        method: without.method.clone(),
        path: without.path.clone(),
        query: Some(String::from_utf8_lossy(data).into_owned()),
        host: without.host.clone(),
        values: Vec::new(),
    };
    assert_eq!(ignore.build(&without).digest(), ignore.build(&with).digest());

    // The real adapter path: the bytes as a request target, when `http` accepts them.
    if let Ok(uri) = http::Uri::try_from(data) {
        if let Ok(request) = http::Request::get(uri).body(()) {
            let _ = KeySpec::default().build(&request);
        }
    }
});
