//! The node lifecycle controller against a real in-process API server: lease expiry, taints,
//! eviction after toleration, recovery.

mod common;

use std::time::Duration;

use brume_controllers::ControllersConfig;
use brume_testkit::TestServer;
use common::eventually;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn renew(leases: &Api<Lease>) {
    renew_node(leases, "n1").await;
}

async fn renew_node(leases: &Api<Lease>, node: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"spec": {"renewTime": now}});
    leases
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Registers a Ready node with a fresh lease.
async fn add_node(nodes: &Api<Node>, leases: &Api<Lease>, name: &str) {
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
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 2}
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
    renew_node(leases, name).await;
}

/// Keeps renewing a node's lease, as a healthy agent does.
fn keep_renewing(leases: Api<Lease>, node: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            renew_node(&leases, node).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn pod(name: &str, tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": "n1", "tolerations": tolerations, "containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap()
}

fn ready_status(node: &Node) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

fn unreachable_taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key == "node.kubernetes.io/unreachable")
        .map(|t| t.effect)
        .collect()
}

/// Whether the pod is being deleted or gone.
async fn evicted(pods: &Api<Pod>, name: &str) -> bool {
    match pods.get_opt(name).await.unwrap() {
        None => true,
        Some(p) => p.metadata.deletion_timestamp.is_some(),
    }
}

#[tokio::test]
async fn an_expired_lease_taints_the_node_and_evicts_pods_after_their_toleration() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    add_node(&nodes, &leases, "n1").await;
    // A healthy neighbour: with every node silent, evictions would pause (full disruption).
    add_node(&nodes, &leases, "n2").await;
    let _n2 = keep_renewing(leases.clone(), "n2");
    let unreachable = "node.kubernetes.io/unreachable";
    pods.create(&PostParams::default(), &pod("short", json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}]))).await.unwrap();
    pods.create(&PostParams::default(), &pod("default", json!([])))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod(
            "forever",
            json!([{"key": unreachable, "operator": "Exists", "effect": "NoExecute"}]),
        ),
    )
    .await
    .unwrap();

    common::make_ready(&pods, "forever", "10.0.0.7").await;
    let config = ControllersConfig {
        node_grace_period: Duration::from_secs(2),
        default_eviction_toleration: Duration::from_secs(4),
        node_monitor_period: Duration::from_millis(200),
        ..ControllersConfig::default()
    };
    tokio::spawn(brume_controllers::node_lifecycle::run(
        client.clone(),
        config,
    ));

    // While the lease is renewed nothing happens.
    let mut last_renewal = tokio::time::Instant::now();
    for _ in 0..6 {
        renew(&leases).await;
        last_renewal = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let n = nodes.get("n1").await.unwrap();
    assert_eq!(ready_status(&n).as_deref(), Some("True"));
    assert!(unreachable_taints(&n).is_empty());

    // The agent goes silent.
    eventually(10, "Ready=Unknown and unreachable taints", || async {
        let n = nodes.get("n1").await.unwrap();
        let mut taints = unreachable_taints(&n);
        taints.sort();
        (ready_status(&n).as_deref() == Some("Unknown") && taints == ["NoExecute", "NoSchedule"])
            .then_some(())
    })
    .await;
    assert!(!evicted(&pods, "default").await);
    eventually(10, "the pod tolerating 1 s evicted", || async {
        evicted(&pods, "short").await.then_some(())
    })
    .await;
    assert!(
        !evicted(&pods, "default").await,
        "the default toleration is 4 s"
    );
    eventually(
        10,
        "the pod without toleration evicted after the default",
        || async { evicted(&pods, "default").await.then_some(()) },
    )
    .await;
    // The 4 s toleration counts from the taint's timeAdded, which is when the node went silent
    // (its last renewal), with whole-second precision (up to 1 s early): at least 3 s after the
    // last renewal, less the renewal's round trip.
    assert!(
        last_renewal.elapsed() >= Duration::from_millis(2800),
        "evicted {:?} after the last renewal",
        last_renewal.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!evicted(&pods, "forever").await);
    // It stays, but no longer counts as Ready: endpoints stop routing to it.
    let forever = pods.get("forever").await.unwrap();
    assert!(
        !brume_controllers::pod::is_ready(&forever),
        "{:?}",
        forever.status
    );

    let events: Api<Event> = Api::all(client.clone());
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "NodeNotReady"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .filter(|r| *r == "TaintManagerEviction")
            .count()
            >= 2,
        "{reasons:?}"
    );

    // The agent is back: the taints go.
    renew(&leases).await;
    eventually(10, "the unreachable taints removed", || async {
        renew(&leases).await;
        unreachable_taints(&nodes.get("n1").await.unwrap())
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn old_leases_at_start_get_a_grace_period_like_after_a_server_outage() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let node: Node = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    nodes
        .patch_status("n1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    // The lease was last renewed an hour ago: the server was down, or the agent's clock is off.
    let an_hour_ago = (k8s_openapi::jiff::Timestamp::now()
        - k8s_openapi::jiff::SignedDuration::from_secs(3600))
    .to_string();
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "n1", "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": "n1", "renewTime": an_hour_ago}
    }))
    .unwrap();
    leases.create(&PostParams::default(), &lease).await.unwrap();
    let config = ControllersConfig {
        node_grace_period: Duration::from_secs(2),
        default_eviction_toleration: Duration::from_secs(2),
        node_monitor_period: Duration::from_millis(100),
        ..ControllersConfig::default()
    };
    tokio::spawn(brume_controllers::node_lifecycle::run(
        client.clone(),
        config,
    ));
    // The agent reconnects within the grace period and renews.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for _ in 0..6 {
        renew(&leases).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let n = nodes.get("n1").await.unwrap();
    assert_eq!(ready_status(&n).as_deref(), Some("True"));
    assert!(unreachable_taints(&n).is_empty());
}

#[tokio::test]
async fn when_every_node_is_silent_nothing_is_evicted() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    add_node(&nodes, &leases, "n1").await;
    add_node(&nodes, &leases, "n2").await;
    pods.create(&PostParams::default(), &pod("p", json!([])))
        .await
        .unwrap();
    let config = ControllersConfig {
        node_grace_period: Duration::from_secs(1),
        default_eviction_toleration: Duration::from_secs(1),
        node_monitor_period: Duration::from_millis(100),
        ..ControllersConfig::default()
    };
    tokio::spawn(brume_controllers::node_lifecycle::run(
        client.clone(),
        config,
    ));
    // Both nodes go silent at once (more likely the server's network than both nodes).
    eventually(10, "both nodes tainted", || async {
        let all = nodes.list(&ListParams::default()).await.unwrap().items;
        all.iter()
            .all(|n| unreachable_taints(n).len() == 2)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !evicted(&pods, "p").await,
        "a full disruption evicted a pod"
    );
    // One node comes back: evictions resume, with the toleration counted from then.
    let _n2 = keep_renewing(leases.clone(), "n2");
    let back = tokio::time::Instant::now();
    eventually(10, "the pod evicted after the outage ends", || async {
        evicted(&pods, "p").await.then_some(())
    })
    .await;
    assert!(
        back.elapsed() >= Duration::from_millis(900),
        "evicted {:?} after the disruption ended",
        back.elapsed()
    );
}
