//! Entry decoding from untrusted bytes (a corrupt or hostile Redis value): an error or an
//! entry, never a panic, an abort or an unbounded allocation.
//!
//! The bytes are decoded as they are, and framed behind a valid header and the key's digest so
//! that the fuzzer spends its time in the payload reader rather than on the digest check.
#![no_main]

use std::sync::LazyLock;

use cachefront::{CacheKey, store::EntryCodec};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<CacheKey> = LazyLock::new(|| CacheKey::from_parts(["GET /fuzz host=example.com"]));

fuzz_target!(|data: &[u8]| {
    let codec = EntryCodec::new();
    let key = &*KEY;

    let _ = codec.decode(data, key);

    let mut framed = Vec::with_capacity(data.len() + 34);
    framed.extend_from_slice(&[1, 0]);
    framed.extend_from_slice(key.digest().as_bytes());
    framed.extend_from_slice(data);
    if let Ok(entry) = codec.decode(framed, key) {
        // A decoded entry round-trips.
        let encoded = codec.encode(&entry);
        let again = codec.decode(encoded, key).expect("a re-encoded entry decodes");
        assert_eq!(again.status(), entry.status());
        assert_eq!(again.headers(), entry.headers());
        assert_eq!(again.body(), entry.body());
        assert_eq!(again.tags(), entry.tags());
    }
});
