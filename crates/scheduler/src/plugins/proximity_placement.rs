//! ProximityPlacement (score): prefers the node where one more replica of the pod's Services
//! would cut the demand-weighted latency of their users the most, the tail included (DESIGN §8,
//! "Proximity placement"; Fahs & Pierre, ICSOC 2020). The maths is
//! [`brume_fog::placement_scores`]: every gateway is served by its nearest replica, and the score
//! is 100 × the weighted relative cut of the mean and the p90 — for the first replica, the cut
//! against a replica on the average candidate.
//!
//! What the nodes do not tell — the selectors of the pod's Services and their demand per
//! gateway — the shell gathers and seeds into the cycle state ([`ProximityPlacement::seed`]).
//! The current replicas are the pods on the nodes that those selectors match.
//!
//! The score is not normalised to the best candidate: a replica that would cut latency by 5%
//! scores 5, not 100, so when the replicas already sit next to the users the resource scores
//! decide, and proximity only outweighs them when it buys a real cut.

use std::collections::{BTreeMap, HashMap};

use brume_fog::{NodeDistances, PlacementConfig, placement_scores};

use crate::framework::{CycleState, NodeInfo, PodInfo, ScorePlugin};
use crate::selector::Labels;

/// The score for cutting the latency of the pod's users.
pub struct ProximityPlacement {
    weight: i64,
    config: PlacementConfig,
}

/// The facts the plugin needs beyond the nodes, gathered by the shell for one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceDemand {
    /// The `spec.selector` of each Service in the pod's namespace that selects the pod; each is
    /// non-empty (a Service without a selector selects no pod).
    pub selectors: Vec<Labels>,
    /// (gateway node, requests plus connections per second), summed over those Services.
    pub demand: Vec<(String, f64)>,
}

const INPUT_KEY: &str = "ProximityPlacement/input";
const SCORE_KEY: &str = "ProximityPlacement/score";

impl ProximityPlacement {
    /// The weight in the default profile. The resource scores, LeastAllocated and
    /// BalancedAllocation, are 0-100 each at weight 1, so together they span 200 points; at
    /// weight 2 proximity spans 200 too. A replica that cuts latency by x% gains 2x points: it
    /// beats a node up to 2x points emptier (a quarter cut outweighs half the node free), and
    /// the gateway itself (a full cut) outweighs any resource difference short of a full node.
    /// It is also kube-scheduler's weight for the other placement preferences (NodeAffinity,
    /// PodTopologySpread, InterPodAffinity).
    pub const DEFAULT_WEIGHT: i64 = 2;

    /// The plugin with a weight and the knobs of the placement maths.
    pub fn new(weight: i64, config: PlacementConfig) -> ProximityPlacement {
        ProximityPlacement { weight, config }
    }

    /// Puts the pod's Services and their demand in the cycle state, for the shell to call
    /// before scheduling the pod. Without it every node scores the same.
    pub fn seed(state: &mut CycleState, input: ServiceDemand) {
        state.write(INPUT_KEY, input);
    }
}

impl Default for ProximityPlacement {
    fn default() -> ProximityPlacement {
        ProximityPlacement::new(Self::DEFAULT_WEIGHT, PlacementConfig::default())
    }
}

/// The nodes of the pod's current replicas: the pods in its namespace that one of the selectors
/// matches, apart from the pod itself and pods being deleted (they are about to stop serving).
/// Assumed pods count, so a burst of replicas sees where its predecessors went.
fn replicas(pod: &PodInfo, selectors: &[Labels], all: &[NodeInfo]) -> Vec<String> {
    let selects = |labels: &Labels| {
        selectors
            .iter()
            .any(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    all.iter()
        .filter(|node| {
            node.pods.iter().any(|p| {
                p.namespace == pod.namespace
                    && p.name != pod.name
                    && !p.terminating
                    && selects(&p.labels)
            })
        })
        .map(|node| node.name.clone())
        .collect()
}

/// How many of the busiest gateways a search must examine ([`busiest_gateways`]): enough for
/// every hotspot of a city-sized demand, few enough to add little to a bounded search.
pub const MUST_EXAMINE_GATEWAYS: usize = 16;

/// The names of the `k` gateways with the most demand (positive and finite, a gateway listed
/// twice counted once with the sum), busiest first; ties by name, so the choice does not
/// depend on the order of the reports.
fn busiest_gateways(demand: &[(String, f64)], k: usize) -> Vec<&str> {
    let mut by_gateway: BTreeMap<&str, f64> = BTreeMap::new();
    for (g, r) in demand.iter().filter(|(_, r)| r.is_finite() && *r > 0.0) {
        *by_gateway.entry(g.as_str()).or_default() += r;
    }
    let mut gateways: Vec<(&str, f64)> = by_gateway.into_iter().collect();
    gateways.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    gateways.into_iter().take(k).map(|(g, _)| g).collect()
}

/// Whether every node scores the same for this input: the pod belongs to no Service, or its
/// Services have no demand.
fn neutral(input: &ServiceDemand) -> bool {
    input.selectors.is_empty() || !input.demand.iter().any(|(_, r)| r.is_finite() && *r > 0.0)
}

/// Each candidate's score in [0, 100], in the candidates' order. Every candidate gets 0 when
/// the pod belongs to no Service or its Services have no demand. The distance from a node to
/// itself is 0 (users at a gateway served on that node cross no link); between two nodes it is
/// the RTT one of them measured to the other, else the estimate of their locations
/// (`brume_fog::named_rtt_ms`, by index: [`NodeDistances`]), and unknown (never 0) when nothing
/// tells or a gateway is not a node of the cluster.
pub fn scores(
    pod: &PodInfo,
    input: &ServiceDemand,
    candidates: &[&NodeInfo],
    all: &[NodeInfo],
    config: &PlacementConfig,
) -> Vec<i64> {
    if neutral(input) {
        return vec![0; candidates.len()];
    }
    // By index: a placement reads G × R distances per candidate (50 million per pod on 10,000
    // nodes), so names are resolved once. A gateway that is not a node is unknown.
    let table = NodeDistances::new(all.iter().map(|n| (n.name.as_str(), &n.location)));
    let demand: Vec<(Option<usize>, f64)> = input
        .demand
        .iter()
        .map(|(g, rate)| (table.index(g), *rate))
        .collect();
    let current: Vec<Option<usize>> = replicas(pod, &input.selectors, all)
        .iter()
        .map(|r| table.index(r))
        .collect();
    let indices: Vec<Option<usize>> = candidates.iter().map(|n| table.index(&n.name)).collect();
    let refs: Vec<&Option<usize>> = indices.iter().collect();
    let distance = |a: &Option<usize>, b: &Option<usize>| table.rtt_ms((*a)?, (*b)?);
    placement_scores(&demand, &current, &refs, distance, config)
        .into_iter()
        .map(|score| score.round().clamp(0.0, 100.0) as i64)
        .collect()
}

impl ScorePlugin for ProximityPlacement {
    fn name(&self) -> &'static str {
        "ProximityPlacement"
    }

    fn pre_score(
        &self,
        pod: &PodInfo,
        feasible: &[&NodeInfo],
        all: &[NodeInfo],
        state: &mut CycleState,
    ) {
        // Neutral pods (most of them) write nothing: `score` then gives every node 0.
        let Some(input) = state
            .read::<ServiceDemand>(INPUT_KEY)
            .filter(|i| !neutral(i))
        else {
            return;
        };
        let by_node: HashMap<String, i64> = feasible
            .iter()
            .map(|n| n.name.clone())
            .zip(scores(pod, input, feasible, all, &self.config))
            .collect();
        state.write(SCORE_KEY, by_node);
    }

    /// The gateways with the most demand: a replica on a gateway serves its users at 0 ms, so
    /// they are the candidates proximity most often prefers, and on clusters past 100 nodes
    /// kube-scheduler's bounded search (`percentageOfNodesToScore`, under half of 490 nodes)
    /// could stop before them, as it could before a move's target (ReplicaMove).
    fn must_examine(&self, _: &PodInfo, all: &[NodeInfo], state: &CycleState) -> Vec<usize> {
        let Some(input) = state
            .read::<ServiceDemand>(INPUT_KEY)
            .filter(|i| !neutral(i))
        else {
            return Vec::new();
        };
        let busiest = busiest_gateways(&input.demand, MUST_EXAMINE_GATEWAYS);
        all.iter()
            .enumerate()
            .filter(|(_, n)| busiest.contains(&n.name.as_str()))
            .map(|(i, _)| i)
            .collect()
    }

    fn score(&self, _: &PodInfo, node: &NodeInfo, _: &[NodeInfo], state: &CycleState) -> i64 {
        state
            .read::<HashMap<String, i64>>(SCORE_KEY)
            .and_then(|s| s.get(&node.name).copied())
            .unwrap_or(0)
    }

    fn weight(&self) -> i64 {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schedule_with;
    use crate::plugins::testing::{node, pod};
    use crate::plugins::{ProfileConfig, profile};
    use brume_fog::Coordinate;
    use std::sync::Arc;

    /// A node at `x` ms along a line (a 2-D Vivaldi coordinate with no height).
    fn at(name: &str, x: f64) -> NodeInfo {
        let mut n = node(name);
        n.location.coordinate = Some(Coordinate {
            vector: vec![x, 0.0],
            height: 0.0,
            error: 0.1,
        });
        n
    }

    fn web(name: &str) -> PodInfo {
        let mut p = pod(name, 100, 0);
        p.labels.insert("app".into(), "web".into());
        p
    }

    /// The node with a running replica of `web` on it.
    fn with_replica(mut n: NodeInfo, name: &str) -> NodeInfo {
        n.add_pod(Arc::new(web(name)));
        n
    }

    fn demand(on: &[(&str, f64)]) -> ServiceDemand {
        ServiceDemand {
            selectors: vec![[("app".to_string(), "web".to_string())].into()],
            demand: on.iter().map(|(g, r)| (g.to_string(), *r)).collect(),
        }
    }

    /// Each node's score as the framework runs the plugin (seed, pre-score over `feasible`).
    fn run(
        input: Option<ServiceDemand>,
        feasible: &[&str],
        all: &[NodeInfo],
    ) -> Vec<(String, i64)> {
        let plugin = ProximityPlacement::default();
        let p = web("new");
        let refs: Vec<&NodeInfo> = all
            .iter()
            .filter(|n| feasible.contains(&n.name.as_str()))
            .collect();
        let mut state = CycleState::default();
        if let Some(input) = input {
            ProximityPlacement::seed(&mut state, input);
        }
        plugin.pre_score(&p, &refs, all, &mut state);
        refs.iter()
            .map(|n| (n.name.clone(), plugin.score(&p, n, all, &state)))
            .collect()
    }

    fn best(scores: &[(String, i64)]) -> &str {
        let top = scores.iter().map(|(_, s)| *s).max().unwrap();
        let winners: Vec<&str> = scores
            .iter()
            .filter(|(_, s)| *s == top)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(winners.len(), 1, "one best node in {scores:?}");
        winners[0]
    }

    /// a, b, c, d every 20 ms along a line; the one replica runs on a.
    fn line() -> Vec<NodeInfo> {
        vec![
            with_replica(at("a", 0.0), "web-0"),
            at("b", 20.0),
            at("c", 40.0),
            at("d", 60.0),
        ]
    }

    #[test]
    fn all_demand_at_one_gateway_favours_it_then_its_nearest_neighbour() {
        let all = line();
        let s = run(Some(demand(&[("d", 50.0)])), &["a", "b", "c", "d"], &all);
        assert_eq!(best(&s), "d");
        // Cuts of 60 → 0, 20, 40 and 60 ms.
        assert_eq!(
            s,
            [
                ("a".into(), 0),
                ("b".into(), 33),
                ("c".into(), 67),
                ("d".into(), 100)
            ]
        );
        let s = run(Some(demand(&[("d", 50.0)])), &["a", "b", "c"], &all);
        assert_eq!(best(&s), "c");
    }

    #[test]
    fn split_demand_puts_the_second_replica_at_the_other_gateway() {
        let all = vec![
            with_replica(at("g1", 0.0), "web-0"),
            at("mid", 100.0),
            at("g2", 200.0),
        ];
        let s = run(
            Some(demand(&[("g1", 40.0), ("g2", 60.0)])),
            &["g1", "mid", "g2"],
            &all,
        );
        assert_eq!(best(&s), "g2");
        assert_eq!(
            s[0],
            ("g1".into(), 0),
            "a second replica beside the first cuts nothing"
        );
    }

    #[test]
    fn no_demand_or_no_service_is_neutral() {
        let all = line();
        let nodes = ["a", "b", "c", "d"];
        let equal = |s: Vec<(String, i64)>| s.iter().all(|(_, v)| *v == 0);
        assert!(equal(run(Some(demand(&[])), &nodes, &all)));
        assert!(equal(run(
            Some(demand(&[("d", 0.0), ("c", f64::NAN)])),
            &nodes,
            &all
        )));
        let no_service = ServiceDemand {
            selectors: vec![],
            demand: vec![("d".into(), 50.0)],
        };
        assert!(equal(run(Some(no_service), &nodes, &all)));
        assert!(equal(run(None, &nodes, &all)), "nothing seeded");
    }

    #[test]
    fn a_node_without_location_is_not_favoured() {
        let mut all = line();
        all.push(node("nowhere"));
        let s = run(Some(demand(&[("d", 50.0)])), &["b", "nowhere"], &all);
        assert_eq!(s, [("b".into(), 33), ("nowhere".into(), 0)]);
        // The gateway itself needs no location: its users cross no link to it.
        let mut all = line();
        all.push(node("g"));
        let s = run(Some(demand(&[("g", 50.0)])), &["c", "g"], &all);
        assert_eq!(s, [("c".into(), 0), ("g".into(), 100)]);
    }

    #[test]
    fn terminating_and_other_pods_are_not_replicas() {
        let mut all = line();
        let mut leaving = web("web-1");
        leaving.terminating = true;
        all[3].add_pod(Arc::new(leaving));
        let mut elsewhere = web("web-2");
        elsewhere.namespace = "other".into();
        all[2].add_pod(Arc::new(elsewhere));
        let mut other_app = pod("db-0", 100, 0);
        other_app.labels.insert("app".into(), "db".into());
        all[2].add_pod(Arc::new(other_app));
        let s = run(Some(demand(&[("d", 50.0)])), &["a", "b", "c", "d"], &all);
        assert_eq!(best(&s), "d");
        assert_eq!(s[2], ("c".into(), 67));
    }

    #[test]
    fn with_demand_the_default_weight_beats_a_slightly_emptier_far_node() {
        // d, next to the users, carries a quarter of its cpu and memory; b, farther, is empty:
        // LeastAllocated gives d 62 and b 87, BalancedAllocation 100 each.
        let mut all = line();
        all[3].add_pod(Arc::new(pod("busy", 1000, 2 << 30)));
        let nodes: Vec<NodeInfo> = vec![all[1].clone(), all[3].clone(), all[0].clone()];
        let p = web("new");
        let mut state = CycleState::default();
        ProximityPlacement::seed(&mut state, demand(&[("d", 50.0)]));
        let chosen = schedule_with(&profile(&ProfileConfig::default()), &p, &nodes, state);
        assert_eq!(chosen.unwrap(), "d");
        let resources_only = ProfileConfig {
            proximity_weight: 0,
            ..ProfileConfig::default()
        };
        let mut state = CycleState::default();
        ProximityPlacement::seed(&mut state, demand(&[("d", 50.0)]));
        let chosen = schedule_with(&profile(&resources_only), &p, &nodes, state);
        assert_eq!(chosen.unwrap(), "b");
    }

    #[test]
    fn a_measured_rtt_beats_the_coordinates() {
        // The coordinates put b 5 ms from the users at g and c 30 ms; g's agent measured c at
        // 3 ms (a near pair Vivaldi got wrong), so c is the better place.
        let mut g = at("g", 0.0);
        let all = vec![at("b", 5.0), at("c", 30.0), g.clone()];
        let s = run(Some(demand(&[("g", 50.0)])), &["b", "c"], &all);
        assert_eq!(best(&s), "b", "by the coordinates: {s:?}");
        g.location.measured_ms.insert("c".into(), 3.0);
        let all = vec![at("b", 5.0), at("c", 30.0), g];
        let s = run(Some(demand(&[("g", 50.0)])), &["b", "c"], &all);
        assert_eq!(best(&s), "c", "by the measurement: {s:?}");
    }

    #[test]
    fn a_bounded_search_still_examines_the_busiest_gateways() {
        use crate::framework::{Search, select};
        // 200 nodes along a line; the users are at n150 and n170. A search from n000 that stops
        // after 50 feasible nodes (as kube-scheduler bounds it on large clusters) never
        // reaches them.
        let nodes: Vec<NodeInfo> = (0..200)
            .map(|i| at(&format!("n{i:03}"), i as f64))
            .collect();
        let search = Search {
            start: 0,
            feasible_wanted: 50,
        };
        let profile = profile(&ProfileConfig::default());
        let place = |input: ServiceDemand| {
            let mut state = CycleState::default();
            ProximityPlacement::seed(&mut state, input);
            let placement = select(&profile, &web("new"), &nodes, search, state).unwrap();
            nodes[placement.node].name.clone()
        };
        assert_eq!(place(demand(&[("n150", 30.0), ("n170", 10.0)])), "n150");
        // Without demand nothing is added, and the search takes what it reached.
        assert!(place(demand(&[])).as_str() < "n050");
        // Only the busiest 16 gateways are added: a 17th, busier than none of them, is not.
        let mut many: Vec<(String, f64)> =
            (0..16).map(|i| (format!("n{:03}", 100 + i), 5.0)).collect();
        many.push(("n199".into(), 1.0));
        let refs: Vec<(&str, f64)> = many.iter().map(|(g, r)| (g.as_str(), *r)).collect();
        let input = demand(&refs);
        let busiest = busiest_gateways(&input.demand, MUST_EXAMINE_GATEWAYS);
        assert_eq!(busiest.len(), 16);
        assert!(!busiest.contains(&"n199"), "{busiest:?}");
        let input = demand(&[("a", 1.0), ("b", 1.5), ("a", 1.0), ("c", f64::NAN)]);
        let twice = busiest_gateways(&input.demand, 3);
        assert_eq!(
            twice,
            ["a", "b"],
            "a gateway listed twice is summed; NaN is no demand"
        );
    }
}
