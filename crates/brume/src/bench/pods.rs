//! The pods the node benchmarks run (`sleep 3600`), what to say about one that does not start,
//! and deleting them at the end so no pod process outlives a benchmark.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::kit::{delete, get_json};

/// A pod that sleeps for an hour on `runtime` (`process`, or `docker` with the test image
/// `brume/busybox:1` from `tests/images/build.sh`), labelled `app=<app>`.
pub(crate) fn sleep_pod(name: &str, app: &str, runtime: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": sleep_pod_spec(runtime),
    })
}

/// The spec of [`sleep_pod`], also the template of the failover Deployment.
pub(crate) fn sleep_pod_spec(runtime: &str) -> Value {
    let image = if runtime == "docker" {
        "brume/busybox:1"
    } else {
        "busybox"
    };
    json!({"terminationGracePeriodSeconds": 2,
        "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]})
}

/// Whether a pod is Running with condition Ready=True and not being deleted.
pub(crate) fn is_running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// One line on where a pod is: its node, phase, reason and each container's state, for the
/// error when it does not start.
pub(crate) fn describe(pod: &Value) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("(not bound)");
    let phase = pod["status"]["phase"].as_str().unwrap_or("(no phase)");
    let mut out = format!("pod {name} on {node}: phase {phase}");
    if let Some(r) = pod["status"]["reason"].as_str() {
        out += &format!(", reason {r}");
    }
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let state = c["state"]
            .as_object()
            .and_then(|s| s.iter().next())
            .map(|(k, v)| match v["reason"].as_str() {
                Some(r) => format!("{k} ({r})"),
                None => k.clone(),
            })
            .unwrap_or_else(|| "no state".into());
        out += &format!("; container {} {state}", c["name"].as_str().unwrap_or("?"));
    }
    out
}

/// The collection of the pods labelled `app=<app>` in `default`.
pub(crate) fn pods_path(app: &str) -> String {
    format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}")
}

/// The pods labelled `app=<app>` in `default` now.
pub(crate) async fn labelled(client: &kube::Client, app: &str) -> anyhow::Result<Vec<Value>> {
    let list = get_json(client, &pods_path(app)).await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Waits until exactly `n` pods labelled `app=<app>` exist and all are Running and Ready, for
/// at most `timeout`; the error names each pod that is not, with its status.
pub(crate) async fn wait_running(
    client: &kube::Client,
    app: &str,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let t = Instant::now();
    loop {
        let pods = labelled(client, app).await?;
        if pods.len() == n && pods.iter().all(is_running_and_ready) {
            return Ok(pods);
        }
        if t.elapsed() > timeout {
            let stuck: Vec<String> = pods
                .iter()
                .filter(|p| !is_running_and_ready(p))
                .map(describe)
                .collect();
            anyhow::bail!(
                "{} pods app={app} exist, {} of the {n} wanted Running and Ready after {} s; not ready: {}",
                pods.len(),
                pods.iter().filter(|p| is_running_and_ready(p)).count(),
                timeout.as_secs(),
                stuck.join(" | ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deletes the pods labelled `app=<app>` in `default` and waits until none is left, for at
/// most `timeout`; returns how many are left and how long it took.
pub(crate) async fn delete_all(
    client: &kube::Client,
    app: &str,
    timeout: Duration,
) -> anyhow::Result<(usize, Duration)> {
    let t = Instant::now();
    for p in labelled(client, app).await? {
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        delete(client, &format!("/api/v1/namespaces/default/pods/{name}")).await?;
    }
    wait_gone(client, app, timeout)
        .await
        .map(|n| (n, t.elapsed()))
}

/// Polls the pods labelled `app=<app>` until none is left, for at most `timeout`; returns how
/// many are left.
pub(crate) async fn wait_gone(
    client: &kube::Client,
    app: &str,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let t = Instant::now();
    loop {
        let left = labelled(client, app).await?.len();
        if left == 0 || t.elapsed() > timeout {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_pods_use_the_test_image() {
        assert_eq!(
            sleep_pod("a", "x", "docker")["spec"]["containers"][0]["image"],
            "brume/busybox:1"
        );
        assert_eq!(
            sleep_pod("a", "x", "process")["spec"]["containers"][0]["command"][0],
            "sleep"
        );
    }

    #[test]
    fn a_pod_is_ready_only_when_running_ready_and_not_deleted() {
        let mut p = json!({"metadata": {"name": "a"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(is_running_and_ready(&p));
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(!is_running_and_ready(&p));
        assert!(!is_running_and_ready(
            &json!({"metadata": {}, "status": {"phase": "Pending"}})
        ));
    }

    #[test]
    fn a_stuck_pod_is_described_with_its_container_states() {
        let p = json!({"metadata": {"name": "m-3"}, "spec": {"nodeName": "n1"},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "ErrImageNeverPull"}}}]}});
        assert_eq!(
            describe(&p),
            "pod m-3 on n1: phase Pending; container c waiting (ErrImageNeverPull)"
        );
    }
}
