//! The `fog.brume.io/v1` TrafficReport: the demand one Service receives at one gateway, the node
//! whose proxy took the users' traffic (DESIGN §8, "Demand"). Agents write one per (Service,
//! gateway) every few seconds; the scheduler and the re-placement controller read them.
//!
//! A report is named `<service>.<gateway>` ([`TrafficReport::name_for`]). Validation holds the
//! name to that, so the gateway of a stored report can be read from its name alone: that is how
//! a node's right to write it is decided without reading the store ([`crate::authz`]). A
//! Service's name is a DNS label and so has no dot; the gateway is what follows the first one.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::own_kind::{check_type, own_kind};

/// The API group of the fog kinds.
pub const GROUP: &str = "fog.brume.io";
/// The version of the group TrafficReports are served in.
pub const VERSION: &str = "v1";
/// The `apiVersion` of a TrafficReport.
pub const API_VERSION: &str = "fog.brume.io/v1";
/// The `kind` of a TrafficReport.
pub const KIND: &str = "TrafficReport";
/// The resource name in URLs (`/apis/fog.brume.io/v1/namespaces/<ns>/trafficreports`).
pub const PLURAL: &str = "trafficreports";
/// The label that names the reported Service, for `-l fog.brume.io/service=web`.
pub const SERVICE_LABEL: &str = "fog.brume.io/service";
/// The label that names the gateway node, for `-l fog.brume.io/gateway=node-3`.
pub const GATEWAY_LABEL: &str = "fog.brume.io/gateway";
/// A report whose `observedTime` is older than this many seconds is stale, for the scheduler
/// and the fog controllers alike. While a Service has demand the agent rewrites its report at
/// least every 30 s (`ReporterConfig::refresh` in crates/agent/src/traffic.rs), so 120 s is four
/// missed refreshes: the agent has stopped (its node is down or gone) and the last rate it wrote
/// would otherwise count forever, as nothing else removes the report while the Service lives.
/// Four refreshes also leave room for clock skew between the agent and its readers.
pub const STALE_AFTER_SECS: i64 = 120;

/// One Service's demand at one gateway. It lives in the Service's namespace and is owned by the
/// Service, so the garbage collector removes it with the Service.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "Wire")]
pub struct TrafficReport {
    /// Standard object metadata; the name is `<service>.<gateway>`.
    pub metadata: ObjectMeta,
    /// What the gateway's proxy counted.
    pub spec: TrafficReportSpec,
}

/// What one gateway's proxy counted for one Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficReportSpec {
    /// The Service's name (in the report's namespace).
    #[serde(default)]
    pub service: String,
    /// The node whose proxy received the traffic: the users' gateway.
    #[serde(default)]
    pub gateway: String,
    /// Smoothed HTTP requests per second (>= 0).
    #[serde(default)]
    pub requests_per_second: f64,
    /// Smoothed TCP connections per second on non-HTTP ports (>= 0).
    #[serde(default)]
    pub connections_per_second: f64,
    /// HTTP requests counted since the proxy's counter was created; monotonic, as in Prometheus.
    #[serde(default)]
    pub requests_total: u64,
    /// TCP connections counted since the proxy's counter was created; monotonic.
    #[serde(default)]
    pub connections_total: u64,
    /// When the agent took the sample (RFC 3339), so a reader can tell a stale report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_time: Option<Time>,
    /// The latency of the proxied HTTP requests, as monotonic histogram counters, for the
    /// measured attainment of a latency objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyCounts>,
}

/// Monotonic latency counters of the HTTP requests a gateway proxied, as a Prometheus
/// histogram: `count` requests measured, and for each bound how many were answered within it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyCounts {
    /// Requests measured (answered or not).
    #[serde(default)]
    pub count: u64,
    /// Cumulative buckets, by increasing bound.
    #[serde(default)]
    pub buckets: Vec<LatencyBucket>,
}

/// Requests answered within `leMs` milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyBucket {
    /// The bound, in milliseconds.
    pub le_ms: f64,
    /// Requests answered within it.
    pub count: u64,
}

impl LatencyCounts {
    /// How many measured requests were answered within `bound_ms`: the count of the largest
    /// bucket bound not above it (so a bound between buckets errs low).
    pub fn within(&self, bound_ms: f64) -> u64 {
        self.buckets
            .iter()
            .filter(|b| b.le_ms <= bound_ms)
            .map(|b| b.count)
            .max()
            .unwrap_or(0)
    }
}

impl TrafficReport {
    /// The name of the report of `service` at `gateway`: `web.node-3`.
    pub fn name_for(service: &str, gateway: &str) -> String {
        format!("{service}.{gateway}")
    }

    /// The gateway a report name designates (`node-3` for `web.node-3`), or `None` for a name
    /// that is not `<service>.<gateway>`.
    pub fn gateway_of(name: &str) -> Option<&str> {
        name.split_once('.')
            .map(|(_, gateway)| gateway)
            .filter(|g| !g.is_empty())
    }

    /// An empty report of `service` (in `namespace`) at `gateway`, with its name and labels set;
    /// the agent fills in the rates and the owner reference to the Service.
    pub fn new(namespace: &str, service: &str, gateway: &str) -> TrafficReport {
        TrafficReport {
            metadata: ObjectMeta {
                name: Some(Self::name_for(service, gateway)),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([
                    (SERVICE_LABEL.to_string(), service.to_string()),
                    (GATEWAY_LABEL.to_string(), gateway.to_string()),
                ])),
                ..ObjectMeta::default()
            },
            spec: TrafficReportSpec {
                service: service.to_string(),
                gateway: gateway.to_string(),
                ..TrafficReportSpec::default()
            },
        }
    }

    /// The demand the scheduler weighs: requests plus connections per second. A rate that is
    /// negative or not finite (which validation refuses) counts as zero, so one bad report
    /// cannot turn a placement score into NaN.
    pub fn demand(&self) -> f64 {
        let rate = |r: f64| if r.is_finite() && r > 0.0 { r } else { 0.0 };
        rate(self.spec.requests_per_second) + rate(self.spec.connections_per_second)
    }
}

impl Serialize for TrafficReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As k8s-openapi's kinds do: `apiVersion` and `kind` come from the type.
        let mut state = serializer.serialize_struct(KIND, 4)?;
        state.serialize_field("apiVersion", API_VERSION)?;
        state.serialize_field("kind", KIND)?;
        state.serialize_field("metadata", &self.metadata)?;
        state.serialize_field("spec", &self.spec)?;
        state.end()
    }
}

/// A TrafficReport as written: `apiVersion` and `kind` may be left out, `null` counts as absent
/// and unknown fields are dropped, as k8s-openapi's kinds read them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    spec: Option<TrafficReportSpec>,
}

impl TryFrom<Wire> for TrafficReport {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        check_type(
            wire.api_version.as_deref(),
            wire.kind.as_deref(),
            API_VERSION,
            KIND,
        )?;
        Ok(TrafficReport {
            metadata: wire.metadata.unwrap_or_default(),
            spec: wire.spec.unwrap_or_default(),
        })
    }
}

own_kind!(
    TrafficReport,
    API_VERSION,
    GROUP,
    VERSION,
    KIND,
    PLURAL,
    "TrafficReportList",
    k8s_openapi::NamespaceResourceScope
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> serde_json::Value {
        json!({
            "apiVersion": "fog.brume.io/v1", "kind": "TrafficReport",
            "metadata": {"name": "web.node-3", "namespace": "default",
                "labels": {"fog.brume.io/service": "web", "fog.brume.io/gateway": "node-3"}},
            "spec": {"service": "web", "gateway": "node-3", "requestsPerSecond": 12.5,
                "connectionsPerSecond": 0.0, "requestsTotal": 1234, "connectionsTotal": 0,
                "observedTime": "2026-12-03T07:00:00Z"}
        })
    }

    #[test]
    fn the_documented_shape_round_trips() {
        let report: TrafficReport = serde_json::from_value(sample()).unwrap();
        assert_eq!(report.spec.requests_per_second, 12.5);
        assert_eq!(report.spec.requests_total, 1234);
        assert_eq!(serde_json::to_value(&report).unwrap(), sample());
    }

    #[test]
    fn new_sets_the_name_labels_and_spec_that_go_together() {
        let report = TrafficReport::new("default", "web", "node-3");
        let mut expected: serde_json::Value = sample();
        expected["spec"] = json!({"service": "web", "gateway": "node-3",
            "requestsPerSecond": 0.0, "connectionsPerSecond": 0.0,
            "requestsTotal": 0, "connectionsTotal": 0});
        assert_eq!(serde_json::to_value(&report).unwrap(), expected);
    }

    #[test]
    fn names_carry_the_gateway_after_the_first_dot() {
        assert_eq!(TrafficReport::name_for("web", "node-3"), "web.node-3");
        assert_eq!(TrafficReport::gateway_of("web.node-3"), Some("node-3"));
        assert_eq!(
            TrafficReport::gateway_of("web.edge-1.paris"),
            Some("edge-1.paris")
        );
        assert_eq!(TrafficReport::gateway_of("web"), None);
        assert_eq!(TrafficReport::gateway_of("web."), None);
    }

    #[test]
    fn demand_adds_both_rates_and_ignores_impossible_ones() {
        let mut report = TrafficReport::new("default", "web", "node-3");
        report.spec.requests_per_second = 12.5;
        report.spec.connections_per_second = 2.0;
        assert_eq!(report.demand(), 14.5);
        report.spec.connections_per_second = f64::NAN;
        assert_eq!(report.demand(), 12.5);
        report.spec.requests_per_second = -3.0;
        assert_eq!(report.demand(), 0.0);
    }

    #[test]
    fn missing_parts_are_empty_and_another_kind_is_refused() {
        let bare: TrafficReport =
            serde_json::from_value(json!({"metadata": null, "spec": null})).unwrap();
        assert_eq!(bare, TrafficReport::default());
        let err = serde_json::from_value::<TrafficReport>(json!({"kind": "Pod"})).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"kind: "Pod" is not "TrafficReport""#),
            "{err}"
        );
    }
}
