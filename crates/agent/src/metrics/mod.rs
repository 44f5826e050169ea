//! Resource metrics (metrics.k8s.io/v1beta1): every [`MetricsConfig::interval`] the agent reads
//! the CPU and memory counters of its running containers through their runtimes
//! ([`brume_runtime::ContainerRuntime::container_stats`]), turns two readings into a CPU rate
//! ([`rate`], pure), and writes a PodMetrics per running pod and a NodeMetrics for itself, as
//! the kubelet and the metrics-server do together in Kubernetes. `kubectl top` and the HPA
//! controller read them.
//!
//! A pod is reported once every running container of it has a rate (a container seen for the
//! first time needs a second reading), as the metrics-server leaves out pods with incomplete
//! metrics; a pod that stops running has its PodMetrics deleted, and a deleted pod's go with it
//! (owner reference). What a node reports as its own usage is [`NodeUsage`]'s choice.

pub mod host;
pub mod objects;
pub mod rate;

use std::collections::HashSet;
use std::time::Duration;

use brume_api::metrics::{NodeMetrics, PodMetrics, REPORT_INTERVAL_SECONDS};
use brume_runtime::ContainerId;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use self::objects::ContainerUsage;
use self::rate::{Sample, Sampler};
use crate::logs::LogRegistry;

/// What a node reports as its own usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeUsage {
    /// The whole host, from `/proc/stat` and `/proc/meminfo` ([`host`]): right for an agent
    /// alone on its machine (`brume agent`), where the node is the host, as the kubelet
    /// reports its root cgroup.
    Host,
    /// The sum of the node's pods: for the emulated nodes of `brume dev`, several agents in
    /// one process on one host, where the host's figures would be every node's at once. The
    /// agent's own CPU is left out (it is shared by every node of the process and the server).
    Pods,
}

/// How the metrics are measured and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Time between two readings, which is also the window of each rate and how often each
    /// object is written.
    pub interval: Duration,
    /// Where the node's own usage comes from.
    pub node_usage: NodeUsage,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(REPORT_INTERVAL_SECONDS),
            node_usage: NodeUsage::Host,
        }
    }
}

/// What one round wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Round {
    /// The pods whose PodMetrics were written, as `namespace/name`.
    pub pods: Vec<String>,
    /// The pods whose PodMetrics were deleted because they no longer run.
    pub removed: Vec<String>,
    /// Whether the NodeMetrics was written.
    pub node: bool,
}

/// The metrics reporter of one node: its previous readings and what it wrote.
pub struct Reporter {
    client: kube::Client,
    node: String,
    logs: LogRegistry,
    config: MetricsConfig,
    containers: Sampler<ContainerId>,
    host: Sampler<()>,
    last_round: Option<Instant>,
    /// `(namespace, name)` of the pods with a PodMetrics written by this reporter.
    reported: HashSet<(String, String)>,
    node_uid: Option<String>,
}

/// A running pod's identity, for the bookkeeping.
fn key(pod: &Pod) -> (String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

fn running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

impl Reporter {
    /// A reporter for `node`, reading containers through the runtimes `logs` records.
    pub fn new(
        client: kube::Client,
        node: String,
        logs: LogRegistry,
        config: MetricsConfig,
    ) -> Reporter {
        Reporter {
            client,
            node,
            logs,
            config,
            containers: Sampler::default(),
            host: Sampler::default(),
            last_round: None,
            reported: HashSet::new(),
            node_uid: None,
        }
    }

    /// Reads every running container of the node's pods once and writes what can be measured.
    pub async fn round(&mut self, now: Instant) -> Result<Round, kube::Error> {
        let at = Timestamp::now();
        let pods: Api<Pod> = Api::all(self.client.clone());
        let listed = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={}", self.node)))
            .await?
            .items;
        let mut out = Round::default();
        let mut seen: HashSet<ContainerId> = HashSet::new();
        let mut alive: HashSet<(String, String)> = HashSet::new();
        let (mut node_cores, mut node_memory) = (0.0, 0u64);
        for pod in listed.iter().filter(|p| running(p)) {
            let (ns, name) = key(pod);
            alive.insert((ns.clone(), name.clone()));
            let Some((usage, window)) = self.measure(pod, &ns, &name, now, &mut seen).await else {
                continue;
            };
            node_cores += usage.iter().map(|c| c.cores).sum::<f64>();
            node_memory += usage.iter().map(|c| c.memory_bytes).sum::<u64>();
            let body = objects::pod_metrics(pod, &usage, window, at);
            match write_pod(&self.client, &body).await {
                Ok(()) => {
                    self.reported.insert((ns.clone(), name.clone()));
                    out.pods.push(format!("{ns}/{name}"));
                }
                Err(e) => {
                    tracing::debug!(pod = %format!("{ns}/{name}"), error = %e, "writing pod metrics failed")
                }
            }
        }
        self.containers.retain(|id| seen.contains(id));
        for (ns, name) in self.reported.clone() {
            if alive.contains(&(ns.clone(), name.clone())) {
                continue;
            }
            let api: Api<PodMetrics> = Api::namespaced(self.client.clone(), &ns);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) | Err(kube::Error::Api(_)) => {
                    self.reported.remove(&(ns.clone(), name.clone()));
                    out.removed.push(format!("{ns}/{name}"));
                }
                Err(e) => tracing::debug!(error = %e, "deleting pod metrics failed"),
            }
        }
        let node_usage = match self.config.node_usage {
            NodeUsage::Host => host::read().and_then(|h| {
                let sample = Sample {
                    cpu_ns: h.cpu_busy_ns,
                    at: now,
                };
                self.host
                    .observe(&(), sample)
                    .map(|r| (r.cores, h.memory_used_bytes, r.window))
            }),
            NodeUsage::Pods => self
                .last_round
                .and_then(|last| now.checked_duration_since(last))
                .filter(|w| !w.is_zero())
                .map(|w| (node_cores, node_memory, w)),
        };
        self.last_round = Some(now);
        if let Some((cores, memory, window)) = node_usage {
            if self.node_uid.is_none() {
                let nodes: Api<Node> = Api::all(self.client.clone());
                self.node_uid = nodes
                    .get_opt(&self.node)
                    .await?
                    .and_then(|n| n.metadata.uid);
            }
            let body = objects::node_metrics(
                &self.node,
                self.node_uid.as_deref(),
                cores,
                memory,
                window,
                at,
            );
            write_node(&self.client, &body).await?;
            out.node = true;
        }
        Ok(out)
    }

    /// The usage of a pod's running containers, or `None` while one of them has no rate yet
    /// (or none runs).
    async fn measure(
        &mut self,
        pod: &Pod,
        ns: &str,
        name: &str,
        now: Instant,
        seen: &mut HashSet<ContainerId>,
    ) -> Option<(Vec<ContainerUsage>, Duration)> {
        let spec = pod.spec.as_ref()?;
        let mut usage = Vec::new();
        let mut window = Duration::ZERO;
        let mut complete = true;
        for c in &spec.containers {
            let Some((runtime, id)) = self.logs.current(ns, name, &c.name) else {
                complete = false;
                continue;
            };
            let stats = match runtime.container_stats(&id).await {
                Ok(Some(stats)) => stats,
                // Not running (exited, restarting): absent, as the kubelet lists only running
                // containers.
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(container = %id, error = %e, "reading container stats failed");
                    complete = false;
                    continue;
                }
            };
            seen.insert(id.clone());
            let sample = Sample {
                cpu_ns: stats.cpu_usage_ns,
                at: now,
            };
            match self.containers.observe(&id, sample) {
                Some(rate) => {
                    window = window.max(rate.window);
                    usage.push(ContainerUsage {
                        name: c.name.clone(),
                        cores: rate.cores,
                        memory_bytes: stats.memory_working_set_bytes,
                    });
                }
                None => complete = false,
            }
        }
        (complete && !usage.is_empty()).then_some((usage, window))
    }
}

/// Writes `body`: a merge patch of everything it says when the object exists (lists are
/// replaced whole by a merge patch), a create otherwise.
async fn upsert<K>(api: Api<K>, name: &str, body: &K) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut patch = serde_json::to_value(body).map_err(kube::Error::SerdeError)?;
    if let Some(obj) = patch.as_object_mut() {
        obj.remove("apiVersion");
        obj.remove("kind");
        let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
        obj.insert(
            "metadata".into(),
            json!({"labels": meta.get("labels"), "ownerReferences": meta.get("ownerReferences")}),
        );
    }
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            api.create(&PostParams::default(), body).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

async fn write_pod(client: &kube::Client, body: &PodMetrics) -> Result<(), kube::Error> {
    let ns = body.metadata.namespace.as_deref().unwrap_or("default");
    let name = body.metadata.name.clone().unwrap_or_default();
    upsert(Api::namespaced(client.clone(), ns), &name, body).await
}

async fn write_node(client: &kube::Client, body: &NodeMetrics) -> Result<(), kube::Error> {
    let name = body.metadata.name.clone().unwrap_or_default();
    upsert(Api::all(client.clone()), &name, body).await
}

/// Reports until the process ends, one round every `interval`.
pub async fn run(mut reporter: Reporter) {
    let mut ticker = tokio::time::interval(reporter.config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = reporter.round(Instant::now()).await {
            // The server is away or refuses: the next round measures again.
            tracing::debug!(node = %reporter.node, error = %e, "a metrics round failed");
        }
    }
}
