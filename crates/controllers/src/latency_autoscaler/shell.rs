//! The async half of the latency autoscaler: every sync period, for each LatencyAutoscaler, read
//! the Deployment, its Services' TrafficReports and the nodes, decide, then write the
//! Deployment's `scale`, the autoscaler's status and the events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brume_api::LatencyAutoscaler;
use brume_api::placement::MOVE_ANNOTATION;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::decide::{Inputs, decide};
use crate::error::{ControllerError, is_not_found};
use crate::events;
use crate::fog_inputs::{demand_of, services_for, sites};
use crate::fog_reads::{self, FogObjects, template_labels};

const COMPONENT: &str = "latency-autoscaler";

struct Ctx {
    client: kube::Client,
    sync: Duration,
    scale_down_window: SignedDuration,
    /// Autoscaler uid → recent recommendations (time, replicas), for the scale-down window.
    recent: Mutex<HashMap<String, Vec<(Timestamp, i32)>>>,
    /// Report name → the last latency counters seen, for the measured attainment.
    measured: Mutex<super::measure::Windows>,
}

/// Runs the latency autoscaler until its watch ends: `sync` is how often each autoscaler is
/// re-evaluated (the HPA's is 15 s), `scale_down_window` how long a higher recommendation
/// holds a scale-down back (the HPA's default is 300 s).
pub async fn run(
    client: kube::Client,
    sync: Duration,
    scale_down_window: Duration,
) -> Result<(), ControllerError> {
    let autoscalers: Api<LatencyAutoscaler> = Api::all(client.clone());
    Controller::new(autoscalers, watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                sync,
                scale_down_window: SignedDuration::try_from(scale_down_window)
                    .unwrap_or(SignedDuration::from_secs(300)),
                recent: Mutex::default(),
                measured: Mutex::default(),
            }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "latency-autoscaler",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(la: Arc<LatencyAutoscaler>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(autoscaler = ?la.metadata.name, error = %e, "latency autoscaler reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(la: Arc<LatencyAutoscaler>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    let ns = la.metadata.namespace.clone().unwrap_or_default();
    let name = la.metadata.name.clone().unwrap_or_default();
    let uid = la.metadata.uid.clone().unwrap_or_default();
    let client = &ctx.client;
    let autoscalers: Api<LatencyAutoscaler> = Api::namespaced(client.clone(), &ns);
    let la = match autoscalers.get(&name).await {
        Ok(la) => la,
        Err(e) if is_not_found(&e) => {
            ctx.recent.lock().unwrap().remove(&uid);
            return Ok(Action::await_change());
        }
        Err(e) => {
            return Err(ControllerError::api(
                format!("get latencyautoscaler {ns}/{name}"),
                e,
            ));
        }
    };
    let target = la.spec.scale_target_ref.name.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = match deployments.get(&target).await {
        Ok(d) => Some(d),
        Err(e) if is_not_found(&e) => None,
        Err(e) => {
            return Err(ControllerError::api(
                format!("get deployment {ns}/{target}"),
                e,
            ));
        }
    };
    let labels = deployment.as_ref().map(template_labels).unwrap_or_default();
    let FogObjects {
        services,
        reports,
        nodes,
    } = fog_reads::read(client, &ns).await?;
    let now = Timestamp::now();
    let fronting = services_for(&labels, &services, la.spec.service.as_deref());
    let demand = demand_of(&fronting, &reports, now);
    let sites = sites(&nodes);
    let measured = ctx.measured.lock().unwrap().observe(
        &uid,
        &fronting,
        &reports,
        la.spec.objective.latency_ms,
    );
    let recent = {
        let mut all = ctx.recent.lock().unwrap();
        let entry = all.entry(uid.clone()).or_default();
        let since = now - ctx.scale_down_window;
        entry.retain(|(t, _)| *t >= since);
        entry.clone()
    };
    let current = deployment.as_ref().map(|d| d.spec.replicas.unwrap_or(1));
    let moving = deployment
        .as_ref()
        .and_then(|d| d.metadata.annotations.as_ref())
        .is_some_and(|a| a.contains_key(MOVE_ANNOTATION));
    let plan = decide(&Inputs {
        la: &la,
        current,
        moving,
        demand: &demand,
        sites: &sites,
        recent: &recent,
        measured,
        scale_down_window: ctx.scale_down_window,
        now,
    });
    if let Some(r) = plan.recommendation {
        ctx.recent
            .lock()
            .unwrap()
            .entry(uid.clone())
            .or_default()
            .push((now, r));
    }
    if let Some(replicas) = plan.scale_to {
        deployments
            .patch_scale(
                &target,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .map_err(|e| ControllerError::api(format!("scale deployment {ns}/{target}"), e))?;
        tracing::info!(autoscaler = %name, deployment = %target, replicas, "rescaled");
    }
    if la.status.as_ref() != Some(&plan.status) {
        let patch = json!({"status": with_nulls(&plan.status)});
        match autoscalers
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("update status of latencyautoscaler {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    for event in plan.events {
        events::record(
            client,
            COMPONENT,
            events::reference(&la),
            event.type_,
            event.reason,
            event.message,
        )
        .await;
    }
    Ok(Action::requeue(ctx.sync))
}

/// The status as a merge patch: a field the decision left out is cleared, not kept.
fn with_nulls(status: &brume_api::LatencyAutoscalerStatus) -> Value {
    let mut value = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    if let Some(map) = value.as_object_mut() {
        for key in [
            "observedGeneration",
            "placement",
            "measuredAttainment",
            "predictedAttainment",
            "lastScaleTime",
            "reason",
            "message",
            "conditions",
        ] {
            map.entry(key).or_insert(Value::Null);
        }
    }
    value
}
