//! Brume's fog model, kept pure (DESIGN §8): where a node is (Vivaldi coordinates, GPS, zone and
//! region labels), how far apart two nodes are, how a gateway weights endpoints by proximity, and
//! how much a replica on a candidate node would cut demand-weighted latency. Nothing here does
//! I/O or needs a runtime, so the agent, the proxy, the scheduler and `brume sim` share it.
//!
//! An unknown distance is `None` everywhere in this crate and is never read as zero.
#![warn(missing_docs)]

pub mod coordinate;
pub mod distance;
pub mod error;
pub mod evaluate;
pub mod latency_filter;
pub mod latency_floor;
pub mod location;
pub mod matrix;
pub mod peak_ewma;
pub mod placement;
pub mod probe_plan;
pub mod replace;
pub mod routing;
pub mod routing_spec;
pub mod slo;
mod tie_break;
pub mod vivaldi;

pub use coordinate::{COORDINATES_ANNOTATION, Coordinate};
pub use distance::{
    Measurements, NodeDistances, combine_measured, estimate_rtt_ms, named_rtt_ms, node_rtt_ms,
};
pub use error::FogError;
pub use evaluate::{
    ConvergenceStats, SimulationSettings, VivaldiReport, VivaldiRun, run_vivaldi, simulate_vivaldi,
};
pub use latency_filter::LatencyFilter;
pub use latency_floor::{LatencyFloor, queueing_ms};
pub use location::{
    GEO_ANNOTATION, MEASURED_PEERS, MEASURED_RTT_ANNOTATION, NodeLocation, parse_geo,
    parse_measured,
};
pub use matrix::{RttMatrix, RttSource};
pub use peak_ewma::PeakEwma;
pub use placement::{
    LatencySummary, PlacementConfig, PlacementGain, latency_summary, placement_gain,
    placement_scores,
};
pub use probe_plan::ProbePlan;
pub use routing::{
    GuardInputs, ProximityParams, guarded_distances, guarded_weights, measured_distances,
    overload_mask, pick_weighted, proximity_weights,
};
pub use vivaldi::{VivaldiConfig, VivaldiNode, moved_meaningfully};
