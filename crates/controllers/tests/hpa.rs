//! The HPA controller against a real in-process API server: a busy pod's PodMetrics make it
//! write its Deployment's `scale`, its status and a SuccessfulRescale event; without metrics it
//! scales nothing and says why.

mod common;

use std::time::Duration;

use brume_api::metrics::PodMetrics;
use brume_testkit::TestServer;
use common::eventually;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

async fn deployment(client: &kube::Client, name: &str) {
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "x",
                    "resources": {"requests": {"cpu": "100m"}}}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
}

/// A Running pod of `app` that has been Ready for ten minutes.
async fn running_pod(client: &kube::Client, name: &str, app: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "x",
            "resources": {"requests": {"cpu": "100m"}}}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let then = (Timestamp::now() - SignedDuration::from_mins(10)).to_string();
    let status = json!({"status": {"phase": "Running", "startTime": then,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": then}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap()
}

async fn hpa(client: &kube::Client, name: &str) {
    let h: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]}
    }))
    .unwrap();
    Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &h)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_busy_deployment_is_scaled_to_max_and_one_without_metrics_is_left_alone() {
    let server = TestServer::start().await;
    let client = server.client().await;
    deployment(&client, "burn").await;
    deployment(&client, "quiet").await;
    let busy = running_pod(&client, "burn-1", "burn").await;
    running_pod(&client, "quiet-1", "quiet").await;
    // The agent's sample: half a core over the last 15 s, 500 % of the 100m request.
    let metrics: PodMetrics = serde_json::from_value(json!({
        "metadata": {"name": "burn-1", "namespace": "default", "labels": {"app": "burn"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "burn-1",
                "uid": busy.metadata.uid}]},
        "timestamp": Timestamp::now().to_string(), "window": "15s",
        "containers": [{"name": "app", "usage": {"cpu": "500m", "memory": "10Mi"}}]
    }))
    .unwrap();
    Api::<PodMetrics>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &metrics)
        .await
        .unwrap();
    tokio::spawn(brume_controllers::hpa::run(
        client.clone(),
        Duration::from_secs(1),
        brume_controllers::hpa::Settings::default(),
    ));
    hpa(&client, "burn").await;
    hpa(&client, "quiet").await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), "default");
    eventually(15, "burn scaled to its max of 3", || async {
        let d = deployments.get("burn").await.ok()?;
        (d.spec.replicas == Some(3)).then_some(())
    })
    .await;
    let status = eventually(15, "the status of the burn HPA", || async {
        let s = hpas.get("burn").await.ok()?.status?;
        (s.desired_replicas == 3).then_some(s)
    })
    .await;
    let cpu = &status.current_metrics.unwrap()[0];
    assert_eq!(
        cpu.resource.as_ref().unwrap().current.average_utilization,
        Some(500)
    );
    assert!(status.last_scale_time.is_some());
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let rescale = eventually(15, "a SuccessfulRescale event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("SuccessfulRescale"))
    })
    .await;
    assert_eq!(
        rescale.message.as_deref(),
        Some("New size: 3; reason: cpu resource utilization (percentage of request) above target")
    );
    assert_eq!(rescale.involved_object.name.as_deref(), Some("burn"));
    assert_eq!(
        rescale.involved_object.kind.as_deref(),
        Some("HorizontalPodAutoscaler")
    );

    // No metrics for quiet: ScalingActive False, the Deployment untouched.
    let quiet = eventually(15, "the quiet HPA's ScalingActive condition", || async {
        let s = hpas.get("quiet").await.ok()?.status?;
        s.conditions?
            .into_iter()
            .find(|c| c.type_ == "ScalingActive")
    })
    .await;
    assert_eq!(quiet.status, "False");
    assert_eq!(quiet.reason.as_deref(), Some("FailedGetResourceMetric"));
    assert_eq!(
        deployments.get("quiet").await.unwrap().spec.replicas,
        Some(1)
    );
}
