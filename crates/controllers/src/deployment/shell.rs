//! The async half of the Deployment controller: read the Deployment and its ReplicaSets, apply
//! the plan, write the status.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::decide::{self, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, Step};
use super::strategy::Strategy;
use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::events;
use crate::pod::{controller_of, owner_reference, selector_string};

const RESYNC: Duration = Duration::from_secs(60);

struct Ctx {
    client: kube::Client,
}

/// Runs the Deployment controller until its watches end.
pub async fn run(client: kube::Client) -> Result<(), ControllerError> {
    let deployments: Api<Deployment> = Api::all(client.clone());
    let sets: Api<ReplicaSet> = Api::all(client.clone());
    Controller::new(deployments, watcher::Config::default())
        .owns(sets, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "deployment",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(d: Arc<Deployment>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(deployment = ?d.metadata.name, error = %e, "deployment reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let sets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let d = match deployments.get(&name).await {
        Ok(d) => d,
        Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
        Err(e) => {
            return Err(ControllerError::api(
                format!("get deployment {ns}/{name}"),
                e,
            ));
        }
    };
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let strategy = Strategy::of(&d).map_err(|e| ControllerError::Invalid {
        object: format!("deployment {ns}/{name}"),
        detail: format!("spec.strategy.rollingUpdate: {e}"),
    })?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let all = sets
        .list(&ListParams::default().labels(&selector_string(&d.spec.selector)))
        .await
        .map_err(|e| ControllerError::api(format!("list replicasets in {ns}"), e))?
        .items;
    let mut owned: Vec<ReplicaSet> = Vec::new();
    let owner = owner_reference("apps/v1", "Deployment", &d.metadata);
    for rs in decide::adoptable(&d, &all) {
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
        refs.push(owner.clone());
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": rs.metadata.resource_version}});
        match sets
            .patch(&rs_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(adopted) => owned.push(adopted),
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("adopt replicaset {ns}/{rs_name}"),
                    e,
                ));
            }
        }
    }
    owned.extend(
        all.into_iter()
            .filter(|rs| controller_of(&rs.metadata).is_some_and(|r| r.uid == uid)),
    );
    let plan = decide::decide(&d, &owned, strategy, Timestamp::now());
    let desired = d.spec.replicas.unwrap_or(1);

    for step in &plan.steps {
        match step {
            Step::Create(rs) => {
                let rs_name = rs.metadata.name.clone().unwrap_or_default();
                match sets.create(&PostParams::default(), rs).await {
                    Ok(_) => {
                        record(
                            &ctx,
                            &d,
                            format!(
                                "Scaled up replica set {rs_name} from 0 to {}",
                                rs.spec.replicas.unwrap_or(0)
                            ),
                        )
                        .await;
                    }
                    // Created by an earlier reconcile whose watch event has not arrived; the
                    // next reconcile sees it.
                    Err(e) if is_conflict(&e) => {
                        // Usually our own earlier create; if another controller owns that name
                        // (Kubernetes bumps `collisionCount` then), this keeps retrying.
                        tracing::warn!(replicaset = %rs_name, "replicaset exists but is not seen as ours yet");
                        return Ok(Action::requeue(Duration::from_millis(500)));
                    }
                    Err(e) => {
                        return Err(ControllerError::api(
                            format!("create replicaset {ns}/{rs_name}"),
                            e,
                        ));
                    }
                }
            }
            Step::Scale {
                name: rs_name,
                from,
                to,
            } => {
                let patch = json!({
                    "metadata": {"annotations": {
                        DESIRED_REPLICAS: desired.to_string(),
                        MAX_REPLICAS: (desired + strategy.max_surge()).to_string(),
                    }},
                    "spec": {"replicas": to},
                });
                apply_patch(&sets, rs_name, &patch, "scale replicaset").await?;
                let verb = if to > from { "up" } else { "down" };
                record(
                    &ctx,
                    &d,
                    format!("Scaled {verb} replica set {rs_name} from {from} to {to}"),
                )
                .await;
            }
            Step::SetRevision {
                name: rs_name,
                revision,
            } => {
                let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
                apply_patch(&sets, rs_name, &patch, "set the revision of replicaset").await?;
            }
            Step::SetMinReadySeconds {
                name: rs_name,
                seconds,
            } => {
                let patch = json!({"spec": {"minReadySeconds": seconds}});
                apply_patch(&sets, rs_name, &patch, "set minReadySeconds of replicaset").await?;
            }
            Step::Delete { name: rs_name } => {
                match sets.delete(rs_name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(ControllerError::api(
                            format!("delete replicaset {ns}/{rs_name}"),
                            e,
                        ));
                    }
                }
            }
        }
    }
    if let Some(revision) = plan.revision
        && decide::revision_of(&d.metadata) != revision
    {
        let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
        match deployments
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(
                    format!("annotate deployment {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    if d.status.as_ref() != Some(&plan.status) {
        let patch = json!({"status": plan.status});
        match deployments
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(
                    format!("update status of deployment {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}

async fn apply_patch(
    sets: &Api<ReplicaSet>,
    name: &str,
    patch: &serde_json::Value,
    what: &str,
) -> Result<(), ControllerError> {
    match sets
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!("{what} {name}"), e)),
    }
}

async fn record(ctx: &Ctx, d: &Deployment, message: String) {
    events::record(
        &ctx.client,
        "deployment-controller",
        events::reference(d),
        "Normal",
        "ScalingReplicaSet",
        message,
    )
    .await;
}
