//! Pure mapping of Docker's container state onto [`ContainerState`].

use bollard::models::{ContainerState as DockerState, ContainerStateStatusEnum as Status};

use crate::ContainerState;

/// The Kubernetes reason of an exited container: `OOMKilled` when the kernel killed it for
/// memory, else `Completed` for exit code 0 and `Error` for any other (kubelet's reasons).
pub fn exit_reason(exit_code: i32, oom_killed: bool) -> &'static str {
    if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

/// What a container is doing, from the `State` of `docker inspect`.
pub fn from_docker(state: &DockerState) -> ContainerState {
    let started_at = state.started_at.clone().unwrap_or_default();
    match state.status {
        Some(Status::CREATED) | Some(Status::EMPTY) | None => ContainerState::Created,
        Some(Status::RUNNING)
        | Some(Status::PAUSED)
        | Some(Status::RESTARTING)
        | Some(Status::STOPPING) => ContainerState::Running { started_at },
        Some(Status::EXITED) | Some(Status::DEAD) | Some(Status::REMOVING) => {
            let exit_code = state
                .exit_code
                .map(|c| i32::try_from(c).unwrap_or(i32::MAX))
                .unwrap_or(0);
            ContainerState::Exited {
                exit_code,
                reason: exit_reason(exit_code, state.oom_killed.unwrap_or(false)).to_string(),
                started_at,
                finished_at: state.finished_at.clone().unwrap_or_default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i64, oom: bool) -> DockerState {
        DockerState {
            status: Some(Status::EXITED),
            exit_code: Some(code),
            oom_killed: Some(oom),
            started_at: Some("2026-01-01T00:00:00Z".into()),
            finished_at: Some("2026-01-01T00:00:05Z".into()),
            ..Default::default()
        }
    }

    #[test]
    fn exited_reasons_follow_the_kubelet() {
        let ContainerState::Exited {
            reason,
            exit_code,
            finished_at,
            ..
        } = from_docker(&exited(0, false))
        else {
            panic!("not exited")
        };
        assert_eq!((reason.as_str(), exit_code), ("Completed", 0));
        assert_eq!(finished_at, "2026-01-01T00:00:05Z");
        let ContainerState::Exited { reason, .. } = from_docker(&exited(2, false)) else {
            panic!()
        };
        assert_eq!(reason, "Error");
        let ContainerState::Exited {
            reason, exit_code, ..
        } = from_docker(&exited(137, true))
        else {
            panic!()
        };
        assert_eq!((reason.as_str(), exit_code), ("OOMKilled", 137));
    }

    #[test]
    fn running_and_created() {
        let running = DockerState {
            status: Some(Status::RUNNING),
            started_at: Some("t0".into()),
            ..Default::default()
        };
        assert_eq!(
            from_docker(&running),
            ContainerState::Running {
                started_at: "t0".into()
            }
        );
        let created = DockerState {
            status: Some(Status::CREATED),
            ..Default::default()
        };
        assert_eq!(from_docker(&created), ContainerState::Created);
    }
}
