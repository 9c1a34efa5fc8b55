//! CPU-heavy work (decoding, merging and saving documents) off the async
//! workers. The HTTP workers are few (one per core) and each serves many
//! connections: a request that computes for a second on one stalls every
//! other request on it, health probes included. Such work runs here
//! instead, on tokio's blocking threads, at most one task per core at a
//! time; the rest wait without holding a worker. Those threads have the
//! stack `kam_sync_core::limits::WORKER_STACK_BYTES` names, which every walk
//! over untrusted structure must fit in.
//!
//! One bound per process, like the cores it shares out, so it is a static
//! rather than part of a server's state (tests run several servers in one
//! process; they share the machine's cores too).

use crate::error::{ApiError, ApiResult};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;

/// Tasks allowed to compute at once: one per core.
static PERMITS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    Arc::new(Semaphore::new(cores))
});

/// Runs `work` on a blocking thread once a core is free, and waits for it
/// without blocking the caller's worker. The permit travels with the work,
/// so a request that is dropped meanwhile (its client went away) still
/// counts until the work ends. A panic in `work` is a 500, not a crash.
pub async fn run<T, F>(work: F) -> ApiResult<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = Arc::clone(&PERMITS)
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|err| ApiError::internal(anyhow::anyhow!("CPU-heavy work failed: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_off_the_caller_and_a_panic_is_an_error() {
        let caller = std::thread::current().id();
        let worker = run(move || std::thread::current().id()).await;
        assert!(worker.is_ok_and(|id| id != caller));
        let panicked = run(|| -> u8 { panic!("boom") }).await;
        assert!(panicked.is_err());
    }
}
