//! A burst of pods created at once: the scheduler counts each placement before the watch
//! reports it, so no node is given more than it can hold and the pods spread evenly; a pod
//! that then fits nowhere is bound as soon as a deletion frees room.

use std::collections::BTreeMap;
use std::time::Duration;

use brume_testkit::TestServer;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn a_burst_fills_every_node_exactly_and_the_next_pod_is_refused() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    for name in ["a", "b", "c"] {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "100"},
                "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap();
        nodes.create(&pp, &node).await.unwrap();
    }
    let pod = |name: String| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "100m"}}}]},
        }))
        .unwrap()
    };
    // Create the pods before the scheduler starts, so it meets all 30 in its first list.
    let creates = (0..30).map(|i| {
        let pods = pods.clone();
        let p = pod(format!("p-{i:02}"));
        async move { pods.create(&PostParams::default(), &p).await.unwrap() }
    });
    futures::future::join_all(creates).await;
    let scheduler = tokio::spawn(brume_scheduler::run(
        client.clone(),
        brume_scheduler::default_profile(),
    ));

    let mut per_node = BTreeMap::new();
    for _ in 0..150 {
        let list = pods.list(&ListParams::default()).await.unwrap();
        per_node.clear();
        for p in &list.items {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.clone()) {
                *per_node.entry(n).or_insert(0) += 1;
            }
        }
        if per_node.values().sum::<i32>() == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected: BTreeMap<String, i32> =
        [("a".into(), 10), ("b".into(), 10), ("c".into(), 10)].into();
    assert_eq!(per_node, expected);

    pods.create(&pp, &pod("late".into())).await.unwrap();
    let mut message = None;
    for _ in 0..150 {
        let p = pods.get("late").await.unwrap();
        message = p
            .status
            .and_then(|s| s.conditions)
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled")
            .and_then(|c| c.message);
        if message.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        message.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient cpu.")
    );

    // Deleting a bound pod frees its room, and the waiting pod takes it.
    let freed = pods
        .get("p-00")
        .await
        .unwrap()
        .spec
        .unwrap()
        .node_name
        .unwrap();
    pods.delete("p-00", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let mut late_node = None;
    for _ in 0..150 {
        late_node = pods
            .get("late")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.node_name);
        if late_node.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(late_node, Some(freed));
    scheduler.abort();
}
