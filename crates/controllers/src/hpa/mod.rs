//! The HorizontalPodAutoscaler controller (autoscaling/v2) on resource metrics: the CPU and
//! memory the agents write as PodMetrics (metrics.k8s.io), against the pods' requests or an
//! average value, with Kubernetes' tolerance, readiness rules, stabilization windows, rate
//! policies and bounds, conditions, events and status.
//!
//! - [`replicas`]: the count one metric proposes (upstream's replica calculator);
//! - [`behavior`]: stabilization, rate limits and bounds;
//! - [`decide`]: one sync, from the observed scale, pods and metrics to a plan;
//! - the shell ([`run`]) reads and writes through the API.

pub mod behavior;
pub mod decide;
pub mod replicas;

mod shell;

pub use decide::Settings;
pub use shell::run;
