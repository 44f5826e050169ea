//! The routing policies a simulated gateway runs, each the decision the live proxy makes for
//! the same inputs: `proximity` weighs the candidates with `brume_fog::guarded_weights` (the
//! estimates, replaced by what the gateway measured where it has heard from a replica) and
//! draws with `pick_weighted` from one uniform number, as `brume_proxy::policy::Proximity`
//! does; `random` draws a uniform index, as `brume_proxy::policy::Random` does; the topology
//! baseline narrows to the gateway's zone with `Preference::narrow`, as the proxy's routing
//! table does for `trafficDistribution: PreferSameZone`. `tests/live_equivalence.rs` drives the
//! proxy and this module with one fixture and checks that they pick the same endpoints.

use brume_fog::routing_spec::Preference;
use brume_fog::{GuardInputs, ProximityParams, guarded_weights, pick_weighted};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

/// How a gateway chooses among the ready endpoints of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum Routing {
    /// Kubernetes' default (kube-proxy): a uniformly random endpoint.
    Random,
    /// Kubernetes topology-aware routing: a random endpoint in the gateway's zone when the
    /// zone has one, else any (`trafficDistribution: PreferSameZone`).
    SameZone,
    /// Brume's proximity routing.
    Proximity {
        /// α, p and β.
        #[serde(flatten)]
        params: Params,
    },
}

/// [`ProximityParams`] as reports print them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    /// α.
    pub alpha: f64,
    /// p.
    pub p: f64,
    /// β, or none for no overload guard.
    pub beta: Option<f64>,
}

impl From<Params> for ProximityParams {
    fn from(p: Params) -> ProximityParams {
        ProximityParams {
            alpha: p.alpha,
            p: p.p,
            beta: p.beta,
        }
    }
}

impl From<ProximityParams> for Params {
    fn from(p: ProximityParams) -> Params {
        Params {
            alpha: p.alpha,
            p: p.p,
            beta: p.beta,
        }
    }
}

impl Routing {
    /// Brume's proximity routing with `alpha` and the proxy's default p and β.
    pub fn proximity(alpha: f64) -> Routing {
        let default = ProximityParams::default();
        Routing::Proximity {
            params: Params {
                alpha,
                ..default.into()
            },
        }
    }

    /// Nearest replica with no load guard: α = 1, β off.
    pub fn nearest() -> Routing {
        Routing::Proximity {
            params: Params {
                alpha: 1.0,
                p: ProximityParams::default().p,
                beta: None,
            },
        }
    }

    /// The name reports and plots use.
    pub fn label(&self) -> String {
        match self {
            Routing::Random => "kubernetes random".into(),
            Routing::SameZone => "kubernetes same-zone".into(),
            Routing::Proximity { params } if params.beta.is_none() && params.alpha >= 1.0 => {
                "nearest, no guard".into()
            }
            Routing::Proximity { params } => format!("brume α={}", params.alpha),
        }
    }

    /// Whether the policy reads in-flight counts and observed latencies (the overload guard).
    pub fn reads_in_flight(&self) -> bool {
        matches!(self, Routing::Proximity { params } if params.beta.is_some())
    }

    /// Which of `candidates` the topology filter keeps: all, or those in the gateway's zone.
    pub fn narrow(&self, candidates: Vec<usize>, in_zone: impl Fn(usize) -> bool) -> Vec<usize> {
        let prefer = match self {
            Routing::SameZone => Preference::SameZone,
            _ => Preference::None,
        };
        prefer.narrow(candidates, |_| false, in_zone)
    }

    /// The index in the candidates of the endpoint that gets the next request. `distances_ms`
    /// are the candidates' estimated RTTs from the gateway; `guard` what the gateway saw of
    /// each (its requests in flight, the least latency each lately answered in, and the
    /// queueing above that: `brume_fog::queueing_ms`), which only the guarded proximity policy
    /// reads (it may be empty otherwise). `None` only for no candidates.
    pub fn pick(
        &self,
        distances_ms: &[Option<f64>],
        guard: GuardInputs<'_>,
        rng: &mut StdRng,
    ) -> Option<usize> {
        let n = distances_ms.len();
        if n == 0 {
            return None;
        }
        match self {
            Routing::Random | Routing::SameZone => Some(rng.random_range(0..n)),
            Routing::Proximity { params } => {
                let params = ProximityParams::from(*params);
                let weights =
                    guarded_weights(distances_ms, guard, &params).unwrap_or_else(|_| vec![1.0; n]);
                let u: f64 = rng.random();
                pick_weighted(&weights, u).or_else(|| Some(rng.random_range(0..n)))
            }
        }
    }
}
