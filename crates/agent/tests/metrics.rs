//! The metrics reporter against a real in-process API server, with the fake runtime's counters
//! standing in for containers: PodMetrics appear after two readings with the rate between them,
//! labelled like their pod; the node reports the sum of its pods; a pod that goes loses its
//! metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brume_agent::logs::LogRegistry;
use brume_agent::manager::{self, Runtimes};
use brume_agent::metrics::{MetricsConfig, NodeUsage, Reporter};
use brume_api::metrics::{CPU, MEMORY, NodeMetrics, PodMetrics};
use brume_runtime::fake::FakeRuntime;
use brume_runtime::{ContainerId, ContainerRuntime, ContainerStats};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;
use tokio::time::Instant;

const NODE: &str = "edge-m";

fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "app", "image": "busybox"}]}
    }))
    .unwrap()
}

/// Waits until both pods run, and returns the fake's container of each, by pod name.
async fn containers(
    client: &kube::Client,
    fake: &FakeRuntime,
    names: &[&str],
) -> HashMap<String, ContainerId> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for _ in 0..200 {
        let listed = pods.list(&ListParams::default()).await.unwrap().items;
        let running: HashMap<String, String> = listed
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .map(|p| {
                (
                    p.metadata.uid.clone().unwrap(),
                    p.metadata.name.clone().unwrap(),
                )
            })
            .collect();
        let sandboxes = fake.list().await.unwrap();
        let found: HashMap<String, ContainerId> = sandboxes
            .iter()
            .filter_map(|s| {
                let name = running.get(&s.sandbox.pod_uid)?;
                Some((name.clone(), s.containers.first()?.id.clone()))
            })
            .collect();
        if names.iter().all(|n| found.contains_key(*n)) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the pods {names:?} never ran");
}

fn stats(cpu_ns: u64, memory: u64) -> ContainerStats {
    ContainerStats {
        cpu_usage_ns: cpu_ns,
        memory_working_set_bytes: memory,
    }
}

fn milli(m: &PodMetrics, resource: &str) -> i128 {
    m.total_milli(resource).unwrap()
}

#[tokio::test]
async fn pods_get_the_rate_between_two_readings_and_lose_their_metrics_when_gone() {
    let server = brume_testkit::TestServer::start().await;
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": NODE}})).unwrap();
    let node = nodes.create(&PostParams::default(), &node).await.unwrap();
    let fake = Arc::new(FakeRuntime::new("127.0.0.9".parse().unwrap()));
    let logs = LogRegistry::default();
    let manager = tokio::spawn(manager::run(
        client.clone(),
        NODE.into(),
        "127.0.0.9".parse().unwrap(),
        Runtimes(vec![fake.clone() as Arc<dyn ContainerRuntime>]),
        logs.clone(),
        std::env::temp_dir().join("brume-agent-test-metrics"),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, app) in [("busy", "burn"), ("idle", "sleep")] {
        pods.create(&PostParams::default(), &pod(name, app))
            .await
            .unwrap();
    }
    let ids = containers(&client, &fake, &["busy", "idle"]).await;
    let config = MetricsConfig {
        interval: Duration::from_secs(15),
        node_usage: NodeUsage::Pods,
    };
    let mut reporter = Reporter::new(client.clone(), NODE.into(), logs, config);

    // The first reading gives nothing to report: a rate needs two.
    let t0 = Instant::now();
    fake.set_stats(&ids["busy"], stats(1_000_000_000, 64 << 20));
    fake.set_stats(&ids["idle"], stats(40_000_000, 8 << 20));
    let first = reporter.round(t0).await.unwrap();
    assert!(first.pods.is_empty() && !first.node, "{first:?}");
    let metrics: Api<PodMetrics> = Api::namespaced(client.clone(), "default");
    assert!(
        metrics
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // 15 s later the busy one has used 7.5 s of CPU (half a core), the idle one 75 ms (5m).
    fake.set_stats(&ids["busy"], stats(8_500_000_000, 64 << 20));
    fake.set_stats(&ids["idle"], stats(115_000_000, 8 << 20));
    let second = reporter.round(t0 + Duration::from_secs(15)).await.unwrap();
    assert_eq!(second.pods.len(), 2, "{second:?}");
    assert!(second.node);
    let busy = metrics.get("busy").await.unwrap();
    assert_eq!(milli(&busy, CPU), 500);
    assert_eq!(milli(&busy, MEMORY), (64 << 20) * 1000);
    assert_eq!(busy.window.0, Duration::from_secs(15));
    assert_eq!(busy.containers[0].name, "app");
    let uid = pods.get("busy").await.unwrap().metadata.uid.unwrap();
    assert_eq!(busy.metadata.owner_references.unwrap()[0].uid, uid);
    // Listed by the pod's labels, as the HPA controller and `kubectl top -l` ask.
    let burning = metrics
        .list(&ListParams::default().labels("app=burn"))
        .await
        .unwrap()
        .items;
    assert_eq!(burning.len(), 1);
    assert_eq!(milli(&metrics.get("idle").await.unwrap(), CPU), 5);
    let node_metrics: Api<NodeMetrics> = Api::all(client.clone());
    let n = node_metrics.get(NODE).await.unwrap();
    assert_eq!(n.usage_milli(CPU), Some(505), "the sum of its pods");
    assert_eq!(n.usage_milli(MEMORY), Some((72 << 20) * 1000));
    assert_eq!(
        n.metadata.owner_references.unwrap()[0].uid,
        node.metadata.uid.unwrap()
    );

    // A third reading rewrites in place: the rate of the last window only (0.5 s in 15 s,
    // 33333333n, which MilliValue rounds up as Kubernetes does).
    fake.set_stats(&ids["busy"], stats(9_000_000_000, 64 << 20));
    reporter.round(t0 + Duration::from_secs(30)).await.unwrap();
    assert_eq!(milli(&metrics.get("busy").await.unwrap(), CPU), 34);

    // The idle pod goes: its metrics are removed, the other's stay.
    pods.delete(
        "idle",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for _ in 0..200 {
        if pods.get_opt("idle").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = reporter.round(t0 + Duration::from_secs(45)).await.unwrap();
    assert_eq!(after.pods, ["default/busy"]);
    let left: Vec<String> = metrics
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["busy"]);
    manager.abort();
}
