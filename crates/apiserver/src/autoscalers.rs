//! One autoscaler per Deployment: a HorizontalPodAutoscaler and a fog.brume.io LatencyAutoscaler
//! on the same Deployment would fight over its replicas, so the API server refuses the second
//! at admission, with a message naming the first (issue 5). Writes of either kind are
//! serialized, and each sees every autoscaler of its namespace, so two writes racing cannot
//! both pass. The lock is process-local, as the node-port allocator's is ([`crate::node_ports`]).

use std::sync::Arc;

use brume_api::{FieldError, ResourceInfo, resource};
use brume_store::RangeRequest;
use serde_json::Value;
use tokio::sync::MutexGuard;

use crate::object::{from_kv, meta_str};
use crate::{ApiError, AppState};

/// The kinds that size a workload: (group, apiVersion, kind).
const AUTOSCALERS: [(&str, &str, &str); 2] = [
    ("autoscaling", "autoscaling/v2", "HorizontalPodAutoscaler"),
    ("fog.brume.io", "fog.brume.io/v1", "LatencyAutoscaler"),
];

/// An autoscaler write in progress: holds the lock until the write is stored.
pub struct AutoscalerWrite<'a> {
    _guard: MutexGuard<'a, ()>,
    /// (kind, name, target kind, target name) of every other autoscaler in the namespace.
    others: Vec<(&'static str, String, String, String)>,
}

/// The target of an autoscaler object: (kind, name) of `spec.scaleTargetRef`.
fn target(obj: &Value) -> (String, String) {
    let field = |f: &str| {
        obj.pointer(&format!("/spec/scaleTargetRef/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (field("kind"), field("name"))
}

/// Locks autoscaler writes for a write to `name` in `namespace`, and reads the namespace's
/// other autoscalers. `None` for every other kind.
pub async fn begin<'a>(
    state: &'a Arc<AppState>,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<AutoscalerWrite<'a>>, ApiError> {
    if !AUTOSCALERS
        .iter()
        .any(|(group, _, kind)| *group == info.group && *kind == info.kind)
    {
        return Ok(None);
    }
    let guard = state.autoscaler_writes.lock().await;
    let mut others = Vec::new();
    for (_, api_version, kind) in AUTOSCALERS {
        let Some(other) = resource::by_kind(api_version, kind) else {
            continue;
        };
        let all = state
            .store
            .range(RangeRequest {
                prefix: other.key_prefix(namespace),
                ..Default::default()
            })
            .await?;
        for kv in &all.kvs {
            let obj = from_kv(kv)?;
            let other_name = meta_str(&obj, "name").to_string();
            if other.kind == info.kind && other_name == name {
                continue;
            }
            let (target_kind, target_name) = target(&obj);
            others.push((other.kind, other_name, target_kind, target_name));
        }
    }
    Ok(Some(AutoscalerWrite {
        _guard: guard,
        others,
    }))
}

impl AutoscalerWrite<'_> {
    /// Refuses `obj` when another autoscaler already sizes its target.
    pub fn check(&self, info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
        let (kind, name) = target(obj);
        let Some((other_kind, other, ..)) = self
            .others
            .iter()
            .find(|(_, _, k, n)| *k == kind && *n == name)
        else {
            return Ok(());
        };
        let detail = format!(
            "{kind} {name:?} is already sized by {other_kind} {other:?}; one workload takes one \
             autoscaler (a HorizontalPodAutoscaler or a LatencyAutoscaler, not both): delete \
             {other_kind} {other:?} first or point spec.scaleTargetRef at another workload"
        );
        Err(ApiError::invalid(
            info,
            meta_str(obj, "name"),
            &[FieldError::invalid(
                "spec.scaleTargetRef.name",
                name.as_str(),
                detail,
            )],
        ))
    }
}
