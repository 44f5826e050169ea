//! The scheduling framework: filter and score plugins, a profile that lists them, and
//! [`schedule`], the pure function that picks a node for a pod (or says, with counted reasons,
//! why none fits). Modelled on kube-scheduler's framework (pkg/scheduler/framework).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

pub use crate::node_info::NodeInfo;
pub use crate::pod_info::{PodInfo, Resources};

/// Per-pod scratch space: what a plugin computed once in `pre_filter` or `pre_score` (from the
/// whole cluster) and reads back for each node. The shell may also seed it with facts that are
/// not on the nodes, such as the demand of the pod's Services that
/// [`ProximityPlacement`](crate::plugins::ProximityPlacement) reads.
#[derive(Default)]
pub struct CycleState {
    slots: Vec<(&'static str, Box<dyn Any>)>,
}

impl CycleState {
    /// Stores a value under a key (conventionally the plugin's name), replacing any before it.
    pub fn write<T: Any>(&mut self, key: &'static str, value: T) {
        self.slots.retain(|(k, _)| *k != key);
        self.slots.push((key, Box::new(value)));
    }

    /// The value stored under the key, if it has this type.
    pub fn read<T: Any>(&self, key: &'static str) -> Option<&T> {
        self.slots
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.downcast_ref())
    }
}

/// A plugin that rules nodes out for a pod.
pub trait FilterPlugin: Send + Sync {
    /// The plugin's name, as in logs and profiles.
    fn name(&self) -> &'static str;

    /// Runs once per pod before any `filter` call, for plugins that need facts about the whole
    /// cluster (topology spread counts). Most plugins need nothing.
    fn pre_filter(&self, _pod: &PodInfo, _all: &[NodeInfo], _state: &mut CycleState) {}

    /// Whether the pod may go on the node; the error is the reason Kubernetes prints and counts
    /// ("Insufficient cpu").
    fn filter(&self, pod: &PodInfo, node: &NodeInfo, state: &CycleState) -> Result<(), String>;
}

/// A plugin that ranks the nodes that passed every filter.
pub trait ScorePlugin: Send + Sync {
    /// The plugin's name, as in logs and profiles.
    fn name(&self) -> &'static str;

    /// Runs once per pod before any `score` call, with the nodes that passed the filters.
    fn pre_score(
        &self,
        _pod: &PodInfo,
        _feasible: &[&NodeInfo],
        _all: &[NodeInfo],
        _state: &mut CycleState,
    ) {
    }

    /// The nodes this plugin wants scored for the pod even when the search would stop before
    /// reaching them (as kube-scheduler evaluates a pod's nominated node first): their indices
    /// in `all`. They still pass the filters first. `state` holds what the shell seeded for
    /// the cycle.
    fn must_examine(&self, _pod: &PodInfo, _all: &[NodeInfo], _state: &CycleState) -> Vec<usize> {
        Vec::new()
    }

    /// The node's score for the pod, from 0 (worst) to 100 (best).
    fn score(&self, pod: &PodInfo, node: &NodeInfo, all: &[NodeInfo], state: &CycleState) -> i64;

    /// How much this plugin's score counts against the others'.
    fn weight(&self) -> i64;
}

/// The plugins a scheduler runs, in order: every filter, then every score.
#[derive(Default)]
pub struct Profile {
    /// Filters, cheapest and most selective first: the first one that fails gives the reason.
    pub filters: Vec<Box<dyn FilterPlugin>>,
    /// Scores, summed with their weights.
    pub scores: Vec<Box<dyn ScorePlugin>>,
}

/// Why no node fits a pod: how many nodes failed for each reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unschedulable {
    /// Reason → number of nodes that gave it (each node gives the first failing filter's).
    pub reasons: BTreeMap<String, usize>,
    /// The number of nodes considered.
    pub total: usize,
}

impl fmt::Display for Unschedulable {
    /// Kubernetes' `FitError.Error()`: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s)
    /// were unschedulable.` The "count reason" strings are sorted as strings, as Go's
    /// `sort.Strings` sorts them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total == 0 {
            // Kubernetes' ErrNoNodesAvailable.
            return f.write_str("no nodes available to schedule pods");
        }
        let mut parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        parts.sort();
        write!(f, "0/{} nodes are available:", self.total)?;
        if !parts.is_empty() {
            write!(f, " {}", parts.join(", "))?;
        }
        f.write_str(".")
    }
}

impl std::error::Error for Unschedulable {}

/// Where a search over the nodes starts and when it stops: kube-scheduler examines nodes from a
/// rotating start and stops once it has found enough feasible ones
/// (`percentageOfNodesToScore`), which keeps a pod's cost bounded on large clusters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Search {
    /// The index of the first node examined.
    pub start: usize,
    /// Stop filtering after this many feasible nodes.
    pub feasible_wanted: usize,
}

impl Search {
    /// Examines every node, from the first.
    pub fn exhaustive() -> Search {
        Search {
            start: 0,
            feasible_wanted: usize::MAX,
        }
    }
}

/// How many feasible nodes kube-scheduler looks for before scoring
/// (`numFeasibleNodesToFind`, pkg/scheduler/schedule_one.go): all of them below 100 nodes;
/// otherwise `percentage`% of them, adaptive (50% minus 1% per 125 nodes, at least 5%) when
/// `percentage` is 0, and never fewer than 100.
pub fn feasible_nodes_to_find(total: usize, percentage: u32) -> usize {
    const MIN_FEASIBLE: usize = 100;
    if total < MIN_FEASIBLE || percentage >= 100 {
        return total;
    }
    let pct = if percentage == 0 {
        (50 - (total / 125) as i64).max(5) as usize
    } else {
        percentage as usize
    };
    (total * pct / 100).max(MIN_FEASIBLE)
}

/// The outcome of a search that found a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The chosen node's index in the node slice.
    pub node: usize,
    /// Where the next search should start, so successive pods look at different nodes.
    pub next_start: usize,
}

/// Picks the node for a pod, examining every node: runs the filters on each, scores the
/// feasible ones and returns the best one's name. Equal totals go to the node whose name sorts
/// first, so the result is deterministic.
pub fn schedule(
    profile: &Profile,
    pod: &PodInfo,
    nodes: &[NodeInfo],
) -> Result<String, Unschedulable> {
    schedule_with(profile, pod, nodes, CycleState::default())
}

/// Like [`schedule`], with a cycle state seeded by the caller (see [`CycleState`]).
pub fn schedule_with(
    profile: &Profile,
    pod: &PodInfo,
    nodes: &[NodeInfo],
    state: CycleState,
) -> Result<String, Unschedulable> {
    select(profile, pod, nodes, Search::exhaustive(), state).map(|p| nodes[p.node].name.clone())
}

/// Like [`schedule_with`], but examines nodes from `search.start` (wrapping) and stops
/// filtering once `search.feasible_wanted` nodes have passed; it returns the chosen index. The
/// nodes a score plugin must examine ([`ScorePlugin::must_examine`]) are filtered too when the
/// search stopped before them. When no node fits, every node has been examined and each one's
/// first failing reason is counted.
pub fn select(
    profile: &Profile,
    pod: &PodInfo,
    nodes: &[NodeInfo],
    search: Search,
    mut state: CycleState,
) -> Result<Placement, Unschedulable> {
    let total = nodes.len();
    if total == 0 {
        return Err(Unschedulable::default());
    }
    for f in &profile.filters {
        f.pre_filter(pod, nodes, &mut state);
    }
    let wanted = search.feasible_wanted.max(1);
    let start = search.start % total;
    let mut feasible: Vec<usize> = Vec::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut examined = 0;
    for k in 0..total {
        let i = (start + k) % total;
        examined = k + 1;
        let node = &nodes[i];
        match profile
            .filters
            .iter()
            .try_for_each(|f| f.filter(pod, node, &state))
        {
            Ok(()) => {
                feasible.push(i);
                if feasible.len() >= wanted {
                    break;
                }
            }
            Err(reason) => *reasons.entry(reason).or_default() += 1,
        }
    }
    let next_start = (start + examined) % total;
    if examined < total {
        let mut wanted_too: Vec<usize> = profile
            .scores
            .iter()
            .flat_map(|s| s.must_examine(pod, nodes, &state))
            .filter(|&i| i < total && (i + total - start) % total >= examined)
            .collect();
        wanted_too.sort_unstable();
        wanted_too.dedup();
        for i in wanted_too {
            if profile
                .filters
                .iter()
                .all(|f| f.filter(pod, &nodes[i], &state).is_ok())
            {
                feasible.push(i);
            }
        }
    }
    let best = match feasible.as_slice() {
        [] => return Err(Unschedulable { reasons, total }),
        [only] => *only,
        _ => best_scored(profile, pod, nodes, &feasible, &mut state),
    };
    Ok(Placement {
        node: best,
        next_start,
    })
}

fn best_scored(
    profile: &Profile,
    pod: &PodInfo,
    nodes: &[NodeInfo],
    feasible: &[usize],
    state: &mut CycleState,
) -> usize {
    let refs: Vec<&NodeInfo> = feasible.iter().map(|&i| &nodes[i]).collect();
    for s in &profile.scores {
        s.pre_score(pod, &refs, nodes, state);
    }
    let mut best: Option<(i64, usize)> = None;
    for &i in feasible {
        let node = &nodes[i];
        let total: i64 = profile
            .scores
            .iter()
            .map(|s| s.weight() * s.score(pod, node, nodes, state).clamp(0, 100))
            .sum();
        let better = match best {
            None => true,
            Some((b, j)) => total > b || (total == b && node.name < nodes[j].name),
        };
        if better {
            best = Some((total, i));
        }
    }
    best.map(|(_, i)| i).unwrap_or(feasible[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);
    impl FilterPlugin for Named {
        fn name(&self) -> &'static str {
            "Named"
        }
        fn filter(&self, _: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
            if node.name.starts_with(self.0) {
                Ok(())
            } else {
                Err(format!("node(s) not named {}*", self.0))
            }
        }
    }

    struct ByLabel;
    impl ScorePlugin for ByLabel {
        fn name(&self) -> &'static str {
            "ByLabel"
        }
        fn score(&self, _: &PodInfo, node: &NodeInfo, _: &[NodeInfo], _: &CycleState) -> i64 {
            node.labels
                .get("score")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        }
        fn weight(&self) -> i64 {
            1
        }
    }

    fn node(name: &str, score: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            labels: [("score".to_string(), score.to_string())].into(),
            ..NodeInfo::default()
        }
    }

    #[test]
    fn the_message_counts_reasons_sorted_like_kubernetes() {
        let u = Unschedulable {
            reasons: [
                ("Insufficient cpu".to_string(), 3),
                (
                    "node(s) didn't match Pod's node affinity/selector".to_string(),
                    2,
                ),
            ]
            .into(),
            total: 5,
        };
        assert_eq!(
            u.to_string(),
            "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, \
             3 Insufficient cpu."
        );
        assert_eq!(
            Unschedulable::default().to_string(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn the_best_score_wins_and_ties_go_to_the_first_name() {
        let profile = Profile {
            filters: vec![Box::new(Named("a"))],
            scores: vec![Box::new(ByLabel)],
        };
        let nodes = vec![
            node("b1", "90"),
            node("a2", "50"),
            node("a1", "50"),
            node("a3", "10"),
        ];
        assert_eq!(
            schedule(&profile, &PodInfo::default(), &nodes).unwrap(),
            "a1"
        );
        let nodes = vec![node("b1", "90"), node("a2", "50"), node("a3", "70")];
        assert_eq!(
            schedule(&profile, &PodInfo::default(), &nodes).unwrap(),
            "a3"
        );
    }

    #[test]
    fn no_feasible_node_counts_every_node() {
        let profile = Profile {
            filters: vec![Box::new(Named("z"))],
            scores: vec![],
        };
        let nodes = vec![node("a", "1"), node("b", "1")];
        let err = schedule(&profile, &PodInfo::default(), &nodes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/2 nodes are available: 2 node(s) not named z*."
        );
    }

    #[test]
    fn a_bounded_search_rotates_its_start() {
        let profile = Profile {
            filters: vec![Box::new(Named(""))],
            scores: vec![Box::new(ByLabel)],
        };
        let nodes: Vec<NodeInfo> = (0..10).map(|i| node(&format!("n{i}"), "0")).collect();
        let search = Search {
            start: 8,
            feasible_wanted: 3,
        };
        let p = select(
            &profile,
            &PodInfo::default(),
            &nodes,
            search,
            CycleState::default(),
        )
        .unwrap();
        // n8, n9 and n0 were examined; n0 sorts first among them.
        assert_eq!(
            p,
            Placement {
                node: 0,
                next_start: 1
            }
        );
    }

    #[test]
    fn the_number_of_nodes_to_find_follows_kubernetes() {
        assert_eq!(feasible_nodes_to_find(50, 0), 50);
        assert_eq!(feasible_nodes_to_find(1000, 0), 420);
        assert_eq!(feasible_nodes_to_find(5000, 0), 500);
        assert_eq!(feasible_nodes_to_find(200, 10), 100);
        assert_eq!(feasible_nodes_to_find(5000, 100), 5000);
    }

    #[test]
    fn cycle_state_returns_what_was_written() {
        let mut s = CycleState::default();
        s.write("a", 5u32);
        s.write("a", 7u32);
        assert_eq!(s.read::<u32>("a"), Some(&7));
        assert_eq!(s.read::<i64>("a"), None);
        assert_eq!(s.read::<u32>("b"), None);
    }
}
