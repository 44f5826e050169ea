//! Every controller through `run_all`: a Deployment behind a Service on two nodes; one node's
//! agent goes silent, and its pods are replaced on the other node and traffic follows.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brume_controllers::ControllersConfig;
use brume_testkit::TestServer;
use common::{active_pods, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// A stand-in for the scheduler and the agents: binds unbound pods to the first live node, marks
/// pods Ready on live nodes, finishes deletions on live nodes, and renews live nodes' leases.
fn spawn_cluster(client: kube::Client, alive: Vec<(&'static str, Arc<AtomicBool>)>) {
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::all(client.clone());
        let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
        let mut n = 0u32;
        loop {
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            for (node, up) in &alive {
                if up.load(Ordering::SeqCst) {
                    let patch = json!({"spec": {"renewTime": now}});
                    let _ = leases
                        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                }
            }
            let live = |name: &str| {
                alive
                    .iter()
                    .any(|(n, up)| *n == name && up.load(Ordering::SeqCst))
            };
            let first_live = alive
                .iter()
                .find(|(_, up)| up.load(Ordering::SeqCst))
                .map(|(n, _)| *n);
            for p in pods
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
            {
                let ns = p.metadata.namespace.clone().unwrap();
                let name = p.metadata.name.clone().unwrap();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
                match node {
                    None => {
                        if let Some(target) = first_live {
                            let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": target}});
                            let _: Result<serde_json::Value, _> = api
                                .create_subresource(
                                    "binding",
                                    &name,
                                    &PostParams::default(),
                                    &binding,
                                )
                                .await;
                        }
                    }
                    Some(node) if live(&node) => {
                        if p.metadata.deletion_timestamp.is_some() {
                            let _ = api
                                .delete(
                                    &name,
                                    &DeleteParams {
                                        grace_period_seconds: Some(0),
                                        ..Default::default()
                                    },
                                )
                                .await;
                        } else if !brume_controllers::pod::is_ready(&p) {
                            n += 1;
                            common::make_ready(&api, &name, &format!("10.2.0.{n}")).await;
                        }
                    }
                    Some(_) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
}

async fn add_node(client: &kube::Client, name: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": name, "renewTime": k8s_openapi::jiff::Timestamp::now().to_string()}
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
}

/// (node, ready ip) of every ready address of the Service's Endpoints.
async fn ready_addresses(endpoints: &Api<Endpoints>) -> BTreeSet<(String, String)> {
    let Some(ep) = endpoints.get_opt("web").await.unwrap() else {
        return BTreeSet::new();
    };
    ep.subsets
        .into_iter()
        .flatten()
        .flat_map(|s| s.addresses.into_iter().flatten())
        .map(|a| (a.node_name.unwrap_or_default(), a.ip))
        .collect()
}

#[tokio::test]
async fn pods_of_a_silent_node_are_replaced_elsewhere_and_traffic_follows() {
    let server = TestServer::start().await;
    let client = server.client().await;
    add_node(&client, "n1").await;
    add_node(&client, "n2").await;
    let n1 = Arc::new(AtomicBool::new(true));
    let n2 = Arc::new(AtomicBool::new(true));
    spawn_cluster(client.clone(), vec![("n1", n1.clone()), ("n2", n2.clone())]);
    let config = ControllersConfig {
        node_grace_period: Duration::from_secs(2),
        default_eviction_toleration: Duration::from_secs(2),
        node_monitor_period: Duration::from_millis(200),
        ..ControllersConfig::default()
    };
    tokio::spawn(brume_controllers::run_all(client.clone(), config));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();

    let before = eventually(20, "two ready endpoints on n1", || async {
        let addrs = ready_addresses(&endpoints).await;
        (addrs.len() == 2 && addrs.iter().all(|(n, _)| n == "n1")).then_some(addrs)
    })
    .await;

    // n1's agent dies.
    n1.store(false, Ordering::SeqCst);
    let after = eventually(30, "two ready endpoints on n2", || async {
        let addrs = ready_addresses(&endpoints).await;
        (addrs.len() == 2 && addrs.iter().all(|(n, _)| n == "n2")).then_some(addrs)
    })
    .await;
    assert!(before.is_disjoint(&after));
    let active = active_pods(&pods, "app=web").await;
    assert_eq!(
        active.len(),
        2,
        "no duplicates: {:?}",
        active.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
    );
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(2));
    // n1's copies are marked for deletion, waiting for their agent to finish them.
    let all = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    let on_n1: Vec<_> = all
        .iter()
        .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("n1"))
        .collect();
    assert!(
        on_n1
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    );
}
