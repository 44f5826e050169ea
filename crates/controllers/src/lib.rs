//! Brume's controllers: level-triggered reconcilers in the kube-rs style.
//!
//! Each controller is a pure decision module (the owner object and its observed dependents in, a
//! plan out) plus a thin async shell that gathers the inputs through the API, applies the plan
//! and requeues. Running a reconcile twice is harmless (DESIGN §2.3).
#![warn(missing_docs)]

pub mod config;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod expectations;
pub mod intstr;
pub mod node_lifecycle;
pub mod pod;
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
    tasks.spawn(node_lifecycle::run(client.clone(), config));
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
