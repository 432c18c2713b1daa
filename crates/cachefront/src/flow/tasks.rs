//! Running store writes and removals off the request: at once when they finish without
//! waiting, otherwise on a Tokio task.

/// Runs a store write right away when it can finish without waiting (the memory store almost
/// always can), and spawns the rest: a miss then costs no task.
pub(super) fn run_now_or_spawn<F: std::future::Future<Output = ()> + Send + 'static>(task: F) {
    if let Some(task) = crate::adapter::poll_once(task) {
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
