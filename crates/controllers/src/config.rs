//! The controllers' settings, with fog defaults.

use std::time::Duration;

/// Settings for [`crate::run_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllersConfig {
    /// How old a node's Lease may get before the node is NotReady and tainted unreachable
    /// (DESIGN §6: fog default 10 s; Kubernetes' `node-monitor-grace-period` is 40 s).
    pub node_grace_period: Duration,
    /// How long a pod stays on an unreachable or not-ready node when it has no toleration of its
    /// own for that taint (DESIGN §8: fog default 30 s; Kubernetes' admission adds 300 s).
    pub default_eviction_toleration: Duration,
    /// How often node health is checked (Kubernetes' `node-monitor-period` is 5 s).
    pub node_monitor_period: Duration,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        ControllersConfig {
            node_grace_period: Duration::from_secs(10),
            default_eviction_toleration: Duration::from_secs(30),
            node_monitor_period: Duration::from_secs(1),
        }
    }
}
