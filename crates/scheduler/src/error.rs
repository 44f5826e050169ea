//! The scheduler's errors.

/// Why the scheduling loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A watch stream ended, which the watcher never does on its own (it retries errors).
    #[error("the {0} watch ended unexpectedly")]
    WatchEnded(&'static str),
}
