//! The `fog.brume.io/v1` LatencyAutoscaler: a latency objective held on a Deployment (DESIGN
//! §8, "Latency-SLO autoscaling"). It names the Deployment, the objective ("90 % of requests
//! under 30 ms"), what one replica serves and the replica bounds; the latency autoscaler
//! controller sizes the Deployment to the fewest replicas whose placement near the demand meets
//! the objective, and writes what it measured and predicted in the status.
//!
//! It reads like a HorizontalPodAutoscaler: `spec.scaleTargetRef`, `minReplicas`,
//! `maxReplicas`, and `status.currentReplicas` / `desiredReplicas` / `conditions`. One
//! Deployment has either kind of autoscaler, never both (the API server refuses the second).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};

use crate::own_kind::{check_type, own_kind};
pub use crate::traffic_report::{API_VERSION, GROUP, VERSION};

/// The `kind` of a LatencyAutoscaler.
pub const KIND: &str = "LatencyAutoscaler";
/// The resource name in URLs (`/apis/fog.brume.io/v1/namespaces/<ns>/latencyautoscalers`).
pub const PLURAL: &str = "latencyautoscalers";
/// The condition that is True while the objective cannot be met within `maxReplicas` (or by
/// the current placement while the autoscaler holds).
pub const SLO_UNMET: &str = "SLOUnmet";
/// The condition that is False while the demand reports are missing or stale, so the
/// autoscaler holds the current replicas.
pub const DEMAND_AVAILABLE: &str = "DemandAvailable";

/// A latency objective held on one Deployment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "Wire")]
pub struct LatencyAutoscaler {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// What the user asks for.
    pub spec: LatencyAutoscalerSpec,
    /// What the controller last decided and observed.
    pub status: Option<LatencyAutoscalerStatus>,
}

/// What the user asks for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyAutoscalerSpec {
    /// The Deployment to size (`apiVersion: apps/v1`, `kind: Deployment`), as in an HPA.
    #[serde(default)]
    pub scale_target_ref: ScaleTargetRef,
    /// The objective: `percentile` % of requests within `latencyMs`.
    #[serde(default)]
    pub objective: Objective,
    /// The requests (plus TCP connections) per second one replica serves within the objective.
    #[serde(default)]
    pub replica_capacity: f64,
    /// The fewest replicas, whatever the demand (>= 1; default 1). Missing or stale demand never
    /// takes the Deployment below its current size, let alone to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// The most replicas (>= minReplicas).
    #[serde(default)]
    pub max_replicas: i32,
    /// The Service whose demand is sized for. Default: every Service in the namespace that
    /// selects the Deployment's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// The object an autoscaler sizes, as `autoscaling/v2`'s CrossVersionObjectReference.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// `apps/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Deployment`.
    #[serde(default)]
    pub kind: String,
    /// The Deployment's name, in the autoscaler's namespace.
    #[serde(default)]
    pub name: String,
}

/// "`percentile` % of requests within `latencyMs` milliseconds".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    /// The share of requests, in percent: 0 < percentile <= 100 (90 for "p90").
    #[serde(default)]
    pub percentile: f64,
    /// The latency bound in milliseconds (> 0).
    #[serde(default)]
    pub latency_ms: f64,
}

/// What the controller last decided and observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyAutoscalerStatus {
    /// The generation of the spec this status answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Deployment's replicas when last seen.
    #[serde(default)]
    pub current_replicas: i32,
    /// The replicas the objective needs, within the bounds.
    #[serde(default)]
    pub desired_replicas: i32,
    /// The nodes the plan puts replicas on, nearest the demand first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement: Vec<String>,
    /// The demand sized for, in requests plus connections per second.
    #[serde(default)]
    pub demand: f64,
    /// The share of requests (percent) the proxies measured within the bound over the last
    /// reporting window; absent until there is a window with requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_attainment: Option<f64>,
    /// The share of requests (percent) the plan is predicted to serve within the bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_attainment: Option<f64>,
    /// When the replica count was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// Why the desired count is what it is (`ObjectiveMet`, `ObjectiveUnmetAtMax`,
    /// `HoldingNoFreshDemand`, `ScaleDownStabilizing`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The same in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `SLOUnmet` and `DemandAvailable`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One condition, as Kubernetes' status conditions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `SLOUnmet` or `DemandAvailable`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// A CamelCase reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl LatencyAutoscaler {
    /// `minReplicas`, defaulted to 1.
    pub fn min_replicas(&self) -> i32 {
        self.spec.min_replicas.unwrap_or(1)
    }

    /// The objective in words: `p90 < 30ms`.
    pub fn objective_text(&self) -> String {
        objective_text(&self.spec.objective)
    }
}

/// `p90 < 30ms` for 90 % within 30 ms.
pub fn objective_text(o: &Objective) -> String {
    format!("p{} < {}ms", o.percentile, o.latency_ms)
}

impl Serialize for LatencyAutoscaler {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct(KIND, 5)?;
        state.serialize_field("apiVersion", API_VERSION)?;
        state.serialize_field("kind", KIND)?;
        state.serialize_field("metadata", &self.metadata)?;
        state.serialize_field("spec", &self.spec)?;
        if let Some(status) = &self.status {
            state.serialize_field("status", status)?;
        }
        state.end()
    }
}

/// A LatencyAutoscaler as written: `apiVersion` and `kind` may be left out and `null` counts as
/// absent, as k8s-openapi's kinds read them.
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
    spec: Option<LatencyAutoscalerSpec>,
    #[serde(default)]
    status: Option<LatencyAutoscalerStatus>,
}

impl TryFrom<Wire> for LatencyAutoscaler {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, Self::Error> {
        check_type(
            wire.api_version.as_deref(),
            wire.kind.as_deref(),
            API_VERSION,
            KIND,
        )?;
        Ok(LatencyAutoscaler {
            metadata: wire.metadata.unwrap_or_default(),
            spec: wire.spec.unwrap_or_default(),
            status: wire.status,
        })
    }
}

own_kind!(
    LatencyAutoscaler,
    API_VERSION,
    GROUP,
    VERSION,
    KIND,
    PLURAL,
    "LatencyAutoscalerList",
    k8s_openapi::NamespaceResourceScope
);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> serde_json::Value {
        json!({
            "apiVersion": "fog.brume.io/v1", "kind": "LatencyAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "objective": {"percentile": 90.0, "latencyMs": 30.0},
                "replicaCapacity": 50.0, "minReplicas": 1, "maxReplicas": 5},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "placement": ["n1", "n4", "n6"],
                "demand": 120.0, "predictedAttainment": 96.5, "reason": "ObjectiveMet",
                "conditions": [{"type": "SLOUnmet", "status": "False", "reason": "ObjectiveMet"}]}
        })
    }

    #[test]
    fn the_documented_shape_round_trips() {
        let la: LatencyAutoscaler = serde_json::from_value(sample()).unwrap();
        assert_eq!(la.spec.objective.latency_ms, 30.0);
        assert_eq!(la.min_replicas(), 1);
        assert_eq!(la.objective_text(), "p90 < 30ms");
        assert_eq!(la.status.as_ref().unwrap().placement.len(), 3);
        assert_eq!(serde_json::to_value(&la).unwrap(), sample());
    }

    #[test]
    fn missing_parts_are_empty_and_another_kind_is_refused() {
        let bare: LatencyAutoscaler =
            serde_json::from_value(json!({"metadata": null, "spec": null})).unwrap();
        assert_eq!(bare, LatencyAutoscaler::default());
        assert_eq!(bare.min_replicas(), 1);
        let err =
            serde_json::from_value::<LatencyAutoscaler>(json!({"kind": "HorizontalPodAutoscaler"}))
                .unwrap_err();
        assert!(
            err.to_string().contains("is not \"LatencyAutoscaler\""),
            "{err}"
        );
    }
}
