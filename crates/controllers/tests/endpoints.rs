//! The endpoints controller against a real in-process API server.

mod common;

use brume_testkit::TestServer;
use common::eventually;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]}
    }))
    .unwrap()
}

/// (ip, port, ready, serving, terminating) of every endpoint of the Service's slices.
async fn slice_view(slices: &Api<EndpointSlice>) -> Vec<(String, i32, bool, bool, bool)> {
    let mut out = Vec::new();
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap()
        .items;
    for s in list {
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io"
        );
        let port = s
            .ports
            .as_ref()
            .and_then(|p| p.first())
            .and_then(|p| p.port)
            .unwrap_or(0);
        for e in s.endpoints.into_iter().flatten() {
            let c = e.conditions.unwrap();
            out.push((
                e.addresses[0].clone(),
                port,
                c.ready.unwrap(),
                c.serving.unwrap(),
                c.terminating.unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// (ready ips, not ready ips, ports) of the legacy Endpoints object.
async fn endpoints_view(api: &Api<Endpoints>) -> Option<(Vec<String>, Vec<String>, Vec<i32>)> {
    let ep = api.get_opt("web").await.unwrap()?;
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    let mut ports = Vec::new();
    for s in ep.subsets.into_iter().flatten() {
        ready.extend(s.addresses.into_iter().flatten().map(|a| a.ip));
        not_ready.extend(s.not_ready_addresses.into_iter().flatten().map(|a| a.ip));
        ports.extend(s.ports.into_iter().flatten().map(|p| p.port));
    }
    ready.sort();
    Some((ready, not_ready, ports))
}

#[tokio::test]
async fn endpoints_follow_pod_readiness_and_host_ports() {
    let server = TestServer::start().await;
    let client = server.client().await;
    tokio::spawn(brume_controllers::endpoints::run(client.clone()));
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    pods.create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("b"))
        .await
        .unwrap();

    // No pod has an IP yet: a placeholder slice, no endpoints.
    eventually(10, "a placeholder slice", || async {
        let n = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .unwrap()
            .items
            .len();
        (n == 1).then_some(())
    })
    .await;
    assert!(slice_view(&slices).await.is_empty());

    common::make_ready(&pods, "a", "10.0.0.1").await;
    eventually(
        10,
        "a ready endpoint on the resolved named port",
        || async {
            let want = vec![("10.0.0.1".to_string(), 8080, true, true, false)];
            let eps = endpoints_view(&endpoints).await;
            (slice_view(&slices).await == want
                && eps == Some((vec!["10.0.0.1".into()], vec![], vec![8080])))
            .then_some(())
        },
    )
    .await;

    // Settled: nothing is rewritten.
    let versions = || async {
        let s: Vec<_> = slices
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.metadata.resource_version)
            .collect();
        let e = endpoints
            .get("web")
            .await
            .unwrap()
            .metadata
            .resource_version;
        (s, e)
    };
    let before = versions().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(versions().await, before, "settled endpoints are rewritten");

    common::make_ready(&pods, "b", "10.0.0.2").await;
    common::make_unready(&pods, "a").await;
    eventually(10, "a not ready, b ready", || async {
        let want = vec![
            ("10.0.0.1".to_string(), 8080, false, false, false),
            ("10.0.0.2".to_string(), 8080, true, true, false),
        ];
        let eps = endpoints_view(&endpoints).await;
        (slice_view(&slices).await == want
            && eps == Some((vec!["10.0.0.2".into()], vec!["10.0.0.1".into()], vec![8080])))
        .then_some(())
    })
    .await;

    // The agent publishes b's host port: b's endpoint moves to it, in a slice of its own.
    let patch =
        json!({"metadata": {"annotations": {"fog.brume.io/host-ports": "{\"8080/TCP\": 31500}"}}});
    pods.patch("b", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(10, "b on its host port", || async {
        let want = vec![
            ("10.0.0.1".to_string(), 8080, false, false, false),
            ("10.0.0.2".to_string(), 31500, true, true, false),
        ];
        let n = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .unwrap()
            .items
            .len();
        (slice_view(&slices).await == want && n == 2).then_some(())
    })
    .await;

    // Deleting the pods empties the endpoints.
    pods.delete("a", &Default::default()).await.unwrap();
    pods.delete("b", &Default::default()).await.unwrap();
    eventually(10, "no endpoints", || async {
        // Bound pods terminate gracefully: their endpoints turn terminating, then go once the
        // pods are gone; here no agent finishes the deletion, so terminating is the last state.
        let view = slice_view(&slices).await;
        let eps = endpoints_view(&endpoints).await;
        (view
            .iter()
            .all(|(_, _, ready, _, terminating)| !ready && *terminating)
            && eps == Some((vec![], vec![], vec![])))
        .then_some(())
    })
    .await;
    // The agent finishes the deletion: the endpoints go.
    let now = kube::api::DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let _ = pods.delete("a", &now).await;
    let _ = pods.delete("b", &now).await;
    eventually(10, "the endpoints gone", || async {
        slice_view(&slices).await.is_empty().then_some(())
    })
    .await;

    // The Service goes: its slices and Endpoints follow.
    services.delete("web", &Default::default()).await.unwrap();
    eventually(10, "the slices and endpoints deleted", || async {
        let slices_left = slices
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len();
        let ep = endpoints.get_opt("web").await.unwrap();
        (slices_left == 0 && ep.is_none()).then_some(())
    })
    .await;
}
