//! `source-hash`: the same client IP goes to the same endpoint while the endpoint set is stable
//! (`sessionAffinity: ClientIP`).
//!
//! Rendezvous (highest-random-weight) hashing, Thaler & Ravishankar, "Using Name-Based Mappings
//! to Increase Hit Rates" (IEEE/ACM ToN 1998): each candidate scores `hash(client, endpoint)`
//! and the highest score wins. The choice does not depend on the order of the candidates, and
//! when an endpoint leaves only its own clients move.
//!
//! Unlike kube-proxy, which remembers each client for `sessionAffinityConfig.clientIP.
//! timeoutSeconds` (default 10800 s), this is stateless: affinity lasts as long as the set does.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher};

use super::{PickContext, Policy, uniform_index};
use crate::endpoint::Endpoint;

/// Rendezvous hashing of the client IP over the candidates; random when the client is unknown.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceHash;

impl Policy for SourceHash {
    fn name(&self) -> &'static str {
        "source-hash"
    }

    fn pick(&self, candidates: &[&Endpoint], ctx: &mut PickContext<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let Some(client) = ctx.client else {
            return Some(uniform_index(ctx.rng, candidates.len()));
        };
        // A fixed-key SipHash: the same score in every run and in every agent of one release,
        // so two gateways send a client to the same endpoint.
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        candidates
            .iter()
            .enumerate()
            .max_by_key(|(_, ep)| {
                let mut h = hasher.build_hasher();
                client.hash(&mut h);
                ep.address.hash(&mut h);
                h.finish()
            })
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{endpoints, histogram};
    use std::net::IpAddr;

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, i])
    }

    #[test]
    fn the_same_client_always_gets_the_same_endpoint() {
        let eps = endpoints(5);
        for i in 0..20 {
            let counts = histogram(&SourceHash, &eps, 20, u64::from(i), Some(ip(i)));
            assert_eq!(counts.iter().filter(|&&c| c == 20).count(), 1, "{counts:?}");
        }
    }

    #[test]
    fn clients_spread_and_only_the_removed_endpoints_clients_move() {
        let eps = endpoints(4);
        let pick = |eps: &[Endpoint], client| {
            let counts = histogram(&SourceHash, eps, 1, 0, Some(client));
            eps[counts.iter().position(|&c| c == 1).unwrap()].address
        };
        let before: Vec<_> = (0..100).map(|i| pick(&eps, ip(i))).collect();
        let used: std::collections::HashSet<_> = before.iter().collect();
        assert_eq!(used.len(), 4, "100 clients use all 4 endpoints");
        let fewer = &eps[1..];
        for (i, old) in before.iter().enumerate() {
            let new = pick(fewer, ip(i as u8));
            if *old != eps[0].address {
                assert_eq!(new, *old, "client {i} moved though its endpoint stayed");
            }
        }
    }

    #[test]
    fn order_of_candidates_does_not_matter() {
        let eps = endpoints(4);
        let mut reversed = eps.clone();
        reversed.reverse();
        let a = histogram(&SourceHash, &eps, 1, 0, Some(ip(9)));
        let mut b = histogram(&SourceHash, &reversed, 1, 0, Some(ip(9)));
        b.reverse();
        assert_eq!(a, b);
    }
}
