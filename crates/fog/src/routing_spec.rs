//! Which routing a Service asks for: the `fog.brume.io/*` annotations, `spec.sessionAffinity`
//! and `spec.trafficDistribution`, turned into a [`RoutingSpec`].
//!
//! Precedence, most specific first:
//! 1. `fog.brume.io/routing` (Brume's explicit choice) names the policy;
//! 2. else `sessionAffinity: ClientIP` gives `source-hash`: stickiness is a correctness property
//!    for the application, while `trafficDistribution` is only a preference;
//! 3. else `trafficDistribution: PreferClose` gives `proximity` (DESIGN §7);
//! 4. else `random`, Kubernetes' default.
//!
//! `PreferSameNode` and `PreferSameZone` keep their Kubernetes meaning: a topology filter
//! applied before whichever policy was chosen (endpoints on the gateway's node, or in its zone,
//! when there are any, else all). See the `trafficDistribution` field doc in
//! `core/v1 ServiceSpec` (Kubernetes 1.33+).
//!
//! The proximity parameters are brume-fog's [`ProximityParams`], whose defaults were measured
//! with `brume sim`: α = 0.95 (19/20 of the traffic follows distance, 1/20 is spread
//! uniformly, so every replica stays observed), p = 4 (DESIGN §8 started from Shepard's
//! inverse-square weighting, 1968, p = 2, which spread too much traffic far away) and β = 1
//! (skip an endpoint with more than twice the mean in flight, and weigh the latency observed
//! to each). `fog.brume.io/proximity-beta: off` turns the guard off.

use std::collections::BTreeMap;

use crate::routing::ProximityParams;

/// The policies `fog.brume.io/routing` may name.
pub const POLICY_NAMES: &[&str] = &[
    "random",
    "round-robin",
    "least-request",
    "source-hash",
    "proximity",
];

/// Annotation naming the policy.
pub const ROUTING_ANNOTATION: &str = "fog.brume.io/routing";
/// Annotation setting the proximity policy's α.
pub const ALPHA_ANNOTATION: &str = crate::routing::PROXIMITY_ALPHA_ANNOTATION;
/// Annotation setting the proximity policy's exponent p.
pub const P_ANNOTATION: &str = "fog.brume.io/proximity-p";
/// Annotation setting the proximity policy's overload-guard β.
pub const BETA_ANNOTATION: &str = "fog.brume.io/proximity-beta";

/// The load-balancing policy of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PolicyKind {
    /// Uniformly random (Kubernetes' default).
    #[default]
    Random,
    /// In turn.
    RoundRobin,
    /// Power of two choices over peak EWMA.
    LeastRequest,
    /// Rendezvous hash of the client IP.
    SourceHash,
    /// Distance-weighted random with an overload guard.
    Proximity(ProximityParams),
}

/// A topology filter applied before the policy, from `spec.trafficDistribution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// All candidates.
    #[default]
    None,
    /// Endpoints on the gateway's node when there are any, else all (`PreferSameNode`).
    SameNode,
    /// Endpoints in the gateway's zone when there are any, else all (`PreferSameZone`).
    SameZone,
}

impl Preference {
    /// The candidates this preference keeps: those on the gateway's node (`SameNode`) or in its
    /// zone (`SameZone`) when there are any, else all of them, as kube-proxy falls back when no
    /// endpoint is close. The proxy and `brume sim` both narrow through it.
    pub fn narrow<T: Copy>(
        self,
        all: Vec<T>,
        same_node: impl Fn(T) -> bool,
        same_zone: impl Fn(T) -> bool,
    ) -> Vec<T> {
        let keep = |e: T| match self {
            Preference::None => true,
            Preference::SameNode => same_node(e),
            Preference::SameZone => same_zone(e),
        };
        if self == Preference::None || !all.iter().any(|&e| keep(e)) {
            return all;
        }
        all.into_iter().filter(|&e| keep(e)).collect()
    }
}

/// How a Service port routes: a topology preference, then a policy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RoutingSpec {
    /// The policy that picks among the preferred candidates.
    pub policy: PolicyKind,
    /// The topology filter applied first.
    pub prefer: Preference,
}

/// The parts of a Service that decide its routing, borrowed from the object.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceFields<'a> {
    /// `metadata.annotations`.
    pub annotations: Option<&'a BTreeMap<String, String>>,
    /// `spec.sessionAffinity` (`ClientIP` or `None`).
    pub session_affinity: Option<&'a str>,
    /// `spec.trafficDistribution` (`PreferClose`, `PreferSameNode`, `PreferSameZone`).
    pub traffic_distribution: Option<&'a str>,
}

impl RoutingSpec {
    /// Parses the Service's routing, failing on the first invalid value.
    pub fn parse(service: &ServiceFields<'_>) -> Result<Self, RoutingError> {
        let (spec, mut errors) = Self::parse_all(service);
        match errors.is_empty() {
            true => Ok(spec),
            false => Err(errors.swap_remove(0)),
        }
    }

    /// Parses everything, collecting every error and using the default in place of each bad
    /// value.
    pub fn parse_all(service: &ServiceFields<'_>) -> (Self, Vec<RoutingError>) {
        let mut errors = Vec::new();
        let annotation = |key: &str| {
            service
                .annotations
                .and_then(|a| a.get(key))
                .map(|v| v.trim())
        };

        let prefer_close;
        let prefer = match service.traffic_distribution {
            None => {
                prefer_close = false;
                Preference::None
            }
            Some(v) => {
                prefer_close = v == "PreferClose";
                match v {
                    "PreferClose" => Preference::None,
                    "PreferSameNode" => Preference::SameNode,
                    "PreferSameZone" => Preference::SameZone,
                    other => {
                        errors.push(RoutingError::BadField {
                            field: "spec.trafficDistribution",
                            value: other.to_owned(),
                            valid: "PreferClose, PreferSameNode, PreferSameZone",
                        });
                        Preference::None
                    }
                }
            }
        };
        let client_ip = match service.session_affinity {
            None | Some("None") => false,
            Some("ClientIP") => true,
            Some(other) => {
                errors.push(RoutingError::BadField {
                    field: "spec.sessionAffinity",
                    value: other.to_owned(),
                    valid: "ClientIP, None",
                });
                false
            }
        };
        let named = annotation(ROUTING_ANNOTATION).and_then(|v| match v {
            "random" => Some(Name::Random),
            "round-robin" => Some(Name::RoundRobin),
            "least-request" => Some(Name::LeastRequest),
            "source-hash" => Some(Name::SourceHash),
            "proximity" => Some(Name::Proximity),
            other => {
                errors.push(RoutingError::UnknownPolicy {
                    annotation: ROUTING_ANNOTATION,
                    value: other.to_owned(),
                });
                None
            }
        });
        let name = named.unwrap_or(if client_ip {
            Name::SourceHash
        } else if prefer_close {
            Name::Proximity
        } else {
            Name::Random
        });
        // The parameters are read (and their errors reported) whatever the policy, so a bad
        // value is caught even while another policy is in force.
        let mut number = |key, default, expected, ok: fn(f64) -> bool| {
            let Some(raw) = annotation(key) else {
                return default;
            };
            match raw.parse::<f64>() {
                Ok(v) if v.is_finite() && ok(v) => v,
                _ => {
                    errors.push(RoutingError::BadNumber {
                        annotation: key,
                        value: raw.to_owned(),
                        expected,
                    });
                    default
                }
            }
        };
        let d = ProximityParams::default();
        let alpha = number(ALPHA_ANNOTATION, d.alpha, "a number in [0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        });
        let p = number(P_ANNOTATION, d.p, "a number > 0", |v| v > 0.0);
        let beta = match annotation(BETA_ANNOTATION) {
            None => d.beta,
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            // −1 marks "invalid, already reported": fall back to the default guard.
            Some(_) => Some(number(
                BETA_ANNOTATION,
                -1.0,
                "a number ≥ 0, or \"off\"",
                |v| v >= 0.0,
            ))
            .filter(|b| *b >= 0.0)
            .or(d.beta),
        };
        let params = ProximityParams { alpha, p, beta };
        let policy = match name {
            Name::Random => PolicyKind::Random,
            Name::RoundRobin => PolicyKind::RoundRobin,
            Name::LeastRequest => PolicyKind::LeastRequest,
            Name::SourceHash => PolicyKind::SourceHash,
            Name::Proximity => PolicyKind::Proximity(params),
        };
        (RoutingSpec { policy, prefer }, errors)
    }
}

/// A policy named before its parameters are read.
enum Name {
    Random,
    RoundRobin,
    LeastRequest,
    SourceHash,
    Proximity,
}

/// A Service field or annotation that does not name a valid routing choice.
///
/// The API server refuses these at admission; the proxy, which may meet an object written
/// before a check existed, falls back to the default with a warning.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoutingError {
    /// `fog.brume.io/routing` names no known policy.
    #[error(
        "annotation {annotation}: unknown policy {value:?}; valid values: random, round-robin, \
         least-request, source-hash, proximity"
    )]
    UnknownPolicy {
        /// The annotation key.
        annotation: &'static str,
        /// The value found.
        value: String,
    },
    /// A numeric proximity annotation is not a number in its range.
    #[error("annotation {annotation}: {value:?} is not valid; expected {expected}")]
    BadNumber {
        /// The annotation key.
        annotation: &'static str,
        /// The value found.
        value: String,
        /// What would be valid, e.g. "a number between 0 and 1".
        expected: &'static str,
    },
    /// A Service spec field holds a value outside its enum.
    #[error("{field}: unsupported value {value:?}; supported values: {valid}")]
    BadField {
        /// The field path, e.g. `spec.trafficDistribution`.
        field: &'static str,
        /// The value found.
        value: String,
        /// The supported values, comma-separated.
        valid: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        annotations: &[(&str, &str)],
        affinity: Option<&str>,
        distribution: Option<&str>,
    ) -> (RoutingSpec, Vec<RoutingError>) {
        let map: BTreeMap<String, String> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RoutingSpec::parse_all(&ServiceFields {
            annotations: Some(&map),
            session_affinity: affinity,
            traffic_distribution: distribution,
        })
    }

    #[test]
    fn default_is_random_like_kubernetes() {
        assert_eq!(spec(&[], None, None), (RoutingSpec::default(), vec![]));
        assert_eq!(RoutingSpec::default().policy, PolicyKind::Random);
    }

    #[test]
    fn annotation_names_each_policy() {
        for (v, kind) in [
            ("random", PolicyKind::Random),
            ("round-robin", PolicyKind::RoundRobin),
            ("least-request", PolicyKind::LeastRequest),
            ("source-hash", PolicyKind::SourceHash),
            (
                "proximity",
                PolicyKind::Proximity(ProximityParams::default()),
            ),
        ] {
            let (s, errs) = spec(&[(ROUTING_ANNOTATION, v)], None, None);
            assert_eq!((s.policy, errs), (kind, vec![]), "{v}");
        }
    }

    #[test]
    fn service_fields_select_policies() {
        let (s, _) = spec(&[], None, Some("PreferClose"));
        assert_eq!(s.policy, PolicyKind::Proximity(ProximityParams::default()));
        assert_eq!(s.prefer, Preference::None);
        let (s, _) = spec(&[], Some("ClientIP"), Some("PreferClose"));
        assert_eq!(
            s.policy,
            PolicyKind::SourceHash,
            "affinity beats a preference"
        );
        let (s, _) = spec(&[], None, Some("PreferSameNode"));
        assert_eq!(
            (s.policy, s.prefer),
            (PolicyKind::Random, Preference::SameNode)
        );
        let (s, _) = spec(&[], Some("ClientIP"), Some("PreferSameZone"));
        assert_eq!(
            (s.policy, s.prefer),
            (PolicyKind::SourceHash, Preference::SameZone)
        );
        let (s, _) = spec(
            &[(ROUTING_ANNOTATION, "round-robin")],
            Some("ClientIP"),
            None,
        );
        assert_eq!(s.policy, PolicyKind::RoundRobin, "the annotation wins");
    }

    #[test]
    fn proximity_parameters_are_read() {
        let (s, errs) = spec(
            &[
                (ROUTING_ANNOTATION, "proximity"),
                (ALPHA_ANNOTATION, "1"),
                (P_ANNOTATION, " 4 "),
                (BETA_ANNOTATION, "0.25"),
            ],
            None,
            None,
        );
        assert!(errs.is_empty(), "{errs:?}");
        let want = ProximityParams {
            alpha: 1.0,
            p: 4.0,
            beta: Some(0.25),
        };
        assert_eq!(s.policy, PolicyKind::Proximity(want));
        let (s, errs) = spec(&[(BETA_ANNOTATION, "off")], None, Some("PreferClose"));
        assert!(errs.is_empty(), "{errs:?}");
        let PolicyKind::Proximity(params) = s.policy else {
            panic!("{s:?}")
        };
        assert_eq!(params.beta, None);
        let defaults = ProximityParams::default();
        assert_eq!(
            (defaults.alpha, defaults.p, defaults.beta),
            (0.95, 4.0, Some(1.0))
        );
    }

    #[test]
    fn bad_values_fall_back_with_clear_errors() {
        let (s, errs) = spec(
            &[(ALPHA_ANNOTATION, "1.5"), (P_ANNOTATION, "NaN")],
            Some("Sticky"),
            Some("PreferClose"),
        );
        assert_eq!(s.policy, PolicyKind::Proximity(ProximityParams::default()));
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "spec.sessionAffinity: unsupported value \"Sticky\"; supported values: ClientIP, None",
                "annotation fog.brume.io/proximity-alpha: \"1.5\" is not valid; expected a number \
                 in [0, 1]",
                "annotation fog.brume.io/proximity-p: \"NaN\" is not valid; expected a number > 0",
            ]
        );
        let (s, errs) = spec(&[(ROUTING_ANNOTATION, "nearest")], None, None);
        assert_eq!(s.policy, PolicyKind::Random);
        assert!(errs[0].to_string().contains("unknown policy \"nearest\""));
        let fields = ServiceFields {
            traffic_distribution: Some("Nearest"),
            ..ServiceFields::default()
        };
        assert!(RoutingSpec::parse(&fields).is_err());
        assert_eq!(RoutingSpec::parse_all(&fields).0, RoutingSpec::default());
    }
}
