//! The Deployment status and its conditions, as `kubectl rollout status` reads them (Kubernetes
//! `sync.go` `calculateStatus` and `progress.go` `syncRolloutStatus`).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::decide::Set;
use super::strategy::Strategy;

/// What happened to the new ReplicaSet in this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// It already existed (or there is none yet because the Deployment is paused).
    Progressing,
    /// It was created now, with this name.
    Created(String),
}

/// The condition types and reasons Kubernetes uses (`deploymentutil`).
pub mod reason {
    /// Enough pods are available.
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// Too few pods are available.
    pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
    /// The new ReplicaSet was just created.
    pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
    /// The new ReplicaSet existed already.
    pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
    /// The rollout moved forward.
    pub const RS_UPDATED: &str = "ReplicaSetUpdated";
    /// The rollout is complete.
    pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// The rollout made no progress within `progressDeadlineSeconds`.
    pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
    /// The Deployment is paused.
    pub const PAUSED: &str = "DeploymentPaused";
    /// The Deployment was resumed.
    pub const RESUMED: &str = "DeploymentResumed";
}

/// The status for `d` from its ReplicaSets after this reconcile's plan, and when to look again
/// for the progress deadline.
pub(super) fn compute(
    d: &Deployment,
    new: Option<&Set>,
    old: &[Set],
    strategy: Strategy,
    rollout: Rollout,
    now: Timestamp,
) -> (DeploymentStatus, Option<Duration>) {
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let desired = d.spec.replicas.unwrap_or(1);
    let all = || new.into_iter().chain(old.iter());
    let available: i32 = all().map(|s| s.status_available).sum();
    let total: i32 = all().map(|s| s.replicas).sum();
    let previous = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(all().map(|s| s.status_replicas).sum()),
        updated_replicas: Some(new.map_or(0, |n| n.status_replicas)),
        ready_replicas: Some(all().map(|s| s.ready).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        terminating_replicas: Some(all().map(|s| s.terminating).sum()),
        collision_count: previous.collision_count,
        conditions: previous.conditions.clone(),
    };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if available >= desired - strategy.max_unavailable(desired) {
        set(
            conditions,
            cond(
                "Available",
                "True",
                reason::MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".into(),
                now,
            ),
        );
    } else {
        set(
            conditions,
            cond(
                "Available",
                "False",
                reason::MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
                now,
            ),
        );
    }
    let current = conditions
        .iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .cloned();
    if d.spec.paused == Some(true) {
        if current.as_ref().and_then(|c| c.reason.as_deref()) != Some(reason::PAUSED) {
            set(
                conditions,
                cond(
                    "Progressing",
                    "Unknown",
                    reason::PAUSED,
                    "Deployment is paused".into(),
                    now,
                ),
            );
        }
        return (status, None);
    }
    if current.as_ref().and_then(|c| c.reason.as_deref()) == Some(reason::PAUSED) {
        set(
            conditions,
            cond(
                "Progressing",
                "Unknown",
                reason::RESUMED,
                "Deployment is resumed".into(),
                now,
            ),
        );
    }
    let Some(new) = new else {
        return (status, None);
    };
    let rs = &new.name;
    match &rollout {
        Rollout::Created(name) => set(
            conditions,
            cond(
                "Progressing",
                "True",
                reason::NEW_RS_CREATED,
                format!("Created new replica set {name:?}"),
                now,
            ),
        ),
        Rollout::Progressing if current.is_none() => set(
            conditions,
            cond(
                "Progressing",
                "True",
                reason::FOUND_NEW_RS,
                format!("Found new replica set {rs:?}"),
                now,
            ),
        ),
        Rollout::Progressing => {}
    }
    let Some(deadline) = d.spec.progress_deadline_seconds else {
        return (status, None);
    };
    let current = conditions
        .iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .cloned();
    let replicas = status.replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let already_complete = replicas == updated
        && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(reason::NEW_RS_AVAILABLE);
    if already_complete {
        return (status, None);
    }
    let complete = updated == desired && replicas == desired && available == desired;
    let old_before = previous.replicas.unwrap_or(0) - previous.updated_replicas.unwrap_or(0);
    let progressed = updated > previous.updated_replicas.unwrap_or(0)
        || replicas - updated < old_before
        || status.ready_replicas > previous.ready_replicas.or(Some(0))
        || available > previous.available_replicas.unwrap_or(0);
    let deadline = SignedDuration::from_secs(deadline.into());
    if complete {
        set(
            conditions,
            cond(
                "Progressing",
                "True",
                reason::NEW_RS_AVAILABLE,
                format!("ReplicaSet {rs:?} has successfully progressed."),
                now,
            ),
        );
        return (status, None);
    }
    if matches!(rollout, Rollout::Created(_)) {
        // The ReplicaSet was just created: NewReplicaSetCreated stays until pods move.
        return (status, Some(deadline.unsigned_abs()));
    }
    if progressed {
        let mut c = cond(
            "Progressing",
            "True",
            reason::RS_UPDATED,
            format!("ReplicaSet {rs:?} is progressing."),
            now,
        );
        if let Some(cur) = current
            .as_ref()
            .filter(|c| c.status.as_deref() == Some("True"))
        {
            c.last_transition_time = cur.last_transition_time.clone();
        }
        conditions.retain(|c| c.type_.as_deref() != Some("Progressing"));
        conditions.push(c);
        return (status, Some(deadline.unsigned_abs()));
    }
    let Some(cur) = current else {
        return (status, None);
    };
    if cur.reason.as_deref() == Some(reason::TIMED_OUT) {
        return (status, None);
    }
    let since = cur.last_update_time.as_ref().map(|t| t.0).unwrap_or(now);
    if since + deadline < now {
        set(
            conditions,
            cond(
                "Progressing",
                "False",
                reason::TIMED_OUT,
                format!("ReplicaSet {rs:?} has timed out progressing."),
                now,
            ),
        );
        (status, None)
    } else {
        let left = (since + deadline).duration_since(now).unsigned_abs();
        (status, Some(left + Duration::from_secs(1)))
    }
}

fn cond(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.into()),
        status: Some(status.into()),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets a condition as Kubernetes `SetDeploymentCondition` does: nothing changes when status and
/// reason are the same; the transition time is kept when only the reason changes.
fn set(conditions: &mut Vec<DeploymentCondition>, mut c: DeploymentCondition) {
    if let Some(cur) = conditions.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conditions.retain(|x| x.type_ != c.type_);
    conditions.push(c);
}
