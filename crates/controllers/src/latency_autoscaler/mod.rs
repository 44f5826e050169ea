//! The latency autoscaler: holds a `fog.brume.io/v1` LatencyAutoscaler's objective on its
//! Deployment by sizing it to the fewest replicas whose placement near the demand meets the
//! objective (DESIGN §8). The decision is [`decide`]; [`run`] gathers the inputs, writes the
//! Deployment's `scale` and the autoscaler's status.

pub mod decide;
#[cfg(test)]
mod decide_tests;
mod shell;

pub use decide::{Inputs, Plan, decide};
pub use shell::run;
pub mod measure;
