//! The DaemonSet decision: one pod per eligible node, rolled to a new template within
//! `maxUnavailable`, and the status counts (Kubernetes `pkg/controller/daemon`).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, Toleration};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use crate::deployment::hash::template_hash;
use crate::intstr::scaled;
use crate::pod::{controller_of, is_active, is_available, is_ready};
use crate::taints::{NOT_READY, UNREACHABLE, UNSCHEDULABLE, tolerates_all};

/// The label carrying the template hash on a DaemonSet's pods (Kubernetes puts the
/// ControllerRevision's hash there; here it is the template's hash).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// What one DaemonSet reconcile must do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Nodes that need a pod.
    pub create_on: Vec<String>,
    /// Pods to delete: surplus copies, pods on ineligible or vanished nodes, and the old pods the
    /// rolling update replaces now.
    pub delete: Vec<String>,
    /// The status to write.
    pub status: DaemonSetStatus,
    /// The template hash new pods carry.
    pub hash: String,
}

/// The tolerations Kubernetes adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`), so
/// daemons stay on unreachable, not-ready, pressured and cordoned nodes.
pub fn daemon_tolerations() -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        value: None,
        toleration_seconds: None,
    };
    vec![
        t(NOT_READY, "NoExecute"),
        t(UNREACHABLE, "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t(UNSCHEDULABLE, "NoSchedule"),
    ]
}

/// Whether a daemon pod of `ds` should run on `node`: its nodeSelector and required node
/// affinity match, and its tolerations (with the daemon defaults) cover the node's NoSchedule
/// and NoExecute taints.
pub fn eligible(ds: &DaemonSet, node: &Node) -> bool {
    let spec = ds.spec.template.spec.as_ref();
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let selector_ok = spec
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let mut tolerations = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    tolerations.extend(daemon_tolerations());
    let node_taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let affinity_ok = spec.is_none_or(|s| crate::node_affinity::required_matches(s, node));
    selector_ok
        && affinity_ok
        && tolerates_all(&tolerations, &node_taints, &["NoSchedule", "NoExecute"])
}

/// Decides what to do for `ds` given the nodes, the pods of its namespace, the nodes where a
/// creation is still unobserved, and the time.
pub fn decide(
    ds: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    pending: &HashSet<String>,
    now: Timestamp,
) -> Plan {
    let uid = ds.metadata.uid.as_deref().unwrap_or_default();
    let hash = template_hash(&ds.spec.template);
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_active(p)) {
        if controller_of(&p.metadata).is_some_and(|r| r.uid == uid) {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            by_node.entry(node).or_default().push(p);
        }
    }
    let mut plan = Plan {
        hash: hash.clone(),
        ..Default::default()
    };
    let deleting = ds.metadata.deletion_timestamp.is_some();
    let current = |p: &Pod| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REVISION_LABEL))
            == Some(&hash)
    };
    let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();

    let eligible_nodes: Vec<&Node> = nodes.iter().filter(|n| eligible(ds, n)).collect();
    let mut status = DaemonSetStatus {
        desired_number_scheduled: count(eligible_nodes.len()),
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let mut unavailable_nodes = 0;
    let mut old_available: Vec<&Pod> = Vec::new();
    for node in &eligible_nodes {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let mut here: Vec<&Pod> = by_node.remove(&node_name).unwrap_or_default();
        if here.is_empty() {
            if !pending.contains(&node_name) {
                plan.create_on.push(node_name);
            }
            unavailable_nodes += 1;
            continue;
        }
        // Keep one: a current one if any, else the oldest.
        here.sort_by(|a, b| {
            current(b).cmp(&current(a)).then(
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0)),
            )
        });
        let keep = here[0];
        plan.delete.extend(here[1..].iter().map(|p| name(p)));
        status.current_number_scheduled += 1;
        let available = is_available(keep, min_ready, now);
        if is_ready(keep) {
            status.number_ready += 1;
        }
        if available {
            status.number_available = Some(status.number_available.unwrap_or(0) + 1);
        } else {
            unavailable_nodes += 1;
        }
        if current(keep) {
            status.updated_number_scheduled =
                Some(status.updated_number_scheduled.unwrap_or(0) + 1);
        } else if !available {
            // An old pod that is not available anyway costs nothing to replace.
            plan.delete.push(name(keep));
        } else {
            old_available.push(keep);
        }
    }
    // Pods left are on nodes that are ineligible or gone.
    for pods_here in by_node.values() {
        status.number_misscheduled += 1;
        plan.delete.extend(pods_here.iter().map(|p| name(p)));
    }
    status.number_unavailable = Some(unavailable_nodes);
    status.number_available.get_or_insert(0);
    status.updated_number_scheduled.get_or_insert(0);

    let rolling = ds
        .spec
        .update_strategy
        .as_ref()
        .is_none_or(|s| s.type_.as_deref() != Some("OnDelete"));
    if rolling {
        let one = IntOrString::Int(1);
        let max_unavailable = ds
            .spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&one);
        // DaemonSets round the percentage up (Kubernetes `unavailableCount`).
        let budget = scaled(max_unavailable, status.desired_number_scheduled, true)
            .unwrap_or(1)
            .max(1)
            - unavailable_nodes;
        let budget = usize::try_from(budget.max(0)).unwrap_or(0);
        plan.delete
            .extend(old_available.iter().take(budget).map(|p| name(p)));
    }
    if deleting {
        plan.create_on.clear();
        plan.delete.clear();
    }
    plan.status = status;
    plan
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
