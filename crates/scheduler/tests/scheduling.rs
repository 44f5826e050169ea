//! The scheduler against a real in-process API server: pods are bound where their requests,
//! selectors, tolerations and runtime classes allow, spread by the resource scores; an
//! impossible pod is reported with counted reasons and is bound once a node that fits appears.

use std::time::Duration;

use brume_testkit::TestServer;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

fn node(name: &str, cpu: &str, labels: Value, handlers: &str, taints: Value) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels,
            "annotations": {"fog.brume.io/runtime-handlers": handlers}},
        "spec": {"taints": taints},
        "status": {
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "20"},
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "20"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }))
    .unwrap()
}

fn pod(name: &str, cpu: Option<&str>, extra: Value) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let Some(cpu) = cpu {
        spec["containers"][0]["resources"] = json!({"requests": {"cpu": cpu}});
    }
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": spec,
    }))
    .unwrap()
}

/// Polls until `f` gives a value, for up to 15 seconds.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..150 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn node_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name).await.ok()?.spec?.node_name
}

async fn bound(pods: &Api<Pod>, name: &str) -> String {
    eventually(&format!("{name} to be bound"), || node_of(pods, name)).await
}

#[tokio::test]
async fn pods_are_bound_where_they_fit_and_an_impossible_one_waits_for_a_node() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let amd = json!({"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"});
    let arm = json!({"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux"});
    let edge = json!({"kubernetes.io/arch": "amd64", "role": "edge"});
    let taint = json!([{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}]);
    for n in [
        node("n1", "2", amd.clone(), "docker,process", json!([])),
        node("n2", "2", arm, "process", json!([])),
        node("n3", "2", edge, "process", taint),
    ] {
        nodes.create(&pp, &n).await.unwrap();
    }
    let read = nodes.get("n1").await.unwrap();
    assert!(
        read.status.and_then(|s| s.allocatable).is_some(),
        "the API server keeps a node's status on create"
    );

    let scheduler = tokio::spawn(brume_scheduler::run(
        client.clone(),
        brume_scheduler::default_profile(),
    ));

    // Four equal pods: n3's taint keeps them off it, and the resource scores alternate n1, n2.
    for i in 0..4 {
        let p = pod(&format!("web-{i}"), Some("500m"), json!({}));
        pods.create(&pp, &p).await.unwrap();
    }
    let mut placed = Vec::new();
    for i in 0..4 {
        placed.push(bound(&pods, &format!("web-{i}")).await);
    }
    placed.sort();
    assert_eq!(placed, ["n1", "n1", "n2", "n2"]);

    let arm_pod = pod(
        "arm",
        None,
        json!({"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    );
    let edge_pod = pod(
        "edge",
        Some("100m"),
        json!({"nodeSelector": {"role": "edge"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "edge",
                "effect": "NoSchedule"}]}),
    );
    let docker_pod = pod("docker", None, json!({"runtimeClassName": "docker"}));
    for p in [&arm_pod, &edge_pod, &docker_pod] {
        pods.create(&pp, p).await.unwrap();
    }
    assert_eq!(bound(&pods, "arm").await, "n2");
    assert_eq!(bound(&pods, "edge").await, "n3");
    assert_eq!(bound(&pods, "docker").await, "n1");

    // Three cores fit nowhere: n1 and n2 lack cpu, n3's taint is not tolerated.
    pods.create(&pp, &pod("huge", Some("3"), json!({})))
        .await
        .unwrap();
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: edge}, \
                    2 Insufficient cpu.";
    let condition = eventually("PodScheduled=False on huge", || async {
        let p = pods.get("huge").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(condition.message.as_deref(), Some(expected));
    assert_eq!(node_of(&pods, "huge").await, None);

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let failed = eventually("a FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some("huge")
                && e.reason.as_deref() == Some("FailedScheduling")
        })
    })
    .await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.message.as_deref(), Some(expected));
    assert_eq!(
        failed.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );
    let list = events.list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().any(|e| {
        e.involved_object.name.as_deref() == Some("arm")
            && e.reason.as_deref() == Some("Scheduled")
            && e.message.as_deref() == Some("Successfully assigned default/arm to n2")
    }));

    // A node big enough appears: the waiting pod goes there, and its condition is cleared.
    nodes
        .create(&pp, &node("n4", "4", amd, "process", json!([])))
        .await
        .unwrap();
    assert_eq!(bound(&pods, "huge").await, "n4");
    let cleared = eventually("PodScheduled=True on huge", || async {
        let p = pods.get("huge").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "True")
    })
    .await;
    assert_eq!(cleared.status, "True");
    assert!(!scheduler.is_finished(), "the scheduler keeps running");
    scheduler.abort();
}
