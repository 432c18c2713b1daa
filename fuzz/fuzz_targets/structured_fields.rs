//! Targeted cache-control fields (RFC 9213), parsed as Structured Fields dictionaries
//! (RFC 8941 / 9651): never a panic on arbitrary bytes, and deterministic.
#![no_main]

use cachefront::fuzzing::CacheControl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = CacheControl::from_targeted(data);
    assert_eq!(parsed, CacheControl::from_targeted(data));
    if let Some(cc) = parsed {
        // A valid dictionary never yields a malformed-but-present max-age other than for a
        // non-integer or negative member.
        let _ = (cc.max_age, cc.s_maxage, cc.no_store, cc.private);
    }
});
