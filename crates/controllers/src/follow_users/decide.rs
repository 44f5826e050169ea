//! The re-placement decision, pure: one step of the state machine that moves a replica of a
//! `fog.brume.io/placement: follow-users` Deployment towards its users, make-before-break
//! (DESIGN §8, "Following users"; the annotations are in [`brume_api::placement`]).
//!
//! ```text
//!   Idle ──(a move clears the threshold, Deployment stable, cooldown over)──▶ Surging
//!   Surging ──(a replacement is Ready: n ready besides the leaving pod)──▶ Draining
//!   Surging ──(no replacement Ready within the surge timeout)──▶ Idle (aborted, Warning)
//!   Draining ──(the leaving pod is gone)──▶ Idle (moved; the cooldown starts)
//! ```
//!
//! Surging marks the leaving pod with its target and adds one replica (the scheduler sends it
//! there); Draining gives the leaving pod the lowest deletion cost and takes the replica back.
//! The Deployment never has fewer than `n` ready replicas on the way: the far one is removed
//! only once its replacement serves.

use brume_api::placement::{LAST_MOVE_ANNOTATION, MOVE_ANNOTATION};
use brume_fog::PlacementConfig;
use brume_fog::replace::{MoveThreshold, best_move};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::fog_inputs::{DemandView, Site, distance};
use crate::pod::{is_active, is_ready};

/// Where a move is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// One replica was added; waiting for it to be Ready.
    Surging,
    /// The leaving pod is being removed.
    Draining,
}

/// A move in progress, as kept in the Deployment's `fog.brume.io/move` annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveState {
    /// Where the move is.
    pub phase: Phase,
    /// The pod that leaves.
    pub pod: String,
    /// Its node.
    pub from: String,
    /// The node its replacement goes to.
    pub to: String,
    /// The replica count before (and after) the move.
    pub replicas: i32,
    /// When the move started.
    pub started: Timestamp,
    /// The gateway whose demand the move is for (the one whose latency it cuts most).
    pub gateway: String,
    /// The demand-weighted tail latency before and after, as predicted (ms).
    pub tail_before_ms: f64,
    /// See `tail_before_ms`.
    pub tail_after_ms: f64,
}

/// The settings of re-placement.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How much a move must cut the tail to be made.
    pub threshold: MoveThreshold,
    /// The least time between the end of one move and the start of the next.
    pub cooldown: SignedDuration,
    /// How long a replacement may take to be Ready before the move is given up.
    pub surge_timeout: SignedDuration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: MoveThreshold::default(),
            cooldown: SignedDuration::from_secs(60),
            surge_timeout: SignedDuration::from_secs(180),
        }
    }
}

/// What the decision reads.
pub struct Inputs<'a> {
    /// The Deployment (its annotations hold the move in progress).
    pub deployment: &'a Deployment,
    /// Its pods (any ReplicaSet's).
    pub pods: &'a [Pod],
    /// The fresh demand of its Services.
    pub demand: &'a DemandView,
    /// The nodes.
    pub sites: &'a [Site],
    /// The knobs.
    pub settings: Settings,
    /// Now.
    pub now: Timestamp,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Write (or, with `None`, remove) the move in progress on the Deployment.
    SetMove(Option<MoveState>),
    /// Stamp the Deployment with when the last move finished.
    StampLastMove(Timestamp),
    /// Mark a pod with where its replacement goes (`None` removes the mark).
    MarkPod(String, Option<String>),
    /// Set a pod's `controller.kubernetes.io/pod-deletion-cost`.
    DeletionCost(String, i32),
    /// Write the Deployment's replica count.
    Scale(i32),
    /// Record an event on the Deployment: (type, reason, message).
    Event(&'static str, &'static str, String),
}

/// The lowest deletion cost: the leaving pod goes first.
pub const LEAVING_COST: i32 = -1_000_000;

/// The move in progress written on a Deployment, if any (an unreadable one counts as none, and
/// the next step overwrites it).
pub fn move_state(d: &Deployment) -> Option<MoveState> {
    let raw = d.metadata.annotations.as_ref()?.get(MOVE_ANNOTATION)?;
    serde_json::from_str(raw).ok()
}

/// When the last move on a Deployment finished (`fog.brume.io/last-move`), if it says.
pub fn last_move(d: &Deployment) -> Option<Timestamp> {
    d.metadata
        .annotations
        .as_ref()?
        .get(LAST_MOVE_ANNOTATION)?
        .parse()
        .ok()
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

fn name_of(p: &Pod) -> &str {
    p.metadata.name.as_deref().unwrap_or_default()
}

/// Why nothing is done when idle, for logs: `None` when a move may be considered.
fn not_stable(d: &Deployment) -> Option<&'static str> {
    let want = d.spec.replicas.unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Some("the Deployment controller has not caught up");
    }
    if status.replicas.unwrap_or(0) != want
        || status.ready_replicas.unwrap_or(0) != want
        || status.updated_replicas.unwrap_or(0) != want
    {
        return Some("the Deployment is scaling or rolling out");
    }
    None
}

/// The next steps.
pub fn decide(input: &Inputs) -> Vec<Step> {
    match move_state(input.deployment) {
        None => idle(input),
        Some(state) => in_progress(input, state),
    }
}

fn idle(input: &Inputs) -> Vec<Step> {
    let d = input.deployment;
    if not_stable(d).is_some() || !input.demand.known() {
        return Vec::new();
    }
    if last_move(d).is_some_and(|t| input.now.duration_since(t) < input.settings.cooldown) {
        return Vec::new();
    }
    let live: Vec<&Pod> = input
        .pods
        .iter()
        .filter(|p| is_active(p) && is_ready(p) && node_of(p).is_some())
        .collect();
    let replicas: Vec<String> = live
        .iter()
        .filter_map(|p| node_of(p).map(String::from))
        .collect();
    let candidates: Vec<String> = input
        .sites
        .iter()
        .filter(|s| s.usable && !replicas.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    let rtt = distance(input.sites);
    let demand = &input.demand.per_gateway;
    let Some(m) = best_move(
        demand,
        &replicas,
        &candidates,
        &rtt,
        &PlacementConfig::default(),
        &input.settings.threshold,
    ) else {
        return Vec::new();
    };
    let Some(leaving) = live.iter().find(|p| node_of(p) == Some(m.from.as_str())) else {
        return Vec::new();
    };
    // The gateway the move is for: the one whose users gain most (demand × latency cut).
    let nearest = |set: &[String], g: &String| {
        set.iter()
            .filter_map(|r| rtt(g, r))
            .fold(f64::INFINITY, f64::min)
    };
    let after: Vec<String> = replicas
        .iter()
        .map(|r| {
            if *r == m.from {
                m.to.clone()
            } else {
                r.clone()
            }
        })
        .collect();
    let (gateway, rate) = demand
        .iter()
        .map(|(g, r)| {
            let gain = nearest(&replicas, g) - nearest(&after, g);
            (g, *r, if gain.is_finite() { gain * r } else { f64::MAX })
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(g, r, _)| (g.clone(), r))
        .unwrap_or_default();
    let n = d.spec.replicas.unwrap_or(1);
    let state = MoveState {
        phase: Phase::Surging,
        pod: name_of(leaving).to_string(),
        from: m.from.clone(),
        to: m.to.clone(),
        replicas: n,
        started: input.now,
        gateway: gateway.clone(),
        tail_before_ms: round1(m.before.tail_ms),
        tail_after_ms: round1(m.after.tail_ms),
    };
    let message = format!(
        "Moving a replica from {} to {} for the demand at gateway {gateway} ({rate:.1} req/s): \
         expected p90 latency {:.1} ms -> {:.1} ms (mean {:.1} -> {:.1} ms); pod {} leaves once \
         its replacement is Ready",
        m.from,
        m.to,
        m.before.tail_ms,
        m.after.tail_ms,
        m.before.mean_ms,
        m.after.mean_ms,
        state.pod
    );
    vec![
        Step::SetMove(Some(state.clone())),
        Step::MarkPod(state.pod.clone(), Some(m.to.clone())),
        Step::Scale(n + 1),
        Step::Event("Normal", "MovingReplica", message),
    ]
}

fn in_progress(input: &Inputs, state: MoveState) -> Vec<Step> {
    let leaving = input
        .pods
        .iter()
        .find(|p| name_of(p) == state.pod && is_active(p));
    let Some(leaving) = leaving else {
        return finish(input, &state);
    };
    match state.phase {
        Phase::Surging => {
            let others_ready: Vec<&Pod> = input
                .pods
                .iter()
                .filter(|p| name_of(p) != state.pod && is_active(p) && is_ready(p))
                .collect();
            if others_ready.len() >= usize::try_from(state.replicas).unwrap_or(0) {
                let drained = MoveState {
                    phase: Phase::Draining,
                    ..state.clone()
                };
                return vec![
                    Step::SetMove(Some(drained)),
                    Step::DeletionCost(name_of(leaving).to_string(), LEAVING_COST),
                    Step::Scale(state.replicas),
                ];
            }
            if input.now.duration_since(state.started) > input.settings.surge_timeout {
                return vec![
                    Step::MarkPod(state.pod.clone(), None),
                    Step::Scale(state.replicas),
                    Step::SetMove(None),
                    Step::StampLastMove(input.now),
                    Step::Event(
                        "Warning",
                        "MoveAborted",
                        format!(
                            "Gave up moving pod {} from {} to {}: no replacement was Ready \
                             within {} s; the extra replica is removed",
                            state.pod,
                            state.from,
                            state.to,
                            input.settings.surge_timeout.as_secs()
                        ),
                    ),
                ];
            }
            Vec::new()
        }
        Phase::Draining => {
            if input.deployment.spec.replicas != Some(state.replicas) {
                return vec![Step::Scale(state.replicas)];
            }
            Vec::new()
        }
    }
}

/// The leaving pod is gone: the move is over.
fn finish(input: &Inputs, state: &MoveState) -> Vec<Step> {
    let landed: Vec<&str> = input
        .pods
        .iter()
        .filter(|p| is_active(p) && node_of(p) == Some(state.to.as_str()))
        .map(name_of)
        .collect();
    let mut steps = Vec::new();
    if input.deployment.spec.replicas != Some(state.replicas) && state.phase == Phase::Surging {
        // The pod went away before the replacement was Ready (deleted, node lost): the
        // replacement takes its place, so the extra replica goes.
        steps.push(Step::Scale(state.replicas));
    }
    let message = match landed.first() {
        Some(pod) => format!(
            "Moved a replica from {} to {} for the demand at gateway {}: pod {} replaced by {pod}; \
             expected p90 latency {:.1} ms -> {:.1} ms",
            state.from,
            state.to,
            state.gateway,
            state.pod,
            state.tail_before_ms,
            state.tail_after_ms
        ),
        None => format!(
            "Moved a replica off {} for the demand at gateway {}: pod {} is gone, but its \
             replacement did not land on {} (the scheduler found it unfit)",
            state.from, state.gateway, state.pod, state.to
        ),
    };
    steps.extend([
        Step::SetMove(None),
        Step::StampLastMove(input.now),
        Step::Event("Normal", "MovedReplica", message),
    ]);
    steps
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
