//! A deterministic stand-in for the random direction Vivaldi takes when two coordinates
//! coincide, so that `VivaldiNode::observe` gives the same result for the same inputs.

use std::hash::{Hash, Hasher};

/// A seed for the tie-break direction, the same on every run (unlike `std`'s randomly keyed
/// `RandomState`): FNV-1a over the peer's `Hash` bytes and the observation count.
pub(crate) fn seed<K: Hash>(peer_id: &K, observations: u64) -> u64 {
    let mut hasher = Fnv1a(0xcbf2_9ce4_8422_2325);
    peer_id.hash(&mut hasher);
    observations.hash(&mut hasher);
    hasher.finish()
}

/// The 64-bit FNV-1a hash (Fowler, Noll and Vo), chosen because its output is fixed by its
/// definition, whereas `std` documents that `DefaultHasher` may change between releases.
struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014), a tiny generator to turn a seed into a
/// direction.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A pseudo-random vector of `dimensions` components in [−0.5, 0.5) drawn from `seed`, as
/// Serf's `unitVectorAt` draws `rand.Float64() − 0.5`; the caller normalises it.
pub(crate) fn direction(seed: u64, dimensions: usize) -> Vec<f64> {
    let mut state = seed;
    (0..dimensions)
        .map(|_| (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64 - 0.5)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_spread() {
        // FNV-1a is fixed by its definition: the empty input hashes to the offset basis.
        assert_eq!(Fnv1a(0xcbf2_9ce4_8422_2325).finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed(&"peer", 3), seed(&"peer", 3));
        assert_ne!(seed(&"peer", 3), seed(&"peer", 4));
        assert_ne!(seed(&"peer", 3), seed(&"other", 3));
    }

    #[test]
    fn directions_are_in_range_and_vary() {
        let a = direction(1, 8);
        assert_eq!(a.len(), 8);
        assert!(a.iter().all(|x| (-0.5..0.5).contains(x)));
        assert_ne!(a, direction(2, 8));
        assert_eq!(a, direction(1, 8));
    }
}
