//! The Deployment controller: rolls pods from one ReplicaSet to the next.
//!
//! [`decide`] plans the ReplicaSet changes, [`status`] computes the status `kubectl rollout
//! status` reads, [`hash`] names templates, [`strategy`] resolves the budgets; [`run`] is the
//! shell.

pub mod decide;
pub mod hash;
pub mod status;
pub mod strategy;

mod shell;

pub use shell::run;
