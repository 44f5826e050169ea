//! The Brume node agent (DESIGN §6): it registers its Node, renews its Lease, runs the pods
//! bound to it through a [`brume_runtime::ContainerRuntime`], probes them, and reports their
//! status through the API like any other client.
//!
//! The decisions are pure and live in their own files: what the Node looks like
//! ([`node`]), when a container restarts and how long it backs off ([`restart`]), and what
//! status a pod reports ([`status`]). The async shells gather facts and apply decisions.
#![warn(missing_docs)]

pub mod coordinates;
pub mod dns;
pub mod downward;
pub mod events;
pub mod heartbeat;
pub mod host;
pub mod join;
pub mod logs;
pub mod manager;
pub mod metrics;
pub mod node;
pub mod probe;
pub mod restart;
pub mod routes;
pub mod services;
pub mod spec;
pub mod status;
pub mod traffic;
pub mod volumes;
pub mod worker;
