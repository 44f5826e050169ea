//! The async half of the node lifecycle controller: a periodic check over cached Nodes and
//! Leases, and the writes its decisions call for.

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use std::collections::HashMap;

use super::decide::{self, Eviction, Evictions, Health, Probe};
use crate::config::ControllersConfig;
use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::events;
use crate::pod::is_active;

/// The namespace of node heartbeats.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Runs the node lifecycle controller until its watches end.
pub async fn run(client: kube::Client, config: ControllersConfig) -> Result<(), ControllerError> {
    let nodes = cache::<Node>(Api::all(client.clone()));
    let leases = cache::<Lease>(Api::namespaced(client.clone(), LEASE_NAMESPACE));
    nodes
        .wait_until_ready()
        .await
        .map_err(|e| stopped(e.to_string()))?;
    leases
        .wait_until_ready()
        .await
        .map_err(|e| stopped(e.to_string()))?;
    let mut tick = tokio::time::interval(config.node_monitor_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probes: HashMap<String, Probe> = HashMap::new();
    let mut evictions = Evictions::Normal {
        since: Timestamp::now(),
    };
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        let current = nodes.state();
        probes.retain(|name, _| {
            current
                .iter()
                .any(|n| n.metadata.name.as_ref() == Some(name))
        });
        let mut checked = Vec::with_capacity(current.len());
        for node in current {
            let name = node.metadata.name.clone().unwrap_or_default();
            let renew = leases
                .get(&reflector::ObjectRef::new(&name).within(LEASE_NAMESPACE))
                .and_then(|l| {
                    l.spec
                        .as_ref()
                        .and_then(|s| s.renew_time.as_ref().map(|t| t.0))
                });
            let probe = Probe::step(
                probes.get(&name).copied(),
                decide::heartbeat(&node, renew),
                now,
            );
            probes.insert(name, probe);
            checked.push((
                node,
                probe.health(now, config.node_grace_period),
                probe.seen_at,
            ));
        }
        let healths: Vec<Health> = checked.iter().map(|(_, h, _)| *h).collect();
        let next = evictions.step(&healths, now);
        if next != evictions {
            tracing::warn!(?next, "node eviction state changed");
        }
        evictions = next;
        for (node, health, silent_since) in checked {
            let at = (now, silent_since);
            if let Err(e) = check(&client, &config, &node, health, evictions, at).await {
                tracing::warn!(node = ?node.metadata.name, error = %e, "node check failed");
            }
        }
    }
}

fn stopped(detail: String) -> ControllerError {
    ControllerError::Stopped {
        name: "node-lifecycle",
        detail,
    }
}

/// A reflector store kept current by a spawned watch.
fn cache<K>(api: Api<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    tokio::spawn(stream.for_each(|_| futures::future::ready(())));
    reader
}

async fn check(
    client: &kube::Client,
    config: &ControllersConfig,
    node: &Node,
    health: Health,
    evictions: Evictions,
    (now, silent_since): (Timestamp, Timestamp),
) -> Result<(), ControllerError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let plan = decide::plan_node(node, health, now, silent_since);
    let nodes: Api<Node> = Api::all(client.clone());
    if plan.mark_unknown {
        let conditions = decide::unknown_conditions(node, now);
        let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "status": {"conditions": conditions}});
        match nodes
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                events::record(
                    client,
                    "node-controller",
                    events::reference(node),
                    "Normal",
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                )
                .await;
            }
            // The cache is behind; the next tick sees the newer node.
            Err(e) if is_conflict(&e) || is_not_found(&e) => return Ok(()),
            Err(e) => return Err(ControllerError::api(format!("mark node {name} Unknown"), e)),
        }
    }
    let taints = match plan.taints {
        Some(taints) => {
            // The status write above changed the resourceVersion; taints go without precondition
            // on it only when that write happened, otherwise the cached version guards them.
            let patch = if plan.mark_unknown {
                json!({"spec": {"taints": taints}})
            } else {
                json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": taints}})
            };
            match nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(e) if is_conflict(&e) || is_not_found(&e) => return Ok(()),
                Err(e) => return Err(ControllerError::api(format!("taint node {name}"), e)),
            }
            taints
        }
        None => node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default(),
    };
    let unreachable = health == Health::Unreachable;
    if !unreachable && !taints.iter().any(|t| t.effect == "NoExecute") {
        return Ok(());
    }
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={name}")))
        .await
        .map_err(|e| ControllerError::api(format!("list pods on node {name}"), e))?
        .items;
    if unreachable {
        mark_not_ready(client, &on_node, now).await?;
    }
    match evictions {
        Evictions::Normal { since } => evict(client, config, &on_node, &taints, now, since).await,
        Evictions::FullDisruption => Ok(()),
    }
}

/// Turns the Ready condition of the pods of an unreachable node False.
async fn mark_not_ready(
    client: &kube::Client,
    pods: &[Pod],
    now: Timestamp,
) -> Result<(), ControllerError> {
    for pod in decide::pods_to_mark_not_ready(pods) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let patch = json!({"status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "NodeNotReady",
            "message": "The node this pod runs on stopped renewing its lease.",
            "lastTransitionTime": Time(now),
        }]}});
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api
            .patch_status(
                &pod_name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("mark pod {ns}/{pod_name} not ready"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Deletes the pods of a NoExecute-tainted node whose toleration has run out.
async fn evict(
    client: &kube::Client,
    config: &ControllersConfig,
    on_node: &[Pod],
    taints: &[k8s_openapi::api::core::v1::Taint],
    now: Timestamp,
    clock_start: Timestamp,
) -> Result<(), ControllerError> {
    for pod in on_node.iter().filter(|p| is_active(p)) {
        let Eviction::At(at) = decide::eviction(
            pod,
            taints,
            now,
            config.default_eviction_toleration,
            clock_start,
        ) else {
            continue;
        };
        if at > now {
            continue;
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api.delete(&pod_name, &DeleteParams::default()).await {
            Ok(_) => {
                events::record(
                    client,
                    "taint-eviction-controller",
                    events::reference(pod),
                    "Normal",
                    "TaintManagerEviction",
                    format!("Marking for deletion Pod {ns}/{pod_name}"),
                )
                .await;
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("evict pod {ns}/{pod_name}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}
