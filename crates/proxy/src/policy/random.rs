//! `random`: a uniformly random ready endpoint per connection or request.
//!
//! This is Kubernetes' default: kube-proxy's iptables mode picks an endpoint with
//! `statistic --mode random` rules of equal probability.

use super::{PickContext, Policy, uniform_index};
use crate::endpoint::Endpoint;

/// Picks each candidate with equal probability.
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl Policy for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn pick(&self, candidates: &[&Endpoint], ctx: &mut PickContext<'_>) -> Option<usize> {
        (!candidates.is_empty()).then(|| uniform_index(ctx.rng, candidates.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{endpoints, histogram};

    #[test]
    fn spread_is_roughly_uniform() {
        let eps = endpoints(4);
        let counts = histogram(&Random, &eps, 4000, 7, None);
        // 1000 expected each; ±15% is > 9 standard deviations for a binomial(4000, 1/4).
        for c in counts {
            assert!((850..=1150).contains(&c), "{c}");
        }
    }

    #[test]
    fn no_candidates_no_pick() {
        let mut rng = rand::rng();
        let mut ctx = PickContext {
            client: None,
            rng: &mut rng,
            now: tokio::time::Instant::now(),
        };
        assert_eq!(Random.pick(&[], &mut ctx), None);
    }
}
