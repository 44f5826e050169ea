//! ReplicaMove (score): sends the replacement of a replica being moved to the node the
//! re-placement controller chose (DESIGN §8, "Following users"; the steps are in
//! `brume_api::placement`).
//!
//! The controller marks the pod it moves with `fog.brume.io/move-to: <node>` and adds a
//! replica. A pod's siblings are the pods in its namespace with exactly its labels — the pods of
//! one ReplicaSet, which share `pod-template-hash`. When a sibling is marked for a node that no
//! unmarked sibling occupies yet, that node scores 100 and every other node 0. The filters still
//! run first, so a target that does not fit is skipped and the resource and proximity scores
//! choose among the rest. The weight, 5, outweighs every other score together (at most 600
//! points), so a target that fits is taken.

use std::collections::BTreeSet;

use crate::framework::{CycleState, NodeInfo, PodInfo, ScorePlugin};

/// The score that carries out a replica move.
pub struct ReplicaMove;

const TARGETS_KEY: &str = "ReplicaMove/targets";

/// The weight in the default profile: more than all the other scores together.
pub const WEIGHT: i64 = 5;

/// The nodes this pod's replacement should go to: the `move-to` nodes of its marked siblings,
/// without those an unmarked sibling already occupies (that move has its replacement).
pub fn targets(pod: &PodInfo, all: &[NodeInfo]) -> BTreeSet<String> {
    let siblings = || {
        all.iter().flat_map(|node| {
            node.pods
                .iter()
                .filter(|p| {
                    p.namespace == pod.namespace
                        && p.name != pod.name
                        && !p.terminating
                        && p.labels == pod.labels
                })
                .map(move |p| (node.name.as_str(), p))
        })
    };
    let mut wanted: BTreeSet<String> = siblings().filter_map(|(_, p)| p.move_to.clone()).collect();
    for (node, p) in siblings() {
        if p.move_to.is_none() {
            wanted.remove(node);
        }
    }
    wanted
}

impl ScorePlugin for ReplicaMove {
    fn name(&self) -> &'static str {
        "ReplicaMove"
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        _feasible: &[&NodeInfo],
        all: &[NodeInfo],
        state: &mut CycleState,
    ) {
        if pod.labels.is_empty() {
            return;
        }
        let wanted = targets(pod, all);
        if !wanted.is_empty() {
            state.write(TARGETS_KEY, wanted);
        }
    }

    /// The targets: on a large cluster the search may stop before reaching them.
    fn must_examine(&self, pod: &PodInfo, all: &[NodeInfo], _: &CycleState) -> Vec<usize> {
        if pod.labels.is_empty() {
            return Vec::new();
        }
        let wanted = targets(pod, all);
        all.iter()
            .enumerate()
            .filter(|(_, n)| wanted.contains(&n.name))
            .map(|(i, _)| i)
            .collect()
    }

    fn score(&self, _: &PodInfo, node: &NodeInfo, _: &[NodeInfo], state: &CycleState) -> i64 {
        let wanted = state.read::<BTreeSet<String>>(TARGETS_KEY);
        if wanted.is_some_and(|w| w.contains(&node.name)) {
            100
        } else {
            0
        }
    }

    fn weight(&self) -> i64 {
        WEIGHT
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::framework::schedule;
    use crate::plugins::default_profile;
    use crate::plugins::testing::{node, pod};

    fn web(name: &str, move_to: Option<&str>) -> PodInfo {
        let mut p = pod(name, 100, 0);
        p.labels.insert("app".into(), "web".into());
        p.labels.insert("pod-template-hash".into(), "abc".into());
        p.move_to = move_to.map(String::from);
        p
    }

    fn with(mut n: NodeInfo, p: PodInfo) -> NodeInfo {
        n.add_pod(Arc::new(p));
        n
    }

    #[test]
    fn the_replacement_goes_to_the_marked_node_even_when_it_is_busier() {
        let mut busy = node("far-from-a");
        busy.add_pod(Arc::new(pod("filler", 3000, 0)));
        let nodes = vec![
            with(node("a"), web("web-1", Some("far-from-a"))),
            busy,
            node("empty"),
        ];
        let replacement = web("web-2", None);
        assert_eq!(
            targets(&replacement, &nodes),
            BTreeSet::from(["far-from-a".to_string()])
        );
        assert_eq!(
            schedule(&default_profile(), &replacement, &nodes).unwrap(),
            "far-from-a"
        );
    }

    #[test]
    fn no_mark_no_preference_and_a_done_move_is_not_repeated() {
        let nodes = vec![with(node("a"), web("web-1", None)), node("b")];
        assert!(targets(&web("web-2", None), &nodes).is_empty());
        // The replacement already runs on b: a further pod is not sent there.
        let nodes = vec![
            with(node("a"), web("web-1", Some("b"))),
            with(node("b"), web("web-2", None)),
            node("c"),
        ];
        assert!(targets(&web("web-3", None), &nodes).is_empty());
    }

    #[test]
    fn only_siblings_count() {
        let mut other = web("api-1", Some("b"));
        other.labels.insert("app".into(), "api".into());
        let mut elsewhere = web("web-9", Some("b"));
        elsewhere.namespace = "prod".into();
        let nodes = vec![with(with(node("a"), other), elsewhere), node("b")];
        assert!(targets(&web("web-2", None), &nodes).is_empty());
    }

    #[test]
    fn a_target_that_does_not_fit_is_skipped() {
        let mut full = node("b");
        full.add_pod(Arc::new(pod("filler", 3950, 0)));
        let nodes = vec![with(node("a"), web("web-1", Some("b"))), full, node("c")];
        assert_eq!(
            schedule(&default_profile(), &web("web-2", None), &nodes).unwrap(),
            "c"
        );
    }

    #[test]
    fn the_target_is_scored_even_when_the_search_stops_before_it() {
        use crate::framework::{CycleState, Search, feasible_nodes_to_find, select};
        // 300 nodes: kube-scheduler's adaptive search stops after 148 feasible ones, from the
        // start; the target is the last node.
        let mut nodes: Vec<NodeInfo> = (0..300).map(|i| node(&format!("n{i:03}"))).collect();
        nodes[0].add_pod(Arc::new(web("web-1", Some("n299"))));
        let search = Search {
            start: 0,
            feasible_wanted: feasible_nodes_to_find(300, 0),
        };
        assert!(search.feasible_wanted < 299);
        let placed = select(
            &default_profile(),
            &web("web-2", None),
            &nodes,
            search,
            CycleState::default(),
        )
        .unwrap();
        assert_eq!(nodes[placed.node].name, "n299");
        assert_eq!(
            placed.next_start, search.feasible_wanted,
            "the rotation is unchanged"
        );
    }
}
