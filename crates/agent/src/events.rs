//! Events about pods, as the kubelet records them (`Started`, `Killing`, `BackOff`,
//! `Unhealthy`, `Failed`, ...), so `kubectl describe pod` explains what happened.

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// Writes events on behalf of one node's agent.
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    node: String,
}

impl Recorder {
    /// A recorder for the agent of `node`.
    pub fn new(client: kube::Client, node: impl Into<String>) -> Self {
        Recorder {
            client,
            node: node.into(),
        }
    }

    /// A Normal event about `pod`.
    pub async fn normal(&self, pod: &Value, reason: &str, message: &str) {
        self.record(pod, "Normal", reason, message).await;
    }

    /// A Warning event about `pod`.
    pub async fn warn(&self, pod: &Value, reason: &str, message: &str) {
        self.record(pod, "Warning", reason, message).await;
    }

    async fn record(&self, pod: &Value, kind: &str, reason: &str, message: &str) {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let now = chrono::Utc::now();
        let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {
                // The kubelet's naming: the object's name and the time in hex nanoseconds.
                "name": format!("{}.{:x}", pod["metadata"]["name"].as_str().unwrap_or("pod"), now.timestamp_nanos_opt().unwrap_or(0)),
                "namespace": ns,
            },
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": ns,
                "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "brume-agent", "host": self.node},
            "reportingComponent": "brume-agent",
            "reportingInstance": self.node,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        });
        let Ok(event) = serde_json::from_value::<Event>(event) else {
            return;
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            tracing::debug!(error = %e, reason, "recording an event failed");
        }
    }
}
