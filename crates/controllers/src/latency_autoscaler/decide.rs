//! The latency autoscaler's decision, pure: from the objective, the Deployment's size, the fresh
//! demand per gateway and the nodes, the replica count to run and the status to show
//! (DESIGN §8, "Latency-SLO autoscaling"; the sizing itself is [`brume_fog::slo::plan`]).
//!
//! The rules, in order:
//! - no Deployment: nothing to size (`TargetNotFound`);
//! - a replica move in progress: hold, the move owns the replica count for now;
//! - no fresh demand report: hold the current count (never scale on missing data, never to 0);
//! - otherwise size with the plan: up at once, down only to the highest recommendation of the
//!   scale-down window (as the HPA's stabilization), never outside `[min, max]`;
//! - the objective not met by `max` replicas: scale to max and set `SLOUnmet`.

use brume_api::latency_autoscaler::{
    Condition, DEMAND_AVAILABLE, LatencyAutoscaler, LatencyAutoscalerStatus, SLO_UNMET,
};
use brume_fog::slo::{SloObjective, SloPlan, SloProblem, plan};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::fog_inputs::{DemandView, Site, distance};

/// What the decision reads.
pub struct Inputs<'a> {
    /// The autoscaler.
    pub la: &'a LatencyAutoscaler,
    /// `spec.replicas` of the target Deployment, `None` when it does not exist.
    pub current: Option<i32>,
    /// Whether a replica move is in progress on the Deployment.
    pub moving: bool,
    /// The fresh demand of the Deployment's Services.
    pub demand: &'a DemandView,
    /// The nodes.
    pub sites: &'a [Site],
    /// Earlier recommendations (time, replicas), for the scale-down window.
    pub recent: &'a [(Timestamp, i32)],
    /// The share of requests measured within the bound (percent), if a window had requests.
    pub measured: Option<f64>,
    /// The scale-down stabilization window.
    pub scale_down_window: SignedDuration,
    /// Now.
    pub now: Timestamp,
}

/// An event to record on the autoscaler.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    /// CamelCase reason.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The replica count to write to the Deployment's scale, when it changes.
    pub scale_to: Option<i32>,
    /// The recommendation to remember for the window (the plan's count, before stabilization).
    pub recommendation: Option<i32>,
    /// The status to write.
    pub status: LatencyAutoscalerStatus,
    /// Events to record.
    pub events: Vec<Event>,
}

/// The latency objective of an autoscaler, as the fog crate reads it.
pub fn objective(la: &LatencyAutoscaler) -> SloObjective {
    SloObjective {
        quantile: la.spec.objective.percentile / 100.0,
        latency_ms: la.spec.objective.latency_ms,
    }
}

/// The sizing problem of an autoscaler for this demand and these nodes.
pub fn problem(la: &LatencyAutoscaler, demand: &DemandView, sites: &[Site]) -> SloProblem<String> {
    SloProblem {
        demand: demand.per_gateway.clone(),
        candidates: sites
            .iter()
            .filter(|s| s.usable)
            .map(|s| s.name.clone())
            .collect(),
        capacity_rps: la.spec.replica_capacity,
        min: usize::try_from(la.min_replicas()).unwrap_or(1),
        max: usize::try_from(la.spec.max_replicas).unwrap_or(1),
        objective: objective(la),
    }
}

/// Decides the replica count and the status.
pub fn decide(input: &Inputs) -> Plan {
    let la = input.la;
    let (min, max) = (
        la.min_replicas(),
        la.spec.max_replicas.max(la.min_replicas()),
    );
    let previous = la.status.clone().unwrap_or_default();
    let mut status = LatencyAutoscalerStatus {
        observed_generation: la.metadata.generation,
        current_replicas: input.current.unwrap_or(0),
        measured_attainment: input.measured,
        last_scale_time: previous.last_scale_time.clone(),
        conditions: previous.conditions.clone(),
        ..LatencyAutoscalerStatus::default()
    };
    let target = &la.spec.scale_target_ref.name;
    let Some(current) = input.current else {
        status.reason = Some("TargetNotFound".into());
        status.message = Some(format!("Deployment {target:?} does not exist"));
        return hold(status);
    };
    if input.moving {
        status.desired_replicas = current;
        status.placement = previous.placement;
        status.predicted_attainment = previous.predicted_attainment;
        status.demand = previous.demand;
        status.reason = Some("HoldingDuringMove".into());
        status.message = Some(format!(
            "a replica of Deployment {target:?} is being moved; sizing resumes when it is done"
        ));
        return hold(status);
    }
    let demand = input.demand;
    if !demand.known() {
        let desired = current.clamp(min, max);
        status.desired_replicas = desired;
        status.reason = Some("HoldingNoFreshDemand".into());
        let message = if demand.stale == 0 {
            "no demand report yet for the Deployment's Services; holding the current replicas"
                .to_string()
        } else {
            format!(
                "all {} demand reports are older than {} s; holding the current replicas",
                demand.stale,
                crate::fog_inputs::STALE_AFTER.as_secs()
            )
        };
        status.message = Some(message.clone());
        set_condition(
            &mut status,
            DEMAND_AVAILABLE,
            "False",
            "NoFreshReports",
            &message,
            input.now,
        );
        set_condition(
            &mut status,
            SLO_UNMET,
            "Unknown",
            "NoFreshReports",
            &message,
            input.now,
        );
        return scale(status, current, desired, None, input.now, &message);
    }
    set_condition(
        &mut status,
        DEMAND_AVAILABLE,
        "True",
        "FreshReports",
        &format!("{} fresh demand reports", demand.fresh),
        input.now,
    );
    let sized: SloPlan<String> = plan(&problem(la, demand, input.sites), distance(input.sites));
    let planned = i32::try_from(sized.replicas.len())
        .unwrap_or(max)
        .clamp(min, max);
    let since = input.now - input.scale_down_window;
    let window_high = input
        .recent
        .iter()
        .filter(|(t, _)| *t >= since)
        .map(|(_, r)| *r)
        .chain([planned])
        .max()
        .unwrap_or(planned);
    let desired = if planned >= current {
        planned
    } else {
        window_high.min(current).max(planned)
    };
    let predicted = sized.attainment.share * 100.0;
    let objective_text = la.objective_text();
    status.desired_replicas = desired;
    status.placement = sized.replicas.clone();
    status.demand = round2(demand.total());
    status.predicted_attainment = Some(round2(predicted));
    let (reason, why) = if !sized.meets {
        let message = format!(
            "the objective {objective_text} cannot be met within maxReplicas {max}: predicted \
             {predicted:.1}% of {:.1} req/s within {} ms with {planned} replicas",
            demand.total(),
            la.spec.objective.latency_ms
        );
        set_condition(
            &mut status,
            SLO_UNMET,
            "True",
            "ObjectiveUnmetAtMax",
            &message,
            input.now,
        );
        ("ObjectiveUnmetAtMax", message)
    } else {
        let message = format!(
            "{planned} replicas meet {objective_text} for {:.1} req/s: predicted {predicted:.1}%",
            demand.total()
        );
        set_condition(
            &mut status,
            SLO_UNMET,
            "False",
            "ObjectiveMet",
            &message,
            input.now,
        );
        if desired > planned {
            (
                "ScaleDownStabilizing",
                format!(
                    "{message}; holding {desired} for the {} s scale-down window",
                    input.scale_down_window.as_secs()
                ),
            )
        } else {
            ("ObjectiveMet", message)
        }
    };
    status.reason = Some(reason.into());
    status.message = Some(why.clone());
    let mut out = scale(status, current, desired, Some(planned), input.now, &why);
    if !sized.meets
        && previous
            .conditions
            .iter()
            .all(|c| c.type_ != SLO_UNMET || c.status != "True")
    {
        out.events.push(Event {
            type_: "Warning",
            reason: "SLOUnmet",
            message: why,
        });
    }
    out
}

fn hold(status: LatencyAutoscalerStatus) -> Plan {
    Plan {
        scale_to: None,
        recommendation: None,
        status,
        events: Vec::new(),
    }
}

/// The plan that sets the count to `desired` (no write when it is `current`).
fn scale(
    mut status: LatencyAutoscalerStatus,
    current: i32,
    desired: i32,
    recommendation: Option<i32>,
    now: Timestamp,
    why: &str,
) -> Plan {
    let mut events = Vec::new();
    let scale_to = (desired != current).then_some(desired);
    if scale_to.is_some() {
        status.last_scale_time = Some(Time(now));
        events.push(Event {
            type_: "Normal",
            reason: "SuccessfulRescale",
            message: format!("New size: {desired}; reason: {why}"),
        });
    }
    Plan {
        scale_to,
        recommendation,
        status,
        events,
    }
}

/// Sets a condition, keeping its transition time when its status does not change.
fn set_condition(
    status: &mut LatencyAutoscalerStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let kept = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == value)
        .and_then(|c| c.last_transition_time.clone());
    status.conditions.retain(|c| c.type_ != type_);
    status.conditions.push(Condition {
        type_: type_.into(),
        status: value.into(),
        last_transition_time: Some(kept.unwrap_or(Time(now))),
        reason: Some(reason.into()),
        message: Some(message.into()),
    });
    status.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
