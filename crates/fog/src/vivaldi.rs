//! The Vivaldi network coordinate algorithm (Dabek, Cox, Kaashoek and Morris, "Vivaldi: A
//! Decentralized Network Coordinate System", SIGCOMM 2004) with the refinements of Serf's
//! coordinate package (hashicorp/serf `coordinate/`, itself after Ledlie, Gardner and Seltzer,
//! "Network Coordinates in the Wild", NSDI 2007): a latency filter, gravity toward the origin,
//! a height floor, an error cap and an adjustment term. Everything is in milliseconds.
//!
//! `observe` is pure in the sense that matters for tests and the simulator: given the same
//! state, peer, coordinate and RTT it always makes the same move. Where the original algorithm
//! draws a random direction (two coincident coordinates), we derive it from a hash of the peer
//! and the observation count instead.

use std::hash::Hash;

use serde::Serialize;

use crate::coordinate::{Coordinate, MAX_DIMENSIONS, MIN_DIMENSIONS};
use crate::error::FogError;
use crate::latency_filter::LatencyFilter;
use crate::tie_break;

/// Milliseconds per second, to carry Serf's constants (given in seconds) over to milliseconds.
const MS_PER_SECOND: f64 = 1000.0;

/// Below this, a length counts as zero: Serf's `zeroThreshold` of 1e-6 s, in milliseconds.
const ZERO_THRESHOLD_MS: f64 = 1.0e-6 * MS_PER_SECOND;

/// The tuning constants of Vivaldi and of Serf's refinements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VivaldiConfig {
    /// How many Euclidean dimensions a coordinate has, 2 to 8.
    pub dimensions: usize,
    /// The cap on a node's error estimate; it is also the error a new node starts with.
    pub error_max: f64,
    /// c_e, the weight of a new sample in the moving average of the error (Dabek §3.4).
    pub ce: f64,
    /// c_c, the fraction of the way a node moves toward its ideal position (Dabek §3.4).
    pub cc: f64,
    /// How many recent samples the adjustment term averages over; 0 turns it off.
    pub adjustment_window_size: usize,
    /// The smallest height a node may have, in milliseconds.
    pub height_min_ms: f64,
    /// How many recent RTT samples per peer the median filter keeps.
    pub latency_filter_size: usize,
    /// ρ, the distance from the origin in milliseconds at which gravity's pull equals one
    /// second; larger is weaker.
    pub gravity_rho_ms: f64,
    /// The largest RTT accepted from a probe, in milliseconds; larger ones are rejected.
    pub max_rtt_ms: f64,
}

impl Default for VivaldiConfig {
    /// Serf's `DefaultConfig()` (hashicorp/serf `coordinate/config.go`), converted from seconds
    /// to milliseconds where it has a unit.
    fn default() -> VivaldiConfig {
        VivaldiConfig {
            dimensions: 8,
            error_max: 1.5,
            ce: 0.25,
            cc: 0.25,
            adjustment_window_size: 20,
            // Serf: HeightMin = 10.0e-6 s.
            height_min_ms: 10.0e-6 * MS_PER_SECOND,
            latency_filter_size: 3,
            // Serf: GravityRho = 150.0 s.
            gravity_rho_ms: 150.0 * MS_PER_SECOND,
            // Serf's `Update` rejects RTTs above 10 s.
            max_rtt_ms: 10.0 * MS_PER_SECOND,
        }
    }
}

impl VivaldiConfig {
    /// Checks that every constant is in the range the algorithm needs.
    pub fn validate(&self) -> Result<(), FogError> {
        fn bad(name: &'static str, value: impl ToString, valid: &'static str) -> FogError {
            FogError::BadParameter {
                name,
                value: value.to_string(),
                valid,
            }
        }
        if !(MIN_DIMENSIONS..=MAX_DIMENSIONS).contains(&self.dimensions) {
            return Err(bad("vivaldi dimensions", self.dimensions, "2 to 8"));
        }
        let unit = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if !unit(self.ce) {
            return Err(bad("vivaldi ce", self.ce, "a number in (0, 1]"));
        }
        if !unit(self.cc) {
            return Err(bad("vivaldi cc", self.cc, "a number in (0, 1]"));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.error_max) {
            return Err(bad("vivaldi error_max", self.error_max, "a number > 0"));
        }
        if !positive(self.height_min_ms) {
            return Err(bad(
                "vivaldi height_min_ms",
                self.height_min_ms,
                "a number > 0",
            ));
        }
        if !positive(self.gravity_rho_ms) {
            return Err(bad(
                "vivaldi gravity_rho_ms",
                self.gravity_rho_ms,
                "a number > 0",
            ));
        }
        if !positive(self.max_rtt_ms) {
            return Err(bad("vivaldi max_rtt_ms", self.max_rtt_ms, "a number > 0"));
        }
        Ok(())
    }
}

/// One node's Vivaldi state: its coordinate, its latency filter and its adjustment window.
#[derive(Debug, Clone)]
pub struct VivaldiNode<K> {
    config: VivaldiConfig,
    coordinate: Coordinate,
    filter: LatencyFilter<K>,
    adjustment_samples: Vec<f64>,
    adjustment_index: usize,
    adjustment_ms: f64,
    observations: u64,
    resets: u64,
}

impl<K: Hash + Eq + Clone> VivaldiNode<K> {
    /// A node at the origin with the minimum height and the maximum error, as in Serf's
    /// `NewCoordinate`.
    pub fn new(config: VivaldiConfig) -> Result<VivaldiNode<K>, FogError> {
        config.validate()?;
        let coordinate = fresh_coordinate(&config);
        Ok(VivaldiNode {
            filter: LatencyFilter::new(config.latency_filter_size),
            adjustment_samples: vec![0.0; config.adjustment_window_size],
            adjustment_index: 0,
            adjustment_ms: 0.0,
            observations: 0,
            resets: 0,
            coordinate,
            config,
        })
    }

    /// A node that resumes from a coordinate it published before, e.g. after an agent restart.
    pub fn resume(
        config: VivaldiConfig,
        coordinate: Coordinate,
    ) -> Result<VivaldiNode<K>, FogError> {
        coordinate.validate()?;
        if coordinate.dimensions() != config.dimensions {
            return Err(FogError::DimensionMismatch {
                ours: config.dimensions,
                theirs: coordinate.dimensions(),
            });
        }
        let mut node = VivaldiNode::new(config)?;
        node.coordinate = Coordinate {
            height: coordinate.height.max(node.config.height_min_ms),
            error: coordinate.error.min(node.config.error_max),
            ..coordinate
        };
        Ok(node)
    }

    /// The node's current coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &VivaldiConfig {
        &self.config
    }

    /// Serf's adjustment term in milliseconds: half the mean of `rtt − distance` over the last
    /// `adjustment_window_size` samples. It is not part of the published coordinate; see
    /// [`VivaldiNode::estimate_rtt_ms`].
    pub fn adjustment_ms(&self) -> f64 {
        self.adjustment_ms
    }

    /// How many observations the node has accepted.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// How many times the coordinate became invalid and was reset to the origin.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// The RTT to a peer with the given coordinate and adjustment, as Serf's `DistanceTo`
    /// computes it: the raw distance plus both adjustments, unless that would not be positive.
    pub fn estimate_rtt_ms(&self, peer: &Coordinate, peer_adjustment_ms: f64) -> f64 {
        let raw = self.coordinate.distance_ms(peer);
        let adjusted = raw + self.adjustment_ms + peer_adjustment_ms;
        if adjusted > 0.0 { adjusted } else { raw }
    }

    /// Drops the latency history of a peer that left.
    pub fn forget(&mut self, peer_id: &K) {
        self.filter.forget(peer_id);
    }

    /// Takes one RTT measurement to a peer (Serf's `Client.Update`): filters it, moves the
    /// coordinate (Dabek's adaptive timestep), updates the adjustment term and applies gravity.
    /// A bad RTT or peer coordinate is rejected and leaves the state untouched.
    pub fn observe(&mut self, peer_id: &K, peer: &Coordinate, rtt_ms: f64) -> Result<(), FogError> {
        peer.validate()?;
        if peer.dimensions() != self.config.dimensions {
            return Err(FogError::DimensionMismatch {
                ours: self.config.dimensions,
                theirs: peer.dimensions(),
            });
        }
        if !rtt_ms.is_finite() || rtt_ms < 0.0 || rtt_ms > self.config.max_rtt_ms {
            return Err(FogError::BadRtt {
                value: rtt_ms,
                max: self.config.max_rtt_ms,
            });
        }
        let rtt_ms = self.filter.push(peer_id, rtt_ms).max(ZERO_THRESHOLD_MS);
        let seed = tie_break::seed(peer_id, self.observations);
        self.observations += 1;

        self.update_vivaldi(peer, rtt_ms, seed);
        self.update_adjustment(peer, rtt_ms);
        self.update_gravity(seed);

        if self.coordinate.validate().is_err() {
            // Serf resets a coordinate that went NaN or infinite rather than publish it.
            self.coordinate = fresh_coordinate(&self.config);
            self.resets += 1;
        }
        Ok(())
    }

    /// Dabek et al. Fig. 3 with the adaptive timestep of §3.4, as in Serf's `updateVivaldi`.
    fn update_vivaldi(&mut self, peer: &Coordinate, rtt_ms: f64, seed: u64) {
        let own = &self.coordinate;
        let dist = own.distance_ms(peer);
        let wrongness = (dist - rtt_ms).abs() / rtt_ms;
        let total_error = (own.error + peer.error).max(ZERO_THRESHOLD_MS);
        // w = e_i / (e_i + e_j): a confident peer pulls harder on an unsure node.
        let weight = own.error / total_error;
        let ce = self.config.ce * weight;
        let error = (ce * wrongness + own.error * (1.0 - ce)).min(self.config.error_max);
        // δ = c_c · w; the node moves δ · (rtt − dist) along the unit vector from the peer.
        let force = self.config.cc * weight * (rtt_ms - dist);
        self.coordinate = apply_force(&self.coordinate, &self.config, force, peer, seed);
        self.coordinate.error = error;
    }

    /// Serf's `updateAdjustment`: the windowed mean of the residual, computed on the raw
    /// distance, and halved because both ends of a pair carry one.
    fn update_adjustment(&mut self, peer: &Coordinate, rtt_ms: f64) {
        let window = self.adjustment_samples.len();
        if window == 0 {
            return;
        }
        let residual = rtt_ms - self.coordinate.distance_ms(peer);
        self.adjustment_samples[self.adjustment_index] = residual;
        self.adjustment_index = (self.adjustment_index + 1) % window;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.adjustment_ms = sum / (2.0 * window as f64);
    }

    /// Serf's `updateGravity`: a pull toward the origin growing with the square of the distance,
    /// `force = −(d / ρ)²` in seconds, which keeps the whole system from drifting away.
    fn update_gravity(&mut self, seed: u64) {
        let origin = Coordinate::origin(self.config.dimensions);
        let dist = self.coordinate.distance_ms(&origin);
        let force = -(dist / self.config.gravity_rho_ms).powi(2) * MS_PER_SECOND;
        self.coordinate = apply_force(&self.coordinate, &self.config, force, &origin, seed);
    }
}

/// Whether a coordinate moved far enough from the one last published that the agent should
/// republish its annotation: the vector moved plus the height changed by more than
/// `threshold_ms`, or the number of dimensions changed.
pub fn moved_meaningfully(old: &Coordinate, new: &Coordinate, threshold_ms: f64) -> bool {
    if old.dimensions() != new.dimensions() {
        return true;
    }
    let moved = old.euclidean_ms(new) + (old.height - new.height).abs();
    // A NaN threshold or displacement must not silence republishing forever.
    moved > threshold_ms || moved.is_nan() || threshold_ms.is_nan()
}

/// Where a node with this config starts: Serf's `NewCoordinate`.
fn fresh_coordinate(config: &VivaldiConfig) -> Coordinate {
    Coordinate {
        vector: vec![0.0; config.dimensions],
        height: config.height_min_ms,
        error: config.error_max,
    }
}

/// Serf's `Coordinate.ApplyForce`: moves `own` by `force` milliseconds along the unit vector
/// from `other` to `own` and scales the height with it, never below the height floor.
fn apply_force(
    own: &Coordinate,
    config: &VivaldiConfig,
    force: f64,
    other: &Coordinate,
    seed: u64,
) -> Coordinate {
    let (unit, magnitude) = unit_vector_at(&own.vector, &other.vector, seed);
    let vector = own
        .vector
        .iter()
        .zip(&unit)
        .map(|(x, u)| x + u * force)
        .collect();
    let mut height = own.height;
    if magnitude > ZERO_THRESHOLD_MS {
        height = ((own.height + other.height) * force / magnitude + own.height)
            .max(config.height_min_ms);
    }
    Coordinate {
        vector,
        height,
        error: own.error,
    }
}

/// The unit vector from `b` to `a` and the distance between them. When they coincide, Serf picks
/// a random direction; we pick a pseudo-random one from `seed`, and report a distance of 0.
fn unit_vector_at(a: &[f64], b: &[f64], seed: u64) -> (Vec<f64>, f64) {
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let magnitude = diff.iter().map(|d| d * d).sum::<f64>().sqrt();
    if magnitude > ZERO_THRESHOLD_MS {
        return (diff.iter().map(|d| d / magnitude).collect(), magnitude);
    }
    let random = tie_break::direction(seed, diff.len());
    let length = random.iter().map(|d| d * d).sum::<f64>().sqrt();
    if length > ZERO_THRESHOLD_MS {
        return (random.iter().map(|d| d / length).collect(), 0.0);
    }
    let mut axis = vec![0.0; diff.len()];
    if let Some(first) = axis.first_mut() {
        *first = 1.0;
    }
    (axis, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dimensions: usize) -> VivaldiConfig {
        VivaldiConfig {
            dimensions,
            ..VivaldiConfig::default()
        }
    }

    /// The median of |estimate − truth| / truth over all pairs.
    fn median_relative_error(coords: &[Coordinate], truth: impl Fn(usize, usize) -> f64) -> f64 {
        let mut errors = Vec::new();
        for i in 0..coords.len() {
            for j in i + 1..coords.len() {
                let t = truth(i, j);
                errors.push((coords[i].distance_ms(&coords[j]) - t).abs() / t);
            }
        }
        errors.sort_by(f64::total_cmp);
        errors[errors.len() / 2]
    }

    #[test]
    fn default_config_is_serfs_in_milliseconds() {
        let c = VivaldiConfig::default();
        assert_eq!(c.dimensions, 8);
        assert_eq!(c.error_max, 1.5);
        assert_eq!((c.ce, c.cc), (0.25, 0.25));
        assert_eq!(c.adjustment_window_size, 20);
        assert_eq!(c.height_min_ms, 0.01);
        assert_eq!(c.latency_filter_size, 3);
        assert_eq!(c.gravity_rho_ms, 150_000.0);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_config_is_refused() {
        let message = VivaldiNode::<u32>::new(config(9)).unwrap_err().to_string();
        assert!(message.contains("2 to 8"), "{message}");
        let bad_cc = VivaldiConfig {
            cc: 0.0,
            ..VivaldiConfig::default()
        };
        assert!(VivaldiNode::<u32>::new(bad_cc).is_err());
    }

    #[test]
    fn new_node_starts_at_origin_unsure() {
        let node = VivaldiNode::<u32>::new(config(3)).unwrap();
        assert_eq!(node.coordinate().vector, vec![0.0; 3]);
        assert_eq!(node.coordinate().height, 0.01);
        assert_eq!(node.coordinate().error, 1.5);
    }

    #[test]
    fn one_node_learns_its_distance_to_a_fixed_peer() {
        let mut node = VivaldiNode::new(config(2)).unwrap();
        let peer = Coordinate {
            vector: vec![40.0, 30.0],
            height: 0.0,
            error: 0.05,
        };
        for _ in 0..30 {
            node.observe(&"peer", &peer, 80.0).unwrap();
        }
        let estimate = node.coordinate().distance_ms(&peer);
        assert!((estimate - 80.0).abs() < 1.0, "estimate {estimate}");
        assert!(node.coordinate().error < 0.1, "{:?}", node.coordinate());
    }

    #[test]
    fn two_nodes_starting_together_converge_to_their_rtt() {
        let mut a = VivaldiNode::new(config(2)).unwrap();
        let mut b = VivaldiNode::new(config(2)).unwrap();
        for _ in 0..50 {
            let cb = b.coordinate().clone();
            a.observe(&"b", &cb, 50.0).unwrap();
            let ca = a.coordinate().clone();
            b.observe(&"a", &ca, 50.0).unwrap();
        }
        let estimate = a.coordinate().distance_ms(b.coordinate());
        assert!((estimate - 50.0).abs() < 2.5, "estimate {estimate}");
        assert!(a.coordinate().error < 0.2 && b.coordinate().error < 0.2);
    }

    #[test]
    fn coincident_start_is_broken_deterministically() {
        let run = || {
            let mut a = VivaldiNode::new(config(3)).unwrap();
            let twin = a.coordinate().clone();
            a.observe(&7u32, &twin, 20.0).unwrap();
            a.coordinate().clone()
        };
        let first = run();
        assert_ne!(first.vector, vec![0.0; 3], "the node moved off the origin");
        assert_eq!(first, run(), "same inputs, same move");
        let mut b = VivaldiNode::new(config(3)).unwrap();
        let twin = b.coordinate().clone();
        b.observe(&8u32, &twin, 20.0).unwrap();
        assert_ne!(
            b.coordinate().vector,
            first.vector,
            "another peer, another direction"
        );
    }

    #[test]
    fn a_grid_converges() {
        // 5 × 5 hosts 10 ms apart on a plane, each with a 2 ms access link, RTT = distance.
        let side = 5;
        let n = side * side;
        let pos = |i: usize| ((i % side) as f64 * 10.0, (i / side) as f64 * 10.0);
        let truth = |i: usize, j: usize| {
            let (a, b) = (pos(i), pos(j));
            ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt() + 4.0
        };
        let mut nodes: Vec<VivaldiNode<usize>> = (0..n)
            .map(|_| VivaldiNode::new(config(2)).unwrap())
            .collect();
        // A fixed, deterministic probe schedule: every node probes peers i+1, i+7, i+12, ...
        for round in 0..120 {
            for i in 0..n {
                let j = (i + 1 + (round * 7) % (n - 1)) % n;
                let peer = nodes[j].coordinate().clone();
                nodes[i].observe(&j, &peer, truth(i, j)).unwrap();
            }
        }
        let coords: Vec<Coordinate> = nodes.iter().map(|n| n.coordinate().clone()).collect();
        let median = median_relative_error(&coords, truth);
        assert!(median < 0.05, "median relative error {median}");
    }

    #[test]
    fn bad_measurements_are_rejected_and_change_nothing() {
        let mut node = VivaldiNode::new(config(2)).unwrap();
        let peer = Coordinate {
            vector: vec![1.0, 1.0],
            height: 0.0,
            error: 0.5,
        };
        node.observe(&1u32, &peer, 30.0).unwrap();
        let before = node.coordinate().clone();
        for rtt in [f64::NAN, f64::INFINITY, -1.0, 10_001.0] {
            let message = node.observe(&1, &peer, rtt).unwrap_err().to_string();
            assert!(message.contains("0 to 10000 ms"), "{message}");
        }
        let wrong_dims = Coordinate::origin(3);
        let message = node.observe(&1, &wrong_dims, 30.0).unwrap_err().to_string();
        assert!(message.contains("3 dimensions but ours has 2"), "{message}");
        let bad_peer = Coordinate {
            height: -1.0,
            ..peer.clone()
        };
        assert!(node.observe(&1, &bad_peer, 30.0).is_err());
        assert_eq!(node.coordinate(), &before);
        assert_eq!(node.observations(), 1);
    }

    #[test]
    fn zero_rtt_is_accepted() {
        let mut node = VivaldiNode::new(config(2)).unwrap();
        let peer = Coordinate {
            vector: vec![5.0, 0.0],
            height: 0.0,
            error: 0.1,
        };
        node.observe(&1u32, &peer, 0.0).unwrap();
        assert!(node.coordinate().validate().is_ok());
        assert_eq!(node.resets(), 0);
    }

    #[test]
    fn resume_keeps_a_published_coordinate() {
        let published = Coordinate {
            vector: vec![3.0, 4.0],
            height: 0.0,
            error: 9.0,
        };
        let node = VivaldiNode::<u32>::resume(config(2), published).unwrap();
        assert_eq!(node.coordinate().vector, vec![3.0, 4.0]);
        assert_eq!(node.coordinate().height, 0.01, "height floor applies");
        assert_eq!(node.coordinate().error, 1.5, "error cap applies");
        assert!(VivaldiNode::<u32>::resume(config(3), Coordinate::origin(2)).is_err());
    }

    #[test]
    fn republish_only_after_a_real_move() {
        let old = Coordinate {
            vector: vec![10.0, 10.0],
            height: 1.0,
            error: 0.2,
        };
        let jiggle = Coordinate {
            vector: vec![10.3, 10.0],
            height: 1.1,
            error: 0.1,
        };
        assert!(!moved_meaningfully(&old, &jiggle, 1.0));
        let moved = Coordinate {
            vector: vec![12.0, 10.0],
            ..old.clone()
        };
        assert!(moved_meaningfully(&old, &moved, 1.0));
        assert!(moved_meaningfully(&old, &Coordinate::origin(3), 1000.0));
        assert!(moved_meaningfully(&old, &jiggle, f64::NAN));
    }
}
