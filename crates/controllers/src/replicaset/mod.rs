//! The ReplicaSet controller: keeps `spec.replicas` active pods that match the selector.
//!
//! [`decide`] is the pure decision; [`run`] is the shell that lists the namespace's pods,
//! applies the plan through the API and writes the status subresource.

pub mod decide;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::events;
use crate::expectations::Expectations;
use crate::pod::{is_active, owner_reference, selector_string};

/// What a level-triggered resync waits for when nothing else happens.
const RESYNC: Duration = Duration::from_secs(60);

/// How many pod creations one reconcile has in flight at once.
const CREATE_PARALLELISM: usize = 16;

struct Ctx {
    client: kube::Client,
    expectations: Expectations,
}

/// Runs the ReplicaSet controller until its watches end.
pub async fn run(client: kube::Client) -> Result<(), ControllerError> {
    let sets: Api<ReplicaSet> = Api::all(client.clone());
    // Ownership is in the metadata: the pod watch decodes nothing else.
    let pods: Api<PartialObjectMeta<Pod>> = Api::all(client.clone());
    let ctx = Arc::new(Ctx {
        client,
        expectations: Expectations::default(),
    });
    Controller::new(sets, watcher::Config::default())
        .owns(pods, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "replicaset",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(rs: Arc<ReplicaSet>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(replicaset = ?rs.metadata.name, error = %e, "replicaset reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    // A fresh read: the controller's cache may trail the writes of the previous reconcile.
    let rs = match sets.get(&name).await {
        Ok(rs) => rs,
        Err(e) if is_not_found(&e) => {
            ctx.expectations.forget(&uid);
            return Ok(Action::await_change());
        }
        Err(e) => {
            return Err(ControllerError::api(
                format!("get replicaset {ns}/{name}"),
                e,
            ));
        }
    };
    // Only pods the selector matches count or can be adopted, so the API server filters the list.
    // A pod relabelled out of the selector stops counting and is replaced, as in Kubernetes;
    // unlike Kubernetes, its owner reference is not removed (the shell never sees it).
    let pods = pods_api
        .list(&ListParams::default().labels(&selector_string(&rs.spec.selector)))
        .await
        .map_err(|e| ControllerError::api(format!("list pods in {ns}"), e))?
        .items;
    let listed: HashSet<String> = pods
        .iter()
        .filter(|p| is_active(p))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let now = tokio::time::Instant::now();
    let unobserved = ctx.expectations.observe(&uid, &listed, now);
    let plan = decide::decide(&rs, &pods, &unobserved, Timestamp::now());
    let owner = owner_reference("apps/v1", "ReplicaSet", &rs.metadata);

    for pod_name in &plan.adopt {
        let Some(p) = pods
            .iter()
            .find(|p| p.metadata.name.as_ref() == Some(pod_name))
        else {
            continue;
        };
        let mut refs = p.metadata.owner_references.clone().unwrap_or_default();
        refs.push(owner.clone());
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": p.metadata.resource_version}});
        match pods_api
            .patch(pod_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("adopt pod {ns}/{pod_name}"),
                    e,
                ));
            }
        }
    }
    for pod_name in &plan.release {
        let Some(p) = pods
            .iter()
            .find(|p| p.metadata.name.as_ref() == Some(pod_name))
        else {
            continue;
        };
        let refs: Vec<_> = p
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.uid != uid)
            .collect();
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": p.metadata.resource_version}});
        match pods_api
            .patch(pod_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("release pod {ns}/{pod_name}"),
                    e,
                ));
            }
        }
    }
    if plan.create > 0 {
        let template = pod_from_template(&rs, owner.clone());
        let post = PostParams::default();
        // Creations go out several at a time (Kubernetes uses slow-start batches); each one is
        // recorded as an expectation as soon as it succeeds.
        let results: Vec<Result<Pod, kube::Error>> = futures::stream::iter(0..plan.create)
            .map(|_| pods_api.create(&post, &template))
            .buffer_unordered(CREATE_PARALLELISM)
            .collect()
            .await;
        let mut first_error = None;
        for result in results {
            match result {
                Ok(created) => {
                    let pod_name = created.metadata.name.unwrap_or_default();
                    ctx.expectations.created(&uid, &pod_name, now);
                    events::record(
                        &ctx.client,
                        "replicaset-controller",
                        events::reference(&rs),
                        "Normal",
                        "SuccessfulCreate",
                        format!("Created pod: {pod_name}"),
                    )
                    .await;
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(ControllerError::api(
                format!("create pod for replicaset {ns}/{name}"),
                e,
            ));
        }
    }
    for pod_name in &plan.delete {
        match pods_api.delete(pod_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("delete pod {ns}/{pod_name}"),
                    e,
                ));
            }
        }
        ctx.expectations.deleted(&uid, pod_name, now);
        events::record(
            &ctx.client,
            "replicaset-controller",
            events::reference(&rs),
            "Normal",
            "SuccessfulDelete",
            format!("Deleted pod: {pod_name}"),
        )
        .await;
    }
    if rs.status.as_ref() != Some(&plan.status) {
        let patch = json!({"status": plan.status});
        match sets
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("update status of replicaset {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    let changed = plan.create > 0 || !plan.delete.is_empty();
    Ok(match plan.requeue_after {
        Some(d) => Action::requeue(d),
        None if changed => Action::requeue(Duration::from_secs(5)),
        None => Action::requeue(RESYNC),
    })
}

/// The pod a ReplicaSet creates: its template with `generateName: <rs>-` and the owner reference.
fn pod_from_template(
    rs: &ReplicaSet,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Pod {
    let template = rs.spec.template.clone().unwrap_or_default();
    let mut meta = template.metadata.unwrap_or_default();
    meta.name = None;
    meta.generate_name = Some(format!("{}-", rs.metadata.name.as_deref().unwrap_or("rs")));
    meta.namespace = rs.metadata.namespace.clone();
    meta.owner_references = Some(vec![owner]);
    Pod {
        metadata: meta,
        spec: template.spec,
        status: None,
    }
}
