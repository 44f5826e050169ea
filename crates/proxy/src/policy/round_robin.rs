//! `round-robin`: the candidates in turn.
//!
//! The cursor is shared by every connection of the Service port, so consecutive connections go
//! to consecutive endpoints. When the candidate list changes the cursor keeps counting; the
//! cycle simply continues over the new list.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{PickContext, Policy};
use crate::endpoint::Endpoint;

/// Picks the candidates one after the other.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// A round robin starting at the first candidate.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn pick(&self, candidates: &[&Endpoint], _ctx: &mut PickContext<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % candidates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::endpoints;
    use rand::SeedableRng;

    #[test]
    fn cycles_through_the_candidates() {
        let eps = endpoints(3);
        let refs: Vec<&Endpoint> = eps.iter().collect();
        let rr = RoundRobin::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut ctx = PickContext {
            client: None,
            rng: &mut rng,
            now: tokio::time::Instant::now(),
        };
        let picks: Vec<usize> = (0..7).map(|_| rr.pick(&refs, &mut ctx).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }
}
