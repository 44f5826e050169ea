//! When a container that stopped is started again, and how long it waits first: the
//! `restartPolicy` rules and the CrashLoopBackOff timer of Kubernetes.

use std::time::Duration;

/// The first back-off after a crash (Kubernetes: 10 s).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// The longest back-off (Kubernetes: 300 s).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A container that ran this long without crashing has its back-off reset (Kubernetes: 10 min).
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(600);

/// The pod's `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart on any exit (the default).
    Always,
    /// Restart only on a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// Parses the field; anything unknown is `Always`, the Kubernetes default.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        }
    }
}

/// What to do with a container that exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// Start it again after waiting this long (`CrashLoopBackOff` while waiting, if > 0).
    RestartAfter(Duration),
    /// Leave it exited; the container is done.
    Done,
}

/// Decides what follows an exit with `exit_code`, for a container restarted `restarts` times
/// that ran for `ran_for` before exiting.
pub fn after_exit(
    policy: RestartPolicy,
    exit_code: i32,
    restarts: u32,
    ran_for: Duration,
) -> AfterExit {
    let restart = match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    };
    if !restart {
        return AfterExit::Done;
    }
    AfterExit::RestartAfter(backoff(restarts, ran_for))
}

/// The wait before restart number `restarts + 1`: none for the first restart, then 10 s
/// doubling up to 5 min; reset when the container had run for 10 minutes.
pub fn backoff(restarts: u32, ran_for: Duration) -> Duration {
    if restarts == 0 || ran_for >= BACKOFF_RESET_AFTER {
        return Duration::ZERO;
    }
    let factor = 1u64 << (restarts - 1).min(16);
    (INITIAL_BACKOFF * factor as u32).min(MAX_BACKOFF)
}

/// The pod phase once every container is done, from their exit codes (Kubernetes: Succeeded
/// when all exited 0, Failed otherwise).
pub fn terminal_phase(exit_codes: &[i32]) -> &'static str {
    if exit_codes.iter().all(|c| *c == 0) {
        "Succeeded"
    } else {
        "Failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide_restarts() {
        let quick = Duration::from_secs(1);
        assert_eq!(
            after_exit(RestartPolicy::Always, 0, 0, quick),
            AfterExit::RestartAfter(Duration::ZERO)
        );
        assert_eq!(
            after_exit(RestartPolicy::OnFailure, 0, 0, quick),
            AfterExit::Done
        );
        assert_eq!(
            after_exit(RestartPolicy::OnFailure, 2, 0, quick),
            AfterExit::RestartAfter(Duration::ZERO)
        );
        assert_eq!(
            after_exit(RestartPolicy::Never, 2, 0, quick),
            AfterExit::Done
        );
        assert_eq!(RestartPolicy::parse(None), RestartPolicy::Always);
    }

    #[test]
    fn backoff_doubles_to_five_minutes_and_resets_after_a_long_run() {
        let quick = Duration::from_secs(1);
        assert_eq!(backoff(1, quick), Duration::from_secs(10));
        assert_eq!(backoff(2, quick), Duration::from_secs(20));
        assert_eq!(backoff(3, quick), Duration::from_secs(40));
        assert_eq!(backoff(10, quick), MAX_BACKOFF);
        assert_eq!(backoff(40, quick), MAX_BACKOFF);
        assert_eq!(backoff(5, Duration::from_secs(700)), Duration::ZERO);
    }

    #[test]
    fn terminal_phase_follows_exit_codes() {
        assert_eq!(terminal_phase(&[0, 0]), "Succeeded");
        assert_eq!(terminal_phase(&[0, 1]), "Failed");
    }
}
