//! Brume's controllers: level-triggered reconcilers in the kube-rs style.
//!
//! Each controller is a pure decision module (the owner object and its observed dependents in, a
//! plan out) plus a thin async shell that gathers the inputs through the API, applies the plan
//! and requeues. Running a reconcile twice is harmless (DESIGN §2.3).
#![warn(missing_docs)]

pub mod deployment;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod expectations;
pub mod intstr;
pub mod pod;
pub mod replicaset;

pub use error::ControllerError;
