//! The async half of re-placement: for each `follow-users` Deployment (or one with a move in
//! progress), read its pods, its Services' TrafficReports and the nodes, decide one step of the
//! move state machine, and carry it out through the API.

use std::sync::Arc;
use std::time::Duration;

use brume_api::placement::{
    FOLLOW_USERS, LAST_MOVE_ANNOTATION, MOVE_ANNOTATION, MOVE_TO_ANNOTATION, PLACEMENT_ANNOTATION,
    POD_DELETION_COST,
};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::decide::{Inputs, Settings, Step, decide, move_state};
use crate::error::{ControllerError, is_not_found};
use crate::events;
use crate::fog_inputs::{demand_of, services_for, sites};
use crate::fog_reads::{self, FogObjects, template_labels};
use crate::pod::selector_string;

const COMPONENT: &str = "replacement-controller";

struct Ctx {
    client: kube::Client,
    settings: Settings,
    sync: Duration,
}

/// Runs re-placement until its watch ends; `sync` is how often an idle `follow-users`
/// Deployment is looked at again.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    sync: Duration,
) -> Result<(), ControllerError> {
    let deployments: Api<Deployment> = Api::all(client.clone());
    Controller::new(deployments, watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                settings,
                sync,
            }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "replacement",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(d: Arc<Deployment>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(deployment = ?d.metadata.name, error = %e, "re-placement reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

fn follows_users(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PLACEMENT_ANNOTATION))
        .is_some_and(|v| v == FOLLOW_USERS)
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    // Most Deployments do not follow their users: nothing is read for them.
    if !follows_users(&d) && move_state(&d).is_none() {
        return Ok(Action::await_change());
    }
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let name = d.metadata.name.clone().unwrap_or_default();
    let client = &ctx.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
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
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pods = pods_api
        .list(&ListParams::default().labels(&selector_string(&d.spec.selector)))
        .await
        .map_err(|e| ControllerError::api(format!("list pods in {ns}"), e))?
        .items;
    let FogObjects {
        services,
        reports,
        nodes,
    } = fog_reads::read(client, &ns).await?;
    let labels = template_labels(&d);
    let now = Timestamp::now();
    let demand = demand_of(&services_for(&labels, &services, None), &reports, now);
    let sites = sites(&nodes);
    let steps = decide(&Inputs {
        deployment: &d,
        pods: &pods,
        demand: &demand,
        sites: &sites,
        settings: ctx.settings,
        now,
    });
    let mut moving = move_state(&d).is_some();
    for step in steps {
        apply(&ctx, &d, &deployments, &pods_api, &step).await?;
        if let Step::SetMove(state) = &step {
            moving = state.is_some();
        }
    }
    Ok(Action::requeue(if moving {
        Duration::from_secs(2)
    } else {
        ctx.sync
    }))
}

/// A merge patch of one annotation (`None` removes it).
fn annotation(key: &str, value: Option<String>) -> Value {
    json!({"metadata": {"annotations": {key: value}}})
}

async fn apply(
    ctx: &Ctx,
    d: &Deployment,
    deployments: &Api<Deployment>,
    pods: &Api<Pod>,
    step: &Step,
) -> Result<(), ControllerError> {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let pp = PatchParams::default();
    let patch_deployment = |patch: Value| async move {
        deployments
            .patch(name, &pp, &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(|e| ControllerError::api(format!("annotate deployment {name}"), e))
    };
    match step {
        Step::SetMove(state) => {
            let value = state
                .as_ref()
                .map(|s| serde_json::to_string(s).unwrap_or_default());
            patch_deployment(annotation(MOVE_ANNOTATION, value)).await?;
        }
        Step::StampLastMove(at) => {
            patch_deployment(annotation(LAST_MOVE_ANNOTATION, Some(at.to_string()))).await?;
        }
        Step::MarkPod(pod, to) => {
            patch_pod(pods, pod, annotation(MOVE_TO_ANNOTATION, to.clone())).await?
        }
        Step::DeletionCost(pod, cost) => {
            patch_pod(
                pods,
                pod,
                annotation(POD_DELETION_COST, Some(cost.to_string())),
            )
            .await?;
        }
        Step::Scale(replicas) => {
            deployments
                .patch_scale(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await
                .map_err(|e| ControllerError::api(format!("scale deployment {name}"), e))?;
        }
        Step::Event(type_, reason, message) => {
            tracing::info!(deployment = %name, reason, "{message}");
            events::record(
                &ctx.client,
                COMPONENT,
                events::reference(d),
                type_,
                reason,
                message.clone(),
            )
            .await;
        }
    }
    Ok(())
}

/// Patches a pod; one that is gone already needs nothing.
async fn patch_pod(pods: &Api<Pod>, pod: &str, patch: Value) -> Result<(), ControllerError> {
    match pods
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!("annotate pod {pod}"), e)),
    }
}
