//! PodTopologySpread: spreads matching pods over the values (domains) of a node label.
//! `whenUnsatisfiable: DoNotSchedule` constraints filter: placing the pod must not make its
//! domain exceed the least loaded one by more than `maxSkew`. `ScheduleAnyway` constraints
//! score: fewer matching pods in the node's domains is better (kube-scheduler's
//! `PodTopologySpread`, with `nodeAffinityPolicy: Honor` and no `minDomains`).
//!
//! Counting the matching pods needs the whole cluster, so it is done once per pod in
//! `pre_filter` / `pre_score` and kept in the cycle state.

use std::collections::HashMap;

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo, ScorePlugin};
use crate::pod_info::SpreadConstraint;

/// The topology spread filter and score.
pub struct PodTopologySpread;

/// Kubernetes' reason when placing the pod would exceed `maxSkew`.
pub const REASON_SKEW: &str = "node(s) didn't match pod topology spread constraints";
/// Kubernetes' reason when the node lacks the topology label.
pub const REASON_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const FILTER_KEY: &str = "PodTopologySpread/filter";
const SCORE_KEY: &str = "PodTopologySpread/score";

/// Matching pods per domain for one constraint, over the nodes the pod may select.
struct DomainCounts {
    counts: HashMap<String, i64>,
    min: i64,
}

impl DomainCounts {
    fn count(pod: &PodInfo, c: &SpreadConstraint, all: &[NodeInfo]) -> DomainCounts {
        let mut counts: HashMap<String, i64> = HashMap::new();
        for node in all {
            let Some(domain) = node.labels.get(&c.topology_key) else {
                continue;
            };
            if !pod.matches_node_selection(node) {
                continue;
            }
            let n = node
                .pods
                .iter()
                .filter(|p| p.namespace == pod.namespace && c.counts(&p.labels))
                .count() as i64;
            *counts.entry(domain.clone()).or_default() += n;
        }
        let min = counts.values().copied().min().unwrap_or(0);
        DomainCounts { counts, min }
    }

    fn of(&self, node: &NodeInfo, key: &str) -> Option<i64> {
        node.labels
            .get(key)
            .map(|d| self.counts.get(d).copied().unwrap_or(0))
    }
}

struct Scores {
    constraints: Vec<(usize, DomainCounts)>,
    min: i64,
    max: i64,
}

impl PodTopologySpread {
    fn raw(pod: &PodInfo, node: &NodeInfo, constraints: &[(usize, DomainCounts)]) -> Option<i64> {
        constraints.iter().try_fold(0, |sum, (i, counts)| {
            counts
                .of(node, &pod.spread[*i].topology_key)
                .map(|n| sum + n)
        })
    }
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn pre_filter(&self, pod: &PodInfo, all: &[NodeInfo], state: &mut CycleState) {
        if pod.spread.iter().any(|c| c.hard) {
            let counts: Vec<Option<DomainCounts>> = pod
                .spread
                .iter()
                .map(|c| c.hard.then(|| DomainCounts::count(pod, c, all)))
                .collect();
            state.write(FILTER_KEY, counts);
        }
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> Result<(), String> {
        let Some(all) = state.read::<Vec<Option<DomainCounts>>>(FILTER_KEY) else {
            return Ok(());
        };
        for (c, counts) in pod.spread.iter().zip(all) {
            let Some(counts) = counts else { continue };
            let Some(here) = counts.of(node, &c.topology_key) else {
                return Err(REASON_LABEL.into());
            };
            let self_match = i64::from(c.counts(&pod.labels));
            if here + self_match - counts.min > c.max_skew {
                return Err(REASON_SKEW.into());
            }
        }
        Ok(())
    }
}

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        feasible: &[&NodeInfo],
        all: &[NodeInfo],
        state: &mut CycleState,
    ) {
        let constraints: Vec<(usize, DomainCounts)> = pod
            .spread
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.hard)
            .map(|(i, c)| (i, DomainCounts::count(pod, c, all)))
            .collect();
        if constraints.is_empty() {
            return;
        }
        let raws = feasible
            .iter()
            .filter_map(|n| Self::raw(pod, n, &constraints));
        let (min, max) = raws.fold((i64::MAX, 0), |(lo, hi), r| (lo.min(r), hi.max(r)));
        state.write(
            SCORE_KEY,
            Scores {
                constraints,
                min,
                max,
            },
        );
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &[NodeInfo], state: &CycleState) -> i64 {
        let Some(s) = state.read::<Scores>(SCORE_KEY) else {
            return 0;
        };
        match Self::raw(pod, node, &s.constraints) {
            // A node missing a topology label gets the lowest score, as in Kubernetes.
            None => 0,
            Some(_) if s.max == 0 => 100,
            Some(raw) => 100 * (s.max + s.min - raw) / s.max,
        }
    }

    fn weight(&self) -> i64 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{labelled, node, pod, run_filter};
    use crate::selector::{PodSelector, Requirement};
    use std::sync::Arc;

    fn web(name: &str) -> PodInfo {
        let mut p = pod(name, 0, 0);
        p.labels.insert("app".into(), "web".into());
        p
    }

    fn constrained(hard: bool) -> PodInfo {
        let mut p = web("new");
        p.spread = vec![SpreadConstraint {
            max_skew: 1,
            topology_key: "zone".into(),
            hard,
            selector: Some(PodSelector {
                requirements: vec![Requirement::new("app", "In", &["web"])],
            }),
        }];
        p
    }

    /// Zone a holds two web pods, zone b none; node c has no zone label.
    fn cluster() -> Vec<NodeInfo> {
        let mut a = labelled(node("a"), "zone", "a");
        a.add_pod(Arc::new(web("w1")));
        a.add_pod(Arc::new(web("w2")));
        let mut other = web("elsewhere");
        other.namespace = "other".into();
        let mut b = labelled(node("b"), "zone", "b");
        b.add_pod(Arc::new(other));
        vec![a, b, node("c")]
    }

    #[test]
    fn do_not_schedule_refuses_the_crowded_domain_and_unlabelled_nodes() {
        let all = cluster();
        let p = constrained(true);
        let f = &PodTopologySpread as &dyn FilterPlugin;
        assert_eq!(run_filter(f, &p, &all[0], &all), Err(REASON_SKEW.into()));
        assert_eq!(run_filter(f, &p, &all[1], &all), Ok(()));
        assert_eq!(run_filter(f, &p, &all[2], &all), Err(REASON_LABEL.into()));
        // A pod without constraints is not affected.
        assert_eq!(run_filter(f, &web("free"), &all[0], &all), Ok(()));
    }

    #[test]
    fn schedule_anyway_prefers_the_emptier_domain() {
        let all = cluster();
        let p = constrained(false);
        let feasible: Vec<&NodeInfo> = all.iter().collect();
        let mut state = CycleState::default();
        let s = &PodTopologySpread as &dyn ScorePlugin;
        s.pre_score(&p, &feasible, &all, &mut state);
        assert_eq!(s.score(&p, &all[0], &all, &state), 0);
        assert_eq!(s.score(&p, &all[1], &all, &state), 100);
        assert_eq!(s.score(&p, &all[2], &all, &state), 0);
    }
}
