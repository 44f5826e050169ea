//! The resource metrics API, `metrics.k8s.io/v1beta1`: PodMetrics (`pods`) and NodeMetrics
//! (`nodes`), the objects `kubectl top` and the HorizontalPodAutoscaler read. Their shape is
//! the one of `k8s.io/metrics/pkg/apis/metrics/v1beta1` (the metrics-server's): a `timestamp`
//! and a `window` that say the usage was measured over `[timestamp - window, timestamp]`, and
//! `usage` maps of `cpu` (cores) and `memory` (working-set bytes) quantities.
//!
//! In Kubernetes this group is an aggregated API served by the metrics-server from kubelet
//! samples held in memory. In Brume the agents measure and write these objects through the API
//! like any other, every [`REPORT_INTERVAL_SECONDS`]; a PodMetrics is owned by its Pod, so the
//! garbage collector removes it with the pod. It is named like its pod (and a NodeMetrics like
//! its node), which is what lets the authorizer decide a node's writes from the name alone
//! ([`crate::authz`]).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::own_kind::{check_type, own_kind};

/// The API group of the resource metrics.
pub const GROUP: &str = "metrics.k8s.io";
/// The version served (the one kubectl and the HPA controller fall back to).
pub const VERSION: &str = "v1beta1";
/// The `apiVersion` of both kinds.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";
/// The kind of a pod's metrics.
pub const POD_KIND: &str = "PodMetrics";
/// The resource name of PodMetrics in URLs (`/apis/metrics.k8s.io/v1beta1/namespaces/<ns>/pods`).
pub const POD_PLURAL: &str = "pods";
/// The kind of a node's metrics.
pub const NODE_KIND: &str = "NodeMetrics";
/// The resource name of NodeMetrics in URLs (`/apis/metrics.k8s.io/v1beta1/nodes`).
pub const NODE_PLURAL: &str = "nodes";
/// The usage key of CPU, in cores.
pub const CPU: &str = "cpu";
/// The usage key of memory, the working set in bytes.
pub const MEMORY: &str = "memory";
/// How often an agent writes its metrics, in seconds: the metrics-server's default resolution
/// (`--metric-resolution=15s`), and the HPA controller's default sync period. Each write is a
/// durable store write, so the cadence is kept modest.
pub const REPORT_INTERVAL_SECONDS: u64 = 15;

/// The measuring window of a sample, written as a Go duration (`15s`, `1m0.5s`) as
/// `metav1.Duration` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window(pub Duration);

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_go_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_go_duration(&text)
            .map(Window)
            .map_err(serde::de::Error::custom)
    }
}

/// One container's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// The container's name in `spec.containers`.
    #[serde(default)]
    pub name: String,
    /// `cpu` and `memory` quantities.
    #[serde(default)]
    pub usage: BTreeMap<String, Quantity>,
}

/// The usage of one pod's containers, measured over one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodMetrics {
    /// Named and labelled like the pod, in its namespace, owned by it.
    pub metadata: ObjectMeta,
    /// The end of the measuring window.
    pub timestamp: Option<Time>,
    /// The length of the measuring window.
    pub window: Window,
    /// One entry per running container.
    pub containers: Vec<ContainerMetrics>,
}

/// The usage of one node, measured over one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeMetrics {
    /// Named like the node, owned by it.
    pub metadata: ObjectMeta,
    /// The end of the measuring window.
    pub timestamp: Option<Time>,
    /// The length of the measuring window.
    pub window: Window,
    /// `cpu` and `memory` quantities.
    pub usage: BTreeMap<String, Quantity>,
}

/// A CPU usage quantity in nanocores (`12345678n`), the precision the metrics-server writes,
/// so an idle container's few thousandths of a core are not rounded to zero. Negative or
/// non-finite rates are written as zero.
pub fn cpu_quantity(cores: f64) -> Quantity {
    let nanos = if cores.is_finite() && cores > 0.0 {
        (cores * 1e9).round() as u64
    } else {
        0
    };
    Quantity(format!("{nanos}n"))
}

/// A memory quantity in bytes.
pub fn memory_quantity(bytes: u64) -> Quantity {
    Quantity(bytes.to_string())
}

/// Parses a usage quantity into thousandths of its unit (millicores, millibytes), as
/// Kubernetes' `MilliValue` does; `None` for a malformed one.
pub fn milli_value(q: &Quantity) -> Option<i128> {
    crate::validation::parse_quantity(&q.0)
        .ok()
        .map(|q| q.as_milli())
}

impl PodMetrics {
    /// The pod's total usage of `resource` in thousandths of its unit, summed over its
    /// containers; `None` when it has no containers or one of them lacks the resource (the HPA
    /// controller then treats the pod as missing, as upstream's metrics client does).
    pub fn total_milli(&self, resource: &str) -> Option<i128> {
        if self.containers.is_empty() {
            return None;
        }
        self.containers
            .iter()
            .map(|c| c.usage.get(resource).and_then(milli_value))
            .sum()
    }
}

impl NodeMetrics {
    /// The node's usage of `resource` in thousandths of its unit, if reported.
    pub fn usage_milli(&self, resource: &str) -> Option<i128> {
        self.usage.get(resource).and_then(milli_value)
    }
}

/// CPU as `kubectl top` prints it: whole millicores (`250m`).
pub fn top_cpu(milli: i128) -> String {
    format!("{milli}m")
}

/// Memory as `kubectl top` prints it: whole mebibytes, rounded down (`50Mi`), from a value in
/// thousandths of a byte as [`milli_value`] gives.
pub fn top_memory(milli_bytes: i128) -> String {
    format!("{}Mi", milli_bytes / 1000 / (1024 * 1024))
}

/// Formats a duration as Go's `time.Duration.String` does for the windows written here
/// (`15s`, `1m30s`, `1h0m0s`, `500ms`, `15.25s`), to millisecond precision.
pub fn format_go_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (secs, frac) = (rest / 1000, rest % 1000);
    let mut seconds = secs.to_string();
    if frac > 0 {
        let digits = format!("{frac:03}");
        seconds.push('.');
        seconds.push_str(digits.trim_end_matches('0'));
    }
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal numbers with units `ns`,
/// `us`, `µs`, `ms`, `s`, `m`, `h`, such as `15s` or `1m0.5s`; `0` alone is zero. Negative
/// durations are refused: a window cannot be.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("{s:?} is not a duration such as \"15s\" or \"1m30s\": {why}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    if s.starts_with('-') {
        return Err(bad("it is negative"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    // In nanoseconds, rounded once at the end, so `2us` is exactly 2 µs.
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("a number has no unit"))?;
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| bad("a number is malformed"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(bad(&format!(
                    "unknown unit {other:?} (use ns, us, ms, s, m or h)"
                )));
            }
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total >= u64::MAX as f64 {
        return Err(bad("it is out of range"));
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

impl Serialize for PodMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // As k8s-openapi's kinds do: `apiVersion` and `kind` come from the type.
        let mut state = serializer.serialize_struct(POD_KIND, 6)?;
        state.serialize_field("apiVersion", API_VERSION)?;
        state.serialize_field("kind", POD_KIND)?;
        state.serialize_field("metadata", &self.metadata)?;
        state.serialize_field("timestamp", &self.timestamp)?;
        state.serialize_field("window", &self.window)?;
        state.serialize_field("containers", &self.containers)?;
        state.end()
    }
}

impl Serialize for NodeMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct(NODE_KIND, 6)?;
        state.serialize_field("apiVersion", API_VERSION)?;
        state.serialize_field("kind", NODE_KIND)?;
        state.serialize_field("metadata", &self.metadata)?;
        state.serialize_field("timestamp", &self.timestamp)?;
        state.serialize_field("window", &self.window)?;
        state.serialize_field("usage", &self.usage)?;
        state.end()
    }
}

/// A PodMetrics as written: `apiVersion` and `kind` may be left out, `null` counts as absent
/// and unknown fields are dropped, as k8s-openapi's kinds read them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodWire {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    timestamp: Option<Time>,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    containers: Option<Vec<ContainerMetrics>>,
}

impl<'de> Deserialize<'de> for PodMetrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = PodWire::deserialize(deserializer)?;
        check_type(
            wire.api_version.as_deref(),
            wire.kind.as_deref(),
            API_VERSION,
            POD_KIND,
        )
        .map_err(serde::de::Error::custom)?;
        Ok(PodMetrics {
            metadata: wire.metadata.unwrap_or_default(),
            timestamp: wire.timestamp,
            window: wire.window.unwrap_or_default(),
            containers: wire.containers.unwrap_or_default(),
        })
    }
}

/// A NodeMetrics as written (see [`PodWire`]).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeWire {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    timestamp: Option<Time>,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    usage: Option<BTreeMap<String, Quantity>>,
}

impl<'de> Deserialize<'de> for NodeMetrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = NodeWire::deserialize(deserializer)?;
        check_type(
            wire.api_version.as_deref(),
            wire.kind.as_deref(),
            API_VERSION,
            NODE_KIND,
        )
        .map_err(serde::de::Error::custom)?;
        Ok(NodeMetrics {
            metadata: wire.metadata.unwrap_or_default(),
            timestamp: wire.timestamp,
            window: wire.window.unwrap_or_default(),
            usage: wire.usage.unwrap_or_default(),
        })
    }
}

own_kind!(
    PodMetrics,
    API_VERSION,
    GROUP,
    VERSION,
    POD_KIND,
    POD_PLURAL,
    "PodMetricsList",
    k8s_openapi::NamespaceResourceScope
);
own_kind!(
    NodeMetrics,
    API_VERSION,
    GROUP,
    VERSION,
    NODE_KIND,
    NODE_PLURAL,
    "NodeMetricsList",
    k8s_openapi::ClusterResourceScope
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A PodMetrics as the metrics-server serves it.
    fn pod_sample() -> serde_json::Value {
        json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
            "timestamp": "2026-12-03T07:00:00Z", "window": "15s",
            "containers": [
                {"name": "app", "usage": {"cpu": "250000000n", "memory": "52428800"}},
                {"name": "sidecar", "usage": {"cpu": "5m", "memory": "1Mi"}}]
        })
    }

    #[test]
    fn the_metrics_server_shape_round_trips() {
        let pod: PodMetrics = serde_json::from_value(pod_sample()).unwrap();
        assert_eq!(pod.window, Window(Duration::from_secs(15)));
        assert_eq!(pod.containers[1].usage["memory"].0, "1Mi");
        assert_eq!(serde_json::to_value(&pod).unwrap(), pod_sample());
        let node = json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
            "metadata": {"name": "node-1"}, "timestamp": "2026-12-03T07:00:00Z",
            "window": "1m0.5s", "usage": {"cpu": "1500m", "memory": "2Gi"}});
        let typed: NodeMetrics = serde_json::from_value(node.clone()).unwrap();
        assert_eq!(typed.window.0, Duration::from_millis(60_500));
        assert_eq!(typed.usage_milli(CPU), Some(1500));
        assert_eq!(serde_json::to_value(&typed).unwrap(), node);
    }

    #[test]
    fn a_pods_usage_is_the_sum_of_its_containers_or_nothing() {
        let mut pod: PodMetrics = serde_json::from_value(pod_sample()).unwrap();
        assert_eq!(pod.total_milli(CPU), Some(255));
        assert_eq!(pod.total_milli(MEMORY), Some((50 + 1) * 1024 * 1024 * 1000));
        pod.containers[1].usage.remove(CPU);
        assert_eq!(pod.total_milli(CPU), None, "a container without cpu");
        pod.containers.clear();
        assert_eq!(pod.total_milli(MEMORY), None, "no containers");
    }

    #[test]
    fn usage_quantities_are_nanocores_and_bytes() {
        assert_eq!(cpu_quantity(0.25).0, "250000000n");
        assert_eq!(cpu_quantity(0.000_001_5).0, "1500n");
        assert_eq!(cpu_quantity(-1.0).0, "0n");
        assert_eq!(cpu_quantity(f64::NAN).0, "0n");
        assert_eq!(milli_value(&cpu_quantity(1.2345)), Some(1235));
        assert_eq!(memory_quantity(1 << 20).0, "1048576");
        assert_eq!(top_cpu(255), "255m");
        assert_eq!(
            top_memory(milli_value(&memory_quantity(52_428_799)).unwrap()),
            "49Mi"
        );
    }

    #[test]
    fn windows_are_go_durations() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_millis(15_250), "15.25s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ] {
            assert_eq!(format_go_duration(d), text);
            assert_eq!(parse_go_duration(text), Ok(d), "{text}");
        }
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("2us"), Ok(Duration::from_micros(2)));
        for bad in ["", "15", "15x", "-15s", "s", "1..5s"] {
            let err = parse_go_duration(bad).unwrap_err();
            assert!(err.contains("is not a duration such as"), "{bad}: {err}");
        }
        let err = serde_json::from_value::<PodMetrics>(json!({"window": "soon"})).unwrap_err();
        assert!(
            err.to_string().contains("\"soon\" is not a duration"),
            "{err}"
        );
    }

    #[test]
    fn missing_parts_are_empty_and_another_kind_is_refused() {
        let bare: PodMetrics = serde_json::from_value(json!({"metadata": null})).unwrap();
        assert_eq!(bare, PodMetrics::default());
        let err = serde_json::from_value::<NodeMetrics>(json!({"kind": "PodMetrics"})).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"kind: "PodMetrics" is not "NodeMetrics""#),
            "{err}"
        );
    }
}
