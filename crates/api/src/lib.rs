//! Brume's object model, kept pure: the kinds the API serves, their defaulting and validation,
//! label and field selectors, the three patch formats and the table columns. Nothing here does
//! I/O, so the API server, the CLI, the controllers and the simulator share it (DESIGN §2.2).
#![warn(missing_docs)]

pub mod authz;
pub mod decode;
pub mod defaults;
pub mod error;
pub mod latency_autoscaler;
pub mod metrics;
pub mod node_ports;
mod own_kind;
pub mod patch;
pub mod placement;
pub mod resource;
pub mod selector;
pub mod table;
pub mod traffic_report;
pub mod validation;

pub use error::{FieldError, FieldErrorKind};
pub use latency_autoscaler::{LatencyAutoscaler, LatencyAutoscalerSpec, LatencyAutoscalerStatus};
pub use resource::{ResourceInfo, Scope};
pub use traffic_report::{LatencyBucket, LatencyCounts, TrafficReport, TrafficReportSpec};
