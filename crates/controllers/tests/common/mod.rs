//! Helpers for the integration tests: a stand-in kubelet that marks pods Running and Ready
//! through the API (there is no agent in these tests), and polling with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

/// Polls `check` every 100 ms until it returns `Some`, or panics after `secs` seconds naming `what`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Marks the pod Running with a pod IP and Ready=True, as a kubelet would.
pub async fn make_ready(pods: &Api<Pod>, name: &str, ip: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
    }});
    let _ = pods
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
}

/// Marks the pod not Ready.
pub async fn make_unready(pods: &Api<Pod>, name: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"status": {
        "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("pod status patch");
}

/// The active pods (not terminating, not finished) matching a label selector.
pub async fn active_pods(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .expect("pod list")
        .items
        .into_iter()
        .filter(brume_controllers::pod::is_active)
        .collect()
}

/// Runs a stand-in kubelet: every pod that appears is marked Ready, with IPs 10.1.x.y, and every
/// pod being deleted gracefully is finished off (`gracePeriodSeconds: 0`), as an agent would.
pub fn spawn_kubelet(pods: Api<Pod>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n: u32 = 0;
        loop {
            let list = pods
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            for p in list {
                let ready = brume_controllers::pod::is_ready(&p);
                if p.metadata.deletion_timestamp.is_some() {
                    let now = kube::api::DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    };
                    let _ = pods
                        .delete(p.metadata.name.as_deref().unwrap_or_default(), &now)
                        .await;
                    continue;
                }
                if !ready && p.metadata.deletion_timestamp.is_none() {
                    n += 1;
                    let ip = format!("10.1.{}.{}", n / 250, n % 250 + 1);
                    make_ready(&pods, p.metadata.name.as_deref().unwrap_or_default(), &ip).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
