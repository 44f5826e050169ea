//! Registration and heartbeats: the agent creates (or refreshes) its Node, renews its Lease in
//! `kube-node-lease` every couple of seconds, and posts its Ready condition. The server's node
//! lifecycle controller marks the node NotReady when the Lease goes stale (DESIGN §6: renew
//! every 2 s, NotReady after 10 s by default).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::node::{HostFacts, NodeIdentity, node_object, ready_condition};

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// How often the agent renews its Lease and refreshes its Node status.
#[derive(Clone, Copy, Debug)]
pub struct HeartbeatConfig {
    /// Lease renewal interval (fog default 2 s).
    pub renew_every: Duration,
    /// The lease duration written into the Lease (fog default 10 s).
    pub lease_duration: Duration,
    /// How often the Node's Ready condition is refreshed (Kubernetes: 10 s).
    pub status_every: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            renew_every: Duration::from_secs(2),
            lease_duration: Duration::from_secs(10),
            status_every: Duration::from_secs(10),
        }
    }
}

/// Why registration or a heartbeat failed.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// The API refused or could not be reached.
    #[error("{action} failed: {source}")]
    Api {
        /// What the agent was doing.
        action: String,
        /// The cause.
        source: kube::Error,
    },
}

fn api_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> HeartbeatError {
    let action = action.into();
    move |source| HeartbeatError::Api { action, source }
}

/// The current time as a Kubernetes `Time` (seconds).
pub fn now_time() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time as a Kubernetes `MicroTime`.
pub fn now_micro() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Creates the Node, or brings an existing one up to date (labels, annotations, status).
pub async fn register(
    client: &kube::Client,
    id: &NodeIdentity,
    host: &HostFacts,
) -> Result<(), HeartbeatError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let desired = node_object(id, host, &now_time());
    match nodes
        .get_opt(&id.name)
        .await
        .map_err(api_err("reading the Node"))?
    {
        None => {
            let node: Node =
                serde_json::from_value(desired.clone()).expect("the node object is a valid Node");
            nodes
                .create(&PostParams::default(), &node)
                .await
                .map_err(api_err(format!("registering node {}", id.name)))?;
            // The create resets status on some servers; post it again.
            let status = json!({"status": desired["status"]});
            nodes
                .patch_status(&id.name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .map_err(api_err("posting the node status"))?;
        }
        Some(_) => {
            let meta = json!({"metadata": {
                "labels": desired["metadata"]["labels"],
                "annotations": desired["metadata"]["annotations"],
            }});
            nodes
                .patch(&id.name, &PatchParams::default(), &Patch::Merge(&meta))
                .await
                .map_err(api_err("updating the node's labels"))?;
            let status = json!({"status": desired["status"]});
            nodes
                .patch_status(&id.name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .map_err(api_err("posting the node status"))?;
        }
    }
    Ok(())
}

/// Renews (or creates) the node's Lease once.
pub async fn renew_lease(
    client: &kube::Client,
    node: &str,
    lease_duration: Duration,
) -> Result<(), HeartbeatError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let spec = json!({
        "holderIdentity": node,
        "leaseDurationSeconds": lease_duration.as_secs(),
        "renewTime": now_micro(),
    });
    let patch = json!({"spec": spec});
    match leases
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": LEASE_NAMESPACE},
                "spec": spec,
            }))
            .expect("the lease object is a valid Lease");
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(|_| ())
                .map_err(api_err("creating the node lease"))
        }
        Err(e) => Err(api_err("renewing the node lease")(e)),
    }
}

/// Posts the Ready condition with a fresh heartbeat time, keeping its transition time.
pub async fn post_ready(client: &kube::Client, node: &str) -> Result<(), HeartbeatError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let current = nodes.get(node).await.map_err(api_err("reading the Node"))?;
    let now = now_time();
    let mut conditions: Vec<Value> = current
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    let since = conditions
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
        .unwrap_or_else(|| now.clone());
    conditions.retain(|c| c["type"] != "Ready");
    conditions.push(ready_condition(&now, &since));
    let patch = json!({"status": {"conditions": conditions}});
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err("posting the Ready condition"))?;
    Ok(())
}

/// Renews the Lease and refreshes the Ready condition forever. Failures are logged and retried
/// at the next tick: a partitioned agent keeps running its pods (DESIGN §8, autonomy).
pub async fn run(client: kube::Client, node: String, config: HeartbeatConfig) {
    let mut renew = tokio::time::interval(config.renew_every);
    let mut status = tokio::time::interval(config.status_every);
    loop {
        tokio::select! {
            _ = renew.tick() => {
                if let Err(e) = renew_lease(&client, &node, config.lease_duration).await {
                    tracing::warn!(error = %e, "lease renewal failed");
                }
            }
            _ = status.tick() => {
                if let Err(e) = post_ready(&client, &node).await {
                    tracing::warn!(error = %e, "node status update failed");
                }
            }
        }
    }
}
