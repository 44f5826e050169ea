//! What the nodes believe the RTTs are. The live proxy weighs endpoints and the scheduler scores
//! nodes by estimates from Vivaldi coordinates, not by the true RTTs; the simulator runs the
//! same Vivaldi (`brume_fog::run_vivaldi`) over the topology and routes and places by the
//! coordinates it ends with, while it charges requests the true RTT.

use brume_fog::{
    Coordinate, NodeLocation, SimulationSettings, VivaldiConfig, VivaldiReport, node_rtt_ms,
    run_vivaldi,
};
use serde::Serialize;

use crate::error::SimError;
use crate::topology::Topology;

/// Which distances the simulated proxies and scheduler see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distances {
    /// Vivaldi estimates, as the live system has them.
    Vivaldi,
    /// The true RTTs: what the algorithms would do with perfect coordinates.
    Measured,
}

/// The estimated RTT between any two nodes.
#[derive(Debug, Clone)]
pub struct Estimates {
    kind: Distances,
    locations: Vec<NodeLocation>,
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
                vivaldi: None,
                relative_errors: Vec::new(),
            }),
            Distances::Vivaldi => {
                let settings = vivaldi_settings(topology.len(), seed);
                let run = run_vivaldi(topology, &VivaldiConfig::default(), &settings)?;
                Ok(Estimates {
                    kind,
                    locations: run.coordinates.into_iter().map(location).collect(),
                    vivaldi: Some(run.report),
                    relative_errors: run.relative_errors,
                })
            }
        }
    }

    /// Estimates from given coordinates, one per node (fixtures shared with the live system).
    pub fn from_coordinates(coordinates: Vec<Coordinate>) -> Estimates {
        Estimates {
            kind: Distances::Vivaldi,
            locations: coordinates.into_iter().map(location).collect(),
            vivaldi: None,
            relative_errors: Vec::new(),
        }
    }

    /// The estimates of the nodes `nodes`, renumbered in that order (for small instances cut
    /// out of a large topology, which keep the coordinates the large run computed).
    pub fn subset(&self, nodes: &[usize]) -> Estimates {
        Estimates {
            kind: self.kind,
            locations: match self.kind {
                Distances::Measured => Vec::new(),
                Distances::Vivaldi => nodes.iter().map(|&i| self.locations[i].clone()).collect(),
            },
            vivaldi: None,
            relative_errors: Vec::new(),
        }
    }

    /// Which distances these are.
    pub fn kind(&self) -> Distances {
        self.kind
    }

    /// The location of a node as the scheduler's NodeInfo carries it (`None` for measured
    /// distances, which have no coordinates).
    pub fn location(&self, node: usize) -> Option<&NodeLocation> {
        self.locations.get(node)
    }

    /// The estimated RTT from node `a` to node `b`, as the proxy at `a` sees it.
    pub fn rtt_ms(&self, topology: &Topology, a: usize, b: usize) -> Option<f64> {
        match self.kind {
            Distances::Measured => Some(topology.rtt_ms(a, b)),
            Distances::Vivaldi => node_rtt_ms(a == b, self.location(a), self.location(b)),
        }
    }
}

fn location(coordinate: Coordinate) -> NodeLocation {
    NodeLocation {
        coordinate: Some(coordinate),
        ..NodeLocation::default()
    }
}
