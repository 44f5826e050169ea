//! The DaemonSet controller: one pod on every eligible node, rolled within `maxUnavailable`.

pub mod decide;

mod shell;

pub use shell::run;
