//! Faults during a coalesced miss, over real sockets: a handler that panics, a body that breaks
//! off. Followers are always answered, nothing hangs, and nothing half-received is stored.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Body, response::IntoResponse, routing::get};
use bytes::Bytes;
use cachefront::Policy;
use cachefront_tower::{Cache, CacheExt};
use integration_tests::{TestServer, client, header};
use tokio::sync::Barrier;

fn ttl(secs: u64) -> Policy {
    Policy::ttl(Duration::from_secs(secs))
}

/// Sends `n` requests at once to `url`; returns (status, body) of each.
async fn together(url: String, n: usize) -> Vec<(u16, String)> {
    let client = client();
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url, barrier) = (client.clone(), url.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                match client.get(&url).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        (status, response.text().await.unwrap_or_default())
                    }
                    // The leader's own connection goes down with its handler.
                    Err(_) => (0, String::new()),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_while_leading_does_not_strand_its_followers() {
    let cache = Cache::builder()
        .coalesce_wait(Duration::from_secs(20))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let counter = Arc::clone(&counter);
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(n > 1, "the first computation fails with a panic");
            format!("computed-{n}")
        }
    };
    let server = TestServer::axum(Router::new().route("/p", get(handler).layer(cache.layer(ttl(30))))).await;
    let started = Instant::now();
    let answers = together(server.url("/p"), 20).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "answered in {elapsed:?}, not after the 20 s bound"
    );
    // Exactly one request (the panicking leader's) gets no answer; every other one gets the
    // second computation.
    let ok: Vec<_> = answers.iter().filter(|(status, _)| *status == 200).collect();
    assert_eq!(ok.len(), 19, "{answers:?}");
    assert!(ok.iter().all(|(_, body)| body == "computed-2"), "{answers:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // What is stored is the complete second response.
    let hit = client().get(server.url("/p")).send().await.unwrap();
    assert!(header(&hit, "cache-status").starts_with("cachefront; hit"));
    assert_eq!(hit.text().await.unwrap(), "computed-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_breaks_off_is_never_stored_and_followers_are_answered() {
    let cache = Cache::builder()
        .coalesce_wait(Duration::from_secs(20))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let handler = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            // The first body sends one chunk, then fails; later ones are whole.
            let chunks = futures_util::stream::iter((0..3).map(move |i| {
                if n == 1 && i == 1 {
                    Err(std::io::Error::other("upstream went away"))
                } else {
                    Ok(Bytes::from(format!("part{i}-v{n};")))
                }
            }));
            Body::from_stream(chunks).into_response()
        }
    };
    let server = TestServer::axum(Router::new().route("/t", get(handler).layer(cache.layer(ttl(30))))).await;
    let client = client();
    let first = async { client.get(server.url("/t")).send().await?.text().await }.await;
    // The client sees the failure (a broken response), never a cached copy of it.
    assert!(
        first.is_err(),
        "the broken body reaches the client as an error: {first:?}"
    );
    // Nothing half-received was stored: the next request runs the handler and gets it whole.
    let answers = together(server.url("/t"), 10).await;
    assert!(
        answers
            .iter()
            .all(|(status, body)| *status == 200 && body == "part0-v2;part1-v2;part2-v2;"),
        "{answers:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let stats = cache.stats();
    assert_eq!(stats.total.stores, 1, "only the whole body was stored");
}
