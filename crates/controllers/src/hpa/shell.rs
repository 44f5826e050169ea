//! The async half of the HPA controller: every sync period, for each HorizontalPodAutoscaler,
//! read its target's `scale`, the pods of the scale's selector and their PodMetrics, decide,
//! then write the target's `scale`, the HPA's status and its events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brume_api::metrics::PodMetrics;
use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

use super::behavior::History;
use super::decide::{Observed, ScaleView, Settings, decide, rescale_failed};
use crate::error::{ControllerError, is_not_found};
use crate::events;

const COMPONENT: &str = "horizontal-pod-autoscaler";

struct Ctx {
    client: kube::Client,
    sync: Duration,
    settings: Settings,
    /// HPA uid → its recent proposals and rescales (upstream keeps them in memory too).
    history: Mutex<HashMap<String, History>>,
}

/// Runs the HPA controller until its watch ends: each autoscaler is synced every `sync`
/// (upstream's `--horizontal-pod-autoscaler-sync-period`, 15 s) and on every change.
pub async fn run(
    client: kube::Client,
    sync: Duration,
    settings: Settings,
) -> Result<(), ControllerError> {
    let hpas: Api<HorizontalPodAutoscaler> = Api::all(client.clone());
    Controller::new(hpas, watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                sync,
                settings,
                history: Mutex::default(),
            }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "horizontal-pod-autoscaler",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(hpa: Arc<HorizontalPodAutoscaler>, e: &ControllerError, ctx: Arc<Ctx>) -> Action {
    tracing::warn!(hpa = ?hpa.metadata.name, error = %e, "hpa sync failed");
    Action::requeue(ctx.sync)
}

/// The API resource of the target a `scaleTargetRef` names, if Brume serves its `scale`.
fn target_resource(api_version: &str, kind: &str) -> Result<ApiResource, String> {
    let info = brume_api::resource::by_kind(api_version, kind)
        .ok_or_else(|| format!("no matches for kind {kind:?} in version {api_version:?}"))?;
    if !info.has_subresource("scale") {
        return Err(format!(
            "{} do not serve a scale subresource: an HPA can scale Deployments and ReplicaSets",
            info.plural
        ));
    }
    Ok(ApiResource {
        group: info.group.to_string(),
        version: info.version.to_string(),
        api_version: info.api_version(),
        kind: info.kind.to_string(),
        plural: info.plural.to_string(),
    })
}

async fn reconcile(
    hpa: Arc<HorizontalPodAutoscaler>,
    ctx: Arc<Ctx>,
) -> Result<Action, ControllerError> {
    let ns = hpa.metadata.namespace.clone().unwrap_or_default();
    let name = hpa.metadata.name.clone().unwrap_or_default();
    let uid = hpa.metadata.uid.clone().unwrap_or_default();
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ns);
    let hpa = match hpas.get(&name).await {
        Ok(h) => h,
        Err(e) if is_not_found(&e) => {
            ctx.history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
            return Ok(Action::await_change());
        }
        Err(e) => return Err(ControllerError::api(format!("get hpa {ns}/{name}"), e)),
    };
    let target_ref = &hpa.spec.scale_target_ref;
    let api_version = target_ref.api_version.clone().unwrap_or_default();
    let target = target_resource(&api_version, &target_ref.kind);
    let targets = target
        .as_ref()
        .ok()
        .map(|ar| Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, ar));
    let scale = match (&target, &targets) {
        (Err(e), _) => Err(e.clone()),
        (Ok(_), Some(api)) => match api.get_scale(&target_ref.name).await {
            Ok(s) => Ok(ScaleView {
                replicas: s.spec.and_then(|s| s.replicas).unwrap_or(0),
                selector: s.status.and_then(|s| s.selector).unwrap_or_default(),
            }),
            Err(kube::Error::Api(s)) => Err(s.message),
            Err(e) => {
                return Err(ControllerError::api(
                    format!("get the scale of {}", target_ref.name),
                    e,
                ));
            }
        },
        (Ok(_), None) => Err("no target".into()),
    };
    let (pods, metrics) = match &scale {
        Ok(s) if !s.selector.is_empty() => {
            let params = ListParams::default().labels(&s.selector);
            let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
                .list(&params)
                .await
                .map_err(|e| ControllerError::api(format!("list pods in {ns}"), e))?
                .items;
            let metrics = Api::<PodMetrics>::namespaced(ctx.client.clone(), &ns)
                .list(&params)
                .await
                .map(|l| l.items)
                .map_err(|e| e.to_string());
            (pods, metrics)
        }
        _ => (Vec::new(), Ok(Vec::new())),
    };
    let now = Timestamp::now();
    let observed = Observed {
        hpa: &hpa,
        scale,
        pods: &pods,
        metrics: metrics.as_deref().map_err(|e| e.clone()),
        now,
    };
    let mut plan = {
        let mut all = ctx.history.lock().unwrap_or_else(|e| e.into_inner());
        decide(
            &observed,
            &ctx.settings,
            all.entry(uid.clone()).or_default(),
        )
    };

    let reference = events::reference(&hpa);
    if let (Some(rescale), Some(api)) = (plan.rescale.clone(), &targets) {
        let patch = json!({"spec": {"replicas": rescale.to}});
        match api
            .patch_scale(
                &target_ref.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                ctx.history
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(uid.clone())
                    .or_default()
                    .scaled(now, rescale.from, rescale.to);
                events::record(
                    &ctx.client,
                    COMPONENT,
                    reference.clone(),
                    "Normal",
                    "SuccessfulRescale",
                    rescale.message(),
                )
                .await;
            }
            Err(e) => {
                let error = match e {
                    kube::Error::Api(s) => s.message,
                    other => other.to_string(),
                };
                rescale_failed(&mut plan, hpa.status.as_ref(), &error, now);
            }
        }
    }
    for (reason, message) in &plan.warnings {
        events::record(
            &ctx.client,
            COMPONENT,
            reference.clone(),
            "Warning",
            reason,
            message.clone(),
        )
        .await;
    }
    if hpa.status.as_ref() != Some(&plan.status) {
        let patch = json!({"status": plan.status});
        match hpas
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("update status of hpa {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    Ok(Action::requeue(ctx.sync))
}
