//! A Deployment's strategy with its surge and unavailability budgets resolved to pod counts.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::intstr::{IntOrPercentError, scaled};

/// How a Deployment replaces old pods with new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Kill every old pod before creating new ones.
    Recreate,
    /// Replace pods gradually within the budgets.
    RollingUpdate {
        /// How many pods may exist above `spec.replicas` (percentages round up).
        max_surge: i32,
        /// How many of `spec.replicas` may be unavailable (percentages round down).
        max_unavailable: i32,
    },
}

impl Strategy {
    /// Reads the strategy of `d` (Kubernetes `ResolveFenceposts`: if both budgets are zero, one
    /// pod may be unavailable so the rollout can progress).
    pub fn of(d: &Deployment) -> Result<Strategy, IntOrPercentError> {
        let desired = d.spec.replicas.unwrap_or(1);
        let strategy = d.spec.strategy.as_ref();
        if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") {
            return Ok(Strategy::Recreate);
        }
        let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
        let quarter = IntOrString::String("25%".into());
        let surge = rolling
            .and_then(|r| r.max_surge.as_ref())
            .unwrap_or(&quarter);
        let unavailable = rolling
            .and_then(|r| r.max_unavailable.as_ref())
            .unwrap_or(&quarter);
        let max_surge = scaled(surge, desired, true)?.max(0);
        let mut max_unavailable = scaled(unavailable, desired, false)?.max(0);
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Ok(Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        })
    }

    /// How many of `replicas` may be unavailable (Kubernetes `MaxUnavailable`: never more than
    /// the replicas, zero for Recreate).
    pub fn max_unavailable(&self, replicas: i32) -> i32 {
        match *self {
            Strategy::Recreate => 0,
            Strategy::RollingUpdate {
                max_unavailable, ..
            } => max_unavailable.min(replicas).max(0),
        }
    }

    /// How many pods may exist above `spec.replicas`.
    pub fn max_surge(&self) -> i32 {
        match *self {
            Strategy::Recreate => 0,
            Strategy::RollingUpdate { max_surge, .. } => max_surge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i32, strategy: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "selector": {}, "template": {}, "strategy": strategy}
        }))
        .unwrap()
    }

    #[test]
    fn budgets_round_like_kubernetes() {
        let d = deployment(
            10,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
        assert_eq!(
            Strategy::of(&d).unwrap(),
            Strategy::RollingUpdate {
                max_surge: 3,
                max_unavailable: 2
            }
        );
        let d = deployment(
            3,
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}),
        );
        assert_eq!(
            Strategy::of(&d).unwrap(),
            Strategy::RollingUpdate {
                max_surge: 0,
                max_unavailable: 1
            }
        );
        let d = deployment(2, json!({"type": "Recreate"}));
        assert_eq!(Strategy::of(&d).unwrap(), Strategy::Recreate);
        assert_eq!(Strategy::of(&d).unwrap().max_unavailable(2), 0);
    }
}
