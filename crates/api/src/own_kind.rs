//! What Brume's own kinds (fog.brume.io TrafficReports and LatencyAutoscalers, the
//! metrics.k8s.io metrics) share: the k8s-openapi traits that let kube-rs's `Api<K>` read and
//! write them, and the check that a written `apiVersion` and `kind` name the kind.

/// Refuses an `apiVersion` or `kind` that is set and is not the kind's (either may be left
/// out, as k8s-openapi's kinds allow).
pub(crate) fn check_type(
    api_version: Option<&str>,
    kind: Option<&str>,
    want_api_version: &str,
    want_kind: &str,
) -> Result<(), String> {
    for (field, found, want) in [
        ("apiVersion", api_version, want_api_version),
        ("kind", kind, want_kind),
    ] {
        if let Some(found) = found.filter(|f| *f != want) {
            return Err(format!("{field}: {found:?} is not {want:?}"));
        }
    }
    Ok(())
}

/// Implements `k8s_openapi::{Resource, ListableResource, Metadata}` for a kind whose
/// `metadata` field is an `ObjectMeta`.
macro_rules! own_kind {
    ($ty:ty, $api_version:expr, $group:expr, $version:expr, $kind:expr, $plural:expr,
     $list_kind:expr, $scope:ty) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = $api_version;
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }

        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = $list_kind;
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

pub(crate) use own_kind;
