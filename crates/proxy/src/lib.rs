//! The per-node service proxy every Brume agent runs (DESIGN §7 and §8).
//!
//! The agent builds a [`RoutingTable`] from Services and EndpointSlices, hands it to a
//! [`Proxy`] together with the listeners it wants (node ports), and reads [`Demand`] to write
//! TrafficReports. The pieces, one file each:
//!
//! - [`endpoint`] and [`table`]: what may receive traffic, swapped atomically as a snapshot;
//! - [`policy`]: random, round-robin, least-request (P2C peak-EWMA), source-hash and proximity,
//!   each a value testable alone, and the parser that picks one from a Service;
//! - [`tcp`] and [`http`]: per-connection and per-request forwarding with connect retries;
//! - [`listener`]: the [`Proxy`] and its listeners, closed while a port has no ready endpoint;
//! - [`demand`]: per-Service request and connection rates at this gateway;
//! - [`link`]: the optional emulated RTT per destination node.

#![warn(missing_docs)]

pub mod context;
pub mod demand;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod link;
pub mod listener;
pub mod policy;
pub mod table;
pub mod tcp;

pub use context::ProxyConfig;
pub use demand::{Demand, DemandCounter, DemandSample, LATENCY_BOUNDS_MS, ServiceRef};
pub use endpoint::Endpoint;
pub use error::RoutingError;
pub use link::{LinkDelay, StaticDelays};
pub use listener::{ListenMode, ListenerSpec, ListenerState, ListenerStatus, Proxy};
pub use policy::{PolicyKind, Preference, ProximityParams, RoutingSpec, ServiceFields};
pub use table::{Gateway, Protocol, RoutingTable, ServicePort, ServicePortKey};
