//! The `pod-template-hash`: a stable name for a pod template, used in ReplicaSet names, their
//! selectors and their pods' labels.
//!
//! Kubernetes hashes the template with FNV-1a (32 bits) and encodes the decimal digits with
//! `rand.SafeEncodeString` (consonants and digits, so a hash never spells a word). Kubernetes
//! feeds the hasher Go's `spew` dump of the struct; here the input is the template's JSON, which
//! k8s-openapi writes in a fixed field order with sorted maps, so it is just as stable.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label that carries the template hash on ReplicaSets and pods.
pub const LABEL: &str = "pod-template-hash";

/// The alphabet of `rand.SafeEncodeString` (k8s.io/apimachinery `pkg/util/rand`).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The stable hash of a template, ignoring any `pod-template-hash` label it already carries.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(&without_hash(template)).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(SAFE[usize::from(b) % SAFE.len()]))
        .collect()
}

/// The template without the `pod-template-hash` label, for comparing a Deployment's template
/// with a ReplicaSet's (Kubernetes `EqualIgnoreHash`).
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(LABEL);
    }
    t
}

/// Whether two templates are equal once their `pod-template-hash` labels are removed.
pub fn equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_hash_is_stable_and_ignores_its_own_label() {
        let a = template("nginx:1");
        let h = template_hash(&a);
        assert_eq!(h, template_hash(&template("nginx:1")));
        assert!(h.bytes().all(|b| SAFE.contains(&b)));
        let mut labelled = a.clone();
        labelled
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(LABEL.into(), h.clone());
        assert_eq!(template_hash(&labelled), h);
        assert!(equal_ignoring_hash(&a, &labelled));
        assert_ne!(template_hash(&template("nginx:2")), h);
    }
}
