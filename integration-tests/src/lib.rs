//! Shared harness for cachefront's end-to-end tests: real servers on 127.0.0.1, stopped by the
//! test that started them.

/// The README's code blocks, compiled (and those not marked `no_run`, run) as doc tests, so
/// that its tours and recipes build as they are written.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod actix;
pub mod origin;
pub mod redis;

use std::{net::SocketAddr, time::Duration};

use tokio::{sync::oneshot, task::JoinHandle};

/// A server listening on an ephemeral loopback port; stopped when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves an axum router on 127.0.0.1 (an ephemeral port), giving each request the client's
    /// address as `ConnectInfo<SocketAddr>`.
    pub async fn axum(router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("axum server");
        });
        Self {
            addr,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Connections still open (e.g. a client that went away mid-request) must not keep the
        // server alive past the test.
        self.task.abort();
    }
}

/// A client for loopback servers: no proxy, bounded in time, a large connection pool.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .build()
        .expect("reqwest client")
}

/// A header's value as a string, or `""` when absent.
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The resident set size of this process, in bytes (Linux), for memory-bound assertions.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Yields until `condition` holds (a counter reached, a request arrived): a sync point, not a
/// sleep. Panics after 30 s, naming `what`.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "waited 30 s for {what}");
        tokio::task::yield_now().await;
    }
}
