//! Brume's controllers: level-triggered reconcilers in the kube-rs style.
//!
//! Each controller is a pure decision module (the owner object and its observed dependents in, a
//! plan out) plus a thin async shell that gathers the inputs through the API, applies the plan
//! and requeues. Running a reconcile twice is harmless (DESIGN §2.3).
//!
//! | controller | decision | shell |
//! |---|---|---|
//! | ReplicaSet | [`replicaset::decide`] | [`replicaset::run`] |
//! | Deployment | [`deployment::decide`], [`deployment::status`] | [`deployment::run`] |
//! | EndpointSlice + Endpoints | [`endpoints::decide`] | [`endpoints::run`] |
//! | node lifecycle | [`node_lifecycle::decide`] | [`node_lifecycle::run`] |
//! | DaemonSet | [`daemonset::decide`] | [`daemonset::run`] |
//! | pod garbage collector | [`pod_gc::decide`] | [`pod_gc::run`] |
//! | HorizontalPodAutoscaler | [`hpa::decide`] | [`hpa::run`] |
//! | latency autoscaler (fog.brume.io LatencyAutoscaler) | [`latency_autoscaler::decide`] | [`latency_autoscaler::run`] |
//! | re-placement (`fog.brume.io/placement: follow-users`) | [`follow_users::decide`] | [`follow_users::run`] |
//!
//! [`run_all`] starts them all. What they expect from the agent:
//! - it renews `kube-node-lease/<node>` (`spec.renewTime`) more often than
//!   [`ControllersConfig::node_grace_period`], and posts `Ready=True` again after an outage (the
//!   node lifecycle controller only sets `Unknown`; it removes its taints as soon as the lease is
//!   renewed);
//! - it finishes graceful deletions (`deletionTimestamp` set) with `gracePeriodSeconds: 0`;
//!   evicted pods of a node that was unreachable are finished when its agent returns;
//! - it publishes a pod's allocated host ports in [`endpoints::decide::HOST_PORTS`] so endpoints
//!   become `address:hostPort` (DESIGN §6).
//!
//! The node lifecycle controller measures a lease's age from when *it* saw the lease change, so
//! agent clock skew and server restarts do not mark nodes NotReady; while every node is silent
//! at once (the server is more likely cut off than all nodes) it evicts nothing, and tolerations
//! restart when a node is heard from again. A one-node cluster therefore never evicts, as in
//! Kubernetes.
//!
//! DaemonSet pods are created bound (`spec.nodeName`), so the scheduler never sees them.
//! Garbage collection of dependents is the API server's (`crates/apiserver/src/gc.rs`).
#![warn(missing_docs)]

pub mod config;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod expectations;
pub mod fog_inputs;
pub mod fog_reads;
pub mod follow_users;
pub mod hpa;
pub mod intstr;
pub mod latency_autoscaler;
pub mod node_affinity;
pub mod node_lifecycle;
pub mod pod;
pub mod pod_gc;
pub mod replicaset;
pub mod taints;

pub use config::ControllersConfig;
pub use error::ControllerError;

/// Runs every controller until one of them stops, and returns why it stopped.
pub async fn run_all(
    client: kube::Client,
    config: ControllersConfig,
) -> Result<(), ControllerError> {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(replicaset::run(client.clone()));
    tasks.spawn(deployment::run(client.clone()));
    tasks.spawn(endpoints::run(client.clone()));
    tasks.spawn(daemonset::run(client.clone()));
    tasks.spawn(latency_autoscaler::run(
        client.clone(),
        config.fog_sync_period,
        config.latency_scale_down_window,
    ));
    let settings = follow_users::Settings {
        cooldown: k8s_openapi::jiff::SignedDuration::try_from(config.move_cooldown)
            .unwrap_or(k8s_openapi::jiff::SignedDuration::from_secs(60)),
        surge_timeout: k8s_openapi::jiff::SignedDuration::try_from(config.move_surge_timeout)
            .unwrap_or(k8s_openapi::jiff::SignedDuration::from_secs(180)),
        ..follow_users::Settings::default()
    };
    tasks.spawn(follow_users::run(
        client.clone(),
        settings,
        config.fog_sync_period,
    ));
    tasks.spawn(hpa::run(
        client.clone(),
        config.hpa_sync_period,
        hpa::Settings {
            downscale_stabilization: config.hpa_downscale_stabilization,
            ..hpa::Settings::default()
        },
    ));
    tasks.spawn(node_lifecycle::run(client.clone(), config));
    tasks.spawn(pod_gc::run(client.clone()));
    let outcome = match tasks.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(ControllerError::Stopped {
            name: "controllers",
            detail: format!("a controller task failed: {e}"),
        }),
        None => Ok(()),
    };
    tasks.abort_all();
    outcome
}
