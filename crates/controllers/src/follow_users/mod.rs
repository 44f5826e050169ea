//! Re-placement: replicas of a `fog.brume.io/placement: follow-users` Deployment move towards
//! the gateways where their demand is, one at a time, make-before-break and with hysteresis
//! (DESIGN §8, "Following users"). The decision is [`decide`]; [`run`] carries out its steps.

pub mod decide;
#[cfg(test)]
mod decide_tests;
mod shell;

pub use decide::{Inputs, MoveState, Phase, Settings, Step, decide};
pub use shell::run;
