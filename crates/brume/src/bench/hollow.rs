//! Hollow nodes: Node objects and Leases made through the API, with no agent behind them, kept
//! Ready by a task that renews their Leases as agents would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use super::kit::{for_each_concurrent, merge_patch, post};

pub(crate) fn node_name(i: usize) -> String {
    format!("hollow-{i:05}")
}

/// Pods per node needed for `pods` over `nodes`, with room to spare so that spreading is not
/// limited by the pod count.
pub(crate) fn pods_per_node(pods: usize, nodes: usize) -> usize {
    (pods.div_ceil(nodes.max(1)) * 2).max(110)
}

fn hollow_node(name: &str, max_pods: usize, now: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "brume.io/hollow": "true"},
            "annotations": {"fog.brume.io/runtime-handlers": "fake"}},
        "spec": {},
        "status": node_status(max_pods, now),
    })
}

fn node_status(max_pods: usize, now: &str) -> Value {
    let capacity = json!({"cpu": "32", "memory": "256Gi", "pods": max_pods.to_string()});
    json!({
        "capacity": capacity, "allocatable": capacity,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "hollow node", "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
    })
}

fn lease(name: &str, now: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 10, "renewTime": now},
    })
}

/// Registers `nodes` hollow nodes with `clients` concurrent writers: a Lease, the Node, its status.
pub(crate) async fn register_nodes(
    client: &kube::Client,
    nodes: usize,
    max_pods: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let client = client.clone();
    for_each_concurrent(nodes, clients, move |i| {
        let client = client.clone();
        async move {
            let name = node_name(i);
            let now = brume_agent::heartbeat::now_micro();
            let now_s = brume_agent::heartbeat::now_time();
            client
                .request_text(post(
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    &lease(&name, &now),
                ))
                .await
                .with_context(|| format!("creating lease {name}"))?;
            client
                .request_text(post("/api/v1/nodes", &hollow_node(&name, max_pods, &now_s)))
                .await
                .with_context(|| format!("creating node {name}"))?;
            // A create may drop the status (as for agents); post it again.
            client
                .request_text(merge_patch(
                    &format!("/api/v1/nodes/{name}/status"),
                    &json!({"status": node_status(max_pods, &now_s)}),
                ))
                .await
                .with_context(|| format!("posting the status of node {name}"))?;
            Ok(())
        }
    })
    .await
}

/// What the lease renewal task did.
#[derive(Default)]
pub(crate) struct LeaseStats {
    pub writes: AtomicU64,
    pub errors: AtomicU64,
    pub rounds: AtomicU64,
    /// The longest round, in milliseconds.
    pub longest_round_ms: AtomicU64,
}

/// Renews every hollow node's Lease every `every`, until `stop`.
pub(crate) fn spawn_lease_renewal(
    client: kube::Client,
    nodes: usize,
    concurrency: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<LeaseStats>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let round = Instant::now();
            let client = client.clone();
            let stats2 = stats.clone();
            let _ = for_each_concurrent(nodes, concurrency, move |i| {
                let client = client.clone();
                let stats = stats2.clone();
                async move {
                    let name = node_name(i);
                    let patch = json!({"spec": {"renewTime": brume_agent::heartbeat::now_micro()}});
                    let path = format!(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
                    );
                    match client.request_text(merge_patch(&path, &patch)).await {
                        Ok(_) => stats.writes.fetch_add(1, Ordering::Relaxed),
                        Err(_) => stats.errors.fetch_add(1, Ordering::Relaxed),
                    };
                    Ok(())
                }
            })
            .await;
            let took = round.elapsed();
            stats.rounds.fetch_add(1, Ordering::Relaxed);
            stats
                .longest_round_ms
                .fetch_max(took.as_millis() as u64, Ordering::Relaxed);
            if let Some(rest) = every.checked_sub(took) {
                tokio::time::sleep(rest).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_have_room_for_twice_their_share_of_pods() {
        assert_eq!(pods_per_node(150_000, 5000), 110);
        assert_eq!(pods_per_node(150_000, 500), 600);
        assert_eq!(pods_per_node(10, 0), 110);
    }

    #[test]
    fn hollow_nodes_offer_only_the_fake_runtime() {
        let n = hollow_node(&node_name(7), 110, "2026-01-01T00:00:00Z");
        assert_eq!(n["metadata"]["name"], "hollow-00007");
        assert_eq!(
            n["metadata"]["annotations"]["fog.brume.io/runtime-handlers"],
            "fake"
        );
        assert_eq!(n["status"]["allocatable"]["pods"], "110");
    }
}
