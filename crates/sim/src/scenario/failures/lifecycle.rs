//! How a cluster notices a dead node and replaces its pods, as a pure model of the loops that
//! do it: the node's Lease renewals, the node lifecycle controller's ticks and grace period, the
//! NoExecute taint queue, and the toleration clock of the taint eviction.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The failure takes the nodes of ⌈R / this⌉ of the R replicas: a third of the Service.
pub const FAILED_SHARE_DIVISOR: usize = 3;

/// When a NoExecute taint's toleration starts counting, and who evicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TolerationClock {
    /// From the taint's `timeAdded`, set when the taint is added; Kubernetes' taint eviction
    /// controller deletes the pod when the toleration runs out.
    FromTaint,
    /// From when the node went silent (the taint's `timeAdded` is the last heartbeat seen,
    /// `brume_controllers::node_lifecycle::decide::plan_node`); the node lifecycle loop deletes
    /// the pod on its first tick past the deadline.
    FromSilence,
}

/// How a cluster notices a dead node and evicts its pods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lifecycle {
    /// How often the node renews its Lease.
    pub renew_every_s: f64,
    /// How often the node lifecycle controller checks the Leases.
    pub monitor_period_s: f64,
    /// How old the last Lease change seen may get before the node is NotReady.
    pub grace_s: f64,
    /// NoExecute taints added per second in a zone, one at a time (none: all at once).
    pub taint_rate_per_zone: Option<f64>,
    /// The default toleration of the unreachable taint.
    pub toleration_s: f64,
    /// When that toleration starts.
    pub toleration_clock: TolerationClock,
}

impl Lifecycle {
    /// Kubernetes' defaults.
    pub const KUBERNETES: Lifecycle = Lifecycle {
        // kubelet renews its Lease every nodeLeaseDurationSeconds (40) × 0.25
        // (pkg/kubelet/nodelease: renewIntervalFraction).
        renew_every_s: 10.0,
        // kube-controller-manager --node-monitor-period.
        monitor_period_s: 5.0,
        // --node-monitor-grace-period: 50 s since Kubernetes 1.32 (kubernetes/kubernetes#126287);
        // it was 40 s before.
        grace_s: 50.0,
        // --node-eviction-rate 0.1 nodes/s, the NoExecute tainter's token bucket per zone with a
        // burst of 1 (EvictionRateLimiterBurst); a handful of dead nodes leaves every zone far
        // under the 55 % unhealthy-zone threshold, so this primary rate applies.
        taint_rate_per_zone: Some(0.1),
        // The DefaultTolerationSeconds admission plugin gives every pod 300 s for
        // node.kubernetes.io/unreachable:NoExecute.
        toleration_s: 300.0,
        toleration_clock: TolerationClock::FromTaint,
    };

    /// Brume's defaults: the agent's `HeartbeatConfig` (crates/agent/src/heartbeat.rs) and the
    /// controllers' `ControllersConfig` (crates/controllers/src/config.rs). Brume's controller
    /// taints every unreachable node at once (it stops evicting only when every node is
    /// unreachable) and adds no default toleration at admission.
    pub const BRUME: Lifecycle = Lifecycle {
        renew_every_s: 2.0,
        monitor_period_s: 1.0,
        grace_s: 10.0,
        taint_rate_per_zone: None,
        toleration_s: 30.0,
        toleration_clock: TolerationClock::FromSilence,
    };

    /// The course of each failed node after a failure at `failed_at`. A node's last renewal
    /// came `phase` of its renewal interval before the failure, and the controller's ticks
    /// fall at `tick_phase` of its period past each multiple of it.
    pub fn courses(&self, failed: &[FailedNode], failed_at: f64, tick_phase: f64) -> Vec<Course> {
        let period = self.monitor_period_s;
        let offset = tick_phase * period;
        let tick = |k: i64| offset + k as f64 * period;
        // The first tick at or after `t` (a hair of slack against rounding).
        let tick_at_or_after = |t: f64| ((t - offset) / period - 1e-9).ceil() as i64;
        let grace_ticks = (self.grace_s / period + 1e-9).floor() as i64;
        let mut out: Vec<Course> = failed
            .iter()
            .map(|f| {
                let last_renewal_s = failed_at - f.phase * self.renew_every_s;
                // The controller notes the renewal on its next tick, and declares the node
                // NotReady on the first tick strictly more than the grace period later.
                let seen = tick_at_or_after(last_renewal_s);
                let not_ready = seen + grace_ticks + 1;
                Course {
                    node: f.node,
                    zone: f.zone,
                    last_renewal_s,
                    silent_since_s: tick(seen),
                    not_ready_s: tick(not_ready),
                    tainted_s: tick(not_ready),
                    evicted_s: 0.0,
                }
            })
            .collect();
        if let Some(rate) = self.taint_rate_per_zone {
            out.sort_by(|a, b| {
                a.not_ready_s
                    .total_cmp(&b.not_ready_s)
                    .then(a.node.cmp(&b.node))
            });
            let mut next_token: Vec<(u16, f64)> = Vec::new();
            for c in &mut out {
                let slot = match next_token.iter().position(|(z, _)| *z == c.zone) {
                    Some(i) => i,
                    None => {
                        next_token.push((c.zone, f64::NEG_INFINITY));
                        next_token.len() - 1
                    }
                };
                c.tainted_s = c.not_ready_s.max(next_token[slot].1);
                next_token[slot].1 = c.tainted_s + 1.0 / rate;
            }
        }
        for c in &mut out {
            c.evicted_s = match self.toleration_clock {
                TolerationClock::FromTaint => c.tainted_s + self.toleration_s,
                TolerationClock::FromSilence => {
                    let deadline = (c.silent_since_s + self.toleration_s).max(c.tainted_s);
                    tick(tick_at_or_after(deadline))
                }
            };
        }
        out.sort_by_key(|c| c.node);
        out
    }
}

/// A node that fails, as its cluster sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FailedNode {
    /// The node.
    pub node: usize,
    /// Its zone (the eviction rate is per zone).
    pub zone: u16,
    /// How far into its renewal interval it was when it died, in [0, 1).
    pub phase: f64,
}

/// What became of one failed node, in simulated seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Course {
    /// The node.
    pub node: usize,
    /// Its zone.
    pub zone: u16,
    /// Its last Lease renewal.
    pub last_renewal_s: f64,
    /// The controller tick that saw that renewal.
    pub silent_since_s: f64,
    /// NotReady: its pods leave the endpoints.
    pub not_ready_s: f64,
    /// Its NoExecute taint is added.
    pub tainted_s: f64,
    /// Its pods are evicted and their replacements created and scheduled.
    pub evicted_s: f64,
}

/// The failure: which nodes die, and the phases that time their cluster's reaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The replicas (indices into the placement) whose nodes fail, in order.
    pub replicas: Vec<usize>,
    /// The failed nodes, in node order, each once.
    pub nodes: Vec<FailedNode>,
    /// Where the controller's ticks fall in their period.
    pub tick_phase: f64,
}

/// Draws the failure from the seed: ⌈R/3⌉ of the replicas, their nodes (a node that hosts two
/// of them fails once), each node's renewal phase and the controller's tick phase.
pub fn draw_failure(replicas: &[usize], zones: &[u16], seed: u64) -> Failure {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xfa_11ed);
    let count = replicas.len().div_ceil(FAILED_SHARE_DIVISOR);
    let mut picked = rand::seq::index::sample(&mut rng, replicas.len(), count).into_vec();
    picked.sort_unstable();
    let mut nodes: Vec<usize> = picked.iter().map(|&i| replicas[i]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let nodes = nodes
        .into_iter()
        .map(|node| FailedNode {
            node,
            zone: zones.get(node).copied().unwrap_or(0),
            phase: rng.random_range(0.0..1.0),
        })
        .collect();
    Failure {
        replicas: picked,
        nodes,
        tick_phase: rng.random_range(0.0..1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(node: usize, zone: u16, phase: f64) -> FailedNode {
        FailedNode { node, zone, phase }
    }

    #[test]
    fn a_third_of_the_replicas_fail_each_node_once_and_the_seed_decides() {
        let replicas = [4, 9, 9, 17, 23, 30, 31];
        let zones = vec![0; 40];
        let a = draw_failure(&replicas, &zones, 1);
        assert_eq!(a.replicas.len(), 3, "⌈7/3⌉");
        assert!(a.replicas.windows(2).all(|w| w[0] < w[1]));
        let nodes: Vec<usize> = a.nodes.iter().map(|n| n.node).collect();
        assert!(nodes.windows(2).all(|w| w[0] < w[1]), "{nodes:?}");
        assert!(nodes.iter().all(|n| replicas.contains(n)));
        assert!(a.nodes.iter().all(|n| (0.0..1.0).contains(&n.phase)));
        assert_eq!(a, draw_failure(&replicas, &zones, 1));
        let picks: Vec<Vec<usize>> = (1..20)
            .map(|s| draw_failure(&replicas, &zones, s).replicas)
            .collect();
        assert!(picks.iter().any(|p| *p != picks[0]), "the seed picks");
        // Two replicas picked on one node: that node fails once.
        let both = draw_failure(&[9, 9, 9, 9], &zones, 3);
        assert_eq!((both.replicas.len(), both.nodes.len()), (2, 1));
    }

    #[test]
    fn kubernetes_notices_after_the_grace_period_and_taints_one_node_per_zone_every_10_s() {
        // Renewed at the failure (60 s), seen on the tick at 60: NotReady on the first tick more
        // than 50 s later, 115; evicted 300 s after the taint.
        let failed = [node(1, 0, 0.0), node(2, 0, 0.0), node(3, 1, 0.0)];
        let c = Lifecycle::KUBERNETES.courses(&failed, 60.0, 0.0);
        assert_eq!(c.iter().map(|c| c.node).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(
            c.iter()
                .all(|c| c.silent_since_s == 60.0 && c.not_ready_s == 115.0)
        );
        assert_eq!(c[0].tainted_s, 115.0);
        assert_eq!(c[1].tainted_s, 125.0, "zone 0's bucket holds one token");
        assert_eq!(c[2].tainted_s, 115.0, "zone 1 has its own");
        assert_eq!(c[1].evicted_s, 425.0);
        // Renewed 7 s before the failure, ticks at 2.5 s past each 5: seen at 57.5.
        let c = Lifecycle::KUBERNETES.courses(&[node(1, 0, 0.7)], 60.0, 0.5);
        assert_eq!((c[0].last_renewal_s, c[0].silent_since_s), (53.0, 57.5));
        assert_eq!(c[0].not_ready_s, 112.5);
    }

    #[test]
    fn brume_counts_its_toleration_from_the_silence() {
        // Renewed 1 s before the failure, seen on the tick at 59: NotReady at 70, evicted on
        // the first tick at or after 59 + 30.
        let failed = [node(1, 0, 0.5), node(2, 0, 0.0)];
        let c = Lifecycle::BRUME.courses(&failed, 60.0, 0.0);
        assert_eq!((c[0].silent_since_s, c[0].not_ready_s), (59.0, 70.0));
        assert_eq!((c[0].tainted_s, c[0].evicted_s), (70.0, 89.0));
        assert_eq!(
            (c[1].not_ready_s, c[1].evicted_s),
            (71.0, 90.0),
            "no taint queue"
        );
        let c = Lifecycle::BRUME.courses(&[node(1, 0, 0.5)], 60.0, 0.3);
        assert!((c[0].silent_since_s - 59.3).abs() < 1e-9);
        assert!((c[0].evicted_s - 89.3).abs() < 1e-9);
    }

    #[test]
    fn brumes_lifecycle_is_the_controllers_defaults() {
        let config = brume_controllers::config::ControllersConfig::default();
        assert_eq!(
            Lifecycle::BRUME.grace_s,
            config.node_grace_period.as_secs_f64()
        );
        assert_eq!(
            Lifecycle::BRUME.monitor_period_s,
            config.node_monitor_period.as_secs_f64()
        );
        assert_eq!(
            Lifecycle::BRUME.toleration_s,
            config.default_eviction_toleration.as_secs_f64()
        );
    }
}
