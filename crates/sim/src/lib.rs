//! Brume's simulator (DESIGN §9): evaluates the fog algorithms — proximity routing, proximity
//! placement, following users, latency-SLO autoscaling and Vivaldi — on measured and synthetic
//! topologies at scale, side by side with the Kubernetes baselines. It carries no copy of any
//! algorithm: every routing weight, placement score, move and plan comes from the `brume-fog`
//! and `brume-scheduler` functions the live proxy, scheduler and controllers run.
//!
//! Everything is deterministic: each random choice comes from a `StdRng` seeded from the run's
//! seed, so two runs with the same seed give identical results.
#![warn(missing_docs)]

pub mod engine;
pub mod error;
pub mod estimates;
pub mod evaluation;
pub mod figure;
pub mod histogram;
pub mod placement;
pub mod plot;
pub mod report;
pub mod router;
pub mod scenario;
pub mod topology;
pub mod users;
pub mod zones;

pub use error::SimError;
