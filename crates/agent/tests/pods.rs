//! The pod manager and its workers against a real in-process API server, with the fake
//! runtime standing in for containers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brume_agent::manager::{self, Runtimes};
use brume_runtime::fake::{FakeCall, FakeRuntime};
use brume_runtime::{ContainerRuntime, ContainerState};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const NODE: &str = "edge-1";

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 5, "containers": [{
            "name": "app", "image": "busybox", "command": ["sleep", "1000"],
            "ports": [{"containerPort": 8080}],
        }]}
    }))
    .unwrap()
}

async fn wait_for<F: Fn(&Pod) -> bool>(api: &Api<Pod>, name: &str, what: &str, ok: F) -> Pod {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(p) = api.get(name).await
            && ok(&p)
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {name}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.restart_count)
        .unwrap_or(-1)
}

#[tokio::test]
async fn pods_run_restart_and_terminate_gracefully() {
    let server = brume_testkit::TestServer::start().await;
    let client = server.client().await;
    let fake = Arc::new(FakeRuntime::new("127.0.0.2".parse().unwrap()));
    let runtimes = Runtimes(vec![fake.clone() as Arc<dyn ContainerRuntime>]);
    let manager = tokio::spawn(manager::run(
        client.clone(),
        NODE.into(),
        "127.0.0.2".parse().unwrap(),
        runtimes,
        Default::default(),
        std::env::temp_dir().join("brume-agent-test-pods"),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();

    let running = wait_for(&pods, "web", "Running and Ready", |p| {
        phase(p) == "Running"
            && p.status
                .as_ref()
                .unwrap()
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
    .await;
    assert_eq!(
        running.status.as_ref().unwrap().pod_ip.as_deref(),
        Some("127.0.0.2")
    );
    let ports = running.metadata.annotations.as_ref().unwrap()["fog.brume.io/host-ports"].clone();
    assert!(ports.starts_with("{\"8080/TCP\":"), "{ports}");

    // The container crashes: restartPolicy Always starts it again at once the first time.
    let listed = fake.list().await.unwrap();
    let cid = listed[0].containers[0].id.clone();
    assert!(fake.exit_container(&cid, 1));
    wait_for(&pods, "web", "one restart", |p| {
        restarts(p) == 1 && phase(p) == "Running"
    })
    .await;

    // Deleting a bound pod is graceful: the agent stops its containers, then deletes it.
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pods.get_opt("web").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the agent did not finish the deletion"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = fake.calls();
    assert!(calls.iter().any(|c| matches!(c, FakeCall::StopContainer { grace, .. } if *grace == Duration::from_secs(5))), "{calls:?}");
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, FakeCall::RemoveSandbox { .. }))
    );
    manager.abort();
}

#[tokio::test]
async fn a_restarted_agent_adopts_its_pods_and_removes_stale_ones() {
    let server = brume_testkit::TestServer::start().await;
    let client = server.client().await;
    let fake = Arc::new(FakeRuntime::new("127.0.0.3".parse().unwrap()));
    let runtimes = Runtimes(vec![fake.clone() as Arc<dyn ContainerRuntime>]);
    let first = tokio::spawn(manager::run(
        client.clone(),
        NODE.into(),
        "127.0.0.3".parse().unwrap(),
        runtimes.clone(),
        Default::default(),
        std::env::temp_dir().join("brume-agent-test-pods"),
    ));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("keep"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("gone"))
        .await
        .unwrap();
    wait_for(&pods, "keep", "Running", |p| phase(p) == "Running").await;
    wait_for(&pods, "gone", "Running", |p| phase(p) == "Running").await;

    // The agent dies; meanwhile "gone" is removed from the API (replaced elsewhere).
    first.abort();
    let _ = first.await;
    pods.delete(
        "gone",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    fake.clear_calls();

    let second = tokio::spawn(manager::run(
        client.clone(),
        NODE.into(),
        "127.0.0.3".parse().unwrap(),
        runtimes,
        Default::default(),
        std::env::temp_dir().join("brume-agent-test-pods"),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sandboxes = fake.list().await.unwrap();
        if sandboxes.len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stale sandbox was not removed: {sandboxes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = fake.calls();
    assert!(
        !calls.iter().any(|c| matches!(
            c,
            FakeCall::CreateSandbox { .. } | FakeCall::StartContainer { .. }
        )),
        "the kept pod was started again instead of adopted: {calls:?}"
    );
    let kept = fake.list().await.unwrap();
    assert!(matches!(
        kept[0].containers[0].state,
        ContainerState::Running { .. }
    ));
    second.abort();
}
