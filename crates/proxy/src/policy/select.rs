//! The policy value for a Service's routing choice. What a Service asks for is parsed by the
//! pure [`brume_fog::routing_spec`] (which the API server also uses to refuse bad annotations);
//! this file turns the choice into a policy and logs what it had to replace by a default.

use std::sync::Arc;

pub use brume_fog::routing_spec::{
    PolicyKind, Preference, RoutingError, RoutingSpec, ServiceFields,
};

use super::{LeastRequest, Policy, Proximity, Random, RoundRobin, SourceHash};

/// A fresh policy value of this kind, with no history.
pub fn build(kind: &PolicyKind) -> Arc<dyn Policy> {
    match *kind {
        PolicyKind::Random => Arc::new(Random),
        PolicyKind::RoundRobin => Arc::new(RoundRobin::new()),
        PolicyKind::LeastRequest => Arc::new(LeastRequest::new()),
        PolicyKind::SourceHash => Arc::new(SourceHash),
        PolicyKind::Proximity(params) => Arc::new(Proximity::new(params)),
    }
}

/// The Service's routing, with each invalid value replaced by its default and a warning
/// logged: the proxy keeps serving a Service whose annotation has a typo.
pub fn from_service(service: &ServiceFields<'_>) -> RoutingSpec {
    let (spec, errors) = RoutingSpec::parse_all(service);
    for e in errors {
        tracing::warn!(error = %e, "invalid routing setting; using the default");
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds_the_policy_of_its_name() {
        for (kind, name) in [
            (PolicyKind::Random, "random"),
            (PolicyKind::RoundRobin, "round-robin"),
            (PolicyKind::LeastRequest, "least-request"),
            (PolicyKind::SourceHash, "source-hash"),
            (PolicyKind::Proximity(Default::default()), "proximity"),
        ] {
            assert_eq!(build(&kind).name(), name);
        }
    }

    #[test]
    fn a_bad_annotation_falls_back_to_the_default() {
        let map = [("fog.brume.io/routing".to_string(), "nearest".to_string())].into();
        let fields = ServiceFields {
            annotations: Some(&map),
            ..Default::default()
        };
        assert_eq!(from_service(&fields), RoutingSpec::default());
    }
}
