//! The ReplicaSet controller against a real in-process API server.

mod common;

use std::time::Duration;

use brume_testkit::TestServer;
use common::{active_pods, eventually};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            }
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn replicaset_creates_and_deletes_pods_to_match_replicas() {
    let server = TestServer::start().await;
    let client = server.client().await;
    tokio::spawn(brume_controllers::replicaset::run(client.clone()));
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &replica_set("web", 3))
        .await
        .unwrap();

    let created = eventually(10, "3 pods", || async {
        let p = active_pods(&pods, "app=web").await;
        (p.len() == 3).then_some(p)
    })
    .await;
    let rs = sets.get("web").await.unwrap();
    for p in &created {
        assert!(p.metadata.name.as_deref().unwrap().starts_with("web-"));
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, rs.metadata.uid.clone().unwrap());
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
    }
    // No duplicates after the watches settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(active_pods(&pods, "app=web").await.len(), 3);

    // Status reports the replicas; then Ready pods are counted.
    for p in &created {
        common::make_ready(&pods, p.metadata.name.as_deref().unwrap(), "10.0.0.9").await;
    }
    eventually(10, "status with 3 ready replicas", || async {
        let s = sets.get("web").await.unwrap().status?;
        (s.replicas == 3
            && s.ready_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.fully_labeled_replicas == Some(3)
            && s.observed_generation == Some(1))
        .then_some(())
    })
    .await;

    // Scale down.
    let patch = json!({"spec": {"replicas": 1}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(10, "1 pod and status 1", || async {
        let s = sets.get("web").await.unwrap().status?;
        let n = active_pods(&pods, "app=web").await.len();
        (n == 1 && s.replicas == 1 && s.observed_generation == Some(2)).then_some(())
    })
    .await;

    // A deleted pod is replaced.
    let left = active_pods(&pods, "app=web").await;
    let victim = left[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &Default::default()).await.unwrap();
    eventually(10, "a replacement pod", || async {
        let p = active_pods(&pods, "app=web").await;
        (p.len() == 1 && p[0].metadata.name.as_deref() != Some(victim.as_str())).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicaset_adopts_a_matching_orphan_instead_of_creating() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "db"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    sets.create(&PostParams::default(), &replica_set("db", 2))
        .await
        .unwrap();
    tokio::spawn(brume_controllers::replicaset::run(client.clone()));
    let rs = sets.get("db").await.unwrap();
    eventually(10, "orphan adopted and one pod created", || async {
        let p = active_pods(&pods, "app=db").await;
        let stray = pods.get("stray").await.ok()?;
        let adopted = stray
            .metadata
            .owner_references
            .as_ref()
            .is_some_and(|r| r.iter().any(|o| Some(&o.uid) == rs.metadata.uid.as_ref()));
        (p.len() == 2 && adopted).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(active_pods(&pods, "app=db").await.len(), 2);
}
