//! The two autoscalers of the load scenario as their controllers run them: the real objects
//! (an `autoscaling/v2` HPA, a `fog.brume.io/v1` LatencyAutoscaler), the inputs the live
//! controllers read (PodMetrics from the replicas' busy time, demand reports from the users'
//! rate), what each controller keeps between syncs, and one sync carried out on the
//! [`SimDeployment`].

use std::collections::BTreeMap;
use std::time::Duration;

use brume_api::latency_autoscaler::{
    LatencyAutoscaler, LatencyAutoscalerSpec, Objective, ScaleTargetRef,
};
use brume_api::metrics::{ContainerMetrics, PodMetrics, Window as MetricsWindow, cpu_quantity};
use brume_controllers::config::ControllersConfig;
use brume_controllers::hpa::behavior::History;
use brume_controllers::hpa::decide::{Observed, ScaleView};
use brume_controllers::{hpa, latency_autoscaler};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::{
    CAPACITY_SHARE, HPA_CPU_TARGET, MAX_FACTOR, METRICS_WINDOW_S, OBJECTIVE, Profile, Variant,
    cpu_cores,
};
use crate::engine::{Engine, ServiceModel};
use crate::placement;
use crate::scenario::deployment::{self, CONTAINER, SimDeployment, timestamp};
use crate::scenario::{Settings, Setup};

/// The Deployment's target reference, as both autoscalers name it.
const TARGET: &str = "sim";

fn meta() -> ObjectMeta {
    ObjectMeta {
        name: Some(TARGET.into()),
        namespace: Some("default".into()),
        generation: Some(1),
        uid: Some("sim-autoscaler".into()),
        ..ObjectMeta::default()
    }
}

/// The HPA of the Deployment: CPU at [`HPA_CPU_TARGET`] % of the request, `1..=max`, no
/// `spec.behavior` (the controller's defaults).
pub fn hpa_object(max: i32) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: meta(),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: TARGET.into(),
            },
            min_replicas: Some(1),
            max_replicas: max,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(HPA_CPU_TARGET),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            behavior: None,
        },
        status: None,
    }
}

/// The LatencyAutoscaler of the Deployment: 90 % within `slo_ms`, `capacity_rps` per replica,
/// `1..=max`.
pub fn latency_autoscaler_object(slo_ms: f64, capacity_rps: f64, max: i32) -> LatencyAutoscaler {
    LatencyAutoscaler {
        metadata: meta(),
        spec: LatencyAutoscalerSpec {
            scale_target_ref: ScaleTargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: TARGET.into(),
            },
            objective: Objective {
                percentile: 100.0 * OBJECTIVE,
                latency_ms: slo_ms,
            },
            replica_capacity: capacity_rps,
            min_replicas: Some(1),
            max_replicas: max,
            service: None,
        },
        status: None,
    }
}

/// The PodMetrics of the listed pods at `t`, each measured over the [`METRICS_WINDOW_S`]
/// before from `served` (requests taken, by engine replica) against `before` (the same at the
/// window's start; a replica missing there is new).
fn pod_metrics(
    deployment: &SimDeployment,
    served: &[u64],
    before: &[u64],
    service: &ServiceModel,
    t: f64,
) -> Vec<PodMetrics> {
    let request_cores = placement::replica_pod(0).requests.cpu_milli as f64 / 1000.0;
    let window = f64::from(METRICS_WINDOW_S);
    deployment
        .live_pods()
        .iter()
        .filter_map(|p| {
            let id = p.replica?;
            let taken = served[id] - before.get(id).copied().unwrap_or(0);
            let cores = cpu_cores(taken, service, window, request_cores);
            Some(PodMetrics {
                metadata: ObjectMeta {
                    name: Some(p.name.clone()),
                    namespace: Some("default".into()),
                    ..ObjectMeta::default()
                },
                timestamp: Some(Time(timestamp(t))),
                window: MetricsWindow(Duration::from_secs(u64::from(METRICS_WINDOW_S))),
                containers: vec![ContainerMetrics {
                    name: CONTAINER.into(),
                    usage: BTreeMap::from([("cpu".to_string(), cpu_quantity(cores))]),
                }],
            })
        })
        .collect()
}

/// An autoscaler and what its controller keeps between syncs.
pub(super) enum Autoscaler {
    None,
    Hpa {
        hpa: Box<HorizontalPodAutoscaler>,
        history: History,
        settings: hpa::Settings,
        /// Requests taken per replica at the last metrics sample.
        sampled: Vec<u64>,
    },
    Latency {
        la: Box<LatencyAutoscaler>,
        recent: Vec<(Timestamp, i32)>,
        window: SignedDuration,
    },
}

/// What one sync needs to see besides the Deployment.
pub(super) struct SyncInputs<'a> {
    pub(super) setup: &'a Setup<'a>,
    pub(super) settings: &'a Settings,
    pub(super) profile: &'a Profile,
    /// The last window's attainment, in percent.
    pub(super) measured: Option<f64>,
}

impl Autoscaler {
    pub(super) fn of(variant: Variant, settings: &Settings) -> Autoscaler {
        let config = ControllersConfig::default();
        let max = i32::try_from(MAX_FACTOR * settings.replicas).unwrap_or(i32::MAX);
        match variant {
            Variant::Fixed => Autoscaler::None,
            Variant::Hpa => Autoscaler::Hpa {
                hpa: Box::new(hpa_object(max)),
                history: History::default(),
                settings: hpa::Settings {
                    downscale_stabilization: config.hpa_downscale_stabilization,
                    ..hpa::Settings::default()
                },
                sampled: Vec::new(),
            },
            Variant::LatencyAutoscaler => Autoscaler::Latency {
                la: Box::new(latency_autoscaler_object(
                    settings.slo_ms,
                    CAPACITY_SHARE * settings.service.capacity_rps(),
                    max,
                )),
                recent: Vec::new(),
                window: SignedDuration::try_from(config.latency_scale_down_window)
                    .unwrap_or(SignedDuration::from_secs(120)),
            },
        }
    }

    /// The sync period, in whole seconds (0: never).
    pub(super) fn period_s(&self) -> u32 {
        let config = ControllersConfig::default();
        let secs = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        match self {
            Autoscaler::None => 0,
            Autoscaler::Hpa { .. } => secs(config.hpa_sync_period),
            Autoscaler::Latency { .. } => secs(config.fog_sync_period),
        }
    }

    /// One sync at `t`: decide, carry out; returns the replica count written, if any, and the
    /// reasons the controller gave (warnings for the HPA, the status reason for Brume's).
    pub(super) fn sync(
        &mut self,
        deployment: &mut SimDeployment,
        engine: &mut Engine<'_>,
        inputs: &SyncInputs,
        t: f64,
    ) -> (Option<i32>, Vec<String>) {
        let now = timestamp(t);
        let period = f64::from(self.period_s());
        match self {
            Autoscaler::None => (None, Vec::new()),
            Autoscaler::Hpa {
                hpa,
                history,
                settings,
                sampled,
            } => {
                let served = engine.served();
                let metrics =
                    pod_metrics(deployment, &served, sampled, &inputs.settings.service, t);
                *sampled = served;
                let pods = deployment.pods(t);
                let plan = hpa::decide::decide(
                    &Observed {
                        hpa,
                        scale: Ok(ScaleView {
                            replicas: deployment.replicas(),
                            selector: "app=sim".into(),
                        }),
                        pods: &pods,
                        metrics: Ok(&metrics),
                        now,
                    },
                    settings,
                    history,
                );
                let reasons = plan.warnings.iter().map(|(r, _)| r.to_string()).collect();
                let to = plan.rescale.as_ref().map(|r| {
                    history.scaled(now, r.from, r.to);
                    deployment.scale(engine, r.to, t);
                    r.to
                });
                hpa.status = Some(plan.status);
                (to, reasons)
            }
            Autoscaler::Latency { la, recent, window } => {
                let (setup, profile) = (inputs.setup, inputs.profile);
                let rate = profile.mean_over((t - period).max(0.0), t);
                let per_user = rate / setup.users.len().max(1) as f64;
                let demand = setup.users.demand(setup.topology.len(), per_user);
                let view = deployment::demand_view(&demand);
                let sites = deployment::sites(&setup.estimates, deployment.nodes());
                // As the live shell: forget what the window no longer holds, then decide.
                let since = now - *window;
                recent.retain(|(at, _)| *at >= since);
                let plan = latency_autoscaler::decide(&latency_autoscaler::Inputs {
                    la,
                    current: Some(deployment.replicas()),
                    moving: false,
                    demand: &view,
                    sites: &sites,
                    recent,
                    measured: inputs.measured,
                    scale_down_window: *window,
                    now,
                });
                if let Some(r) = plan.recommendation {
                    recent.push((now, r));
                }
                let reasons = plan.status.reason.iter().cloned().collect();
                if let Some(to) = plan.scale_to {
                    deployment.set_demand(&demand);
                    deployment.scale(engine, to, t);
                }
                la.status = Some(plan.status);
                (plan.scale_to, reasons)
            }
        }
    }
}
