//! The pod manager: it watches the pods bound to this node, gives each its [`Worker`], and on
//! start re-adopts what the runtimes already run, removing what no pod owns any more (stale
//! copies of pods that were replaced elsewhere while the node was away).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use brume_runtime::ContainerRuntime;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::watch;

use crate::events::Recorder;
use crate::worker::{Worker, WorkerContext};

/// The runtimes of a node, the default (for pods without `runtimeClassName`) first.
#[derive(Clone)]
pub struct Runtimes(pub Vec<Arc<dyn ContainerRuntime>>);

impl Runtimes {
    /// The runtime a pod asks for, or `None` when the node does not offer it.
    pub fn for_pod(&self, pod: &Value) -> Option<Arc<dyn ContainerRuntime>> {
        match pod["spec"]["runtimeClassName"].as_str() {
            None | Some("") => self.0.first().cloned(),
            Some(h) => self.0.iter().find(|r| r.handler() == h).cloned(),
        }
    }

    /// The handler names, default first.
    pub fn handlers(&self) -> Vec<String> {
        self.0.iter().map(|r| r.handler().to_string()).collect()
    }
}

/// Why the manager stopped.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// Listing what the runtimes hold failed.
    #[error("listing the {handler} runtime's pods failed: {source}")]
    Runtime {
        /// The runtime.
        handler: String,
        /// The cause.
        source: brume_runtime::RuntimeError,
    },
}

struct Running {
    updates: watch::Sender<Option<Value>>,
}

/// Runs the pods bound to `node` until the process stops.
pub async fn run(
    client: kube::Client,
    node: String,
    host_ip: IpAddr,
    runtimes: Runtimes,
    logs: crate::logs::LogRegistry,
    pods_dir: std::path::PathBuf,
) -> Result<(), ManagerError> {
    // What the runtimes hold from before a restart, by pod uid.
    let mut adoptable = HashMap::new();
    for rt in &runtimes.0 {
        let listed = rt.list().await.map_err(|source| ManagerError::Runtime {
            handler: rt.handler().to_string(),
            source,
        })?;
        for l in listed {
            adoptable.insert(l.sandbox.pod_uid.clone(), (rt.clone(), l));
        }
    }
    let events = Recorder::new(client.clone(), node.clone());
    let node_resources = crate::downward::NodeResources::of(&crate::host::facts());
    let pods: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    // With backoff: without it a watch that fails at once (server gone, in-process client
    // closed) is retried in a hot loop that starves the runtime.
    let mut stream = watcher(pods, config).default_backoff().boxed();
    let mut workers: HashMap<String, Running> = HashMap::new();
    let mut seen_in_list: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                // The server is away: pods keep running (DESIGN §8); the watcher retries.
                tracing::warn!(error = %e, "pod watch interrupted");
                continue;
            }
        };
        match event {
            watcher::Event::Init => seen_in_list.clear(),
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                let Ok(pod) = serde_json::to_value(&pod) else {
                    continue;
                };
                let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
                seen_in_list.insert(uid.clone());
                if let Some(w) = workers.get(&uid) {
                    let _ = w.updates.send(Some(pod));
                    continue;
                }
                if finished(&pod) {
                    continue;
                }
                let adopted = adoptable.remove(&uid);
                let runtime = match (&adopted, runtimes.for_pod(&pod)) {
                    (Some((rt, _)), _) => rt.clone(),
                    (None, Some(rt)) => rt,
                    (None, None) => {
                        let msg = format!(
                            "node {node} does not offer runtime handler {:?}; it offers {}",
                            pod["spec"]["runtimeClassName"].as_str().unwrap_or(""),
                            runtimes.handlers().join(", ")
                        );
                        events.warn(&pod, "FailedCreatePodSandBox", &msg).await;
                        continue;
                    }
                };
                let ctx = WorkerContext {
                    client: client.clone(),
                    runtime,
                    host_ip,
                    events: events.clone(),
                    logs: logs.clone(),
                    pods_dir: pods_dir.clone(),
                    node: node_resources,
                };
                let (tx, rx) = watch::channel(Some(pod.clone()));
                let worker = Worker::new(ctx, pod, adopted.map(|(_, l)| (l.sandbox, l.containers)));
                tokio::spawn(worker.run(rx));
                workers.insert(uid, Running { updates: tx });
            }
            watcher::Event::Delete(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(w) = workers.remove(&uid) {
                    let _ = w.updates.send(None);
                }
            }
            watcher::Event::InitDone => {
                // Pods that vanished while the watch was down, and sandboxes no pod owns.
                let gone: Vec<String> = workers
                    .keys()
                    .filter(|uid| !seen_in_list.contains(*uid))
                    .cloned()
                    .collect();
                for uid in gone {
                    if let Some(w) = workers.remove(&uid) {
                        let _ = w.updates.send(None);
                    }
                }
                for (uid, (rt, _)) in adoptable.drain() {
                    tracing::info!(%uid, "removing a stale sandbox no pod owns");
                    if let Err(e) = rt.remove_sandbox(&uid).await {
                        tracing::warn!(%uid, error = %e, "removing a stale sandbox failed");
                    }
                }
            }
        }
        workers.retain(|_, w| !w.updates.is_closed());
    }
    Ok(())
}

/// A pod that already finished needs no worker (its containers are gone or done).
fn finished(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}
