//! The Deployment decision: which ReplicaSet to create, which to scale, re-number or delete, from
//! the Deployment and the ReplicaSets it owns (Kubernetes `pkg/controller/deployment`: `sync.go`,
//! `rolling.go`, `recreate.go`).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use super::hash::{self, LABEL};
use super::status::{self, Rollout};
use super::strategy::Strategy;
use crate::pod::owner_reference;

/// The annotation that numbers a Deployment's revisions, on the Deployment and its ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The annotation with the Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The annotation with `spec.replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// One change to a ReplicaSet.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create the new ReplicaSet.
    Create(Box<ReplicaSet>),
    /// Set a ReplicaSet's `spec.replicas`.
    Scale {
        /// The ReplicaSet.
        name: String,
        /// Its current replicas, for the event.
        from: i32,
        /// Its new replicas.
        to: i32,
    },
    /// Give a ReplicaSet a new revision number (it became the new one again: a rollback).
    SetRevision {
        /// The ReplicaSet.
        name: String,
        /// Its new revision.
        revision: i64,
    },
    /// Carry the Deployment's `minReadySeconds` over to the new ReplicaSet.
    SetMinReadySeconds {
        /// The ReplicaSet.
        name: String,
        /// The Deployment's value.
        seconds: Option<i32>,
    },
    /// Delete an old, empty ReplicaSet beyond `revisionHistoryLimit`.
    Delete {
        /// The ReplicaSet.
        name: String,
    },
}

/// What one Deployment reconcile must do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Changes to ReplicaSets, in order.
    pub steps: Vec<Step>,
    /// The revision the Deployment's annotation must carry.
    pub revision: Option<i64>,
    /// The status to write.
    pub status: DeploymentStatus,
    /// When to look again (progress deadline), if nothing else triggers.
    pub requeue_after: Option<Duration>,
}

/// A ReplicaSet as the rollout sees it, with the changes planned so far.
#[derive(Debug, Clone)]
pub(super) struct Set {
    pub name: String,
    pub revision: i64,
    pub replicas: i32,
    pub status_replicas: i32,
    /// Pods being deleted, not yet gone.
    pub terminating: i32,
    pub ready: i32,
    /// Available pods, never more than `replicas`: a set being scaled down may not have deleted
    /// its surplus yet, and counting it would let the rollout go below its availability floor.
    pub available: i32,
    /// Available pods as the ReplicaSet's status reports them, for the Deployment's status.
    pub status_available: i32,
    pub created: Option<Timestamp>,
}

impl Set {
    fn of(rs: &ReplicaSet) -> Set {
        let s = rs.status.clone().unwrap_or_default();
        let replicas = rs.spec.replicas.unwrap_or(1);
        Set {
            name: rs.metadata.name.clone().unwrap_or_default(),
            revision: revision_of(&rs.metadata),
            replicas,
            status_replicas: s.replicas,
            terminating: s.terminating_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0).min(replicas),
            status_available: s.available_replicas.unwrap_or(0),
            created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
        }
    }
}

/// The revision number in an object's annotation, 0 when absent.
pub fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The name of the ReplicaSet for the Deployment's current template.
pub fn new_replica_set_name(d: &Deployment) -> String {
    let template = d.spec.template.clone();
    format!(
        "{}-{}",
        d.metadata.name.as_deref().unwrap_or("deployment"),
        hash::template_hash(&template)
    )
}

/// The ReplicaSets `d` should adopt: no controller, not being deleted, and matched by its
/// selector (Kubernetes `ClaimReplicaSets`), for example after `kubectl delete deployment
/// --cascade=orphan` and a re-apply.
pub fn adoptable<'a>(d: &Deployment, sets: &'a [ReplicaSet]) -> Vec<&'a ReplicaSet> {
    if d.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    sets.iter()
        .filter(|rs| crate::pod::controller_of(&rs.metadata).is_none())
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .filter(|rs| crate::pod::selector_matches(&d.spec.selector, rs.metadata.labels.as_ref()))
        .collect()
}

/// Annotations of a Deployment that are not copied to its ReplicaSets.
const SKIP_COPY: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Decides what to do for `d` given the ReplicaSets it controls and the time.
pub fn decide(d: &Deployment, owned: &[ReplicaSet], strategy: Strategy, now: Timestamp) -> Plan {
    let desired = d.spec.replicas.unwrap_or(1);
    let new_name = new_replica_set_name(d);
    let new_rs = owned
        .iter()
        .find(|rs| rs.metadata.name.as_deref() == Some(new_name.as_str()))
        .or_else(|| {
            owned.iter().find(|rs| {
                rs.spec
                    .template
                    .as_ref()
                    .is_some_and(|t| hash::equal_ignoring_hash(t, &d.spec.template))
            })
        });
    let mut old: Vec<Set> = owned
        .iter()
        .filter(|rs| Some(*rs) != new_rs)
        .map(Set::of)
        .collect();
    old.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    let max_old_revision = old.iter().map(|s| s.revision).max().unwrap_or(0);
    let mut steps = Vec::new();
    let paused = d.spec.paused == Some(true);

    let mut rollout = Rollout::Progressing;
    let mut new: Option<Set> = new_rs.map(Set::of);
    if let Some(n) = new.as_mut()
        && n.revision <= max_old_revision
    {
        n.revision = max_old_revision + 1;
        steps.push(Step::SetRevision {
            name: n.name.clone(),
            revision: n.revision,
        });
    }
    if let Some(rs) = new_rs
        && rs.spec.min_ready_seconds.unwrap_or(0) != d.spec.min_ready_seconds.unwrap_or(0)
    {
        steps.push(Step::SetMinReadySeconds {
            name: rs.metadata.name.clone().unwrap_or_default(),
            seconds: d.spec.min_ready_seconds,
        });
    }
    if new.is_none() && !paused {
        let replicas = match strategy {
            Strategy::Recreate => {
                if old
                    .iter()
                    .any(|s| s.replicas > 0 || s.status_replicas > 0 || s.terminating > 0)
                {
                    0
                } else {
                    desired
                }
            }
            Strategy::RollingUpdate { .. } => new_replicas(desired, strategy.max_surge(), &old, 0),
        };
        let rs = build_replica_set(d, &new_name, max_old_revision + 1, replicas, strategy);
        let mut set = Set::of(&rs);
        set.replicas = replicas;
        steps.push(Step::Create(Box::new(rs)));
        rollout = Rollout::Created(new_name.clone());
        new = Some(set);
    }

    if paused {
        scale_paused(desired, new.as_mut(), &mut old, &mut steps);
    } else if let Some(n) = new.as_mut() {
        match strategy {
            Strategy::RollingUpdate { .. } => {
                let scaled_new = reconcile_new(desired, strategy.max_surge(), &old, n, &mut steps);
                if !scaled_new {
                    reconcile_old(
                        desired,
                        strategy.max_unavailable(desired),
                        n,
                        &mut old,
                        &mut steps,
                    );
                }
            }
            Strategy::Recreate => {
                for s in old.iter_mut().filter(|s| s.replicas > 0) {
                    scale(s, 0, &mut steps);
                }
                // Kubernetes `oldPodsRunning`: terminating pods still run.
                let old_running = old
                    .iter()
                    .any(|s| s.status_replicas > 0 || s.terminating > 0);
                if !old_running && n.replicas != desired {
                    scale(n, desired, &mut steps);
                }
            }
        }
    }

    // Old, empty ReplicaSets beyond the history limit go, oldest revision first.
    let limit = usize::try_from(d.spec.revision_history_limit.unwrap_or(10).max(0)).unwrap_or(0);
    let mut empty: Vec<&Set> = old
        .iter()
        .filter(|s| s.replicas == 0 && s.status_replicas == 0)
        .filter(|s| {
            !owned.iter().any(|rs| {
                rs.metadata.name.as_ref() == Some(&s.name)
                    && rs.metadata.deletion_timestamp.is_some()
            })
        })
        .collect();
    if empty.len() > limit {
        empty.sort_by_key(|s| s.revision);
        let excess = empty.len() - limit;
        for s in empty.into_iter().take(excess) {
            steps.push(Step::Delete {
                name: s.name.clone(),
            });
        }
    }

    let revision = new.as_ref().map(|n| n.revision);
    let (status, requeue_after) = status::compute(d, new.as_ref(), &old, strategy, rollout, now);
    Plan {
        steps,
        revision,
        status,
        requeue_after,
    }
}

fn scale(s: &mut Set, to: i32, steps: &mut Vec<Step>) {
    if s.replicas == to {
        return;
    }
    steps.push(Step::Scale {
        name: s.name.clone(),
        from: s.replicas,
        to,
    });
    s.replicas = to;
    s.available = s.available.min(to);
}

/// The replicas of the new ReplicaSet during a rolling update (Kubernetes `NewRSNewReplicas`):
/// grow it as far as `replicas + maxSurge` pods in total allows.
fn new_replicas(desired: i32, max_surge: i32, old: &[Set], new_current: i32) -> i32 {
    let max_total = desired + max_surge;
    let current: i32 = old.iter().map(|s| s.replicas).sum::<i32>() + new_current;
    if current >= max_total {
        return new_current;
    }
    let up = (max_total - current).min(desired - new_current).max(0);
    new_current + up
}

/// Scales the new ReplicaSet toward `desired`; returns whether it changed (Kubernetes then waits
/// for the next sync before touching the old ones).
fn reconcile_new(
    desired: i32,
    max_surge: i32,
    old: &[Set],
    new: &mut Set,
    steps: &mut Vec<Step>,
) -> bool {
    let target = if new.replicas > desired {
        desired
    } else {
        new_replicas(desired, max_surge, old, new.replicas)
    };
    let changed = target != new.replicas;
    scale(new, target, steps);
    changed
}

/// Scales old ReplicaSets down without going under `desired - maxUnavailable` available pods
/// (Kubernetes `reconcileOldReplicaSets`): first their unhealthy pods, then healthy ones.
fn reconcile_old(
    desired: i32,
    max_unavailable: i32,
    new: &Set,
    old: &mut [Set],
    steps: &mut Vec<Step>,
) {
    let old_pods: i32 = old.iter().map(|s| s.replicas).sum();
    if old_pods == 0 {
        return;
    }
    let all_pods = old_pods + new.replicas;
    let min_available = desired - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    // Unhealthy old pods go first: removing them costs no availability.
    let mut cleaned = 0;
    for s in old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = s.replicas - s.available;
        if s.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let down = unhealthy.min(max_scaled_down - cleaned);
        cleaned += down;
        let to = s.replicas - down;
        scale(s, to, steps);
    }
    // Then healthy ones, as far as the availability floor allows.
    let available: i32 = old.iter().map(|s| s.available).sum::<i32>() + new.available;
    if available <= min_available {
        return;
    }
    let total = available - min_available;
    let mut done = 0;
    for s in old.iter_mut() {
        if done >= total {
            break;
        }
        if s.replicas == 0 {
            continue;
        }
        let down = s.replicas.min(total - done);
        done += down;
        let to = s.replicas - down;
        scale(s, to, steps);
    }
}

/// While paused, only the replica count follows `spec.replicas`: the difference goes to (or comes
/// from) the newest ReplicaSet that runs pods, and no rollout step is taken.
fn scale_paused(desired: i32, new: Option<&mut Set>, old: &mut [Set], steps: &mut Vec<Step>) {
    let total: i32 =
        old.iter().map(|s| s.replicas).sum::<i32>() + new.as_ref().map_or(0, |n| n.replicas);
    if total == desired {
        return;
    }
    let newest_old = old
        .iter_mut()
        .filter(|s| s.replicas > 0)
        .max_by_key(|s| s.revision);
    let target = match new {
        Some(n) if n.replicas > 0 || newest_old.is_none() => n,
        _ => match newest_old {
            Some(s) => s,
            None => return,
        },
    };
    let to = (target.replicas + desired - total).max(0);
    scale(target, to, steps);
}

/// The new ReplicaSet for the Deployment's template: named `<deployment>-<hash>`, its selector,
/// template labels and pods carrying the hash, controlled by the Deployment.
fn build_replica_set(
    d: &Deployment,
    name: &str,
    revision: i64,
    replicas: i32,
    strategy: Strategy,
) -> ReplicaSet {
    let hash = name.rsplit('-').next().unwrap_or_default().to_string();
    let mut template = hash::without_hash(&d.spec.template);
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(LABEL.into(), hash.clone());
    let labels = meta.labels.clone();
    let mut selector: LabelSelector = d.spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(LABEL.into(), hash);
    // The Deployment's own annotations go along (`kubernetes.io/change-cause` shows in
    // `kubectl rollout history`), except the ones that describe the ReplicaSet itself
    // (Kubernetes `skipCopyAnnotation`).
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !SKIP_COPY.contains(&k.as_str()))
        .collect();
    annotations.extend::<[(String, String); 3]>([
        (REVISION.to_string(), revision.to_string()),
        (
            DESIRED_REPLICAS.to_string(),
            d.spec.replicas.unwrap_or(1).to_string(),
        ),
        (
            MAX_REPLICAS.to_string(),
            (d.spec.replicas.unwrap_or(1) + strategy.max_surge()).to_string(),
        ),
    ]);
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: d.metadata.namespace.clone(),
            labels,
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference("apps/v1", "Deployment", &d.metadata)]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
