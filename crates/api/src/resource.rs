//! The registry of kinds the API serves: where each lives in the URL space, its names, whether it
//! is namespaced, its subresources, and how to decode it into its typed form.

use serde_json::Value;

/// Whether objects of a kind live in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Objects live in a namespace (`/namespaces/<ns>/<plural>/<name>`).
    Namespaced,
    /// Objects are cluster-wide (`/<plural>/<name>`).
    Cluster,
}

/// A decoder that round-trips an object through its typed Kubernetes struct. It returns the
/// object as the typed struct serializes it, so fields the kind does not know are dropped; the
/// caller compares input and output to find them. The error names the path of the bad field.
pub type TypedRoundTrip = fn(&Value) -> Result<Value, String>;

/// One kind served by the API.
#[derive(Clone, Copy, Debug)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// The kind, as in `kind:`.
    pub kind: &'static str,
    /// The plural resource name used in URLs.
    pub plural: &'static str,
    /// The singular name (kubectl accepts it).
    pub singular: &'static str,
    /// Namespaced or cluster-wide.
    pub scope: Scope,
    /// Short names kubectl accepts (`po`, `deploy`, ...).
    pub short_names: &'static [&'static str],
    /// Subresources served below an object (`status`, `scale`, `binding`, ...).
    pub subresources: &'static [&'static str],
    /// Categories (`all`) for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// The typed decoder for strict field validation.
    pub round_trip: TypedRoundTrip,
}

impl ResourceInfo {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// True for namespaced kinds.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespaced
    }

    /// True when the kind serves the given subresource.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.contains(&sub)
    }

    /// The store key prefix of every object of this kind, or of one namespace of it.
    /// Keys follow DESIGN §5: `/registry/<group>/<resource>/<namespace>/<name>`, with the core
    /// group written as `core`.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        match namespace {
            Some(ns) if self.namespaced() => format!("/registry/{group}/{}/{ns}/", self.plural),
            _ => format!("/registry/{group}/{}/", self.plural),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.key_prefix(namespace))
    }
}

fn round_trip<T>(value: &Value) -> Result<Value, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let typed: T = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

macro_rules! kinds {
    ($( $ty:ty => { $group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr,
        $scope:ident, [$($short:expr),*], [$($sub:expr),*], [$($cat:expr),*] } ),* $(,)?) => {
        /// Every kind the API serves, in discovery order.
        pub static KINDS: &[ResourceInfo] = &[
            $( ResourceInfo {
                group: $group,
                version: $version,
                kind: $kind,
                plural: $plural,
                singular: $singular,
                scope: Scope::$scope,
                short_names: &[$($short),*],
                subresources: &[$($sub),*],
                categories: &[$($cat),*],
                round_trip: round_trip::<$ty>,
            } ),*
        ];
    };
}

use k8s_openapi::api::{apps::v1 as apps, autoscaling::v2 as autoscaling, core::v1 as core};
use k8s_openapi::api::{coordination::v1 as coordination, discovery::v1 as discovery};

use crate::latency_autoscaler::LatencyAutoscaler;
use crate::metrics::{NodeMetrics, PodMetrics};
use crate::traffic_report::TrafficReport;

kinds! {
    core::Namespace => { "", "v1", "Namespace", "namespaces", "namespace", Cluster, ["ns"], ["status", "finalize"], [] },
    core::Node => { "", "v1", "Node", "nodes", "node", Cluster, ["no"], ["status"], [] },
    core::Pod => { "", "v1", "Pod", "pods", "pod", Namespaced, ["po"], ["status", "binding", "log", "eviction"], ["all"] },
    core::Service => { "", "v1", "Service", "services", "service", Namespaced, ["svc"], ["status"], ["all"] },
    core::Endpoints => { "", "v1", "Endpoints", "endpoints", "endpoints", Namespaced, ["ep"], [], [] },
    core::ConfigMap => { "", "v1", "ConfigMap", "configmaps", "configmap", Namespaced, ["cm"], [], [] },
    core::Secret => { "", "v1", "Secret", "secrets", "secret", Namespaced, [], [], [] },
    core::Event => { "", "v1", "Event", "events", "event", Namespaced, ["ev"], [], [] },
    apps::Deployment => { "apps", "v1", "Deployment", "deployments", "deployment", Namespaced, ["deploy"], ["status", "scale"], ["all"] },
    apps::ReplicaSet => { "apps", "v1", "ReplicaSet", "replicasets", "replicaset", Namespaced, ["rs"], ["status", "scale"], ["all"] },
    apps::DaemonSet => { "apps", "v1", "DaemonSet", "daemonsets", "daemonset", Namespaced, ["ds"], ["status"], ["all"] },
    discovery::EndpointSlice => { "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", Namespaced, [], [], [] },
    coordination::Lease => { "coordination.k8s.io", "v1", "Lease", "leases", "lease", Namespaced, [], [], [] },
    autoscaling::HorizontalPodAutoscaler => { "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler", Namespaced, ["hpa"], ["status"], ["all"] },
    TrafficReport => { "fog.brume.io", "v1", "TrafficReport", "trafficreports", "trafficreport", Namespaced, ["tr"], [], [] },
    LatencyAutoscaler => { "fog.brume.io", "v1", "LatencyAutoscaler", "latencyautoscalers", "latencyautoscaler", Namespaced, ["la"], ["status"], ["all"] },
    // After the core kinds, so `pods` and `nodes` on the command line mean the core ones.
    PodMetrics => { "metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "podmetrics", Namespaced, [], [], [] },
    NodeMetrics => { "metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "nodemetrics", Cluster, [], [], [] },
}

/// The kind served at `<group>/<version>/<plural>`.
pub fn by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

/// The kind named by `apiVersion` and `kind`, as written in a manifest.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    KINDS
        .iter()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// The kind a user means by a name on the command line: plural, singular, short name or kind,
/// in any letter case (`pods`, `pod`, `po`, `Pod`, `deployments.apps`).
pub fn by_user_name(name: &str) -> Option<&'static ResourceInfo> {
    let lower = name.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (lower, None),
    };
    KINDS.iter().find(|k| {
        group.as_deref().is_none_or(|g| g == k.group)
            && (k.plural == name
                || k.singular == name
                || k.kind.eq_ignore_ascii_case(&name)
                || k.short_names.contains(&name.as_str()))
    })
}

/// The API groups served, each with its one version, in discovery order (core first, as "").
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for k in KINDS {
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_registry_layout() {
        let pods = by_plural("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        let nodes = by_plural("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(Some("ignored"), "n1"), "/registry/core/nodes/n1");
        let deploy = by_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.key_prefix(None), "/registry/apps/deployments/");
    }

    #[test]
    fn user_names_resolve_like_kubectl() {
        assert_eq!(by_user_name("po").unwrap().kind, "Pod");
        assert_eq!(by_user_name("Deployments").unwrap().kind, "Deployment");
        assert_eq!(by_user_name("deploy").unwrap().kind, "Deployment");
        assert_eq!(by_user_name("replicasets.apps").unwrap().kind, "ReplicaSet");
        assert!(by_user_name("replicasets.core").is_none());
        assert!(by_user_name("widgets").is_none());
        assert_eq!(by_user_name("tr").unwrap().kind, "TrafficReport");
        assert_eq!(
            by_user_name("trafficreports.fog.brume.io").unwrap().kind,
            "TrafficReport"
        );
        // The metrics kinds share their plurals with the core kinds, which win unqualified.
        assert_eq!(by_user_name("pods").unwrap().group, "");
        assert_eq!(by_user_name("nodes").unwrap().group, "");
        assert_eq!(
            by_user_name("pods.metrics.k8s.io").unwrap().kind,
            "PodMetrics"
        );
        assert_eq!(by_user_name("nodemetrics").unwrap().kind, "NodeMetrics");
        assert_eq!(
            by_plural("metrics.k8s.io", "v1beta1", "pods")
                .unwrap()
                .key(Some("default"), "web"),
            "/registry/metrics.k8s.io/pods/default/web"
        );
    }

    #[test]
    fn typed_round_trip_drops_unknown_fields_and_names_bad_ones() {
        let deploy = by_kind("apps/v1", "Deployment").unwrap();
        let out = (deploy.round_trip)(&serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "bogus": 1},
            "spec": {"replicas": 2, "selector": {}, "template": {}}
        }))
        .unwrap();
        assert!(out["metadata"].get("bogus").is_none());
        assert_eq!(out["spec"]["replicas"], 2);
        let err = (deploy.round_trip)(&serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": "three", "selector": {}, "template": {}}
        }))
        .unwrap_err();
        assert!(err.contains("spec.replicas"), "{err}");
    }
}
