//! The stats in the Prometheus text exposition format, for `GET /metrics`.

use std::fmt::Write as _;

use crate::stats::{RouteStats, Stats};

/// The stats in the Prometheus text exposition format, labelled by route name.
pub(super) fn prometheus_text(stats: &Stats) -> String {
    let mut out = String::with_capacity(4096);
    type Read = fn(&RouteStats) -> u64;
    let counters: [(&str, &str, Read); 9] = [
        ("hits", "Requests answered from the cache.", |r| r.hits),
        ("stale_hits", "Requests answered with a stale response.", |r| {
            r.stale_hits
        }),
        ("misses", "Cacheable requests sent to the handler.", |r| r.misses),
        (
            "coalesced_waits",
            "Requests that waited for a concurrent miss on the same key.",
            |r| r.coalesced_waits,
        ),
        ("stores", "Responses stored.", |r| r.stores),
        (
            "not_stored",
            "Forwarded responses that could not be stored.",
            |r| r.not_stored,
        ),
        ("revalidations", "Stored responses refreshed by a 304.", |r| {
            r.revalidations
        }),
        ("invalidations", "Invalidations.", |r| r.invalidations),
        ("store_errors", "Store operations that failed.", |r| {
            r.store_errors
        }),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP cachefront_{name}_total {help}");
        let _ = writeln!(out, "# TYPE cachefront_{name}_total counter");
        for (route, route_stats) in &stats.routes {
            let _ = writeln!(
                out,
                "cachefront_{name}_total{{route=\"{}\"}} {}",
                escape_label(route),
                value(route_stats)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP cachefront_bypasses_total Requests that did not use the cache, by reason."
    );
    let _ = writeln!(out, "# TYPE cachefront_bypasses_total counter");
    for (route, route_stats) in &stats.routes {
        for (reason, count) in &route_stats.bypasses {
            let _ = writeln!(
                out,
                "cachefront_bypasses_total{{route=\"{}\",reason=\"{reason}\"}} {count}",
                escape_label(route)
            );
        }
    }
    let gauges = [
        ("entries", "Entries held by the store.", stats.entries),
        ("bytes", "Bytes held by the store.", stats.bytes),
        (
            "capacity_bytes",
            "The store's capacity in bytes.",
            stats.capacity_bytes.unwrap_or(0),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP cachefront_{name} {help}");
        let _ = writeln!(out, "# TYPE cachefront_{name} gauge");
        let _ = writeln!(out, "cachefront_{name} {value}");
    }
    for (name, help, value) in [
        ("evictions", "Entries removed to make room.", stats.evictions),
        (
            "expirations",
            "Entries removed at the end of their lifetime.",
            stats.expirations,
        ),
    ] {
        let _ = writeln!(out, "# HELP cachefront_{name}_total {help}");
        let _ = writeln!(out, "# TYPE cachefront_{name}_total counter");
        let _ = writeln!(out, "cachefront_{name}_total {value}");
    }
    out
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
