//! Proximity placement through the API: four nodes on a line (Vivaldi coordinates 20 ms
//! apart), a Service with one replica on the first node and all its demand reported at the
//! last one. The next replica goes to the users' gateway, or, when that node is cordoned, to
//! its nearest neighbour. On resources alone both would lose to `b`, the first empty node by
//! name (the control test checks it), so only the demand can put the pod there.

use std::time::Duration;

use brume_api::TrafficReport;
use brume_scheduler::ProfileConfig;
use brume_testkit::TestServer;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use serde_json::json;

/// A ready node at `x` ms along a line.
fn node(name: &str, x: f64, unschedulable: bool) -> Node {
    let coordinates = json!({"vector": [x, 0.0], "height": 0.0, "error": 0.1}).to_string();
    serde_json::from_value(json!({
        "metadata": {"name": name,
            "annotations": {"fog.brume.io/coordinates": coordinates}},
        "spec": {"unschedulable": unschedulable},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "20"},
            "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .unwrap()
}

/// A replica of `web`, bound to `node` already when one is given.
fn replica(name: &str, node: Option<&str>) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }))
    .unwrap()
}

/// The cluster: nodes a, b, c, d at 0, 20, 40 and 60 ms (d cordoned if asked), the Service
/// `web` with `web-0` on a, and 50 requests per second at gateway d; then the scheduler starts
/// with `profile` and `web-1` is created. Returns the node `web-1` is bound to.
async fn second_replica_with_demand_at_d(d_cordoned: bool, profile: ProfileConfig) -> String {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pp = PostParams::default();
    let nodes: Api<Node> = Api::all(client.clone());
    for (name, x) in [("a", 0.0), ("b", 20.0), ("c", 40.0), ("d", 60.0)] {
        let cordoned = d_cordoned && name == "d";
        nodes.create(&pp, &node(name, x, cordoned)).await.unwrap();
    }
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let web: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }))
    .unwrap();
    services.create(&pp, &web).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&pp, &replica("web-0", Some("a")))
        .await
        .unwrap();
    let reports: Api<TrafficReport> = Api::namespaced(client.clone(), "default");
    let mut at_d = TrafficReport::new("default", "web", "d");
    at_d.spec.requests_per_second = 50.0;
    at_d.spec.observed_time = Some(Time(Timestamp::now()));
    reports.create(&pp, &at_d).await.unwrap();

    // The scheduler lists Services and reports before it places anything.
    let scheduler = tokio::spawn(brume_scheduler::run(
        client.clone(),
        brume_scheduler::profile(&profile),
    ));
    pods.create(&pp, &replica("web-1", None)).await.unwrap();
    let mut bound = None;
    for _ in 0..150 {
        let p = pods.get("web-1").await.unwrap();
        bound = p.spec.and_then(|s| s.node_name);
        if bound.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scheduler.abort();
    bound.expect("web-1 is bound within 15 s")
}

#[tokio::test]
async fn the_second_replica_goes_to_the_gateway_of_the_demand() {
    let placed = second_replica_with_demand_at_d(false, ProfileConfig::default()).await;
    assert_eq!(placed, "d");
}

#[tokio::test]
async fn with_the_gateway_cordoned_it_goes_to_the_nearest_neighbour() {
    let placed = second_replica_with_demand_at_d(true, ProfileConfig::default()).await;
    assert_eq!(placed, "c");
}

#[tokio::test]
async fn without_proximity_the_resource_scores_pick_the_first_empty_node() {
    let resources_only = ProfileConfig {
        proximity_weight: 0,
        ..ProfileConfig::default()
    };
    assert_eq!(
        second_replica_with_demand_at_d(false, resources_only).await,
        "b"
    );
}
