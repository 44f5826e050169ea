//! What the nodes believe the RTTs are. The live proxy weighs endpoints and the scheduler scores
//! nodes by what the agents publish, not by the true RTTs: Vivaldi coordinates, and the RTT each
//! agent measured to its nearest peers (`fog.brume.io/measured-rtt-ms`, the
//! [`brume_fog::MEASURED_PEERS`] nearest), which comes first (`brume_fog::node_rtt_ms`). The
//! simulator runs the same Vivaldi (`brume_fog::run_vivaldi`) over the topology, takes each
//! node's nearest peers' RTTs as its measurements, and routes and places by both, while it
//! charges requests the true RTT.

use std::collections::BTreeMap;

use brume_fog::{
    Coordinate, MEASURED_PEERS, Measurements, NodeLocation, SimulationSettings, VivaldiConfig,
    VivaldiReport, node_rtt_ms, run_vivaldi,
};
use serde::Serialize;

use crate::error::SimError;
use crate::topology::Topology;

/// Which distances the simulated proxies and scheduler see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distances {
    /// What the live system has: Vivaldi estimates, and the RTTs each node measured to its
    /// nearest peers.
    Vivaldi,
    /// Vivaldi estimates alone, as before the agents' measurements were read (for comparison).
    Coordinates,
    /// The true RTTs: what the algorithms would do with perfect coordinates.
    Measured,
}

/// The estimated RTT between any two nodes.
#[derive(Debug, Clone)]
pub struct Estimates {
    kind: Distances,
    locations: Vec<NodeLocation>,
    /// What each node measured: its nearest peers by the true RTT, with that RTT (empty unless
    /// `kind` is Vivaldi).
    measured: Measurements,
    /// The Vivaldi run's own report, when coordinates were computed.
    pub vivaldi: Option<VivaldiReport>,
    /// The sorted relative errors of the coordinates (for the error CDF).
    pub relative_errors: Vec<f64>,
}

/// The Vivaldi settings the simulator uses: the fog crate's defaults (30 rounds of 3 random
/// and 1 nearest probe, 10 joining hosts), with nearest peers re-ranked every 10 rounds above
/// 2,000 nodes, since re-ranking is O(n²) per round.
pub fn vivaldi_settings(nodes: usize, seed: u64) -> SimulationSettings {
    SimulationSettings {
        nearest_refresh_rounds: if nodes > 2_000 { 10 } else { 1 },
        seed,
        ..SimulationSettings::default()
    }
}

impl Estimates {
    /// Estimates of `kind` for `topology`; Vivaldi runs with Serf's defaults (8 dimensions).
    pub fn compute(topology: &Topology, kind: Distances, seed: u64) -> Result<Estimates, SimError> {
        match kind {
            Distances::Measured => Ok(Estimates {
                kind,
                locations: Vec::new(),
                measured: Measurements::default(),
                vivaldi: None,
                relative_errors: Vec::new(),
            }),
            Distances::Vivaldi | Distances::Coordinates => {
                let settings = vivaldi_settings(topology.len(), seed);
                let run = run_vivaldi(topology, &VivaldiConfig::default(), &settings)?;
                let coordinates = run.coordinates.into_iter().map(location).collect();
                Ok(Estimates {
                    kind,
                    vivaldi: Some(run.report),
                    relative_errors: run.relative_errors,
                    ..Estimates::with_measurements(kind, coordinates, topology)
                })
            }
        }
    }

    /// Estimates of `kind` over these locations, with each node's measurements of its nearest
    /// peers in `topology` when `kind` is Vivaldi.
    fn with_measurements(
        kind: Distances,
        mut locations: Vec<NodeLocation>,
        topology: &Topology,
    ) -> Estimates {
        let measured = if kind == Distances::Vivaldi {
            Measurements(nearest_peers(topology))
        } else {
            Measurements::default()
        };
        for (location, peers) in locations.iter_mut().zip(&measured.0) {
            location.measured_ms = peers
                .iter()
                .map(|&(peer, ms)| (crate::placement::node_name(peer), ms))
                .collect::<BTreeMap<_, _>>();
        }
        Estimates {
            kind,
            locations,
            measured,
            vivaldi: None,
            relative_errors: Vec::new(),
        }
    }

    /// Estimates from given coordinates, one per node (fixtures shared with the live system).
    pub fn from_coordinates(coordinates: Vec<Coordinate>) -> Estimates {
        Estimates {
            kind: Distances::Coordinates,
            locations: coordinates.into_iter().map(location).collect(),
            measured: Measurements::default(),
            vivaldi: None,
            relative_errors: Vec::new(),
        }
    }

    /// The estimates of the nodes `nodes`, renumbered in that order, on `small`, the topology
    /// of those nodes (for small instances cut out of a large topology: they keep the
    /// coordinates the large run computed, and their nodes measured their nearest peers among
    /// themselves, as a small cluster's agents do).
    pub fn subset(&self, nodes: &[usize], small: &Topology) -> Estimates {
        let locations = match self.kind {
            Distances::Measured => Vec::new(),
            Distances::Vivaldi | Distances::Coordinates => nodes
                .iter()
                .map(|&i| NodeLocation {
                    measured_ms: BTreeMap::new(),
                    ..self.locations[i].clone()
                })
                .collect(),
        };
        Estimates::with_measurements(self.kind, locations, small)
    }

    /// Which distances these are.
    pub fn kind(&self) -> Distances {
        self.kind
    }

    /// The location of a node as the scheduler's NodeInfo carries it, its measurements named
    /// as the scheduler names the nodes (`None` for measured distances, which have no
    /// coordinates).
    pub fn location(&self, node: usize) -> Option<&NodeLocation> {
        self.locations.get(node)
    }

    /// The estimated RTT from node `a` to node `b`, as the proxy at `a` sees it: a measurement
    /// first (`brume_fog::node_rtt_ms`, as `named_rtt_ms` reads the annotations).
    pub fn rtt_ms(&self, topology: &Topology, a: usize, b: usize) -> Option<f64> {
        match self.kind {
            Distances::Measured => Some(topology.rtt_ms(a, b)),
            Distances::Vivaldi | Distances::Coordinates => node_rtt_ms(
                a == b,
                self.measured.between(a, b),
                self.location(a),
                self.location(b),
            ),
        }
    }
}

/// Each node's [`MEASURED_PEERS`] nearest peers by the true RTT, with that RTT: what its agent
/// publishes once its probes have reached them (half of an agent's probes go to its nearest
/// peers; the random half reaches every peer of a small cluster within a minute). O(n²) RTT
/// reads, split over the cores: about a second for 10,000 nodes.
fn nearest_peers(topology: &Topology) -> Vec<Vec<(usize, f64)>> {
    let n = topology.len();
    let chunks: Vec<std::ops::Range<usize>> = (0..n)
        .step_by(256)
        .map(|start| start..(start + 256).min(n))
        .collect();
    crate::scenario::parallel(chunks, |range| {
        range
            .map(|a| {
                let mut peers: Vec<(usize, f64)> = (0..n)
                    .filter(|&b| b != a)
                    .map(|b| (b, topology.rtt_ms(a, b)))
                    .collect();
                let keep = MEASURED_PEERS.min(peers.len());
                if keep < peers.len() {
                    peers.select_nth_unstable_by(keep, |x, y| {
                        x.1.total_cmp(&y.1).then(x.0.cmp(&y.0))
                    });
                    peers.truncate(keep);
                }
                peers.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
                peers
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

fn location(coordinate: Coordinate) -> NodeLocation {
    NodeLocation {
        coordinate: Some(coordinate),
        ..NodeLocation::default()
    }
}
