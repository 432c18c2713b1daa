//! actix-web servers for the end-to-end tests: a real `HttpServer` with one worker on an
//! ephemeral loopback port, driven by the test's own Tokio runtime and stopped by the test.

use std::{io, net::SocketAddr, time::Duration};

use actix_web::{
    App, Error, HttpServer,
    body::MessageBody,
    dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse},
};
use tokio::{runtime::RuntimeFlavor, task::JoinHandle};

/// How an [`ActixServer`] is configured beyond actix-web's defaults.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ActixSettings {
    /// actix-web's `h1_allow_half_closed`: `true` (actix-web's default) keeps serving a request
    /// whose client has closed its side of the connection, so a handler runs to its end and
    /// only a failed write reveals that the client left; `false` drops the request as soon as
    /// the connection's end is read, as hyper (and so axum) does by default.
    pub allow_half_closed: bool,
}

impl ActixSettings {
    /// Sets [`allow_half_closed`](Self::allow_half_closed).
    #[must_use]
    pub fn allow_half_closed(mut self, allow: bool) -> Self {
        self.allow_half_closed = allow;
        self
    }
}

impl Default for ActixSettings {
    fn default() -> Self {
        Self {
            allow_half_closed: true,
        }
    }
}

/// An actix-web [`HttpServer`] listening on 127.0.0.1 (an ephemeral port), with one worker
/// and no signal handling; stopped (without waiting for open connections) by
/// [`stop`](Self::stop) or when dropped.
///
/// `HttpServer::run` starts its worker on a thread of its own, with its own single-threaded
/// Tokio runtime, as in production; the server's command loop runs on the test's runtime.
/// Tests should use a multi-threaded runtime (`#[tokio::test(flavor = "multi_thread")]`),
/// on which dropping the server waits for it to stop; on a current-thread runtime the stop
/// is only requested.
#[derive(Debug)]
pub struct ActixServer {
    addr: SocketAddr,
    handle: ServerHandle,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl ActixServer {
    /// Serves the apps that `factory` builds (one per worker: one) with actix-web's defaults.
    pub fn start<F, T, B>(factory: F) -> Self
    where
        F: Fn() -> App<T> + Send + Clone + 'static,
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        Self::start_with(ActixSettings::default(), factory)
    }

    /// Serves the apps that `factory` builds, with `settings`.
    pub fn start_with<F, T, B>(settings: ActixSettings, factory: F) -> Self
    where
        F: Fn() -> App<T> + Send + Clone + 'static,
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        let server = HttpServer::new(factory)
            .workers(1)
            .disable_signals()
            .h1_allow_half_closed(settings.allow_half_closed)
            // Open connections must not hold a stopping server.
            .shutdown_timeout(0)
            .bind("127.0.0.1:0")
            .expect("bind 127.0.0.1:0");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        // The listener is bound already; connections wait in its backlog until the worker
        // starts, when the task is first polled.
        let task = tokio::spawn(server);
        Self {
            addr,
            handle,
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server: closes the listener, stops the worker (dropping open connections and
    /// the requests in progress) and waits for it, at most 10 s.
    pub async fn stop(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        let stopped = self.handle.stop(false);
        let Some(task) = self.task.take() else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            stopped.await;
            let _ = task.await;
        })
        .await;
    }
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        if self.task.is_none() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            // Wait for the stop, so that no worker outlives the test.
            Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| runtime.block_on(self.stop_now()));
            }
            // The command is sent at once; the server's task carries it out if it gets to run.
            _ => drop(self.handle.stop(false)),
        }
    }
}
