//! The Deployment controller (with the ReplicaSet controller and a stand-in kubelet) against a
//! real in-process API server.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use brume_testkit::TestServer;
use common::{active_pods, eventually, spawn_kubelet};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

const REVISION: &str = "deployment.kubernetes.io/revision";

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .unwrap()
}

/// What `kubectl rollout status` waits for (kubectl `DeploymentStatusViewer`).
fn rollout_complete(d: &Deployment) -> bool {
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    let want = d.spec.replicas.unwrap_or(1);
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas == Some(want)
        && s.replicas == s.updated_replicas
        && s.available_replicas == s.updated_replicas
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some(type_))
        .map(|c| {
            (
                c.status.clone().unwrap_or_default(),
                c.reason.clone().unwrap_or_default(),
            )
        })
}

async fn start(server: &TestServer) -> kube::Client {
    let client = server.client().await;
    tokio::spawn(brume_controllers::replicaset::run(client.clone()));
    tokio::spawn(brume_controllers::deployment::run(client.clone()));
    client
}

async fn set_image(api: &Api<Deployment>, name: &str, image: &str) {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rolling_update_never_drops_below_the_availability_floor() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 4, "v1"))
        .await
        .unwrap();
    eventually(20, "the first rollout", || async {
        let d = deployments.get("web").await.unwrap();
        rollout_complete(&d).then_some(())
    })
    .await;

    // Watch every pod change from here on, counting Ready active pods and all active pods.
    let seen: Arc<Mutex<HashMap<String, (bool, bool)>>> = Arc::default();
    let extremes = Arc::new(Mutex::new((i32::MAX, 0)));
    let names: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    let stream = watcher(pods.clone(), watcher::Config::default().labels("app=web"));
    let (s, e, all) = (seen.clone(), extremes.clone(), names.clone());
    let observer = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut synced = false;
        while let Some(Ok(ev)) = stream.next().await {
            let mut map = s.lock().unwrap();
            match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    let active = brume_controllers::pod::is_active(&p);
                    let ready = active && brume_controllers::pod::is_ready(&p);
                    all.lock().unwrap().insert(p.metadata.name.clone().unwrap());
                    map.insert(p.metadata.name.clone().unwrap(), (active, ready));
                }
                watcher::Event::Delete(p) => {
                    map.remove(p.metadata.name.as_deref().unwrap());
                }
                watcher::Event::Init => map.clear(),
                watcher::Event::InitDone => synced = true,
            }
            if synced {
                let ready = map.values().filter(|(_, r)| *r).count() as i32;
                let active = map.values().filter(|(a, _)| *a).count() as i32;
                let mut ext = e.lock().unwrap();
                ext.0 = ext.0.min(ready);
                ext.1 = ext.1.max(active);
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    set_image(&deployments, "web", "v2").await;
    let d = eventually(30, "the rolling update", || async {
        let d = deployments.get("web").await.unwrap();
        let pods_now = active_pods(&pods, "app=web").await;
        let all_v2 = pods_now.len() == 4
            && pods_now
                .iter()
                .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("v2"));
        (rollout_complete(&d) && d.metadata.generation == Some(2) && all_v2).then_some(d)
    })
    .await;
    observer.abort();
    let (min_ready, max_active) = *extremes.lock().unwrap();
    // The watch saw the 4 old pods and the 4 new ones.
    assert!(
        names.lock().unwrap().len() >= 8,
        "the watch saw {:?}",
        names.lock().unwrap()
    );
    assert!(
        min_ready >= 3,
        "available pods fell to {min_ready} (floor 4 - maxUnavailable 1 = 3)"
    );
    assert!(
        max_active <= 5,
        "{max_active} pods at once (ceiling 4 + maxSurge 1 = 5)"
    );

    // Revisions: the new ReplicaSet is 2, the old one 1, and the Deployment says 2.
    assert_eq!(d.metadata.annotations.as_ref().unwrap()[REVISION], "2");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = sets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs.len(), 2);
    let mut revisions: Vec<(String, i32)> = rs
        .iter()
        .map(|r| {
            (
                r.metadata.annotations.as_ref().unwrap()[REVISION].clone(),
                r.spec.replicas.unwrap(),
            )
        })
        .collect();
    revisions.sort();
    assert_eq!(revisions, vec![("1".to_string(), 0), ("2".to_string(), 4)]);
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    assert_eq!(
        condition(&d, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    let hash = rs
        .iter()
        .find(|r| r.spec.replicas == Some(4))
        .unwrap()
        .metadata
        .labels
        .as_ref()
        .unwrap()["pod-template-hash"]
        .clone();
    for p in active_pods(&pods, "app=web").await {
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["pod-template-hash"],
            hash
        );
    }
}

#[tokio::test]
async fn undo_reuses_the_old_replica_set_with_a_new_revision_and_scale_flows_down() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("api", 2, "v1"))
        .await
        .unwrap();
    eventually(20, "the first rollout", || async {
        let d = deployments.get("api").await.unwrap();
        rollout_complete(&d).then_some(())
    })
    .await;
    let v1_rs = sets.list(&ListParams::default()).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    set_image(&deployments, "api", "v2").await;
    eventually(20, "the update", || async {
        let d = deployments.get("api").await.unwrap();
        (rollout_complete(&d) && d.metadata.generation == Some(2)).then_some(())
    })
    .await;
    // `kubectl rollout undo` copies the old ReplicaSet's template back, client-side.
    set_image(&deployments, "api", "v1").await;
    let d = eventually(20, "the rollback", || async {
        let d = deployments.get("api").await.unwrap();
        let rev = d.metadata.annotations.as_ref()?.get(REVISION)?.clone();
        (rollout_complete(&d) && d.metadata.generation == Some(3) && rev == "3").then_some(d)
    })
    .await;
    let back = sets.get(&v1_rs).await.unwrap();
    assert_eq!(back.metadata.annotations.as_ref().unwrap()[REVISION], "3");
    assert_eq!(back.spec.replicas, Some(2));
    assert_eq!(
        sets.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    assert_eq!(d.status.as_ref().unwrap().updated_replicas, Some(2));

    // kubectl scale.
    let patch = json!({"spec": {"replicas": 1}});
    deployments
        .patch_scale("api", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(20, "scaled to 1", || async {
        let d = deployments.get("api").await.unwrap();
        let rs = sets.get(&v1_rs).await.unwrap();
        (rollout_complete(&d)
            && rs.spec.replicas == Some(1)
            && active_pods(&pods, "app=api").await.len() == 1)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_rollout_that_cannot_progress_exceeds_its_deadline() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    // No kubelet: pods never become ready.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("stuck", 2, "v1");
    d.spec.progress_deadline_seconds = Some(2);
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let d = eventually(15, "ProgressDeadlineExceeded", || async {
        let d = deployments.get("stuck").await.unwrap();
        (condition(&d, "Progressing") == Some(("False".into(), "ProgressDeadlineExceeded".into())))
            .then_some(d)
    })
    .await;
    assert_eq!(
        condition(&d, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );
    assert_eq!(d.status.as_ref().unwrap().unavailable_replicas, Some(2));
}

#[tokio::test]
async fn a_paused_deployment_does_not_roll_out() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("p", 2, "v1"))
        .await
        .unwrap();
    eventually(20, "the first rollout", || async {
        rollout_complete(&deployments.get("p").await.unwrap()).then_some(())
    })
    .await;
    let patch = json!({"spec": {"paused": true}});
    deployments
        .patch("p", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    set_image(&deployments, "p", "v2").await;
    eventually(10, "DeploymentPaused", || async {
        let d = deployments.get("p").await.unwrap();
        (condition(&d, "Progressing") == Some(("Unknown".into(), "DeploymentPaused".into())))
            .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        sets.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    // Resume: the rollout goes on.
    let patch = json!({"spec": {"paused": false}});
    deployments
        .patch("p", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually(20, "the resumed rollout", || async {
        let d = deployments.get("p").await.unwrap();
        (rollout_complete(&d) && sets.list(&ListParams::default()).await.unwrap().items.len() == 2)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn recreate_stops_every_old_pod_before_starting_new_ones() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("batch", 3, "v1");
    d.spec.strategy = Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    eventually(20, "the first rollout", || async {
        rollout_complete(&deployments.get("batch").await.unwrap()).then_some(())
    })
    .await;

    // Record every moment old and new pods are active together.
    let mixed = Arc::new(Mutex::new(false));
    let seen = mixed.clone();
    let watch_pods = pods.clone();
    let observer = tokio::spawn(async move {
        let mut live: HashMap<String, String> = HashMap::new();
        let stream = watcher(watch_pods, watcher::Config::default().labels("app=batch"));
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(ev)) = stream.next().await {
            match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    let name = p.metadata.name.clone().unwrap();
                    if brume_controllers::pod::is_active(&p) {
                        let image = p.spec.unwrap().containers[0].image.clone().unwrap();
                        live.insert(name, image);
                    } else {
                        live.remove(&name);
                    }
                }
                watcher::Event::Delete(p) => {
                    live.remove(p.metadata.name.as_deref().unwrap());
                }
                watcher::Event::Init => live.clear(),
                watcher::Event::InitDone => {}
            }
            let images: std::collections::HashSet<_> = live.values().collect();
            if images.len() > 1 {
                *seen.lock().unwrap() = true;
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    set_image(&deployments, "batch", "v2").await;
    eventually(20, "the recreate rollout", || async {
        let d = deployments.get("batch").await.unwrap();
        let live = active_pods(&pods, "app=batch").await;
        let all_v2 = live.len() == 3
            && live
                .iter()
                .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("v2"));
        (rollout_complete(&d) && d.metadata.generation == Some(2) && all_v2).then_some(())
    })
    .await;
    observer.abort();
    assert!(
        !*mixed.lock().unwrap(),
        "old and new pods ran at the same time"
    );
}

#[tokio::test]
async fn a_settled_deployment_is_not_rewritten() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("calm", 2, "v1"))
        .await
        .unwrap();
    eventually(20, "the rollout", || async {
        let d = deployments.get("calm").await.unwrap();
        (rollout_complete(&d)
            && condition(&d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable"))
        .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let versions = || async {
        let d = deployments
            .get("calm")
            .await
            .unwrap()
            .metadata
            .resource_version;
        let rs: Vec<_> = sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.metadata.resource_version)
            .collect();
        let p: Vec<_> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata.resource_version)
            .collect();
        (d, rs, p)
    };
    let before = versions().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        versions().await,
        before,
        "the controllers keep writing a settled deployment"
    );
}

#[tokio::test]
async fn a_recreated_deployment_adopts_its_orphaned_replica_set() {
    let server = TestServer::start().await;
    let client = start(&server).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let _kubelet = spawn_kubelet(pods.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("keep", 2, "v1"))
        .await
        .unwrap();
    eventually(20, "the rollout", || async {
        rollout_complete(&deployments.get("keep").await.unwrap()).then_some(())
    })
    .await;
    let pod_names = |list: Vec<Pod>| -> Vec<String> {
        let mut v: Vec<_> = list.into_iter().filter_map(|p| p.metadata.name).collect();
        v.sort();
        v
    };
    let before = pod_names(active_pods(&pods, "app=keep").await);
    deployments
        .delete("keep", &kube::api::DeleteParams::orphan())
        .await
        .unwrap();
    eventually(10, "the replicaset orphaned", || async {
        let rs = sets.list(&ListParams::default()).await.unwrap().items;
        (rs.len() == 1
            && rs[0]
                .metadata
                .owner_references
                .as_ref()
                .is_none_or(|r| r.is_empty()))
        .then_some(())
    })
    .await;
    deployments
        .create(&PostParams::default(), &deployment("keep", 2, "v1"))
        .await
        .unwrap();
    let uid = deployments.get("keep").await.unwrap().metadata.uid.unwrap();
    eventually(20, "the replicaset adopted", || async {
        let rs = sets.list(&ListParams::default()).await.unwrap().items;
        let adopted = rs.len() == 1
            && rs[0]
                .metadata
                .owner_references
                .as_ref()
                .is_some_and(|r| r.iter().any(|o| o.uid == uid));
        (adopted && rollout_complete(&deployments.get("keep").await.unwrap())).then_some(())
    })
    .await;
    assert_eq!(
        pod_names(active_pods(&pods, "app=keep").await),
        before,
        "the same pods, none recreated"
    );
}
