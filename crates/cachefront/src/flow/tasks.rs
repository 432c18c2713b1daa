//! Running store writes and removals off the request: at once when they finish without
//! waiting, otherwise on a Tokio task.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Waker},
};

/// Runs a store write right away when it can finish without waiting (the memory store almost
/// always can), and spawns the rest: a miss then costs no task.
pub(super) fn run_now_or_spawn<F: std::future::Future<Output = ()> + Send + 'static>(task: F) {
    if let Some(task) = poll_once(task) {
        spawn_or_warn(task);
    }
}

pub(super) fn spawn_or_warn<F: std::future::Future<Output = ()> + Send + 'static>(task: F) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::warn!("no Tokio runtime to run a cache store write on; skipped"),
    }
}

/// Polls a future once, now, and returns it if it has more to do: run the rest on a task.
///
/// Adapters start a [`pump`](crate::adapter::pump) this way. A body the handler already holds whole (the common
/// case for small responses) is then collected and queued before the server writes the
/// response head, so head and body leave in one write; a pump that only starts on its own task
/// lets the server flush the head alone, and the body's segment then waits on the client's
/// delayed ACK (Nagle's algorithm: ~40 ms per response on a keep-alive connection).
///
/// ```
/// let mut ran = false;
/// let rest = cachefront::adapter::poll_once(async { ran = true; });
/// assert!(rest.is_none());
/// assert!(ran);
/// ```
pub fn poll_once<F: Future>(future: F) -> Option<Pin<Box<F>>> {
    let mut future = Box::pin(future);
    // Polled again, with a real waker, by the task it is spawned on.
    let mut context = Context::from_waker(Waker::noop());
    future.as_mut().poll(&mut context).is_pending().then_some(future)
}
