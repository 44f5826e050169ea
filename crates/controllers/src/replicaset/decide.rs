//! The ReplicaSet decision: which pods to adopt, release, create and delete, and the status to
//! write, from the ReplicaSet and the pods of its namespace (Kubernetes
//! `pkg/controller/replicaset/replica_set.go`, `manageReplicas` and `calculateStatus`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::expectations::Unobserved;
use crate::pod::{self, controller_of, is_active, is_available, is_ready, selector_matches};

/// At most this many pods are created or deleted per reconcile (Kubernetes `BurstReplicas`).
pub const BURST: usize = 500;

/// What one ReplicaSet reconcile must do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Orphan pods matching the selector, to take ownership of.
    pub adopt: Vec<String>,
    /// Owned pods that no longer match the selector, to let go.
    pub release: Vec<String>,
    /// How many pods to create from the template.
    pub create: usize,
    /// Pods to delete, in order of preference.
    pub delete: Vec<String>,
    /// The status to write (observed counts; written only when it changed).
    pub status: ReplicaSetStatus,
    /// When to look again because a Ready pod will become available (`minReadySeconds`).
    pub requeue_after: Option<Duration>,
}

/// Decides what to do for `rs` given every pod of its namespace, what this controller did that
/// the list may not show yet, and the time.
pub fn decide(rs: &ReplicaSet, pods: &[Pod], unobserved: &Unobserved, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let spec = &rs.spec;
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let mut owned: Vec<&Pod> = Vec::new();
    for p in pods {
        let matches = selector_matches(&spec.selector, p.metadata.labels.as_ref());
        match controller_of(&p.metadata) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(p);
                } else if !deleting {
                    plan.release.push(name(p));
                }
            }
            Some(_) => {}
            None => {
                if matches && !deleting && is_active(p) {
                    plan.adopt.push(name(p));
                    owned.push(p);
                }
            }
        }
    }
    let active: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| is_active(p) && !unobserved.deleted.contains(&name(p)))
        .collect();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    // Pods on their way out (Kubernetes `status.terminatingReplicas`): Recreate waits for them.
    let terminating = owned
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter(|p| !matches!(pod::phase(p), Some("Succeeded" | "Failed")))
        .count();
    plan.status = status(rs, &active, min_ready, now);
    plan.status.terminating_replicas = Some(i32::try_from(terminating).unwrap_or(i32::MAX));
    plan.requeue_after = active
        .iter()
        .filter_map(|p| pod::available_in(p, min_ready, now))
        .min()
        .map(|d| d.unsigned_abs() + Duration::from_millis(100));
    if deleting {
        plan.adopt.clear();
        return plan;
    }
    let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
    let have = active.len() + unobserved.created.len();
    match have.cmp(&want) {
        Ordering::Less => plan.create = (want - have).min(BURST),
        Ordering::Greater => {
            let mut ranked = active.clone();
            ranked.sort_by(|a, b| deletion_order(a, b, now));
            // Unobserved creations are counted but cannot be chosen; delete real pods only.
            let surplus = (have - want).min(ranked.len()).min(BURST);
            plan.delete = ranked.into_iter().take(surplus).map(name).collect();
        }
        Ordering::Equal => {}
    }
    plan
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// The observed status: counts over the active pods the ReplicaSet owns.
fn status(rs: &ReplicaSet, active: &[&Pod], min_ready: i32, now: Timestamp) -> ReplicaSetStatus {
    let template_labels: BTreeMap<String, String> = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            template_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    ReplicaSetStatus {
        replicas: count(active.len()),
        fully_labeled_replicas: Some(count(fully_labeled)),
        ready_replicas: Some(count(active.iter().filter(|p| is_ready(p)).count())),
        available_replicas: Some(count(
            active
                .iter()
                .filter(|p| is_available(p, min_ready, now))
                .count(),
        )),
        observed_generation: rs.metadata.generation,
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    }
}

/// Which of two pods to delete first (Kubernetes `controller.ActivePods` ordering): unscheduled
/// before scheduled, Pending before Unknown before Running, not ready before ready, lower
/// `controller.kubernetes.io/pod-deletion-cost` before higher (absent or unreadable is 0), ready
/// for less time before longer, more restarts before fewer, newer before older.
pub fn deletion_order(a: &Pod, b: &Pod, now: Timestamp) -> Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match pod::phase(p) {
        Some("Pending") | None => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let ready_since = |p: &Pod| pod::ready_since(p).map(|t| t.unwrap_or(now));
    let restarts = |p: &Pod| -> i32 {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0)
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let cost = |p: &Pod| -> i32 {
        p.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(brume_api::placement::POD_DELETION_COST))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    };
    scheduled(a)
        .cmp(&scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(ready_since(a).is_some().cmp(&ready_since(b).is_some()))
        .then(cost(a).cmp(&cost(b)))
        // Ready more recently (a later time) goes first.
        .then(ready_since(b).cmp(&ready_since(a)))
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::fixtures::{owned, pod, ready};
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

    fn rs(replicas: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..Default::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    ..Default::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("app".to_string(), "web".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: None,
                }),
                min_ready_seconds: None,
            },
            status: None,
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1000).unwrap()
    }

    const WEB: &[(&str, &str)] = &[("app", "web")];

    #[test]
    fn creates_the_missing_pods() {
        let pods = vec![owned(pod("a", 1, WEB), "rs-uid")];
        let plan = decide(&rs(3), &pods, &Unobserved::default(), now());
        assert_eq!(plan.create, 2);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.status.replicas, 1);
        assert_eq!(plan.status.observed_generation, Some(3));
    }

    #[test]
    fn unobserved_creations_prevent_duplicates() {
        let unobserved = Unobserved {
            created: ["x".to_string(), "y".to_string()].into(),
            ..Default::default()
        };
        let plan = decide(&rs(2), &[], &unobserved, now());
        assert_eq!(plan.create, 0);
    }

    #[test]
    fn deletes_unscheduled_then_not_ready_then_newest() {
        let pods = vec![
            owned(ready(pod("old-ready", 1, WEB), 10, "n1"), "rs-uid"),
            owned(ready(pod("new-ready", 5, WEB), 20, "n1"), "rs-uid"),
            owned(pod("pending", 3, WEB), "rs-uid"),
        ];
        let plan = decide(&rs(1), &pods, &Unobserved::default(), now());
        assert_eq!(plan.delete, vec!["pending", "new-ready"]);
        let plan = decide(&rs(2), &pods, &Unobserved::default(), now());
        assert_eq!(plan.delete, vec!["pending"]);
    }

    #[test]
    fn a_lower_deletion_cost_goes_first_among_ready_pods() {
        let mut far = owned(ready(pod("far", 1, WEB), 10, "n1"), "rs-uid");
        far.metadata.annotations = Some(
            [(
                brume_api::placement::POD_DELETION_COST.to_string(),
                "-100".to_string(),
            )]
            .into(),
        );
        let near = owned(ready(pod("near", 5, WEB), 20, "n2"), "rs-uid");
        let mut junk = owned(ready(pod("junk", 6, WEB), 20, "n3"), "rs-uid");
        junk.metadata.annotations = Some(
            [(
                brume_api::placement::POD_DELETION_COST.to_string(),
                "lots".to_string(),
            )]
            .into(),
        );
        // Without the cost the newest ready pod would go; with it the far one does, and an
        // unreadable cost counts as 0.
        let plan = decide(
            &rs(2),
            &[near.clone(), far.clone(), junk.clone()],
            &Unobserved::default(),
            now(),
        );
        assert_eq!(plan.delete, vec!["far"]);
        // Readiness still comes first: a pod not ready yet goes before a cheap ready one.
        let pending = owned(pod("pending", 7, WEB), "rs-uid");
        let plan = decide(&rs(2), &[near, far, pending], &Unobserved::default(), now());
        assert_eq!(plan.delete, vec!["pending"]);
    }

    #[test]
    fn terminating_and_finished_pods_are_replaced() {
        let mut gone = owned(ready(pod("gone", 1, WEB), 10, "n1"), "rs-uid");
        gone.metadata.deletion_timestamp = Some(Time(now()));
        let mut done = owned(ready(pod("done", 1, WEB), 10, "n1"), "rs-uid");
        done.status.as_mut().unwrap().phase = Some("Failed".into());
        let plan = decide(&rs(2), &[gone, done], &Unobserved::default(), now());
        assert_eq!(plan.create, 2);
        assert_eq!(plan.status.replicas, 0);
        assert_eq!(plan.status.terminating_replicas, Some(1));
    }

    #[test]
    fn adopts_orphans_and_releases_strays() {
        let pods = vec![
            pod("orphan", 1, WEB),
            owned(pod("stray", 1, &[("app", "db")]), "rs-uid"),
            owned(pod("theirs", 1, WEB), "other-uid"),
        ];
        let plan = decide(&rs(1), &pods, &Unobserved::default(), now());
        assert_eq!(plan.adopt, vec!["orphan"]);
        assert_eq!(plan.release, vec!["stray"]);
        assert_eq!(plan.create, 0);
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn status_counts_ready_and_available_with_min_ready_seconds() {
        let mut set = rs(3);
        set.spec.min_ready_seconds = Some(30);
        let pods = vec![
            owned(ready(pod("a", 1, WEB), 900, "n1"), "rs-uid"),
            owned(ready(pod("b", 1, WEB), 990, "n1"), "rs-uid"),
            owned(pod("c", 1, &[("app", "web"), ("extra", "1")]), "rs-uid"),
        ];
        let plan = decide(&set, &pods, &Unobserved::default(), now());
        assert_eq!(plan.status.replicas, 3);
        assert_eq!(plan.status.fully_labeled_replicas, Some(3));
        assert_eq!(plan.status.ready_replicas, Some(2));
        assert_eq!(plan.status.available_replicas, Some(1));
        // b becomes available 20 s from now.
        let wait = plan.requeue_after.unwrap();
        assert!(wait >= Duration::from_secs(20) && wait < Duration::from_secs(21));
    }
}
