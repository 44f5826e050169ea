//! Server-side Table output (`meta.k8s.io/v1` Table): the columns and cells `kubectl get`
//! prints, for every kind (DESIGN §4, §11). The columns and cell rules follow Kubernetes'
//! built-in printers (`pkg/printers/internalversion`), so kubectl shows what it shows against a
//! real cluster. As the Kubernetes server does, a row carries every column, wide ones included;
//! kubectl hides the `priority: 1` columns unless asked for `-o wide`.
//!
//! Pure: objects are raw JSON and `now` is passed in, so ages are reproducible in tests.

mod apps;
mod cluster;
mod config;
mod duration;
mod fog;
mod format;
mod metrics;
mod network;
mod pod;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::resource::ResourceInfo;
pub use duration::human_duration;
use format::{AGE, NAME};

/// One column of a Table, as sent in `columnDefinitions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header kubectl prints, upper-cased (`Name`, `Ready`, `Port(s)`).
    pub name: &'static str,
    /// The OpenAPI type of the cells: "string", "integer", "date" or "number".
    pub kind: &'static str,
    /// "name" for the column that holds the object's name, else "".
    pub format: &'static str,
    /// What the column shows, for clients that explain columns.
    pub description: &'static str,
    /// 0 for a default column, 1 for one shown only with `-o wide`.
    pub priority: i32,
}

/// The cells of one object, in column order.
type RowFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// The printer of one kind: its columns and how to fill them.
struct Printer {
    columns: &'static [Column],
    row: RowFn,
}

/// Kinds without a printer of their own get Name and Age, like Kubernetes' default table
/// convertor (which names the second column "Created At"; an age reads better in kubectl).
const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

fn default_row(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![format::name(obj), format::age(obj, now)]
}

/// The printer for a kind. The version is ignored: the cells read fields every served version
/// of these kinds shares.
fn printer(info: &ResourceInfo) -> Printer {
    let (columns, row): (&'static [Column], RowFn) = match (info.group, info.kind) {
        ("", "Pod") => (pod::COLUMNS, pod::row),
        ("", "Node") => (cluster::NODE, cluster::node),
        ("", "Namespace") => (cluster::NAMESPACE, cluster::namespace),
        ("", "Event") => (cluster::EVENT, cluster::event),
        ("coordination.k8s.io", "Lease") => (cluster::LEASE, cluster::lease),
        ("", "ConfigMap") => (config::CONFIG_MAP, config::config_map),
        ("", "Secret") => (config::SECRET, config::secret),
        ("", "Service") => (network::SERVICE, network::service),
        ("", "Endpoints") => (network::ENDPOINTS, network::endpoints),
        ("discovery.k8s.io", "EndpointSlice") => (network::ENDPOINT_SLICE, network::endpoint_slice),
        ("apps", "Deployment") => (apps::DEPLOYMENT, apps::deployment),
        ("apps", "ReplicaSet") => (apps::REPLICA_SET, apps::replica_set),
        ("apps", "DaemonSet") => (apps::DAEMON_SET, apps::daemon_set),
        ("autoscaling", "HorizontalPodAutoscaler") => (apps::HPA, apps::hpa),
        ("fog.brume.io", "TrafficReport") => (fog::TRAFFIC_REPORT, fog::traffic_report),
        ("fog.brume.io", "LatencyAutoscaler") => (fog::LATENCY_AUTOSCALER, fog::latency_autoscaler),
        ("metrics.k8s.io", "PodMetrics") => (metrics::POD_METRICS, metrics::pod_metrics),
        ("metrics.k8s.io", "NodeMetrics") => (metrics::NODE_METRICS, metrics::node_metrics),
        _ => (DEFAULT_COLUMNS, default_row),
    };
    Printer { columns, row }
}

/// The columns of a kind's Table, wide ones included, in the order kubectl prints them.
pub fn columns(info: &ResourceInfo) -> Vec<Column> {
    printer(info).columns.to_vec()
}

/// The cells of one object's Table row: one per entry of [`columns`], same order. Ages are
/// measured from `now`.
pub fn row(info: &ResourceInfo, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    (printer(info).row)(obj, now)
}

/// The `columnDefinitions` array of a kind's Table:
/// `[{"name","type","format","description","priority"}, ...]`.
pub fn column_definitions_json(info: &ResourceInfo) -> Value {
    let defs: Vec<Value> = printer(info)
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    Value::Array(defs)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixtures shared by the printers' tests.
    use chrono::{DateTime, Utc};

    /// The fixed "now" of every table test.
    pub fn now() -> DateTime<Utc> {
        at("2025-06-01T12:00:00Z")
    }

    /// A time in RFC 3339.
    pub fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The kind with this name in the registry.
    pub fn kind(kind: &str) -> &'static crate::ResourceInfo {
        crate::resource::KINDS
            .iter()
            .find(|k| k.kind == kind)
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{kind, now};
    use super::*;
    use crate::resource::{KINDS, Scope};

    /// A plausible object of each kind, with status filled in where the kind has one.
    fn sample(info: &ResourceInfo) -> Value {
        let meta = json!({"name": "x", "namespace": "default",
            "creationTimestamp": "2025-06-01T11:00:00Z"});
        let mut obj =
            json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": meta});
        let extra = match info.kind {
            "Pod" => json!({"spec": {"containers": [{"name": "app", "image": "nginx"}]},
                "status": {"phase": "Running", "containerStatuses": [{"name": "app",
                    "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
            "Service" => json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                "ports": [{"port": 53, "protocol": "UDP"}]}}),
            "Deployment" | "ReplicaSet" | "DaemonSet" => json!({"spec": {"replicas": 1,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}},
                "status": {"replicas": 1}}),
            "HorizontalPodAutoscaler" => json!({"spec": {"maxReplicas": 3,
                "scaleTargetRef": {"kind": "Deployment", "name": "x"}}}),
            "TrafficReport" => json!({"spec": {"service": "x", "gateway": "n1",
                "requestsPerSecond": 1.5}}),
            _ => json!({}),
        };
        for (k, v) in extra.as_object().unwrap() {
            obj[k] = v.clone();
        }
        obj
    }

    #[test]
    fn every_kind_has_one_cell_per_column() {
        for info in KINDS {
            let cols = columns(info);
            assert_eq!(
                row(info, &sample(info), now()).len(),
                cols.len(),
                "{}",
                info.kind
            );
            // A bare object must not panic or lose cells either.
            assert_eq!(
                row(info, &json!({}), now()).len(),
                cols.len(),
                "{}",
                info.kind
            );
            assert_eq!(
                column_definitions_json(info).as_array().unwrap().len(),
                cols.len()
            );
        }
    }

    #[test]
    fn every_kind_names_its_objects_in_exactly_one_column() {
        for info in KINDS {
            let cols = columns(info);
            let named: Vec<_> = cols.iter().filter(|c| c.format == "name").collect();
            assert_eq!(named.len(), 1, "{}", info.kind);
            assert_eq!(named[0].name, "Name", "{}", info.kind);
            for c in &cols {
                assert!(["string", "integer", "date", "number"].contains(&c.kind));
                assert!(c.priority == 0 || c.priority == 1);
                assert!(!c.description.is_empty(), "{} {}", info.kind, c.name);
            }
        }
    }

    #[test]
    fn every_kind_in_the_registry_has_its_own_printer() {
        for info in KINDS {
            assert!(columns(info).len() > 2, "{} has no printer", info.kind);
        }
    }

    #[test]
    fn column_definitions_use_the_table_field_names() {
        let defs = column_definitions_json(kind("Pod"));
        assert_eq!(defs[0]["name"], "Name");
        assert_eq!(defs[0]["type"], "string");
        assert_eq!(defs[0]["format"], "name");
        assert!(
            defs[0]["description"]
                .as_str()
                .unwrap()
                .starts_with("Name must be unique")
        );
        assert_eq!(defs[0]["priority"], 0);
        let ip = defs
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "IP")
            .unwrap();
        assert_eq!(ip["priority"], 1);
        assert_eq!(ip["format"], "");
    }

    #[test]
    fn unknown_kinds_get_name_and_age() {
        let widget = ResourceInfo {
            group: "example.com",
            version: "v1",
            kind: "Widget",
            plural: "widgets",
            singular: "widget",
            scope: Scope::Namespaced,
            short_names: &[],
            subresources: &[],
            categories: &[],
            round_trip: |v| Ok(v.clone()),
        };
        let names: Vec<_> = columns(&widget).iter().map(|c| c.name).collect();
        assert_eq!(names, ["Name", "Age"]);
        let obj = json!({"metadata": {"name": "r1", "creationTimestamp": "2025-06-01T11:57:00Z"}});
        assert_eq!(row(&widget, &obj, now()), vec![json!("r1"), json!("3m")]);
        let no_time = json!({"metadata": {"name": "r2"}});
        assert_eq!(row(&widget, &no_time, now())[1], "<unknown>");
    }
}
