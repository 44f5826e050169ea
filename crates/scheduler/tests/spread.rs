//! Topology spread through the API: a `DoNotSchedule` constraint read from the pod spec keeps
//! two zones within one pod of each other, counting the scheduler's own fresh placements.

use std::collections::BTreeMap;
use std::time::Duration;

use brume_testkit::TestServer;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn do_not_schedule_keeps_zones_within_max_skew() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    // Two nodes in zone a, one in zone b: resource spreading alone would put half the pods
    // more in zone a.
    for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"zone": zone}},
            "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "100"},
                "conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap();
        nodes.create(&pp, &node).await.unwrap();
    }
    for i in 0..6 {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("web-{i}"), "namespace": "default",
                "labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "c", "image": "i",
                    "resources": {"requests": {"cpu": "100m"}}}],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}}}],
            },
        }))
        .unwrap();
        pods.create(&pp, &p).await.unwrap();
    }
    let scheduler = tokio::spawn(brume_scheduler::run(
        client.clone(),
        brume_scheduler::default_profile(),
    ));

    let zone = |node: &str| if node.starts_with('a') { "a" } else { "b" };
    let mut per_zone = BTreeMap::new();
    for _ in 0..150 {
        per_zone.clear();
        let list = pods.list(&ListParams::default()).await.unwrap();
        for p in &list.items {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                *per_zone.entry(zone(n)).or_insert(0) += 1;
            }
        }
        if per_zone.values().sum::<i32>() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(per_zone, [("a", 3), ("b", 3)].into());
    scheduler.abort();
}
