//! Stopping a container process: SIGTERM to its process group, up to `grace` for it to exit,
//! then SIGKILL to the group (the Kubernetes termination sequence). The sequence is a state
//! machine stepped with what `/proc` says, so it is tested without processes.

use std::time::Duration;

use tokio::time::Instant;

/// How long to wait for a SIGKILLed process to disappear before calling it stuck (a process in
/// uninterruptible sleep, `D` state, does not die at once).
pub const KILL_WAIT: Duration = Duration::from_secs(10);

/// How often liveness is checked while waiting.
pub const POLL: Duration = Duration::from_millis(20);

/// Where a stop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopPhase {
    /// Nothing sent yet.
    Start,
    /// SIGTERM sent; waiting until the deadline.
    Terminating {
        /// When SIGKILL follows.
        deadline: Instant,
    },
    /// SIGKILL sent; waiting for the process to go.
    Killing {
        /// When to give up.
        deadline: Instant,
    },
    /// The process is gone.
    Stopped {
        /// Whether it took a SIGKILL.
        killed: bool,
    },
    /// The process survived SIGKILL.
    Stuck,
}

/// What the shell does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAction {
    /// Send SIGTERM to the group.
    Term,
    /// Send SIGKILL to the group.
    Kill,
    /// Check again after a while.
    Wait(Duration),
    /// Done: the phase is final.
    Finish,
}

/// One step: the next phase and what to do, given whether the process is alive now.
pub fn step(
    phase: StopPhase,
    alive: bool,
    now: Instant,
    grace: Duration,
) -> (StopPhase, StopAction) {
    match phase {
        StopPhase::Start if !alive => (StopPhase::Stopped { killed: false }, StopAction::Finish),
        StopPhase::Start if grace.is_zero() => (
            StopPhase::Killing {
                deadline: now + KILL_WAIT,
            },
            StopAction::Kill,
        ),
        StopPhase::Start => (
            StopPhase::Terminating {
                deadline: now + grace,
            },
            StopAction::Term,
        ),
        StopPhase::Terminating { .. } if !alive => {
            (StopPhase::Stopped { killed: false }, StopAction::Finish)
        }
        StopPhase::Terminating { deadline } if now >= deadline => (
            StopPhase::Killing {
                deadline: now + KILL_WAIT,
            },
            StopAction::Kill,
        ),
        StopPhase::Terminating { deadline } => (phase, StopAction::Wait(POLL.min(deadline - now))),
        StopPhase::Killing { .. } if !alive => {
            (StopPhase::Stopped { killed: true }, StopAction::Finish)
        }
        StopPhase::Killing { deadline } if now >= deadline => {
            (StopPhase::Stuck, StopAction::Finish)
        }
        StopPhase::Killing { .. } => (phase, StopAction::Wait(POLL)),
        StopPhase::Stopped { .. } | StopPhase::Stuck => (phase, StopAction::Finish),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    #[test]
    fn a_process_that_exits_on_term_is_not_killed() {
        let t0 = Instant::now();
        let (p, a) = step(StopPhase::Start, true, t0, GRACE);
        assert_eq!(a, StopAction::Term);
        let (p, a) = step(p, true, t0 + Duration::from_secs(1), GRACE);
        assert!(matches!(a, StopAction::Wait(_)));
        let (p, a) = step(p, false, t0 + Duration::from_secs(2), GRACE);
        assert_eq!(
            (p, a),
            (StopPhase::Stopped { killed: false }, StopAction::Finish)
        );
    }

    #[test]
    fn a_process_that_ignores_term_is_killed_after_grace() {
        let t0 = Instant::now();
        let (p, _) = step(StopPhase::Start, true, t0, GRACE);
        let (p, a) = step(p, true, t0 + GRACE, GRACE);
        assert_eq!(a, StopAction::Kill);
        let (p, a) = step(p, false, t0 + GRACE, GRACE);
        assert_eq!(
            (p, a),
            (StopPhase::Stopped { killed: true }, StopAction::Finish)
        );
    }

    #[test]
    fn zero_grace_kills_at_once_and_a_dead_process_needs_nothing() {
        let t0 = Instant::now();
        assert_eq!(
            step(StopPhase::Start, true, t0, Duration::ZERO).1,
            StopAction::Kill
        );
        assert_eq!(
            step(StopPhase::Start, false, t0, GRACE),
            (StopPhase::Stopped { killed: false }, StopAction::Finish)
        );
    }

    #[test]
    fn a_process_surviving_kill_is_stuck() {
        let t0 = Instant::now();
        let (p, _) = step(StopPhase::Start, true, t0, Duration::ZERO);
        let (p, a) = step(p, true, t0 + KILL_WAIT, Duration::ZERO);
        assert_eq!((p, a), (StopPhase::Stuck, StopAction::Finish));
    }
}
