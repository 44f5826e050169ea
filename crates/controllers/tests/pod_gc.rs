//! The pod garbage collector against a real in-process API server.

mod common;

use brume_testkit::TestServer;
use common::eventually;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn pods_of_deleted_nodes_are_removed() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in ["n1", "n2"] {
        let node: Node = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}}),
        )
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    pods.create(&PostParams::default(), &pod("on-n1", "n1"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("on-n2", "n2"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("on-ghost", "ghost"))
        .await
        .unwrap();
    tokio::spawn(brume_controllers::pod_gc::run(client.clone()));

    // At start: the pod of a node that never existed goes.
    eventually(10, "the ghost node's pod deleted", || async {
        pods.get_opt("on-ghost")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    // A deleted node's pods go; the others stay.
    nodes.delete("n1", &Default::default()).await.unwrap();
    eventually(10, "n1's pod deleted", || async {
        pods.get_opt("on-n1").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(pods.get_opt("on-n2").await.unwrap().is_some());
}
