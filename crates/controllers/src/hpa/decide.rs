//! One HorizontalPodAutoscaler sync, decided without I/O, after Kubernetes'
//! `reconcileAutoscaler` (`pkg/controller/podautoscaler/horizontal.go`):
//!
//! 1. The target's scale gives the current count and the pod selector; without it, AbleToScale
//!    is False (`FailedGetScale`).
//! 2. A target scaled to zero by hand is left alone (ScalingActive False, `ScalingDisabled`); a
//!    count outside `[minReplicas, maxReplicas]` is brought inside.
//! 3. Otherwise each metric proposes a count ([`super::replicas`]) and the highest wins; when
//!    every metric fails, or some fail and the others would scale down, nothing changes and
//!    ScalingActive is False with the first failure's reason (`FailedGetResourceMetric`, ...).
//! 4. The proposal is stabilized, rate-limited and bounded ([`super::behavior`]).
//!
//! Brume serves the resource metrics (cpu, memory, from the agents); the Pods, Object,
//! External and ContainerResource metric types are reported as unavailable, with the reasons
//! upstream gives when their metrics API does not answer.

use std::time::Duration;

use brume_api::metrics::PodMetrics;
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricValueStatus, ResourceMetricStatus,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::behavior::{Behavior, History, normalize};
use super::replicas::{Calculator, Target, metrics_by_pod, propose};

/// The controller's settings (upstream's `kube-controller-manager` flags and their defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// `--horizontal-pod-autoscaler-tolerance`: 0.1.
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`, for HPAs without
    /// `spec.behavior`: 5 min.
    pub downscale_stabilization: Duration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`: 5 min.
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`: 30 s.
    pub delay_of_initial_readiness_status: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tolerance: 0.1,
            downscale_stabilization: Duration::from_secs(300),
            cpu_initialization_period: Duration::from_secs(300),
            delay_of_initial_readiness_status: Duration::from_secs(30),
        }
    }
}

/// The target's `scale` subresource, as far as the HPA reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleView {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.selector`: the label selector of the target's pods.
    pub selector: String,
}

/// What the shell observed for one sync.
pub struct Observed<'a> {
    /// The autoscaler.
    pub hpa: &'a HorizontalPodAutoscaler,
    /// Its target's scale, or why it could not be read.
    pub scale: Result<ScaleView, String>,
    /// The pods the scale's selector picks.
    pub pods: &'a [Pod],
    /// Their PodMetrics (listed by the same selector), or why they could not be listed.
    pub metrics: Result<&'a [PodMetrics], String>,
    /// Now.
    pub now: Timestamp,
}

/// A change of the target's replica count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescale {
    /// The count before.
    pub from: i32,
    /// The count to write.
    pub to: i32,
    /// Why, in upstream's words (`cpu resource utilization (percentage of request) above
    /// target`).
    pub reason: String,
}

impl Rescale {
    /// The message of the `SuccessfulRescale` event.
    pub fn message(&self) -> String {
        format!("New size: {}; reason: {}", self.to, self.reason)
    }
}

/// What to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The rescale to write, if any.
    pub rescale: Option<Rescale>,
    /// The status to write once the rescale (if any) succeeded.
    pub status: HorizontalPodAutoscalerStatus,
    /// Warning events to record: (reason, message). Only for a failure that is new (its
    /// condition changed), so a lasting failure is not an event every sync.
    pub warnings: Vec<(&'static str, String)>,
}

/// Sets a condition, keeping its transition time unless its status changed.
fn set_condition(
    conditions: &mut Vec<HorizontalPodAutoscalerCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let status = if status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(Time(now));
            }
            c.status = status;
            c.reason = Some(reason.to_string());
            c.message = Some(message);
        }
        None => conditions.push(HorizontalPodAutoscalerCondition {
            type_: type_.to_string(),
            status,
            reason: Some(reason.to_string()),
            message: Some(message),
            last_transition_time: Some(Time(now)),
            ..HorizontalPodAutoscalerCondition::default()
        }),
    }
}

fn reason_of<'a>(
    conditions: &'a [HorizontalPodAutoscalerCondition],
    type_: &str,
) -> Option<&'a str> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .and_then(|c| c.reason.as_deref())
}

/// A quantity of `milli` thousandths, as `resource.NewMilliQuantity(v, DecimalSI)` prints it.
fn milli_quantity(milli: i64) -> Quantity {
    if milli % 1000 == 0 {
        Quantity((milli / 1000).to_string())
    } else {
        Quantity(format!("{milli}m"))
    }
}

/// Why one metric could not propose: the condition reason and the message.
struct MetricError {
    reason: &'static str,
    message: String,
}

/// One metric's proposal, its status and its name for messages.
struct MetricOutcome {
    replicas: i32,
    status: MetricStatus,
    name: String,
}

fn unsupported(spec: &MetricSpec) -> MetricError {
    let reason = match spec.type_.as_str() {
        "Pods" => "FailedGetPodsMetric",
        "Object" => "FailedGetObjectMetric",
        "External" => "FailedGetExternalMetric",
        "ContainerResource" => "FailedGetContainerResourceMetric",
        _ => "InvalidMetricSourceType",
    };
    MetricError {
        reason,
        message: format!(
            "metric type {:?} is not served: Brume's agents provide the resource metrics \
             (type Resource, cpu or memory) only",
            spec.type_
        ),
    }
}

fn resource_metric(
    spec: &MetricSpec,
    obs: &Observed,
    current: i32,
    calc: &Calculator,
) -> Result<MetricOutcome, MetricError> {
    let Some(source) = spec.resource.as_ref().filter(|_| spec.type_ == "Resource") else {
        return Err(unsupported(spec));
    };
    let resource = source.name.as_str();
    let fail = |message: String| MetricError {
        reason: "FailedGetResourceMetric",
        message,
    };
    let t = &source.target;
    let target = match (t.type_.as_str(), t.average_utilization, &t.average_value) {
        ("Utilization", Some(u), _) => Target::Utilization(u),
        ("AverageValue", _, Some(v)) => {
            let milli = brume_api::metrics::milli_value(v)
                .and_then(|m| i64::try_from(m).ok())
                .ok_or_else(|| {
                    fail(format!(
                        "the target average value {:?} is not a quantity",
                        v.0
                    ))
                })?;
            Target::AverageValue(milli)
        }
        (other, _, _) => {
            return Err(fail(format!(
                "invalid resource metric source: the target type {other:?} needs its value \
                 (Utilization with averageUtilization, AverageValue with averageValue)"
            )));
        }
    };
    let what = match target {
        Target::Utilization(_) => "utilization",
        Target::AverageValue(_) => "usage",
    };
    let metrics = obs
        .metrics
        .as_ref()
        .map_err(|e| e.clone())
        .and_then(|items| metrics_by_pod(resource, items, obs.now))
        .map_err(|e| {
            fail(format!(
                "failed to get {resource} {what}: unable to get metrics for resource {resource}: {e}"
            ))
        })?;
    let proposal = propose(current, target, resource, obs.pods, &metrics, calc, obs.now)
        .map_err(|e| fail(format!("failed to get {resource} {what}: {e}")))?;
    let name = match target {
        Target::Utilization(_) => {
            format!("{resource} resource utilization (percentage of request)")
        }
        Target::AverageValue(_) => format!("{resource} resource"),
    };
    Ok(MetricOutcome {
        replicas: proposal.replicas,
        status: MetricStatus {
            type_: "Resource".into(),
            resource: Some(ResourceMetricStatus {
                name: resource.to_string(),
                current: MetricValueStatus {
                    average_utilization: proposal.utilization,
                    average_value: Some(milli_quantity(proposal.average)),
                    value: None,
                },
            }),
            ..MetricStatus::default()
        },
        name,
    })
}

/// Decides one sync. `history` is this HPA's memory of recent proposals and rescales; the
/// proposal made now is recorded in it (the shell records the rescale once it is written).
pub fn decide(obs: &Observed, settings: &Settings, history: &mut History) -> Plan {
    let hpa = obs.hpa;
    let spec = &hpa.spec;
    let now = obs.now;
    let prior = hpa.status.clone().unwrap_or_default();
    let mut status = HorizontalPodAutoscalerStatus {
        observed_generation: hpa.metadata.generation,
        ..prior.clone()
    };
    let mut conditions = prior.conditions.clone().unwrap_or_default();
    let prior_conditions = conditions.clone();
    let mut warnings = Vec::new();
    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;

    let scale = match &obs.scale {
        Ok(s) => s.clone(),
        Err(e) => {
            set_condition(
                &mut conditions,
                "AbleToScale",
                false,
                "FailedGetScale",
                format!("the HPA controller was unable to get the target's current scale: {e}"),
                now,
            );
            if reason_of(&prior_conditions, "AbleToScale") != Some("FailedGetScale") {
                warnings.push(("FailedGetScale", e.clone()));
            }
            status.conditions = Some(conditions);
            return Plan {
                rescale: None,
                status,
                warnings,
            };
        }
    };
    set_condition(
        &mut conditions,
        "AbleToScale",
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale".into(),
        now,
    );
    let current = scale.replicas;
    status.current_replicas = Some(current);
    history.first_seen(current, now);

    let desired;
    let mut reason = String::new();
    let mut rescale = true;
    if current == 0 && min != 0 {
        // Upstream: autoscaling is disabled for a target scaled to zero by hand.
        desired = 0;
        rescale = false;
        set_condition(
            &mut conditions,
            "ScalingActive",
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero".into(),
            now,
        );
    } else if current > max {
        desired = max;
        reason = "Current number of replicas above Spec.MaxReplicas".into();
    } else if current < min {
        desired = min;
        reason = "Current number of replicas below Spec.MinReplicas".into();
    } else if scale.selector.is_empty() {
        set_condition(
            &mut conditions,
            "ScalingActive",
            false,
            "InvalidSelector",
            "the HPA target's scale is missing a selector".into(),
            now,
        );
        if reason_of(&prior_conditions, "ScalingActive") != Some("InvalidSelector") {
            warnings.push((
                "SelectorRequired",
                "the HPA target's scale is missing a selector".into(),
            ));
        }
        status.conditions = Some(conditions);
        return Plan {
            rescale: None,
            status,
            warnings,
        };
    } else {
        let behavior = Behavior::of(spec, settings.downscale_stabilization);
        let (scale_down_tolerance, scale_up_tolerance) = behavior.tolerances(settings.tolerance);
        let calc = Calculator {
            scale_down_tolerance,
            scale_up_tolerance,
            cpu_initialization_period: settings.cpu_initialization_period,
            delay_of_initial_readiness_status: settings.delay_of_initial_readiness_status,
        };
        let specs = spec.metrics.clone().unwrap_or_default();
        let mut statuses = Vec::new();
        let mut best: Option<(i32, String)> = None;
        let mut first_error: Option<MetricError> = None;
        let mut invalid = 0;
        for m in &specs {
            match resource_metric(m, obs, current, &calc) {
                Ok(outcome) => {
                    if best.as_ref().is_none_or(|(r, _)| outcome.replicas > *r) {
                        best = Some((outcome.replicas, outcome.name.clone()));
                    }
                    statuses.push(outcome.status);
                }
                Err(e) => {
                    invalid += 1;
                    statuses.push(MetricStatus {
                        type_: m.type_.clone(),
                        ..MetricStatus::default()
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        status.current_metrics = (!statuses.is_empty()).then_some(statuses);
        let scales_down = best.as_ref().is_some_and(|(r, _)| *r < current);
        match (best, first_error) {
            (Some((proposed, name)), err) if err.is_none() || !scales_down => {
                set_condition(
                    &mut conditions,
                    "ScalingActive",
                    true,
                    "ValidMetricFound",
                    format!(
                        "the HPA was able to successfully calculate a replica count from {name}"
                    ),
                    now,
                );
                if proposed > current {
                    reason = format!("{name} above target");
                } else if proposed < current {
                    reason = "All metrics below target".into();
                }
                let n = normalize(history, &behavior, current, proposed, (min, max), now);
                set_condition(
                    &mut conditions,
                    "AbleToScale",
                    true,
                    n.able.0,
                    n.able.1,
                    now,
                );
                let (limited, why, message) = n.limited;
                set_condition(
                    &mut conditions,
                    "ScalingLimited",
                    limited,
                    why,
                    message,
                    now,
                );
                desired = n.desired;
                rescale = desired != current;
            }
            (_, err) => {
                let err = err.unwrap_or(MetricError {
                    reason: "InvalidMetricSourceType",
                    message: "the HPA has no metrics to scale on".into(),
                });
                let new = reason_of(&prior_conditions, "ScalingActive") != Some(err.reason);
                set_condition(
                    &mut conditions,
                    "ScalingActive",
                    false,
                    err.reason,
                    format!(
                        "the HPA was unable to compute the replica count: {}",
                        err.message
                    ),
                    now,
                );
                if new {
                    warnings.push((err.reason, err.message.clone()));
                    warnings.push((
                        "FailedComputeMetricsReplicas",
                        format!(
                            "invalid metrics ({invalid} invalid out of {}), first error is: {}",
                            specs.len(),
                            err.message
                        ),
                    ));
                }
                status.conditions = Some(conditions);
                return Plan {
                    rescale: None,
                    status,
                    warnings,
                };
            }
        }
    }
    status.desired_replicas = desired;
    let rescale = (rescale && desired != current).then(|| {
        set_condition(
            &mut conditions,
            "AbleToScale",
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
            now,
        );
        status.last_scale_time = Some(Time(now));
        Rescale {
            from: current,
            to: desired,
            reason,
        }
    });
    status.conditions = Some(conditions);
    Plan {
        rescale,
        status,
        warnings,
    }
}

/// Turns a plan whose rescale could not be written into the status to write instead, with
/// the `FailedRescale` warning; `prior` is the HPA's status before the sync.
pub fn rescale_failed(
    plan: &mut Plan,
    prior: Option<&HorizontalPodAutoscalerStatus>,
    error: &str,
    now: Timestamp,
) {
    let Some(rescale) = plan.rescale.take() else {
        return;
    };
    let conditions = plan.status.conditions.get_or_insert_with(Vec::new);
    set_condition(
        conditions,
        "AbleToScale",
        false,
        "FailedUpdateScale",
        format!("the HPA controller was unable to update the target scale: {error}"),
        now,
    );
    plan.status.last_scale_time = prior.and_then(|p| p.last_scale_time.clone());
    plan.status.desired_replicas = prior.map_or(rescale.from, |p| p.desired_replicas);
    plan.warnings.push((
        "FailedRescale",
        format!("{}; error: {error}", rescale.message()),
    ));
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
