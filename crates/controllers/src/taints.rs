//! Taints and tolerations (Kubernetes `v1helper.TolerationsTolerateTaint`), shared by the node
//! lifecycle and DaemonSet controllers.

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// The taint of a node whose lease expired.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node that reports Ready=False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a cordoned node.
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Whether one toleration tolerates one taint.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        // An empty key with Equal matches nothing but the empty key (validation forbids it).
        _ => {
            !key.is_empty()
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Whether the tolerations tolerate every taint with one of the given effects.
pub fn tolerates_all(tolerations: &[Toleration], taints: &[Taint], effects: &[&str]) -> bool {
    taints
        .iter()
        .filter(|t| effects.contains(&t.effect.as_str()))
        .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
            toleration_seconds: None,
        }
    }

    #[test]
    fn keys_values_operators_and_effects() {
        let t = taint("gpu", "yes", "NoSchedule");
        assert!(tolerates(
            &toleration("gpu", "Equal", "yes", "NoSchedule"),
            &t
        ));
        assert!(tolerates(&toleration("gpu", "Equal", "yes", ""), &t));
        assert!(!tolerates(
            &toleration("gpu", "Equal", "no", "NoSchedule"),
            &t
        ));
        assert!(tolerates(
            &toleration("gpu", "Exists", "", "NoSchedule"),
            &t
        ));
        assert!(tolerates(&toleration("", "Exists", "", ""), &t));
        assert!(!tolerates(
            &toleration("gpu", "Exists", "", "NoExecute"),
            &t
        ));
        assert!(!tolerates(&toleration("other", "Exists", "", ""), &t));
        assert!(tolerates_all(&[], std::slice::from_ref(&t), &["NoExecute"]));
        assert!(!tolerates_all(&[], &[t], &["NoSchedule"]));
    }
}
