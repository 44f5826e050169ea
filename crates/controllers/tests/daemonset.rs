//! The DaemonSet controller against a real in-process API server.

mod common;

use brume_testkit::TestServer;
use common::{active_pods, eventually, spawn_kubelet};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

async fn add_node(nodes: &Api<Node>, name: &str, role: &str) {
    let node: Node = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"role": role}}})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
}

fn placement(pods: &[Pod]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pods
        .iter()
        .map(|p| {
            let spec = p.spec.as_ref().unwrap();
            (
                spec.node_name.clone().unwrap(),
                spec.containers[0].image.clone().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_daemonset_runs_one_pod_per_eligible_node_and_rolls_them() {
    let server = TestServer::start().await;
    let client = server.client().await;
    tokio::spawn(brume_controllers::daemonset::run(client.clone()));
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    add_node(&nodes, "e1", "edge").await;
    add_node(&nodes, "e2", "edge").await;
    add_node(&nodes, "c1", "core").await;
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"nodeSelector": {"role": "edge"}, "containers": [{"name": "c", "image": "v1"}]}
            }
        }
    }))
    .unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    eventually(15, "a ready pod on each edge node", || async {
        let p = active_pods(&pods, "app=agent").await;
        let s = sets.get("agent").await.unwrap().status?;
        let want = vec![
            ("e1".to_string(), "v1".to_string()),
            ("e2".to_string(), "v1".to_string()),
        ];
        (placement(&p) == want
            && s.desired_number_scheduled == 2
            && s.number_ready == 2
            && s.number_available == Some(2))
        .then_some(())
    })
    .await;

    // A new eligible node gets its pod.
    add_node(&nodes, "e3", "edge").await;
    eventually(15, "a pod on the new node", || async {
        let p = active_pods(&pods, "app=agent").await;
        (placement(&p).len() == 3 && placement(&p).iter().any(|(n, _)| n == "e3")).then_some(())
    })
    .await;

    // A template change rolls every pod.
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v2"}]}}}});
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    eventually(30, "every pod on v2", || async {
        let p = active_pods(&pods, "app=agent").await;
        let s = sets.get("agent").await.unwrap().status?;
        let want: Vec<_> = ["e1", "e2", "e3"]
            .iter()
            .map(|n| (n.to_string(), "v2".to_string()))
            .collect();
        (placement(&p) == want
            && s.updated_number_scheduled == Some(3)
            && s.number_available == Some(3)
            && s.observed_generation == Some(2))
        .then_some(())
    })
    .await;
}
