//! The store-level series of a tiered store against a real `redis-server`: a read answered by
//! the Redis tier, then by the memory tier, the circuit closed, the round trips timed; in the
//! store's usage and in the admin endpoint's Prometheus text alike.

use std::time::Duration;

use bytes::Bytes;
use cachefront::{Admin, Policy, adapter::Lookup};
use integration_tests::redis::RedisServer;

fn request() -> http::Request<()> {
    http::Request::get("http://example.com/items/1").body(()).unwrap()
}

#[tokio::test]
async fn reads_are_counted_per_tier_and_round_trips_timed_in_the_usage_and_the_endpoint() {
    let server = RedisServer::start();
    let writer = server.tiered_cache("tier-metrics:").await;
    let reader = server.tiered_cache("tier-metrics:").await;
    let policy = || Policy::ttl(Duration::from_secs(60)).name("/items/{id}");

    let Lookup::Forward(forward) = writer.route(policy()).lookup(&request()).await else {
        panic!("cold key");
    };
    let mut collector = forward
        .response(http::StatusCode::OK, &http::HeaderMap::new())
        .collector
        .unwrap();
    collector.push(&Bytes::from_static(b"shared"));
    collector.finish();
    writer.run_pending_tasks().await;

    let route = reader.route(policy());
    for _ in 0..2 {
        assert!(
            matches!(route.lookup(&request()).await, Lookup::Hit(_)),
            "stored by the writer"
        );
    }
    let usage = reader.store().usage();
    assert_eq!(
        usage.l2_hits,
        Some(1),
        "the first read came from Redis: {usage:?}"
    );
    assert_eq!(
        usage.l1_hits,
        Some(1),
        "the second from memory, where the first put it: {usage:?}"
    );
    assert_eq!(usage.circuit_open, Some(false));
    let round_trips = usage.operation_latency.unwrap();
    assert!(
        round_trips.count >= 1 && round_trips.sum > Duration::ZERO,
        "{round_trips:?}"
    );

    let admin = Admin::new(reader, "0123456789abcdef").unwrap();
    let text = admin
        .handle("GET", "/metrics", Some(b"Bearer 0123456789abcdef"), b"")
        .await
        .body;
    for line in [
        "cachefront_tier_hits_total{tier=\"l1\"} 1",
        "cachefront_tier_hits_total{tier=\"l2\"} 1",
        "cachefront_store_circuit_open 0",
        "# TYPE cachefront_store_operation_seconds histogram",
        "cachefront_store_operation_seconds_bucket{le=\"+Inf\"} ",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}
