//! Conformance cases for issue #15 (shared-cache completeness): see the parent module for the
//! table's vocabulary.

use super::*;

const AE: &str = "accept-encoding";

#[rustfmt::skip]
pub(super) fn cases() -> Vec<Case> {
    vec![
        // ---- Dates in every HTTP-date format (RFC 9110 §5.6.7, RFC 9111 §4.2) ----------------
        case(&[6], "9110 §5.6.7: an RFC 850 Expires year not more than 50 years ahead is this century's (70: 2070)")
            .script(vec![reply().header("date", "{now}").header("expires", "Wednesday, 01-Jan-70 00:00:00 GMT")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §4.2: an IMF-fixdate Expires in lower case is understood")
            .script(vec![reply().header("date", "{now}").header("expires", "fri, 31 dec 9999 23:59:59 gmt")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §4.2: an asctime Expires in upper case is understood")
            .script(vec![reply().header("date", "{now}").header("expires", "FRI DEC 31 23:59:59 9999")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §4.2: an RFC 850 Expires in lower case is understood")
            .script(vec![reply().header("date", "{now}").header("expires", "wednesday, 01-jan-70 00:00:00 gmt")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().origin(1),
        case(&[6], "9111 §4.2.3: a Date in lower case counts for the apparent age (a 1994 Date makes max-age=60 stale)")
            .script(vec![cc("max-age=60").header("date", "sun, 06 nov 1994 08:49:37 gmt")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[10], "9110 §13.1.3: an If-Modified-Since in RFC 850 format gets 304 from the cache")
            .script(vec![cc("max-age=60").header("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "Sunday, 06-Nov-94 08:49:37 GMT").status(304).body("").hit().origin(1),
        case(&[10], "9111 §4.2: an If-Modified-Since in lower-case asctime format gets 304 from the cache")
            .script(vec![cc("max-age=60").header("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "sun nov  6 08:49:37 1994").status(304).body("").hit().origin(1),
        case(&[10], "9111 §4.2: a Last-Modified in lower case is compared with If-Modified-Since")
            .script(vec![cc("max-age=60").header("last-modified", "sun, 06 nov 1994 08:49:37 gmt").header("date", "{now}")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT").status(304).body("").hit().origin(1)
            .get("/").h("if-modified-since", "Sun, 06 Nov 1994 08:49:36 GMT").status(200).body("v1").hit().origin(1),
        // ---- Vary: Accept-Encoding and Accept-Language read as sets (RFC 9111 §4.1) ----------
        case(&[4], "9111 §4.1: Accept-Encoding values that differ only in order select the same variant")
            .script(vec![cc("max-age=60").header("vary", AE)])
            .get("/").h(AE, "gzip, br").body("v1").stored().origin(1)
            .get("/").h(AE, "br,gzip").body("v1").hit().origin(1)
            .get("/").h(AE, "gzip").body("v2").fwd("vary-miss").origin(2),
        case(&[4], "9111 §4.1: Accept-Encoding values that differ only in case and field lines select the same variant")
            .script(vec![cc("max-age=60").header("vary", AE)])
            .get("/").h(AE, "gzip, br").body("v1").stored().origin(1)
            .get("/").h(AE, "BR").h(AE, " GZip ").body("v1").hit().origin(1),
        case(&[4], "9111 §4.1: Accept-Language values that differ only in case or order select the same variant")
            .script(vec![cc("max-age=60").header("vary", AL)])
            .get("/").h(AL, "en-US, fr").body("v1").stored().origin(1)
            .get("/").h(AL, "FR,en-us").body("v1").hit().origin(1)
            .get("/").h(AL, "en-GB, fr").body("v2").fwd("vary-miss").origin(2),
        case(&[4], "9111 §4.1: a q-value stays with its member when Accept-Encoding is normalised")
            .script(vec![cc("max-age=60").header("vary", AE)])
            .get("/").h(AE, "gzip;q=0.8, br").body("v1").stored().origin(1)
            .get("/").h(AE, "BR, gzip ; Q=0.8").body("v1").hit().origin(1)
            .get("/").h(AE, "gzip, br;q=0.8").body("v2").fwd("vary-miss").origin(2),
        case(&[4], "9111 §4.1: Accept-Language and Accept-Encoding are normalised together when Vary names both")
            .script(vec![cc("max-age=60").header("vary", "accept-encoding, accept-language")])
            .get("/").h(AE, "gzip, br").h(AL, "de, en;q=0.5").body("v1").stored().origin(1)
            .get("/").h(AE, "br, gzip").h(AL, "EN;q=0.5,DE").body("v1").hit().origin(1)
            .get("/").h(AE, "br, gzip").h(AL, "en").body("v2").fwd("vary-miss").origin(2),
        case(&[4], "9111 §4.1: another Vary-named header keeps its order: only the two Accept lists are sets")
            .script(vec![cc("max-age=60").header("vary", "x-list")])
            .get("/").h("x-list", "a, b").body("v1").stored().origin(1)
            .get("/").h("x-list", "b, a").body("v2").fwd("vary-miss").origin(2),
        // ---- Validators (RFC 9110 §8.8.3, §13.1.2) -------------------------------------------
        case(&[10], "9110 §8.8.3.2: a weak stored ETag matches a weak If-None-Match (weak comparison)")
            .script(vec![cc("max-age=60").header("etag", "W/\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "W/\"abc\"").status(304).body("").hit().hdr("etag", "W/\"abc\"").origin(1),
        case(&[10], "9110 §8.8.3: an unquoted If-None-Match is not an entity-tag and never yields 304")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "abc").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §8.8.3: an If-None-Match missing its closing quote never yields 304")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"abc").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §8.8.3: a malformed stored ETag (a space inside) matches nothing, not even itself")
            .script(vec![cc("max-age=60").header("etag", "\"a b\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"a b\"").status(200).body("v1").hit().origin(1),
        case(&[10], "9110 §8.8.3: an entity-tag may contain a comma, and If-None-Match matches it whole")
            .script(vec![cc("max-age=60").header("etag", "\"a,b\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"a\", \"b\"").status(200).body("v1").hit().origin(1)
            .get("/").h("if-none-match", "\"x\", \"a,b\"").status(304).body("").hit().origin(1),
        case(&[10], "9110 §13.1.2: * inside a list of entity-tags is not the * that matches any representation")
            .script(vec![cc("max-age=60").header("etag", "\"abc\"")])
            .get("/").body("v1").origin(1)
            .get("/").h("if-none-match", "\"zzz\", *").status(200).body("v1").hit().origin(1)
            .get("/").h("if-none-match", "*").status(304).body("").hit().origin(1),
    ]
}
