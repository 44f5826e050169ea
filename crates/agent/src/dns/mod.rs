//! The agent's DNS server for Service discovery (DESIGN §7 "DNS"): every agent answers
//! `<svc>.<ns>.svc.<zone>` with its own address, where its proxy listens on the Service's node
//! ports, and `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV with the node port.
//!
//! - [`records`] decides: from the Services to a [`DnsRecords`], and from a question to an
//!   [`Answer`] (pure, following the Kubernetes DNS specification where it applies).
//! - [`wire`] turns request bytes into response bytes: header rules, EDNS, truncation (pure).
//! - [`server`] is the I/O: UDP and TCP on one address, reading the records from a
//!   `watch` channel so the agent swaps them as Services change.
//!
//! ```no_run
//! # async fn run(services: Vec<k8s_openapi::api::core::v1::Service>) -> Result<(), brume_agent::dns::DnsError> {
//! use std::sync::Arc;
//! use brume_agent::dns::{self, DnsRecords};
//! let node: std::net::IpAddr = "127.0.0.2".parse().unwrap();
//! let (tx, rx) = tokio::sync::watch::channel(Arc::new(DnsRecords::from_services("cluster.local", node, &[] as &[k8s_openapi::api::core::v1::Service])));
//! let server = dns::serve("127.0.0.2:53".parse().unwrap(), rx).await?;
//! // … and whenever the Services change:
//! tx.send_replace(Arc::new(DnsRecords::from_services("cluster.local", node, &services)));
//! # drop(server); Ok(()) }
//! ```

pub mod records;
pub mod server;
pub mod wire;

pub use records::{Answer, DnsPort, DnsRecords, SCHEMA_VERSION, TTL};
pub use server::{DnsError, DnsServer, serve};
pub use wire::{EDNS_PAYLOAD, Transport, respond};
