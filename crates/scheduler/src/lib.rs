//! Brume's scheduler. The framework ([`framework`]) and the plugins ([`plugins`]) are pure: a
//! pod and a slice of [`NodeInfo`] in, a node name or counted reasons out, so the simulator and
//! the benchmarks call the same code as the live loop. [`binder`] is the async shell that
//! watches the API, keeps the node infos current, and binds pods through `pods/binding`.
#![warn(missing_docs)]

pub mod binder;
mod cache;
mod demand;
mod error;
pub mod framework;
mod messages;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
mod queue;
mod recorder;
pub mod selector;
pub mod taint;

pub use binder::{Config, run, run_with};
pub use error::SchedulerError;
pub use framework::{
    CycleState, FilterPlugin, NodeInfo, PodInfo, Profile, ScorePlugin, Unschedulable, schedule,
    schedule_with,
};
pub use plugins::{ProfileConfig, default_profile, profile};

/// The scheduler name this scheduler serves (`spec.schedulerName`, defaulted by the API).
pub const SCHEDULER_NAME: &str = "default-scheduler";
