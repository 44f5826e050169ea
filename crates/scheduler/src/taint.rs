//! Node taints and pod tolerations, read once from the API types.

use k8s_openapi::api::core::v1 as core;

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// New pods are not scheduled on the node.
    NoSchedule,
    /// The scheduler tries to avoid the node (a preference only).
    PreferNoSchedule,
    /// New pods are not scheduled and running ones are evicted.
    NoExecute,
}

impl Effect {
    fn parse(s: &str) -> Option<Effect> {
        match s {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }
}

/// A taint on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// The taint key.
    pub key: String,
    /// The taint value (empty when none).
    pub value: String,
    /// The effect.
    pub effect: Effect,
}

impl Taint {
    /// Reads an API taint; a taint with an unknown effect is dropped (`None`), as it would never
    /// have passed validation.
    pub fn from_api(t: &core::Taint) -> Option<Taint> {
        Some(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: Effect::parse(&t.effect)?,
        })
    }
}

/// A toleration on a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// The key tolerated; empty with `exists` tolerates every key.
    pub key: String,
    /// `Exists` (any value) rather than `Equal`.
    pub exists: bool,
    /// The value for `Equal`.
    pub value: String,
    /// The effect tolerated; `None` tolerates every effect.
    pub effect: Option<Effect>,
}

impl Toleration {
    /// Reads an API toleration.
    pub fn from_api(t: &core::Toleration) -> Toleration {
        Toleration {
            key: t.key.clone().unwrap_or_default(),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.as_deref().and_then(Effect::parse),
        }
    }

    /// Whether this toleration tolerates the taint (Kubernetes' `Toleration.ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if self.key.is_empty() {
            // An empty key is valid only with Exists, and then it matches every key.
            return self.exists;
        }
        self.key == taint.key && (self.exists || self.value == taint.value)
    }
}

/// Whether any toleration in the list tolerates the taint.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn tol(key: &str, exists: bool, value: &str, effect: Option<Effect>) -> Toleration {
        Toleration {
            key: key.into(),
            exists,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn equal_needs_the_value_and_exists_does_not() {
        let t = taint("gpu", "yes", Effect::NoSchedule);
        assert!(tol("gpu", false, "yes", None).tolerates(&t));
        assert!(!tol("gpu", false, "no", None).tolerates(&t));
        assert!(tol("gpu", true, "", None).tolerates(&t));
        assert!(!tol("other", true, "", None).tolerates(&t));
    }

    #[test]
    fn effects_must_agree_and_an_empty_key_with_exists_tolerates_all() {
        let t = taint("gpu", "yes", Effect::NoExecute);
        assert!(!tol("gpu", true, "", Some(Effect::NoSchedule)).tolerates(&t));
        assert!(tol("gpu", true, "", Some(Effect::NoExecute)).tolerates(&t));
        assert!(tol("", true, "", None).tolerates(&t));
        assert!(!tol("", false, "", None).tolerates(&t));
    }
}
