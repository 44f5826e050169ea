//! The node lifecycle decisions (Kubernetes `pkg/controller/nodelifecycle` and its taint
//! manager): whether a node is reachable from its Lease, which conditions and taints it must
//! carry, and when each of its pods must be evicted.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::taints::{NOT_READY, UNREACHABLE, tolerates};

/// What the controller concludes about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Its lease was renewed within the grace period.
    Reachable,
    /// Its lease is older than the grace period (or it never had one).
    Unreachable,
}

/// What the controller last saw of a node's heartbeat, and when, by its own clock.
///
/// As in Kubernetes (`nodeHealthData.probeTimestamp`), staleness is measured from the moment the
/// controller saw the Lease's `renewTime` change, never from the value itself: an agent's clock
/// may be skewed, and after a server outage every lease looks old although the agents are fine.
/// A node first seen (at start, or when it joins) gets a full grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The Lease's `renewTime` (or the Ready heartbeat when there is no lease) last seen.
    pub heartbeat: Option<Timestamp>,
    /// When, by the controller's clock, that value was first seen.
    pub seen_at: Timestamp,
}

impl Probe {
    /// The next probe given the previous one and the heartbeat observed `now`.
    pub fn step(previous: Option<Probe>, heartbeat: Option<Timestamp>, now: Timestamp) -> Probe {
        match previous {
            Some(p) if p.heartbeat == heartbeat => p,
            _ => Probe {
                heartbeat,
                seen_at: now,
            },
        }
    }

    /// Whether the node is reachable at `now`: its heartbeat changed within the grace period.
    pub fn health(&self, now: Timestamp, grace: Duration) -> Health {
        let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
        if now.duration_since(self.seen_at) <= grace {
            Health::Reachable
        } else {
            Health::Unreachable
        }
    }
}

/// The node's heartbeat: its Lease's `renewTime`, else its Ready condition's heartbeat.
pub fn heartbeat(node: &Node, lease_renew: Option<Timestamp>) -> Option<Timestamp> {
    lease_renew
        .or_else(|| ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0)))
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// What must change on one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodePlan {
    /// Mark its conditions Unknown (it went silent); this is also when NodeNotReady is recorded.
    pub mark_unknown: bool,
    /// Its new `spec.taints`, when they must change.
    pub taints: Option<Vec<Taint>>,
}

/// Decides the conditions and taints of `node` given its health (Kubernetes taints on the Ready
/// condition: Unknown → unreachable, False → not-ready, each with NoSchedule and NoExecute).
///
/// The unreachable NoExecute taint's `timeAdded` is `silent_since`, when the controller last saw
/// the heartbeat change, not the moment the grace period ran out: pods' `tolerationSeconds`
/// then count from when the node went silent, so the fog defaults (10 s grace, 30 s
/// toleration) replace a dead node's pods about 30 s after it died instead of 40 s. A node that
/// reports NotReady itself is tainted `now`.
pub fn plan_node(node: &Node, health: Health, now: Timestamp, silent_since: Timestamp) -> NodePlan {
    let ready = ready_condition(node).map(|c| c.status.as_str());
    let mark_unknown = health == Health::Unreachable && ready != Some("Unknown");
    let wanted_key = match health {
        Health::Unreachable => Some(UNREACHABLE),
        Health::Reachable if ready == Some("False") => Some(NOT_READY),
        Health::Reachable => None,
    };
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| {
            let ours = t.key == UNREACHABLE || t.key == NOT_READY;
            !ours || Some(t.key.as_str()) == wanted_key
        })
        .cloned()
        .collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !next.iter().any(|t| t.key == key && t.effect == effect) {
                next.push(Taint {
                    key: key.into(),
                    value: None,
                    effect: effect.into(),
                    time_added: (effect == "NoExecute").then_some(Time(if key == UNREACHABLE {
                        silent_since.min(now)
                    } else {
                        now
                    })),
                });
            }
        }
    }
    NodePlan {
        mark_unknown,
        taints: (next != current).then_some(next),
    }
}

/// The node's conditions once it has gone silent (Kubernetes `tryUpdateNodeHealth`): each one
/// that is not already Unknown becomes Unknown with reason `NodeStatusUnknown`; a node that never
/// posted a Ready condition gets one with reason `NodeStatusNeverUpdated`.
pub fn unknown_conditions(node: &Node, now: Timestamp) -> Vec<NodeCondition> {
    let mut conditions: Vec<NodeCondition> = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|mut c| {
            if c.status != "Unknown" {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
            }
            c
        })
        .collect();
    if !conditions.iter().any(|c| c.type_ == "Ready") {
        conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            reason: Some("NodeStatusNeverUpdated".into()),
            message: Some("Kubelet never posted node status.".into()),
            last_transition_time: Some(Time(now)),
            last_heartbeat_time: None,
        });
    }
    conditions
}

/// What becomes of a pod on a node with NoExecute taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It tolerates every NoExecute taint forever (or there is none).
    Stay,
    /// It must be deleted at this time (now or in the past: at once).
    At(Timestamp),
}

/// When a pod must be evicted from a node carrying `taints` (Kubernetes taint manager): for each
/// NoExecute taint, the shortest `tolerationSeconds` of the tolerations that match it, counted
/// from the taint's `timeAdded`; no limit if a matching toleration has none; `default_toleration`
/// when the taint is unreachable/not-ready and nothing matches (Kubernetes' admission adds 300 s,
/// the fog default is 30 s, DESIGN §8); at once for any other untolerated taint.
///
/// Tolerations never count from before `clock_start`: the controller's start, or the end of the
/// last full disruption (see [`Evictions`]), so a restart or a healed partition gives every pod
/// its whole toleration again instead of a burst of evictions.
pub fn eviction(
    pod: &Pod,
    taints: &[Taint],
    now: Timestamp,
    default_toleration: Duration,
    clock_start: Timestamp,
) -> Eviction {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let default = SignedDuration::try_from(default_toleration).unwrap_or(SignedDuration::MAX);
    let mut at: Option<Timestamp> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let since = taint
            .time_added
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(now)
            .max(clock_start);
        let matching: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let allowed = if matching.is_empty() {
            if taint.key == UNREACHABLE || taint.key == NOT_READY {
                Some(default)
            } else {
                Some(SignedDuration::ZERO)
            }
        } else if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            None
        } else {
            matching
                .iter()
                .filter_map(|t| t.toleration_seconds)
                .min()
                .map(|s| SignedDuration::from_secs(s.max(0)))
        };
        if let Some(allowed) = allowed {
            let deadline = since.checked_add(allowed).unwrap_or(Timestamp::MAX);
            at = Some(at.map_or(deadline, |a| a.min(deadline)));
        }
    }
    at.map_or(Eviction::Stay, Eviction::At)
}

/// Whether evictions may run, as an explicit state machine over the health of all nodes
/// (Kubernetes' zone states, simplified to one zone): when every node is unreachable at once the
/// fault is far more likely the server's own connectivity than every node, so evictions stop
/// until some node is heard from again, and tolerations restart from that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evictions {
    /// Some node is reachable: tolerations run from `since` (or from their taint, if later).
    Normal {
        /// The start of the controller or the end of the last full disruption.
        since: Timestamp,
    },
    /// No node is reachable: nothing is evicted.
    FullDisruption,
}

impl Evictions {
    /// The next state given the health of every node at `now`.
    pub fn step(self, healths: &[Health], now: Timestamp) -> Evictions {
        let all_down = !healths.is_empty() && healths.iter().all(|h| *h == Health::Unreachable);
        match (self, all_down) {
            (_, true) => Evictions::FullDisruption,
            (Evictions::FullDisruption, false) => Evictions::Normal { since: now },
            (normal, false) => normal,
        }
    }
}

/// The pods of an unreachable node whose Ready condition must turn False, so endpoints stop
/// sending them traffic before they are evicted (Kubernetes `nodeutil.MarkPodsNotReady`).
pub fn pods_to_mark_not_ready(pods: &[Pod]) -> Vec<&Pod> {
    pods.iter()
        .filter(|p| crate::pod::is_active(p) && crate::pod::is_ready(p))
        .collect()
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
