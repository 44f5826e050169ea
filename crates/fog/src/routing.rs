//! Proximity routing weights (DESIGN §8): a gateway picks endpoint i with weight
//! `w_i = (1−α)/n + α · d_i^−p / Σ_j d_j^−p`, where d_i is the estimated RTT to the endpoint.
//! α = 0 is Kubernetes' random policy. α = 1 is strictly "nearest": the limit p → ∞ of the
//! formula, so a user who asks for all traffic by proximity gets every request on the nearest
//! ready endpoint (ties within [`NEAREST_TIE`] share it) rather than a d^−p spread that still
//! sends a fifth of the traffic to an endpoint 2× farther at p = 2. An overload guard skips
//! endpoints whose in-flight count exceeds (1+β) times the mean.

use crate::error::FogError;

/// The annotation that sets α for a Service's proximity routing.
pub const PROXIMITY_ALPHA_ANNOTATION: &str = "fog.brume.io/proximity-alpha";

/// The smallest distance used in `d^−p`, in milliseconds, so that a co-located endpoint (an
/// estimate of 0 ms) gets a large but finite share. 0.1 ms is below any RTT between two
/// machines, so it never reorders real endpoints.
pub const MIN_DISTANCE_MS: f64 = 0.1;

/// At α = 1, endpoints whose estimate is within this fraction of the nearest one count as
/// equally near and share the traffic: coordinates are not precise to the percent.
pub const NEAREST_TIE: f64 = 0.01;

/// The knobs of proximity routing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProximityParams {
    /// α in [0, 1]: the share of traffic steered by proximity; the rest is spread uniformly.
    pub alpha: f64,
    /// p > 0: how sharply the proximity share favours the nearest endpoints.
    pub p: f64,
    /// β >= 0 for the overload guard, or `None` to turn the guard off.
    pub beta: Option<f64>,
}

impl Default for ProximityParams {
    /// α = 0.95, p = 4, guard at β = 1 (twice the mean in-flight count), chosen with `brume
    /// sim --scenario routing` (docs/BENCHMARKS.md): of α in {0.8, 0.9, 0.95, 1} and p in
    /// {2, 4, 8}, the pair with the best mean-latency cuts against random routing on both the
    /// 1,000-node city and the 490 PlanetLab nodes (DESIGN §8's starting point was α = 0.8,
    /// p = 2).
    fn default() -> ProximityParams {
        ProximityParams {
            alpha: 0.95,
            p: 4.0,
            beta: Some(1.0),
        }
    }
}

impl ProximityParams {
    /// Checks α in [0, 1], p > 0 and finite, and β >= 0 and finite.
    pub fn validate(&self) -> Result<(), FogError> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(alpha_error(self.alpha.to_string()));
        }
        if !(self.p.is_finite() && self.p > 0.0) {
            return Err(FogError::BadParameter {
                name: "proximity exponent p",
                value: self.p.to_string(),
                valid: "a finite number > 0",
            });
        }
        if let Some(beta) = self.beta
            && !(beta.is_finite() && beta >= 0.0)
        {
            return Err(FogError::BadParameter {
                name: "overload guard beta",
                value: beta.to_string(),
                valid: "a finite number >= 0",
            });
        }
        Ok(())
    }
}

fn alpha_error(value: String) -> FogError {
    FogError::BadParameter {
        name: PROXIMITY_ALPHA_ANNOTATION,
        value,
        valid: "a number in [0, 1] (0 = random, 1 = all by proximity)",
    }
}

/// The in-flight requests an endpoint may carry above (1+β) × the mean before the overload guard
/// skips it. Without it, the guard of DESIGN §8 trips as soon as the nearest of n > 1+β
/// endpoints has a single request in flight (its count, 1, exceeds (1+β)/n), so proximity
/// would not survive any concurrency; with it, low concurrency stays on the nearest endpoint
/// and only a real pile-up spills to the next ones.
pub const GUARD_HEADROOM: f64 = 4.0;

/// Which endpoints the overload guard lets through: `false` for those whose in-flight count
/// exceeds (1+β) × the mean + [`GUARD_HEADROOM`]. At least one endpoint is always let through.
pub fn overload_mask(in_flight: &[u64], beta: f64) -> Vec<bool> {
    if in_flight.is_empty() {
        return Vec::new();
    }
    let mean = in_flight.iter().map(|&c| c as f64).sum::<f64>() / in_flight.len() as f64;
    let limit = (1.0 + beta.max(0.0)) * mean + GUARD_HEADROOM;
    let mask: Vec<bool> = in_flight.iter().map(|&c| c as f64 <= limit).collect();
    if mask.iter().any(|&ok| ok) {
        mask
    } else {
        // Cannot happen for β >= 0 (the minimum is at most the mean), but never skip all.
        vec![true; in_flight.len()]
    }
}

/// The distances proximity weighs when the overload guard is on: each known estimated RTT plus
/// the queueing this gateway lately observed at that endpoint (`queueing_ms[i]`, its recent
/// latency above its own floor: [`crate::queueing_ms`]; 0 when never observed). An endpoint
/// answering as fast as it usually does keeps its RTT, so proximity is not flattened by the
/// service time; a replica that queues because many gateways send to it, which no single
/// gateway's in-flight count shows, shows in every one of their answers, so its weight falls
/// and the load spills to the next nearest before it saturates. An endpoint of unknown
/// distance stays unknown.
pub fn guarded_distances(distances_ms: &[Option<f64>], queueing_ms: &[f64]) -> Vec<Option<f64>> {
    distances_ms
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let q = queueing_ms.get(i).copied().unwrap_or(0.0);
            d.map(|d| if q.is_finite() && q > 0.0 { d + q } else { d })
        })
        .collect()
}

/// The distances proximity weighs for endpoints this gateway has heard from: the least latency
/// each lately answered in (`floors_ms[i]`, its [`crate::LatencyFloor`]: the RTT plus an
/// unloaded service time, measured end to end on this very path) in place of the estimated
/// RTT, which stays for the endpoints not yet heard from (`None`). Vivaldi's error is largest
/// on near pairs (a median relative error of 4.6 over each PlanetLab node's 10 nearest peers,
/// docs/EVALUATION.md), exactly where choosing the nearest replica matters; the floor has no
/// such error. `brume sim` measured the change: the mean latency cut against random routing
/// went from 30 % to 42 % on PlanetLab and from 49 % to 57 % on the 1,000-node city
/// (docs/BENCHMARKS.md). An endpoint not yet heard from weighs as near as its estimate says,
/// a little nearer than an answer would (no service time), so it is tried; the uniform share
/// (1−α)/n keeps every endpoint heard from. A floor that is not a finite number >= 0 counts
/// as none.
pub fn measured_distances(
    distances_ms: &[Option<f64>],
    floors_ms: &[Option<f64>],
) -> Vec<Option<f64>> {
    distances_ms
        .iter()
        .enumerate()
        .map(|(i, d)| {
            floors_ms
                .get(i)
                .copied()
                .flatten()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .or(*d)
        })
        .collect()
}

/// What the overload guard reads about each candidate, as one gateway sees it: its own
/// requests in flight to each, the least latency it lately answered in
/// ([`measured_distances`]) and the queueing it lately showed above that ([`guarded_distances`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardInputs<'a> {
    /// In-flight requests or connections, one per candidate.
    pub in_flight: &'a [u64],
    /// The latency floor in ms, one per candidate (`None` when never heard from).
    pub floors_ms: &'a [Option<f64>],
    /// Queueing in ms, one per candidate (0 when none was seen).
    pub queueing_ms: &'a [f64],
}

/// The routing weights with the overload guard when β is set: each distance measured where the
/// gateway has heard from the endpoint, raised by its queueing, and overloaded endpoints skipped
/// by their in-flight counts; without β the guard's inputs are not read (they may be empty) and
/// the estimates alone are weighed. The live proxy and the simulator both call this.
pub fn guarded_weights(
    distances_ms: &[Option<f64>],
    guard: GuardInputs<'_>,
    params: &ProximityParams,
) -> Result<Vec<f64>, FogError> {
    if params.beta.is_none() {
        return proximity_weights(distances_ms, None, params);
    }
    let measured = measured_distances(distances_ms, guard.floors_ms);
    if guard.queueing_ms.iter().any(|q| *q > 0.0) {
        let raised = guarded_distances(&measured, guard.queueing_ms);
        return proximity_weights(&raised, Some(guard.in_flight), params);
    }
    proximity_weights(&measured, Some(guard.in_flight), params)
}

/// The routing weight of each endpoint, summing to 1 (empty for no endpoints).
///
/// `distances_ms[i]` is the estimated RTT to endpoint i, `None` when unknown; a NaN, infinite or
/// negative estimate counts as unknown. An endpoint of unknown distance keeps its uniform share
/// (1−α)/n but gets none of the proximity share, unless every distance is unknown, in which
/// case the weights are uniform. With `in_flight` given and a β set, overloaded endpoints get
/// weight 0 and the formula runs over the others.
pub fn proximity_weights(
    distances_ms: &[Option<f64>],
    in_flight: Option<&[u64]>,
    params: &ProximityParams,
) -> Result<Vec<f64>, FogError> {
    params.validate()?;
    let n = distances_ms.len();
    let eligible = match (in_flight, params.beta) {
        (Some(counts), Some(beta)) if counts.len() == n => overload_mask(counts, beta),
        (Some(counts), Some(_)) => {
            return Err(FogError::BadParameter {
                name: "in-flight counts",
                value: format!("{} counts", counts.len()),
                valid: "one count per endpoint",
            });
        }
        _ => vec![true; n],
    };
    let live = eligible.iter().filter(|&&ok| ok).count();
    let mut weights = vec![0.0; n];
    if live == 0 {
        return Ok(weights);
    }
    let known = |i: usize| {
        distances_ms[i]
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| d.max(MIN_DISTANCE_MS))
    };
    let candidates: Vec<(usize, Option<f64>)> = (0..n)
        .filter(|&i| eligible[i])
        .map(|i| (i, known(i)))
        .collect();
    let nearest = candidates.iter().filter_map(|&(_, d)| d).reduce(f64::min);
    let Some(nearest) = nearest else {
        for &(i, _) in &candidates {
            weights[i] = 1.0 / live as f64;
        }
        return Ok(weights);
    };
    // (d_min / d_i)^p is d_i^−p scaled by a constant that cancels in the normalisation; it stays
    // in (0, 1], so a large p cannot overflow.
    let share = |d: f64| match params.alpha >= 1.0 {
        true => f64::from(u8::from(d <= nearest * (1.0 + NEAREST_TIE))),
        false => (nearest / d).powf(params.p),
    };
    let inverse: Vec<f64> = candidates
        .iter()
        .map(|&(_, d)| d.map_or(0.0, share))
        .collect();
    let total: f64 = inverse.iter().sum();
    let uniform = (1.0 - params.alpha) / live as f64;
    for (&(i, _), share) in candidates.iter().zip(&inverse) {
        weights[i] = uniform + params.alpha * share / total;
    }
    Ok(weights)
}

/// Picks an index with probability proportional to its weight, given a uniform random number
/// `u` in [0, 1) from the caller; `None` when no weight is positive. Pure, so tests and the
/// simulator choose their own randomness.
pub fn pick_weighted(weights: &[f64], u: f64) -> Option<usize> {
    let positive = |w: f64| w.is_finite() && w > 0.0;
    let total: f64 = weights.iter().copied().filter(|&w| positive(w)).sum();
    if total <= 0.0 {
        return None;
    }
    let target = u.clamp(0.0, 1.0) * total;
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if !positive(w) {
            continue;
        }
        cumulative += w;
        last = Some(i);
        if target < cumulative {
            return last;
        }
    }
    // Rounding can leave `target` a hair above the sum; the last positive weight takes it.
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(alpha: f64, p: f64) -> ProximityParams {
        ProximityParams {
            alpha,
            p,
            beta: None,
        }
    }

    fn sum(w: &[f64]) -> f64 {
        w.iter().sum()
    }

    const DISTANCES: [Option<f64>; 4] = [Some(5.0), Some(20.0), Some(80.0), Some(150.0)];

    #[test]
    fn weights_sum_to_one() {
        for alpha in [0.0, 0.3, 0.8, 1.0] {
            for p in [0.5, 1.0, 2.0, 8.0] {
                let w = proximity_weights(&DISTANCES, None, &params(alpha, p)).unwrap();
                assert!((sum(&w) - 1.0).abs() < 1e-12, "α={alpha} p={p}: {w:?}");
                assert!(
                    w.windows(2).all(|pair| pair[0] >= pair[1]),
                    "nearer is heavier"
                );
            }
        }
    }

    #[test]
    fn alpha_zero_is_uniform() {
        let w = proximity_weights(&DISTANCES, None, &params(0.0, 2.0)).unwrap();
        assert!(w.iter().all(|&x| (x - 0.25).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn alpha_one_is_strictly_nearest_whatever_p() {
        for p in [0.5, 2.0, 1000.0] {
            let w = proximity_weights(&DISTANCES, None, &params(1.0, p)).unwrap();
            assert_eq!(w, vec![1.0, 0.0, 0.0, 0.0], "p={p}");
        }
        // Within 1 % of the nearest is a tie: the traffic is shared.
        let w = proximity_weights(
            &[Some(20.0), Some(20.1), Some(25.0)],
            None,
            &params(1.0, 2.0),
        );
        assert_eq!(w.unwrap(), vec![0.5, 0.5, 0.0]);
        // Just below 1, the formula: a large p is nearly nearest, with no overflow or NaN.
        let w = proximity_weights(&DISTANCES, None, &params(0.999, 1000.0)).unwrap();
        assert!(w[0] > 0.999 && w.iter().all(|x| x.is_finite()), "{w:?}");
    }

    #[test]
    fn formula_matches_by_hand() {
        // d = 10, 20; p = 1: inverse shares 2/3 and 1/3; α = 0.5: w = 0.25 + 0.5 · share.
        let w = proximity_weights(&[Some(10.0), Some(20.0)], None, &params(0.5, 1.0)).unwrap();
        assert!((w[0] - (0.25 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert!((w[1] - (0.25 + 0.5 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn zero_distance_is_clamped_not_infinite() {
        let w = proximity_weights(&[Some(0.0), Some(10.0)], None, &params(0.5, 1.0)).unwrap();
        // 0 ms becomes 0.1 ms: shares 100 : 1.
        assert!((w[0] - (0.25 + 0.5 * 100.0 / 101.0)).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn unknown_distance_is_not_favoured() {
        let d = [Some(50.0), None, Some(100.0)];
        let w = proximity_weights(&d, None, &params(0.6, 2.0)).unwrap();
        assert!((sum(&w) - 1.0).abs() < 1e-12);
        assert!(
            (w[1] - 0.4 / 3.0).abs() < 1e-12,
            "keeps only its uniform share: {w:?}"
        );
        assert!(w[1] < w[2] && w[2] < w[0], "{w:?}");
        // NaN and negative estimates are unknown too, never "zero, hence nearest".
        let d = [Some(f64::NAN), Some(-3.0), Some(100.0)];
        let w = proximity_weights(&d, None, &params(1.0, 2.0)).unwrap();
        assert_eq!(w, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn all_unknown_is_uniform() {
        let w = proximity_weights(&[None, None, None], None, &params(1.0, 2.0)).unwrap();
        assert!(w.iter().all(|&x| (x - 1.0 / 3.0).abs() < 1e-12), "{w:?}");
        assert!(
            proximity_weights(&[], None, &params(1.0, 2.0))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn overload_guard_skips_busy_endpoints_but_never_all() {
        let guarded = ProximityParams {
            alpha: 1.0,
            p: 4.0,
            beta: Some(0.5),
        };
        // Mean 10, limit 15: the nearest endpoint with 25 in flight is skipped.
        let w = proximity_weights(&DISTANCES, Some(&[25, 5, 5, 5]), &guarded).unwrap();
        assert_eq!(w[0], 0.0);
        assert!((sum(&w) - 1.0).abs() < 1e-12);
        assert!(w[1] > 0.9, "the next nearest takes over: {w:?}");
        assert_eq!(overload_mask(&[0, 0, 0], 0.0), vec![true; 3]);
        assert_eq!(overload_mask(&[19, 1], 0.0), vec![false, true]);
        // One request in flight on the nearest of three is no overload.
        assert_eq!(overload_mask(&[1, 0, 0], 1.0), vec![true; 3]);
        assert!(
            overload_mask(&[7], 0.0)[0],
            "a single endpoint is never skipped"
        );
        let message = proximity_weights(&DISTANCES, Some(&[1, 2]), &guarded)
            .unwrap_err()
            .to_string();
        assert!(message.contains("one count per endpoint"), "{message}");
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert!(proximity_weights(&DISTANCES, None, &params(1.0, 0.0)).is_err());
        assert!(proximity_weights(&DISTANCES, None, &params(1.1, 1.0)).is_err());
    }

    #[test]
    fn pick_weighted_follows_the_cumulative_weights() {
        let w = [0.5, 0.0, 0.25, 0.25];
        assert_eq!(pick_weighted(&w, 0.0), Some(0));
        assert_eq!(pick_weighted(&w, 0.49), Some(0));
        assert_eq!(
            pick_weighted(&w, 0.5),
            Some(2),
            "zero weight is never picked"
        );
        assert_eq!(pick_weighted(&w, 0.8), Some(3));
        assert_eq!(pick_weighted(&w, 0.999_999_999), Some(3));
        assert_eq!(pick_weighted(&w, 1.0), Some(3));
        assert_eq!(pick_weighted(&[0.0, 0.0], 0.3), None);
        assert_eq!(pick_weighted(&[], 0.3), None);
        // Frequencies over an even grid of u match the weights.
        let mut counts = [0usize; 4];
        for k in 0..1000 {
            counts[pick_weighted(&w, k as f64 / 1000.0).unwrap()] += 1;
        }
        assert_eq!(counts, [500, 0, 250, 250]);
    }

    #[test]
    fn an_answer_replaces_the_estimate() {
        // The estimates put endpoint 0 nearest; its answers say 30 ms, endpoint 1's say 6 ms.
        let d = [Some(5.0), Some(20.0), Some(80.0), None];
        let floors = [Some(30.0), Some(6.0), None, Some(12.0)];
        assert_eq!(
            measured_distances(&d, &floors),
            [Some(30.0), Some(6.0), Some(80.0), Some(12.0)]
        );
        assert_eq!(measured_distances(&d, &[]), d.to_vec(), "no answers yet");
        let bad = [Some(f64::NAN), Some(-1.0), Some(f64::INFINITY), None];
        assert_eq!(
            measured_distances(&d, &bad),
            d.to_vec(),
            "bad floors count as none"
        );
        let p = ProximityParams::default();
        let guard = GuardInputs {
            in_flight: &[0, 0, 0, 0],
            floors_ms: &floors,
            queueing_ms: &[0.0; 4],
        };
        let w = guarded_weights(&d, guard, &p).unwrap();
        assert!(w[1] > 0.8 && w[1] > w[0] && w[3] > w[0], "{w:?}");
        // Without the guard, the estimates alone decide (the "nearest, no guard" baseline).
        let unguarded = ProximityParams { beta: None, ..p };
        let w = guarded_weights(&d, guard, &unguarded).unwrap();
        assert!(w[0] > 0.9, "{w:?}");
    }

    #[test]
    fn queueing_raises_a_distance_and_service_time_does_not() {
        let d = [Some(2.0), Some(40.0), None];
        assert_eq!(
            guarded_distances(&d, &[78.0, 0.0, 500.0]),
            [Some(80.0), Some(40.0), None]
        );
        assert_eq!(guarded_distances(&d, &[]), d.to_vec());
        // The queueing replica loses its proximity share to the next nearest.
        let p = ProximityParams::default();
        let before = proximity_weights(&d[..2], None, &p).unwrap();
        let queued = guarded_distances(&d[..2], &[78.0, 0.0]);
        let after = proximity_weights(&queued, None, &p).unwrap();
        assert!(
            before[0] > 0.85 && after[0] < 0.5 && after[1] > 0.5,
            "{after:?}"
        );
    }
}
