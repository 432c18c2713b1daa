//! Interim (1xx) responses through the caching reverse proxy (RFC 9110 §15.2, RFC 9111 §3).
//!
//! The origin here is a raw TCP server, because it must write a `103 Early Hints` before its
//! final response, which no HTTP server crate used here can. hyper's client reads past
//! interim responses to the final one, and neither hyper's server (1.x) nor actix-web can
//! send an interim response other than `100 Continue`, so the proxy cannot forward them; what
//! these tests hold is the part a cache is responsible for: an interim response is never
//! stored, and none of its fields leak into the final response that is.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use cachefront_tower::Cache;
use example_reverse_proxy::{Origin, app, policy};
use integration_tests::{TestServer, client};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// An origin that answers every request with `interim` followed by a cacheable 200 whose body
/// is the request count; returns its base URL and the count.
async fn origin_with_interim(interim: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let count = Arc::new(AtomicUsize::new(0));
    let served = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let served = Arc::clone(&served);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        request.drain(..end + 4);
                        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                        let body = format!("final {n}");
                        let response = format!(
                            "{interim}HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (base, count)
}

#[tokio::test]
async fn an_interim_response_is_never_stored_and_its_fields_do_not_reach_the_final_one() {
    for interim in [
        "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n",
        "HTTP/1.1 102 Processing\r\nx-interim: 1\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\n",
    ] {
        let (base, count) = origin_with_interim(interim).await;
        let proxy = TestServer::axum(app(Origin::new(&base).expect("origin"), &Cache::new(), policy())).await;
        let client = client();
        for expected_hit in [false, true] {
            let response = client.get(proxy.url("/page")).send().await.expect("request");
            assert_eq!(response.status(), 200, "{interim:?}");
            let headers = response.headers().clone();
            assert!(
                headers.get("link").is_none(),
                "{interim:?}: an interim field reached the final response"
            );
            assert!(headers.get("x-interim").is_none(), "{interim:?}");
            let status = headers
                .get("cache-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert_eq!(status.contains("; hit"), expected_hit, "{interim:?}: {status}");
            // The final response is what is stored and replayed, never the interim one.
            assert_eq!(response.text().await.expect("body"), "final 1", "{interim:?}");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "{interim:?}");
    }
}
