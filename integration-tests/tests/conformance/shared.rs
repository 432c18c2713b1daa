//! Conformance cases for issue #15 (shared-cache completeness): serving stale when the origin
//! fails, freshening with HEAD, heuristic freshness and storing any final status. The proxy
//! under test serves a response up to an hour stale when the origin fails
//! ([`example_reverse_proxy::policy`]) and waits [`ORIGIN_TIMEOUT`](super::ORIGIN_TIMEOUT) for
//! the origin's response head.

use super::*;

#[rustfmt::skip]
pub(super) fn cases() -> Vec<Case> {
    let mut cases = vec![
        // ---- Stale on origin failure (RFC 9111 §4.2.4, §5.2.2.2; RFC 5861 §4) ----------------
        case(&[7, 8], "9111 §4.2.4: a 502 from the origin is answered with the stale response")
            .script(vec![cc("max-age=1"), status(502, "bad gateway")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(502).detail("stale-if-error").origin(2),
        case(&[7, 8], "9111 §4.2.4: a 503 from the origin is answered with the stale response")
            .script(vec![cc("max-age=1"), status(503, "unavailable")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(503).origin(2),
        case(&[7, 8], "9111 §4.2.4: a 504 from the origin is answered with the stale response")
            .script(vec![cc("max-age=1"), status(504, "timeout")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(504).origin(2),
        case(&[7, 8], "9111 §4.2.4: an origin that sends no response within the timeout is a failure: stale is served")
            .script(vec![cc("max-age=1"), cc("max-age=1").delay(Duration::from_millis(2500))])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(504).detail("stale-if-error"),
        case(&[7, 8], "9110 §15.6.5: an origin that cannot be reached and nothing stored give a 504")
            .script(vec![cc("max-age=60")])
            .stop_origin()
            .get("/").status(504).not_hit(),
        case(&[7, 8], "9111 §5.2.2.4: a no-cache response is not served unvalidated when the origin is down: 504")
            .script(vec![cc("max-age=60, no-cache")])
            .get("/").body("v1").stored().origin(1)
            .stop_origin()
            .get("/").status(504).body_not("v1").not_hit(),
        case(&[7, 8], "9111 §5.2.2.2: a must-revalidate response's 500 from the origin is passed on, not replaced")
            .script(vec![cc("max-age=1, must-revalidate"), status(500, "broken")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(500).body("broken").origin(2),
        case(&[7, 8], "5861 §4: the origin's own stale-if-error replaces the proxy's window")
            .script(vec![cc("max-age=1, stale-if-error=1"), status(500, "broken")])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(2200)
            .get("/").status(500).body("broken").origin(2),
        case(&[7, 8], "9111 §4.2.4: a fresh response is served from the cache while the origin is down")
            .script(vec![cc("max-age=60")])
            .get("/").body("v1").stored().origin(1)
            .stop_origin()
            .get("/").status(200).body("v1").hit(),
        case(&[7, 8], "5861 §4: a response past the stale-on-failure window is not served stale: the origin's error is")
            .script(vec![cc("max-age=60").header("age", "7000"), status(503, "unavailable")])
            .get("/").body("v1").origin(1)
            .get("/").status(503).body("unavailable").origin(2),
        // ---- Freshening with HEAD (RFC 9111 §4.3.5) ------------------------------------------
        case(&[10], "9111 §4.3.5: a 200 to HEAD with the stored validators freshens the stored GET response")
            .script(vec![
                cc("max-age=1").header("etag", "\"e\"").header("x-version", "1"),
                cc("max-age=60").header("etag", "\"e\"").header("x-version", "2"),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .send("HEAD", "/").status(200).body("").fwd("stale").fwd_status(200).stored().origin(2)
            .settle()
            .get("/").body("v1").hdr("x-version", "2").hit().ttl(58, 60).origin(2),
        case(&[10], "9111 §4.3.5: a 200 to HEAD with the stored Last-Modified freshens a response without ETag")
            .script(vec![
                cc("max-age=1").header("last-modified", "{start-3600}"),
                cc("max-age=60").header("last-modified", "{start-3600}"),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .send("HEAD", "/").status(200).body("").origin(2)
            .settle()
            .get("/").body("v1").hit().ttl(58, 60).origin(2),
        case(&[10], "9111 §4.3.4: a 304 that makes the response unstorable ends the stored one too")
            .script(vec![
                cc("max-age=1").header("etag", "\"e\""),
                cc("max-age=1").header("etag", "\"e\"").not_modified(&[("cache-control", "no-store"), ("etag", "\"e\"")]),
                cc("max-age=60").header("etag", "\"e\""),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .get("/").status(200).body("v1").fwd("stale").fwd_status(304).origin(2)
            .get("/").body("v3").fwd("uri-miss").stored().origin(3),
        case(&[10], "9111 §4.3.5: a 200 to HEAD that makes the response unstorable ends the stored GET response")
            .script(vec![
                cc("max-age=1").header("etag", "\"e\""),
                cc("max-age=60, private").header("etag", "\"e\""),
                cc("max-age=60").header("etag", "\"e\""),
            ])
            .get("/").body("v1").stored().origin(1)
            .sleep_ms(1100)
            .send("HEAD", "/").status(200).body("").origin(2)
            .get("/").body("v3").fwd("uri-miss").stored().origin(3),
        // ---- Heuristic freshness (RFC 9111 §4.2.2) -------------------------------------------
        case(&[1], "9111 §4.2.2: a heuristic lifetime is at most a day")
            .script(vec![reply().header("last-modified", "{start-8640000}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(86_397, 86_400).origin(1),
        case(&[1], "9111 §4.2.2: a heuristically cacheable 404 with Last-Modified gets heuristic freshness")
            .script(vec![status(404, "gone {n}").header("last-modified", "{start-86400}")])
            .get("/").status(404).body("gone 1").stored().origin(1)
            .get("/").status(404).body("gone 1").hit().ttl(8637, 8640).origin(1),
        case(&[1], "9111 §4.2.2: a status that is not heuristically cacheable gets no heuristic freshness")
            .script(vec![status(302, "found {n}").header("last-modified", "{start-86400}").header("location", "/x")])
            .get("/").status(302).body("found 1").not_stored().origin(1)
            .get("/").status(302).body("found 2").origin(2),
        case(&[1], "9111 §4.2.2: public makes any status heuristically cacheable")
            .script(vec![status(302, "found {n}").header("cache-control", "public").header("last-modified", "{start-86400}").header("location", "/x")])
            .get("/").status(302).body("found 1").stored().origin(1)
            .get("/").status(302).body("found 1").hit().origin(1),
        case(&[1], "9111 §4.2.1: explicit max-age wins over a heuristic")
            .script(vec![cc("max-age=5").header("last-modified", "{start-8640000}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(3, 5).origin(1),
        case(&[1], "9111 §5.3: an invalid Expires means stale, not a heuristic lifetime")
            .script(vec![reply().header("expires", "0").header("last-modified", "{start-86400}")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        case(&[1], "9111 §4.2.2: a heuristic lifetime counts from Date, not from the time of receipt")
            // 10% of (Date - Last-Modified) = 8,580 s, less the 600 s the response is old.
            .script(vec![reply().header("date", "{start-600}").header("last-modified", "{start-86400}")])
            .get("/").body("v1").stored().origin(1)
            .get("/").body("v1").hit().ttl(7977, 7980).origin(1),
        case(&[1], "9111 §4.2.2: a Last-Modified after Date gives no heuristic lifetime")
            .script(vec![reply().header("last-modified", "{start+3600}")])
            .get("/").body("v1").origin(1)
            .get("/").body("v2").not_hit().origin(2),
        // ---- Any final status with explicit freshness (RFC 9111 §3) --------------------------
        case(&[1], "9111 §3: an unknown status with Expires is stored")
            .script(vec![status(299, "odd {n}").header("expires", "{start+60}")])
            .get("/").status(299).body("odd 1").stored().origin(1)
            .get("/").status(299).body("odd 1").hit().origin(1),
        case(&[1], "9111 §5.2.2.3: must-understand keeps an unknown status 418 out of the cache")
            .script(vec![status(418, "teapot {n}").header("cache-control", "max-age=60, must-understand")])
            .get("/").status(418).body("teapot 1").not_stored().origin(1)
            .get("/").status(418).body("teapot 2").origin(2),
        case(&[1], "9111 §3: an unknown status without freshness information is not stored")
            .script(vec![status(299, "odd {n}")])
            .get("/").status(299).body("odd 1").not_stored().origin(1)
            .get("/").status(299).body("odd 2").origin(2),
        case(&[1], "9111 §3: a known non-heuristic status with max-age is stored (302)")
            .script(vec![status(302, "found {n}").header("cache-control", "max-age=60").header("location", "/x")])
            .get("/").status(302).body("found 1").stored().origin(1)
            .get("/").status(302).body("found 1").hit().origin(1),
    ];
    // Each directive that forbids serving stale (RFC 9111 §4.2.4) turns an unreachable origin
    // into the error a disconnected cache must generate, never the stale response.
    for (section, directives) in [
        ("9111 §5.2.2.2", "max-age=1, must-revalidate"),
        ("9111 §5.2.2.8", "max-age=1, proxy-revalidate"),
        ("9111 §5.2.2.10", "s-maxage=1"),
    ] {
        cases.push(
            case(&[7, 8], &format!("{section}: a stale `{directives}` response is not served when the origin is down: 504"))
                .script(vec![cc(directives)])
                .get("/").body("v1").stored().origin(1)
                .sleep_ms(1100)
                .stop_origin()
                .get("/").status(504).body_not("v1").not_hit(),
        );
    }
    // A HEAD response that contradicts the stored GET response makes it unusable: the next GET
    // finds nothing stored.
    for (what, head) in [
        ("another ETag", Reply::ok("v2").header("cache-control", "max-age=60").header("etag", "\"f\"")),
        ("another Content-Length", Reply::ok("a longer body").header("cache-control", "max-age=60").header("etag", "\"e\"")),
    ] {
        cases.push(
            case(&[10], &format!("9111 §4.3.5: a 200 to HEAD with {what} does not update the stored GET response"))
                .script(vec![cc("max-age=1").header("etag", "\"e\""), head, cc("max-age=60").header("etag", "\"e\"")])
                .get("/").body("v1").stored().origin(1)
                .sleep_ms(1100)
                .send("HEAD", "/").status(200).body("").not_hit().origin(2)
                .settle()
                .get("/").body("v3").fwd("uri-miss").origin(3),
        );
    }
    // Codes cachefront does not know, stored for the freshness they state.
    for (code, directives) in [(299u16, "max-age=60"), (499, "max-age=60"), (599, "s-maxage=60")] {
        cases.push(
            case(&[1], &format!("9111 §3: an unknown status {code} with {directives} is stored"))
                .script(vec![status(code, "odd {n}").header("cache-control", directives)])
                .get("/").status(code).body("odd 1").stored().origin(1)
                .get("/").status(code).body("odd 1").hit().origin(1),
        );
    }
    // A 4xx is an answer, not a failure: it is passed on, never replaced by a stale response.
    for code in [400u16, 403, 429] {
        cases.push(
            case(&[7, 8], &format!("5861 §4: a {code} from the origin is an answer, not a failure: it is passed on"))
                .script(vec![cc("max-age=1"), status(code, "answer")])
                .get("/").body("v1").stored().origin(1)
                .sleep_ms(1100)
                .get("/").status(code).body("answer").origin(2),
        );
    }
    cases
}
