//! Conformance cases for issue #15 (shared-cache completeness): see the parent module for the
//! table's vocabulary.
//!
//! Range requests answered from a stored complete `200` (RFC 9110 §14, §13.1.5, §15.3.7,
//! §15.5.17). The origin never answers ranges itself here: a `206` or `416` comes from the cache.

use super::*;

/// The stored representation: ten bytes.
const TEN: &str = "0123456789";

/// A fresh `200` of [`TEN`] with a strong `ETag`.
fn ten() -> Reply {
    Reply::ok(TEN)
        .header("cache-control", "max-age=60")
        .header("etag", "\"r1\"")
}

#[rustfmt::skip]
pub(super) fn cases() -> Vec<Case> {
    vec![
        case(&[5], "9110 §14.1.2: Range bytes=a-b on a stored 200 is a 206 from the cache with its Content-Range")
            .script(vec![ten()])
            .get("/").status(200).body(TEN).stored_miss().origin(1)
            .get("/").h("range", "bytes=2-5").status(206).body("2345")
                .hdr("content-range", "bytes 2-5/10").hdr("content-length", "4").hdr("etag", "\"r1\"")
                .hit().age(0, 1).origin(1),
        case(&[5], "9110 §14.1.2: Range bytes=a- is a 206 from the cache with the rest of the stored body")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=7-").status(206).body("789").hdr("content-range", "bytes 7-9/10").hit().origin(1),
        case(&[5], "9110 §14.1.2: Range bytes=-n is a 206 from the cache with the last n bytes")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=-3").status(206).body("789").hdr("content-range", "bytes 7-9/10").hit().origin(1),
        case(&[5], "9110 §14.1.2: a Range past the end of the stored body is clamped to it")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=8-100").status(206).body("89").hdr("content-range", "bytes 8-9/10").hit().origin(1)
            .get("/").h("range", "bytes=-50").status(206).body(TEN).hdr("content-range", "bytes 0-9/10").hit().origin(1),
        case(&[5], "9110 §15.5.17: a Range starting at or past the end is a 416 from the cache with bytes */length")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=10-").status(416).body("").hdr("content-range", "bytes */10")
                .hdr("content-length", "0").hit().origin(1)
            .get("/").h("range", "bytes=-0").status(416).hdr("content-range", "bytes */10").hit().origin(1)
            .get("/").body(TEN).status(200).hit().origin(1),
        case(&[14], "9110 §14.1.2: a Range first position too large for any length is a 416, never an error")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=99999999999999999999999-").status(416).hdr("content-range", "bytes */10").hit().origin(1)
            .get("/").h("range", "bytes=0-99999999999999999999999").status(206).body(TEN).hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range with the stored strong ETag gets the Range from the cache")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=0-1").h("if-range", "\"r1\"").status(206).body("01")
                .hdr("content-range", "bytes 0-1/10").hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range with another ETag gets the whole stored 200 from the cache")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=0-1").h("if-range", "\"r0\"").status(200).body(TEN)
                .no_hdr("content-range").hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range compares entity-tags strongly: a weak tag gets the whole 200")
            .script(vec![Reply::ok(TEN).header("cache-control", "max-age=60").header("etag", "W/\"r1\"")])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=0-1").h("if-range", "W/\"r1\"").status(200).body(TEN)
                .no_hdr("content-range").hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range with a date equal to a strong Last-Modified gets the Range")
            .script(vec![
                Reply::ok(TEN).header("cache-control", "max-age=60")
                    .header("last-modified", "{start-3600}").header("date", "{now}"),
            ])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=3-4").h("if-range", "{start-3600}").status(206).body("34")
                .hdr("content-range", "bytes 3-4/10").hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range with a date other than Last-Modified gets the whole 200")
            .script(vec![
                Reply::ok(TEN).header("cache-control", "max-age=60")
                    .header("last-modified", "{start-3600}").header("date", "{now}"),
            ])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=3-4").h("if-range", "{start-60}").status(200).body(TEN).hit().origin(1),
        case(&[5, 10], "9110 §13.1.5: If-Range with a date against a weak Last-Modified gets the whole 200")
            .script(vec![
                // Last-Modified within a second of Date: a weak validator (RFC 9110 §8.8.2.2).
                Reply::ok(TEN).header("cache-control", "max-age=60")
                    .header("last-modified", "{start}").header("date", "{start}"),
            ])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=3-4").h("if-range", "{start}").status(200).body(TEN).hit().origin(1),
        case(&[5, 10], "9110 §13.2.2: If-None-Match is evaluated before Range: a matching tag gets a 304")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=0-1").h("if-none-match", "\"r1\"").status(304).body("")
                .no_hdr("content-range").hit().origin(1),
        case(&[1, 5], "9110 §14.2: a Range of several ranges is forwarded as it came, and the answer is not stored")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=0-1,4-5").status(200).body(TEN)
                .fwd("bypass").detail("range").not_stored().origin(2)
            .origin_request(2, "range", Check::Is("bytes=0-1,4-5".into()))
            .get("/").body(TEN).hit().origin(2),
        case(&[14], "9110 §14.2: a malformed Range or another unit is forwarded, never answered from the cache")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .get("/").h("range", "bytes=5-2").status(200).fwd("bypass").detail("range").origin(2)
            .get("/").h("range", "items=0-1").status(200).fwd("bypass").detail("range").origin(3)
            .get("/").h("range", "bytes=0-1").status(206).body("01").hit().origin(3),
        case(&[1, 5], "9110 §14.2: HEAD ignores Range: the stored 200's headers, no Content-Range")
            .script(vec![ten()])
            .get("/").body(TEN).stored().origin(1)
            .send("HEAD", "/").h("range", "bytes=0-1").status(200).body("").hdr("content-length", "10")
                .no_hdr("content-range").hit().origin(1),
        case(&[5], "9110 §14.2: a Range on a stored 404 is ignored: the 404 is served whole from the cache")
            .script(vec![status(404, "gone 0123").header("cache-control", "max-age=60")])
            .get("/").status(404).body("gone 0123").stored().origin(1)
            .get("/").h("range", "bytes=0-1").status(404).body("gone 0123").no_hdr("content-range").hit().origin(1),
        case(&[1], "9110 §14.2: a Range request that misses fetches the whole representation, which is stored")
            .script(vec![ten()])
            .get("/").h("range", "bytes=0-1").h("if-range", "\"x\"").status(200).body(TEN).stored_miss().origin(1)
            .origin_request(1, "range", Check::Absent)
            .origin_request(1, "if-range", Check::Absent)
            .get("/").h("range", "bytes=0-1").status(206).body("01").hit().origin(1)
            .get("/").body(TEN).hit().origin(1),
        case(&[5, 7], "9111 §4.2.4: a Range on a stale stored response revalidates the whole representation, not answered stale")
            .script(vec![Reply::ok(TEN).header("cache-control", "max-age=1").header("etag", "\"r1\"")])
            .get("/").body(TEN).stored().origin(1)
            .sleep_ms(1100)
            .get("/").h("range", "bytes=0-1").status(200).body(TEN).fwd("stale").stored().origin(2)
            .origin_request(2, "range", Check::Absent)
            .origin_request(2, "if-none-match", Check::Is("\"r1\"".into()))
            .get("/").h("range", "bytes=2-3").status(206).body("23").hit().origin(2),
        case(&[1], "9110 §14.2: several ranges are forwarded as they came, and not stored")
            .script(vec![ten()])
            .get("/").h("range", "bytes=0-1,4-5").not_hit().not_stored().origin(1)
            .origin_request(1, "range", Check::Is("bytes=0-1,4-5".into())),
    ]
}
