//! The pod garbage collector: deletes, with no grace period, the pods bound to a node that was
//! deleted. It checks every pod once when it starts and the pods of each node whose deletion it
//! sees; a node is confirmed gone by a fresh read first.

pub mod decide;

use std::collections::HashSet;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::{WatchStreamExt, watcher};

use crate::error::{ControllerError, is_not_found};

/// Runs the pod garbage collector until its node watch ends.
pub async fn run(client: kube::Client) -> Result<(), ControllerError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut known: HashSet<String> = HashSet::new();
    let mut initial: HashSet<String> = HashSet::new();
    let stream = watcher(nodes.clone(), watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "pod gc node watch");
                continue;
            }
        };
        let result = match event {
            watcher::Event::Init => {
                initial.clear();
                Ok(())
            }
            watcher::Event::InitApply(n) => {
                initial.extend(n.metadata.name);
                Ok(())
            }
            watcher::Event::InitDone => {
                known = std::mem::take(&mut initial);
                collect(&client, &nodes, &known, None).await
            }
            watcher::Event::Apply(n) => {
                known.extend(n.metadata.name);
                Ok(())
            }
            watcher::Event::Delete(n) => {
                let name = n.metadata.name.unwrap_or_default();
                known.remove(&name);
                collect(&client, &nodes, &known, Some(&name)).await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "pod gc pass failed");
        }
    }
    Err(ControllerError::Stopped {
        name: "pod-gc",
        detail: "node watch ended".into(),
    })
}

/// Deletes the orphaned pods among all pods, or among those of one node.
async fn collect(
    client: &kube::Client,
    nodes: &Api<Node>,
    known: &HashSet<String>,
    node: Option<&str>,
) -> Result<(), ControllerError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let params = match node {
        Some(n) => ListParams::default().fields(&format!("spec.nodeName={n}")),
        None => ListParams::default(),
    };
    let list = pods
        .list(&params)
        .await
        .map_err(|e| ControllerError::api("list pods for garbage collection", e))?
        .items;
    let mut confirmed_gone: HashSet<String> = HashSet::new();
    for pod in decide::orphaned(&list, known) {
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        // The watch may lag a re-created node; a fresh read decides.
        if !confirmed_gone.contains(&node_name) {
            let exists = nodes
                .get_opt(&node_name)
                .await
                .map_err(|e| ControllerError::api(format!("get node {node_name}"), e))?
                .is_some();
            if exists {
                continue;
            }
            confirmed_gone.insert(node_name.clone());
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        match api.delete(&name, &now).await {
            Ok(_) => {
                tracing::info!(pod = %format!("{ns}/{name}"), node = %node_name, "deleted a pod of a deleted node")
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("delete orphaned pod {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}
