//! Property tests of the functions that read client- or origin-controlled input: the
//! `Cache-Control` parser, targeted (Structured Fields) cache-control, key building and, with the
//! `redis` feature, entry decoding from bytes.
//!
//! Case counts are kept small so that the whole file runs in a few seconds; the fuzz targets in
//! `fuzz/` explore the same functions for much longer.

use http::{HeaderMap, HeaderName};
use proptest::{collection::vec, prelude::*, sample::select};

use cachefront::{KeySpec, adapter::RequestHead, fuzzing::CacheControl};

/// A request head made of plain strings, so that paths, queries and hosts can hold anything an
/// adapter might hand to the core (not only what `http::Uri` accepts).
#[derive(Debug, Clone)]
struct Head {
    method: String,
    path: String,
    query: Option<String>,
    host: Option<String>,
    headers: Vec<(HeaderName, Vec<u8>)>,
}

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
        for (n, value) in &self.headers {
            if n == name {
                f(value);
            }
        }
    }
    fn contains_header(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }
    fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            if let Ok(value) = http::HeaderValue::from_bytes(value) {
                map.append(name.clone(), value);
            }
        }
        map
    }
}

fn get(path: &str, query: Option<&str>) -> Head {
    Head {
        method: "GET".to_owned(),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        host: Some("example.com".to_owned()),
        headers: Vec::new(),
    }
}

/// One directive as a server would write it: a known or unknown name, and maybe a value.
fn directive() -> impl Strategy<Value = String> {
    let name = select(vec![
        "no-store",
        "no-cache",
        "private",
        "public",
        "must-revalidate",
        "proxy-revalidate",
        "must-understand",
        "no-transform",
        "only-if-cached",
        "max-age",
        "s-maxage",
        "max-stale",
        "min-fresh",
        "stale-while-revalidate",
        "stale-if-error",
        "x-unknown",
    ]);
    let value = prop_oneof![
        Just(None),
        (0u64..100_000).prop_map(|n| Some(n.to_string())),
        Just(Some("-1".to_owned())),
        Just(Some("1.5".to_owned())),
        Just(Some("99999999999999999999999".to_owned())),
        Just(Some("\"x-field\"".to_owned())),
        Just(Some("\"x-a, x-b\"".to_owned())),
        Just(Some("\"60\"".to_owned())),
    ];
    (name, value).prop_map(|(name, value)| match value {
        Some(value) => format!("{name}={value}"),
        None => name.to_owned(),
    })
}

/// Optional whitespace: spaces and tabs, as RFC 9110 §5.6.3 allows around list commas.
fn ows() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

fn parse(line: &[u8]) -> CacheControl {
    let mut cc = CacheControl::default();
    cc.parse_line(line);
    cc
}

/// Flips the case of the directive names (never of quoted values, which may be case-sensitive).
fn recase(directive: &str, flips: &[bool]) -> String {
    let (name, rest) = match directive.find('=') {
        Some(eq) => directive.split_at(eq),
        None => (directive, ""),
    };
    let name: String = name
        .chars()
        .zip(flips.iter().cycle())
        .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c })
        .collect();
    format!("{name}{rest}")
}

/// A query parameter name as form decoding reads it: `%XX` escapes (either case) and `+` as a
/// space; an invalid escape stands for itself.
fn form_decoded(name: &str) -> Vec<u8> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_directive_parser_accepts_any_bytes(line in vec(any::<u8>(), 0..256)) {
        let cc = parse(&line);
        // Parsing the same line twice adds nothing new: the first occurrence of a directive wins.
        let mut twice = cc.clone();
        twice.parse_line(&line);
        prop_assert_eq!(twice.max_age, cc.max_age);
        prop_assert_eq!(twice.s_maxage, cc.s_maxage);
    }

    #[test]
    fn the_directive_parser_accepts_directive_like_noise(
        line in "[a-zA-Z=,\" \t\\\\0-9-]{0,64}"
    ) {
        let _ = parse(line.as_bytes());
    }

    #[test]
    fn directive_names_are_case_insensitive_and_whitespace_around_commas_is_ignored(
        directives in vec(directive(), 1..8),
        flips in vec(any::<bool>(), 1..16),
        spaces in vec((ows(), ows()), 8),
    ) {
        let canonical = directives.join(",");
        let mut noisy = String::new();
        for (i, directive) in directives.iter().enumerate() {
            let (before, after) = &spaces[i];
            if i > 0 {
                noisy.push(',');
            }
            noisy.push_str(before);
            noisy.push_str(&recase(directive, &flips));
            noisy.push_str(after);
        }
        prop_assert_eq!(parse(canonical.as_bytes()), parse(noisy.as_bytes()), "{:?}", noisy);
        // One field line or several: the same directives.
        let mut lines = CacheControl::default();
        for directive in &directives {
            lines.parse_line(directive.as_bytes());
        }
        prop_assert_eq!(parse(canonical.as_bytes()), lines);
    }

    #[test]
    fn targeted_cache_control_accepts_any_bytes(value in vec(any::<u8>(), 0..256)) {
        let _ = CacheControl::from_targeted(&value);
    }

    #[test]
    fn targeted_cache_control_reads_valid_dictionaries(
        max_age in proptest::option::of(-5i64..1_000_000),
        flags in vec(select(vec!["no-store", "no-cache", "private", "public", "must-revalidate"]), 0..4),
        noise in "[a-z][a-z0-9-]{0,6}(=(\"[a-z ]{0,5}\"|[0-9]{1,3}|\\?[01]|[a-z]{1,4}))?",
    ) {
        let mut members: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        if let Some(n) = max_age {
            members.push(format!("max-age={n}"));
        }
        members.push(noise);
        let value = members.join(", ");
        let parsed = CacheControl::from_targeted(value.as_bytes());
        // Every member above is valid Structured Fields, unless `noise` repeats a key with
        // another type; the dictionary then still parses (the last value wins).
        let Some(cc) = parsed else {
            return Err(TestCaseError::fail(format!("valid dictionary rejected: {value}")));
        };
        for flag in &flags {
            let set = match *flag {
                "no-store" => cc.no_store,
                "no-cache" => cc.no_cache,
                "private" => cc.private,
                "public" => cc.public,
                _ => cc.must_revalidate,
            };
            let overridden = members.last().is_some_and(|m| m.split('=').next() == Some(*flag));
            prop_assert!(set || overridden, "{} not read from {:?}", flag, value);
        }
    }

    #[test]
    fn key_building_accepts_any_request(
        method in "[A-Z]{1,8}|\\PC{0,8}",
        path in "\\PC{0,64}",
        query in proptest::option::of("\\PC{0,64}"),
        host in proptest::option::of("\\PC{0,32}"),
        values in vec(vec(any::<u8>(), 0..32), 0..4),
    ) {
        let name = HeaderName::from_static("x-tenant");
        let head = Head {
            method,
            path,
            query,
            host,
            headers: values.into_iter().map(|v| (name.clone(), v)).collect(),
        };
        let spec = KeySpec::default()
            .header(name)
            .part(|request: &dyn RequestHead| request.query().map(str::to_owned));
        let key = spec.build(&head);
        let again = spec.build(&head);
        prop_assert_eq!(key.digest(), again.digest());
        let _ = key.readable();
        let _ = KeySpec::default().host(false).build(&head);
    }

    #[test]
    fn key_building_is_invariant_under_reordering_distinct_parameters(
        params in proptest::collection::btree_map("[a-z0-9_%.-]{1,6}", "[a-zA-Z0-9%+.-]{0,6}", 0..24),
        seed in any::<u64>(),
    ) {
        // Distinct as a handler sees them: names are compared decoded (`_%6b` is `_k`), and
        // parameters with one decoded name keep their relative order, which is meaningful.
        let mut seen = std::collections::HashSet::new();
        let params: Vec<String> = params
            .into_iter()
            .filter(|(name, _)| seen.insert(form_decoded(name)))
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let mut shuffled = params.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let spec = KeySpec::default();
        let a = spec.build(&get("/p", Some(&params.join("&"))));
        let b = spec.build(&get("/p", Some(&shuffled.join("&"))));
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(a.readable(), b.readable());
    }

    #[test]
    fn distinct_requests_have_distinct_digests(
        a in request_parts(),
        b in request_parts(),
    ) {
        let name = HeaderName::from_static("accept-language");
        let spec = KeySpec::default().header(name.clone());
        let head = |(path, query, host, value): &RequestParts| Head {
            method: "GET".to_owned(),
            path: path.clone(),
            query: query.clone(),
            host: host.clone(),
            headers: value.iter().map(|v| (name.clone(), v.clone().into_bytes())).collect(),
        };
        let (key_a, key_b) = (spec.build(&head(&a)), spec.build(&head(&b)));
        let same = canonical(&a) == canonical(&b);
        prop_assert_eq!(key_a.digest() == key_b.digest(), same, "{:?} / {:?}", a, b);
    }
}

type RequestParts = (String, Option<String>, Option<String>, Option<String>);

/// Requests from a small alphabet, so that equal and near-equal pairs are common.
fn request_parts() -> impl Strategy<Value = RequestParts> {
    (
        "/[ab/%2F]{0,4}",
        proptest::option::of("[ab=&]{0,6}"),
        proptest::option::of("[aAb.]{0,3}"),
        proptest::option::of("[ab]{0,2}"),
    )
}

/// What the default key is documented to keep: the path as sent, the non-empty query
/// parameters stably sorted by name, the host without case (an absent host is an empty one),
/// and the keyed header's value (absent distinct from empty).
fn canonical((path, query, host, value): &RequestParts) -> RequestParts {
    let query = query.as_deref().unwrap_or("");
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    params.sort_by_key(|p| p.split('=').next().unwrap_or(""));
    (
        path.clone(),
        Some(params.join("&")),
        Some(host.as_deref().unwrap_or("").to_ascii_lowercase()),
        value.clone(),
    )
}

#[cfg(feature = "redis")]
mod decoding {
    use std::time::Duration;

    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use proptest::{collection::vec, prelude::*};

    use cachefront::{
        Cache, CacheKey, Policy,
        adapter::Lookup,
        store::{Entry, EntryCodec},
    };

    /// A real entry, stored and read back through the public flow.
    fn stored_entry(headers: &[(String, String)], body: &[u8], tags: &[String], vary: bool) -> Entry {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = Cache::new();
            let mut policy = Policy::ttl(Duration::from_secs(60)).stale_if_error(Duration::from_secs(5));
            for tag in tags {
                policy = policy.tag(tag.clone());
            }
            let route = cache.route(policy);
            let request = http::Request::get("http://example.com/entry?x=1")
                .header("accept-language", "en")
                .body(())
                .unwrap();
            let Lookup::Forward(forward) = route.lookup(&request).await else {
                panic!("a cold cache forwards");
            };
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.append(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            if vary {
                map.insert(
                    http::header::VARY,
                    HeaderValue::from_static("accept-language, x-absent"),
                );
            }
            let verdict = forward.response(StatusCode::OK, &map);
            let mut collector = verdict.collector.expect("storable");
            collector.push(&Bytes::copy_from_slice(body));
            collector.finish();
            let Lookup::Hit(hit) = route.lookup(&request).await else {
                panic!("stored");
            };
            Entry::clone(hit.entry())
        })
    }

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (
            vec(("x-[a-z]{1,8}", "[ -~]{0,24}"), 0..6),
            prop_oneof![
                vec(any::<u8>(), 0..64),
                "(abc|xyz|0123456789){0,200}".prop_map(String::into_bytes)
            ],
            vec("[a-z:0-9]{0,8}", 0..3),
            any::<bool>(),
        )
            .prop_map(|(headers, body, tags, vary)| stored_entry(&headers, &body, &tags, vary))
    }

    fn codec() -> impl Strategy<Value = EntryCodec> {
        prop_oneof![
            Just(EntryCodec::new().compress_above(None)),
            Just(EntryCodec::new().compress_above(Some(0))),
            Just(EntryCodec::new()),
        ]
    }

    /// A well-framed value whose header count is larger than a `HeaderMap` can hold, padded so
    /// that the count passes the "no more items than bytes left" check.
    fn oversized_header_count(key: &CacheKey, count: u64) -> Vec<u8> {
        let mut bytes = vec![1, 0];
        bytes.extend_from_slice(key.digest().as_bytes());
        bytes.push(0); // readable key: empty
        bytes.extend_from_slice(&200u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 10]); // stored_at, ttl, initial_age, swr, sie: zero
        bytes.push(0); // entry flags
        let mut count = count;
        while count >= 0x80 {
            bytes.push((count as u8 & 0x7f) | 0x80);
            count >>= 7;
        }
        bytes.push(count as u8);
        bytes.resize(bytes.len() + 40_000, 0);
        bytes
    }

    #[test]
    fn a_huge_header_count_is_an_error() {
        let key = CacheKey::from_parts(["k"]);
        let bytes = oversized_header_count(&key, 30_000);
        assert!(EntryCodec::new().decode(bytes, &key).is_err());
    }

    /// A value whose tag count is as large as the zeros after it: each zero reads as an empty
    /// tag, so without a bound the decoder would allocate a tag per byte.
    #[test]
    fn a_huge_count_of_empty_tags_is_an_error() {
        let key = CacheKey::from_parts(["k"]);
        // No headers, then 200,000 tags claimed over 200,000 zero bytes, then an otherwise valid
        // end (no Vary fields, no variants, an empty body): well-formed but for the tag count.
        let mut bytes = oversized_header_count(&key, 0);
        bytes.truncate(bytes.len() - 40_000);
        let mut count: u64 = 200_000;
        while count >= 0x80 {
            bytes.push((count as u8 & 0x7f) | 0x80);
            count >>= 7;
        }
        bytes.push(count as u8);
        bytes.resize(bytes.len() + 200_003, 0);
        assert!(EntryCodec::new().decode(bytes, &key).is_err());
    }

    #[test]
    fn more_distinct_headers_than_a_header_map_holds_is_an_error() {
        let key = CacheKey::from_parts(["k"]);
        let mut bytes = oversized_header_count(&key, 40_000);
        bytes.truncate(bytes.len() - 40_000);
        for i in 0..40_000 {
            let name = format!("h{i}");
            bytes.push(name.len() as u8);
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
        }
        // No tags, no vary, no variants, an empty body.
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert!(EntryCodec::new().decode(bytes, &key).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoding_accepts_any_bytes(bytes in vec(any::<u8>(), 0..512), codec in codec()) {
            let key = CacheKey::from_parts(["k"]);
            let _ = codec.decode(bytes.as_slice(), &key);
            // The same with a valid header, so that the payload reader gets to work.
            for prefix in [[1u8, 0], [1, 1]] {
                let mut framed = prefix.to_vec();
                framed.extend_from_slice(&bytes);
                let _ = codec.decode(framed, &key);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn every_truncation_and_corruption_of_a_valid_encoding_is_handled(
            entry in entry_strategy(),
            codec in codec(),
            xor in 1u8..=255,
        ) {
            let key = entry.key().clone();
            let encoded = codec.encode(&entry);
            let decoded = codec.decode(encoded.as_slice(), &key).expect("a valid encoding decodes");
            prop_assert_eq!(decoded.body(), entry.body());
            prop_assert_eq!(decoded.headers(), entry.headers());
            prop_assert_eq!(decoded.tags(), entry.tags());
            prop_assert!(codec.decode(encoded.as_slice(), &CacheKey::from_parts(["other"])).is_err());

            for len in 0..encoded.len() {
                let truncated = &encoded[..len];
                prop_assert!(
                    codec.decode(truncated, &key).is_err(),
                    "a truncation to {} of {} bytes decoded", len, encoded.len()
                );
            }
            let mut corrupt = encoded.clone();
            for i in 0..corrupt.len() {
                corrupt[i] ^= xor;
                // An error or an entry, never a panic; a decoded entry is still a well-formed one.
                if let Ok(entry) = codec.decode(Bytes::copy_from_slice(&corrupt), &key) {
                    let _ = entry.headers().len() + entry.body().len() + entry.tags().len();
                }
                corrupt[i] ^= xor;
            }
        }
    }
}
