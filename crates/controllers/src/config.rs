//! The controllers' settings, with fog defaults.

use std::time::Duration;

/// Settings for [`crate::run_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllersConfig {
    /// How old a node's Lease may get before the node is NotReady and tainted unreachable
    /// (DESIGN §6: fog default 10 s; Kubernetes' `node-monitor-grace-period` is 50 s since 1.32).
    pub node_grace_period: Duration,
    /// How long a pod stays on an unreachable or not-ready node when it has no toleration of its
    /// own for that taint (DESIGN §8: fog default 30 s; Kubernetes' admission adds 300 s).
    pub default_eviction_toleration: Duration,
    /// How often node health is checked (Kubernetes' `node-monitor-period` is 5 s).
    pub node_monitor_period: Duration,
    /// How often the latency autoscaler and re-placement look at their Deployments again
    /// (the HPA's sync period is 15 s; demand reports are refreshed every 2 to 30 s).
    pub fog_sync_period: Duration,
    /// How long a higher recommendation holds a latency autoscaler's scale-down back (the
    /// HPA's default is 300 s; fog demand moves faster, so 120 s).
    pub latency_scale_down_window: Duration,
    /// The least time between two replica moves of one Deployment.
    pub move_cooldown: Duration,
    /// How long a moved replica's replacement may take to be Ready before the move is given up.
    pub move_surge_timeout: Duration,
    /// How often each HorizontalPodAutoscaler is synced (Kubernetes'
    /// `--horizontal-pod-autoscaler-sync-period`, 15 s, also the agents' metrics cadence).
    pub hpa_sync_period: Duration,
    /// How long a higher recommendation holds back the scale-down of an HPA without
    /// `spec.behavior` (`--horizontal-pod-autoscaler-downscale-stabilization`, 300 s).
    pub hpa_downscale_stabilization: Duration,
}

impl Default for ControllersConfig {
    fn default() -> Self {
        ControllersConfig {
            node_grace_period: Duration::from_secs(10),
            default_eviction_toleration: Duration::from_secs(30),
            node_monitor_period: Duration::from_secs(1),
            fog_sync_period: Duration::from_secs(10),
            latency_scale_down_window: Duration::from_secs(120),
            move_cooldown: Duration::from_secs(60),
            move_surge_timeout: Duration::from_secs(180),
            hpa_sync_period: Duration::from_secs(15),
            hpa_downscale_stabilization: Duration::from_secs(300),
        }
    }
}
