//! The Pod row: READY, STATUS and RESTARTS as kubectl derives them from container statuses.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::duration::human_duration;
use super::format::{AGE, NAME, col, int, items, object, or_none, some_text, text, time, wide};

/// Pod columns, as Kubernetes' pod printer declares them.
pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last \
         container in this pod has restarted.",
    ),
    AGE,
    wide("IP", "string", "The first IP address allocated to the pod."),
    wide("Node", "string", "The node the pod is bound to."),
    wide(
        "Nominated Node",
        "string",
        "The node where preemption made room for this pod, while it waits to be bound there.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "How many of the pod's readiness gates have their condition True.",
    ),
];

/// The cells of one pod.
pub(super) fn row(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let s = summarize(pod);
    let ip = items(pod, "/status/podIPs")
        .first()
        .map(|ip| text(ip, "/ip"))
        .or_else(|| some_text(pod, "/status/podIP"))
        .unwrap_or("");
    vec![
        super::format::name(pod),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.status),
        json!(s.restarts.cell(now)),
        super::format::age(pod, now),
        json!(or_none(ip)),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates(pod)),
    ]
}

/// Restarts summed over some containers, and when the latest of them last terminated.
#[derive(Clone, Copy, Default)]
struct Restarts {
    count: i64,
    last: Option<DateTime<Utc>>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += int(status, "/restartCount");
        if let Some(t) = time(status, "/lastState/terminated/finishedAt") {
            self.last = self.last.max(Some(t));
        }
    }

    /// "0", "3", or "3 (5m ago)" when the last restart's time is known.
    fn cell(&self, now: DateTime<Utc>) -> String {
        match self.last {
            Some(t) if self.count != 0 => {
                format!("{} ({} ago)", self.count, human_duration(now - t))
            }
            _ => self.count.to_string(),
        }
    }
}

/// READY, STATUS and RESTARTS of one pod.
struct Summary {
    ready: usize,
    total: usize,
    status: String,
    restarts: Restarts,
}

/// Derives the pod's summary the way kubectl's pod printer does: start from the phase (or
/// `status.reason`), let the first unfinished init container speak ("Init:1/2",
/// "Init:CrashLoopBackOff"), else the app containers' waiting or terminated reasons, and
/// finally "Terminating" for a pod being deleted.
fn summarize(pod: &Value) -> Summary {
    // A created pod always has a phase; "Pending" is what the server sets first.
    let phase = some_text(pod, "/status/phase").unwrap_or("Pending");
    let mut status = some_text(pod, "/status/reason")
        .unwrap_or(phase)
        .to_string();
    let conditions = items(pod, "/status/conditions");
    if conditions
        .iter()
        .any(|c| text(c, "/type") == "PodScheduled" && text(c, "/reason") == "SchedulingGated")
    {
        status = "SchedulingGated".to_string();
    }

    let init_specs = items(pod, "/spec/initContainers");
    // Sidecars (init containers with restartPolicy Always) count as pod containers.
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| text(c, "/name") == name && text(c, "/restartPolicy") == "Always")
    };
    let sidecars = init_specs
        .iter()
        .filter(|c| text(c, "/restartPolicy") == "Always")
        .count();
    let total = items(pod, "/spec/containers").len() + sidecars;
    let mut ready = 0;

    let mut all_restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();
    let mut initializing = false;
    for (i, st) in items(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let sidecar = is_sidecar(text(st, "/name"));
        all_restarts.add(st);
        if sidecar {
            sidecar_restarts.add(st);
        }
        let terminated = object(st, "/state/terminated");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && st.get("started") == Some(&Value::Bool(true)) {
            if st.get("ready") == Some(&Value::Bool(true)) {
                ready += 1;
            }
            continue;
        }
        let waiting = some_text(st, "/state/waiting/reason").filter(|r| *r != "PodInitializing");
        status = match (terminated, waiting) {
            (Some(t), _) => format!("Init:{}", exit_reason(t)),
            (None, Some(reason)) => format!("Init:{reason}"),
            (None, None) => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    let mut restarts = all_restarts;
    if !initializing || condition_is_true(conditions, "Initialized") {
        // Once initialized, only sidecars and app containers count toward restarts.
        restarts = sidecar_restarts;
        let mut has_running = false;
        // The first container's state wins, so walk them backwards.
        for st in items(pod, "/status/containerStatuses").iter().rev() {
            restarts.add(st);
            if let Some(reason) = some_text(st, "/state/waiting/reason") {
                status = reason.to_string();
            } else if let Some(t) = object(st, "/state/terminated") {
                status = exit_reason(t);
            } else if st.get("ready") == Some(&Value::Bool(true))
                && object(st, "/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose finished container sits beside a running one is still running.
        if status == "Completed" && has_running {
            status = if condition_is_true(conditions, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        if text(pod, "/status/reason") == "NodeLost" {
            status = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            status = "Terminating".to_string();
        }
    }

    Summary {
        ready,
        total,
        status,
        restarts,
    }
}

/// A terminated container's reason, else "Signal:9" or "ExitCode:1".
fn exit_reason(terminated: &Value) -> String {
    if let Some(reason) = some_text(terminated, "/reason") {
        return reason.to_string();
    }
    match int(terminated, "/signal") {
        0 => format!("ExitCode:{}", int(terminated, "/exitCode")),
        signal => format!("Signal:{signal}"),
    }
}

/// True when the first condition of that type has status "True".
fn condition_is_true(conditions: &[Value], kind: &str) -> bool {
    conditions
        .iter()
        .find(|c| text(c, "/type") == kind)
        .is_some_and(|c| text(c, "/status") == "True")
}

/// "1/2": readiness gates whose condition is True, out of all gates; `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = items(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return super::format::NONE.to_string();
    }
    let conditions = items(pod, "/status/conditions");
    let passed = gates
        .iter()
        .filter(|g| condition_is_true(conditions, text(g, "/conditionType")))
        .count();
    format!("{passed}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::super::testing::now;
    use super::*;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web-1", "namespace": "default",
            "creationTimestamp": "2025-06-01T08:00:00Z"}, "spec": spec, "status": status})
    }

    fn two_containers() -> Value {
        json!({"nodeName": "edge-1", "containers": [
            {"name": "app", "image": "web:1"}, {"name": "log", "image": "fluent:2"}]})
    }

    fn running(name: &str, restarts: i64, ready: bool) -> Value {
        json!({"name": name, "ready": ready, "restartCount": restarts,
            "state": {"running": {"startedAt": "2025-06-01T11:50:00Z"}}})
    }

    /// The Name..Age cells as strings.
    fn cells(p: &Value) -> Vec<String> {
        row(p, now())
            .into_iter()
            .map(|c| c.as_str().map_or(c.to_string(), str::to_string))
            .collect()
    }

    #[test]
    fn running_pod_with_one_restart_says_when() {
        let mut app = running("app", 1, true);
        app["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
            "finishedAt": "2025-06-01T11:55:00Z"}});
        let p = pod(
            two_containers(),
            json!({"phase": "Running", "podIP": "10.1.0.7", "podIPs": [{"ip": "10.1.0.7"}],
                "containerStatuses": [app, running("log", 0, true)]}),
        );
        assert_eq!(
            cells(&p),
            [
                "web-1",
                "2/2",
                "Running",
                "1 (5m ago)",
                "4h",
                "10.1.0.7",
                "edge-1",
                "<none>",
                "<none>"
            ]
        );
    }

    #[test]
    fn restarts_without_a_known_time_are_a_bare_count() {
        let p = pod(
            two_containers(),
            json!({"phase": "Running", "containerStatuses":
                [running("app", 0, true), running("log", 0, false)]}),
        );
        assert_eq!(cells(&p)[1..4], ["1/2", "Running", "0"]);
    }

    #[test]
    fn pending_pod_is_pending_with_nothing_ready() {
        let p = pod(
            json!({"containers": [{"name": "app", "image": "web:1"}]}),
            json!({"phase": "Pending"}),
        );
        assert_eq!(
            cells(&p),
            [
                "web-1", "0/1", "Pending", "0", "4h", "<none>", "<none>", "<none>", "<none>"
            ]
        );
        // A pod not yet given a status by anyone still reads Pending.
        let bare = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(cells(&bare)[1..5], ["0/1", "Pending", "0", "<unknown>"]);
    }

    #[test]
    fn waiting_reason_shows_container_creating() {
        let p = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(cells(&p)[2], "ContainerCreating");
    }

    #[test]
    fn crash_looping_pod_shows_back_off_and_its_restarts() {
        let p = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 1m20s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "finishedAt": "2025-06-01T11:59:10Z"}}}]}),
        );
        assert_eq!(cells(&p)[1..4], ["0/1", "CrashLoopBackOff", "4 (50s ago)"]);
    }

    #[test]
    fn terminated_container_without_reason_shows_exit_code_or_signal() {
        let status = |terminated: Value| {
            json!({"phase": "Running", "containerStatuses": [{"name": "app",
                "restartCount": 0, "state": {"terminated": terminated}}]})
        };
        let spec = json!({"containers": [{"name": "app"}]});
        let p = pod(spec.clone(), status(json!({"exitCode": 2})));
        assert_eq!(cells(&p)[2], "ExitCode:2");
        let p = pod(spec.clone(), status(json!({"exitCode": 137, "signal": 9})));
        assert_eq!(cells(&p)[2], "Signal:9");
        let p = pod(spec, status(json!({"exitCode": 0, "reason": "Completed"})));
        assert_eq!(cells(&p)[2], "Completed");
    }

    #[test]
    fn terminating_pod_says_terminating_unless_it_already_finished() {
        let mut p = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Running", "containerStatuses": [running("app", 0, true)]}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:30Z");
        assert_eq!(cells(&p)[1..3], ["1/1", "Terminating"]);

        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(&p)[2], "Unknown");

        let mut done = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Succeeded"}),
        );
        done["metadata"]["deletionTimestamp"] = json!("2025-06-01T11:59:30Z");
        assert_eq!(cells(&done)[2], "Succeeded");
    }

    #[test]
    fn init_containers_report_progress_then_failures() {
        let spec = json!({"initContainers": [{"name": "migrate"}, {"name": "seed"}],
            "containers": [{"name": "app"}]});
        let app_waiting = json!([{"name": "app", "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}}]);
        // The first init container done, the second running.
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
                "initContainerStatuses": [
                    {"name": "migrate", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                    {"name": "seed", "restartCount": 0, "state": {"running": {}}}]}),
        );
        assert_eq!(cells(&p)[1..4], ["0/1", "Init:1/2", "0"]);

        // The first init container crash-looping: its restarts count while initializing.
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
                "initContainerStatuses": [
                    {"name": "migrate", "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1,
                            "finishedAt": "2025-06-01T11:58:00Z"}}},
                    {"name": "seed", "restartCount": 0,
                        "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        assert_eq!(cells(&p)[2..4], ["Init:CrashLoopBackOff", "3 (2m ago)"]);

        // A failed init container with no reason shows its exit code.
        let p = pod(
            spec,
            json!({"phase": "Failed", "initContainerStatuses": [{"name": "migrate",
                "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}),
        );
        assert_eq!(cells(&p)[2], "Init:ExitCode:3");
    }

    #[test]
    fn sidecars_count_as_containers_once_started() {
        let spec = json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}]});
        let p = pod(
            spec,
            json!({"phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true,
                    "restartCount": 2, "state": {"running": {}}}],
                "containerStatuses": [running("app", 0, true)]}),
        );
        assert_eq!(cells(&p)[1..4], ["2/2", "Running", "2"]);
    }

    #[test]
    fn a_completed_container_beside_a_running_one_is_not_completed() {
        let status = |ready: &str| {
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}],
                "containerStatuses": [
                    {"name": "app", "restartCount": 0, "ready": false,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    running("log", 0, true)]})
        };
        assert_eq!(cells(&pod(two_containers(), status("True")))[2], "Running");
        assert_eq!(
            cells(&pod(two_containers(), status("False")))[2],
            "NotReady"
        );
    }

    #[test]
    fn scheduling_gated_and_evicted_pods_say_so() {
        let gated = pod(
            json!({"containers": [{"name": "app"}], "schedulingGates": [{"name": "fog"}]}),
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "SchedulingGated"}]}),
        );
        assert_eq!(cells(&gated)[2], "SchedulingGated");
        let evicted = pod(
            json!({"containers": [{"name": "app"}]}),
            json!({"phase": "Failed", "reason": "Evicted"}),
        );
        assert_eq!(cells(&evicted)[2], "Evicted");
    }

    #[test]
    fn wide_cells_show_nomination_and_readiness_gates() {
        let p = pod(
            json!({"containers": [{"name": "app"}],
                "readinessGates": [{"conditionType": "fog.brume.io/routable"},
                    {"conditionType": "example.com/warm"}]}),
            json!({"phase": "Pending", "nominatedNodeName": "edge-2", "conditions": [
                {"type": "fog.brume.io/routable", "status": "True"},
                {"type": "example.com/warm", "status": "False"}]}),
        );
        assert_eq!(cells(&p)[5..], ["<none>", "<none>", "edge-2", "1/2"]);
    }
}
