//! The status a pod reports, computed from what its worker knows about each container. Pure.

use brume_runtime::ContainerState;
use serde_json::{Value, json};

/// What the worker knows about one container, for its status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerView {
    /// The container name.
    pub name: String,
    /// The image in the spec.
    pub image: String,
    /// `docker://<id>` or `process://<id>` once started.
    pub container_id: Option<String>,
    /// The current state, once started.
    pub state: Option<ContainerState>,
    /// Why it is waiting, when it is not running: (reason, message).
    pub waiting: Option<(String, String)>,
    /// The state of the previous attempt, for `lastState`.
    pub last: Option<ContainerState>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Passing its readiness probe (or has none and is running).
    pub ready: bool,
    /// Passed its startup probe (or has none and is running).
    pub started: bool,
    /// Done for good (exited and will not restart).
    pub done: bool,
}

/// What the worker knows about the pod as a whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodView {
    /// The node address.
    pub host_ip: Option<String>,
    /// The pod address (the node address: DESIGN §6).
    pub pod_ip: Option<String>,
    /// When the worker first accepted the pod (RFC 3339).
    pub start_time: Option<String>,
    /// The containers, in spec order.
    pub containers: Vec<ContainerView>,
    /// The init containers, in spec order; they run one after another, before the containers.
    pub init_containers: Vec<ContainerView>,
    /// Why the sandbox could not be made, if it could not.
    pub sandbox_error: Option<String>,
}

fn state_json(state: &ContainerState) -> Value {
    match state {
        ContainerState::Created => json!({"waiting": {"reason": "ContainerCreating"}}),
        ContainerState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        ContainerState::Exited {
            exit_code,
            reason,
            started_at,
            finished_at,
        } => json!({"terminated": {
            "exitCode": exit_code, "reason": reason,
            "startedAt": started_at, "finishedAt": finished_at,
        }}),
    }
}

fn container_status(c: &ContainerView) -> Value {
    let state = match (&c.waiting, &c.state) {
        (Some((reason, message)), _) if !c.done => {
            json!({"waiting": {"reason": reason, "message": message}})
        }
        (_, Some(s)) => state_json(s),
        (_, None) => json!({"waiting": {"reason": "ContainerCreating"}}),
    };
    let mut status = json!({
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
        "state": state,
        "lastState": c.last.as_ref().map(state_json).unwrap_or(json!({})),
    });
    if let Some(id) = &c.container_id {
        status["containerID"] = json!(id);
    }
    status
}

/// The pod phase: Pending until every container has started once; Succeeded or Failed when
/// all are done; Running otherwise.
pub fn phase(view: &PodView) -> &'static str {
    let failed_init = view
        .init_containers
        .iter()
        .any(|c| c.done && !matches!(c.state, Some(ContainerState::Exited { exit_code: 0, .. })));
    if failed_init {
        return "Failed";
    }
    if !initialized(view) {
        return "Pending";
    }
    let cs = &view.containers;
    if !cs.is_empty() && cs.iter().all(|c| c.done) {
        let ok = cs
            .iter()
            .all(|c| matches!(c.state, Some(ContainerState::Exited { exit_code: 0, .. })));
        return if ok { "Succeeded" } else { "Failed" };
    }
    let all_started = cs
        .iter()
        .all(|c| c.state.is_some() || c.restart_count > 0 || c.done);
    if cs.is_empty() || !all_started {
        "Pending"
    } else {
        "Running"
    }
}

/// True when every init container has completed successfully.
pub fn initialized(view: &PodView) -> bool {
    view.init_containers
        .iter()
        .all(|c| c.done && matches!(c.state, Some(ContainerState::Exited { exit_code: 0, .. })))
}

fn condition(kind: &str, ok: bool, now: &str, reason: Option<&str>) -> Value {
    let mut c = json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": now,
    });
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

/// The whole `status` of the pod at `now`. `previous` is the status the API holds, so that
/// condition transition times only move when a condition changes.
pub fn pod_status(view: &PodView, now: &str, previous: &Value) -> Value {
    let ready = !view.containers.is_empty() && view.containers.iter().all(|c| c.ready);
    let phase = phase(view);
    let not_ready_reason = if phase == "Succeeded" || phase == "Failed" {
        "PodCompleted"
    } else {
        "ContainersNotReady"
    };
    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            view.pod_ip.is_some(),
            now,
            None,
        ),
        condition(
            "Initialized",
            initialized(view),
            now,
            (!initialized(view)).then_some("ContainersNotInitialized"),
        ),
        condition(
            "ContainersReady",
            ready,
            now,
            (!ready).then_some(not_ready_reason),
        ),
        condition("Ready", ready, now, (!ready).then_some(not_ready_reason)),
        condition("PodScheduled", true, now, None),
    ];
    // Keep the old transition time of a condition whose status did not change.
    if let Some(old) = previous.get("conditions").and_then(Value::as_array) {
        for c in &mut conditions {
            if let Some(o) = old
                .iter()
                .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
                && let Some(t) = o.get("lastTransitionTime")
            {
                c["lastTransitionTime"] = t.clone();
            }
        }
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "containerStatuses": view.containers.iter().map(container_status).collect::<Vec<_>>(),
        "initContainerStatuses": view.init_containers.iter().map(container_status).collect::<Vec<_>>(),
        "qosClass": previous.get("qosClass").cloned().unwrap_or(json!("BestEffort")),
    });
    if let Some(ip) = &view.host_ip {
        status["hostIP"] = json!(ip);
        status["hostIPs"] = json!([{"ip": ip}]);
    }
    if let Some(ip) = &view.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(t) = &view.start_time {
        status["startTime"] = json!(t);
    }
    if let Some(e) = &view.sandbox_error {
        status["message"] = json!(e);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(name: &str, ready: bool) -> ContainerView {
        ContainerView {
            name: name.into(),
            image: "busybox".into(),
            container_id: Some(format!("process://{name}")),
            state: Some(ContainerState::Running {
                started_at: "2026-11-22T00:00:00Z".into(),
            }),
            ready,
            started: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_running_ready_pod_reports_running_and_ready() {
        let view = PodView {
            host_ip: Some("127.0.0.2".into()),
            pod_ip: Some("127.0.0.2".into()),
            start_time: Some("2026-11-22T00:00:00Z".into()),
            containers: vec![running("a", true), running("b", true)],
            init_containers: vec![],
            sandbox_error: None,
        };
        let s = pod_status(&view, "2026-11-22T00:00:05Z", &json!({}));
        assert_eq!(s["phase"], "Running");
        let ready = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(s["podIP"], "127.0.0.2");
        assert_eq!(
            s["containerStatuses"][1]["state"]["running"]["startedAt"],
            "2026-11-22T00:00:00Z"
        );
    }

    #[test]
    fn waiting_reasons_and_transition_times() {
        let mut c = running("a", false);
        c.state = None;
        c.waiting = Some(("ImagePullBackOff".into(), "import it".into()));
        let view = PodView {
            containers: vec![c],
            ..Default::default()
        };
        let first = pod_status(&view, "t1", &json!({}));
        assert_eq!(first["phase"], "Pending");
        assert_eq!(
            first["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ImagePullBackOff"
        );
        let second = pod_status(&view, "t2", &first);
        let ready = second["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["lastTransitionTime"], "t1");
    }

    #[test]
    fn init_containers_gate_the_pod() {
        let exited = |code| ContainerView {
            name: "init".into(),
            state: Some(ContainerState::Exited {
                exit_code: code,
                reason: "x".into(),
                started_at: "s".into(),
                finished_at: "f".into(),
            }),
            done: true,
            ..Default::default()
        };
        let mut init = running("init", false);
        init.done = false;
        let view = PodView {
            containers: vec![running("a", true)],
            init_containers: vec![init],
            ..Default::default()
        };
        let s = pod_status(&view, "t", &json!({}));
        assert_eq!(s["phase"], "Pending");
        let cond = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Initialized")
            .unwrap()
            .clone();
        assert_eq!(cond["status"], "False");
        assert_eq!(s["initContainerStatuses"][0]["name"], "init");
        let done = PodView {
            containers: vec![running("a", true)],
            init_containers: vec![exited(0)],
            ..Default::default()
        };
        assert_eq!(phase(&done), "Running");
        let failed = PodView {
            containers: vec![running("a", true)],
            init_containers: vec![exited(1)],
            ..Default::default()
        };
        assert_eq!(phase(&failed), "Failed");
    }

    #[test]
    fn finished_pods_are_succeeded_or_failed() {
        let exited = |code| ContainerView {
            name: "a".into(),
            state: Some(ContainerState::Exited {
                exit_code: code,
                reason: if code == 0 {
                    "Completed".into()
                } else {
                    "Error".into()
                },
                started_at: "s".into(),
                finished_at: "f".into(),
            }),
            done: true,
            ..Default::default()
        };
        assert_eq!(
            phase(&PodView {
                containers: vec![exited(0)],
                ..Default::default()
            }),
            "Succeeded"
        );
        assert_eq!(
            phase(&PodView {
                containers: vec![exited(0), exited(2)],
                ..Default::default()
            }),
            "Failed"
        );
    }
}
