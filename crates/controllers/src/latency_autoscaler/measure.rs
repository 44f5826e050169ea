//! The measured attainment of a latency objective: the share of the requests the gateways'
//! proxies answered within the bound, over the latest window of each report (DESIGN §8).
//!
//! Reports carry monotonic histogram counters (`spec.latency`). Between two readings of one
//! report, the difference is that gateway's window; a report that has not changed keeps its
//! last window while it is younger than [`WINDOW_TTL`], so a steady gateway (rewritten every
//! 30 s) is not dropped between rewrites. A counter that went backwards (the agent restarted)
//! starts a new window from its current value.

use std::collections::HashMap;

use brume_api::{LatencyCounts, TrafficReport};
use k8s_openapi::api::core::v1::Service;
use std::time::{Duration, Instant};

/// How long a report's last window counts when the report does not change.
pub const WINDOW_TTL: Duration = Duration::from_secs(90);

/// One report's last reading and window.
#[derive(Debug, Clone)]
struct Reading {
    counts: LatencyCounts,
    /// (requests, answered within the bound) in the last window, and when it was measured.
    window: Option<(u64, u64, Instant)>,
}

/// The readings of every (autoscaler, report).
#[derive(Debug, Default)]
pub struct Windows {
    readings: HashMap<(String, String), Reading>,
}

impl Windows {
    /// Reads the reports of `services` for the autoscaler `uid` and returns the share (percent)
    /// of requests within `bound_ms` over the reports' latest windows, or `None` before any
    /// window had requests.
    pub fn observe(
        &mut self,
        uid: &str,
        services: &[&Service],
        reports: &[TrafficReport],
        bound_ms: f64,
    ) -> Option<f64> {
        self.observe_at(uid, services, reports, bound_ms, Instant::now())
    }

    fn observe_at(
        &mut self,
        uid: &str,
        services: &[&Service],
        reports: &[TrafficReport],
        bound_ms: f64,
        now: Instant,
    ) -> Option<f64> {
        let names: Vec<&str> = services
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
            .collect();
        let (mut total, mut within) = (0u64, 0u64);
        let mut seen = Vec::new();
        for r in reports {
            let Some(counts) = r.spec.latency.as_ref() else {
                continue;
            };
            if !names.contains(&r.spec.service.as_str()) {
                continue;
            }
            let key = (uid.to_string(), r.metadata.name.clone().unwrap_or_default());
            seen.push(key.clone());
            let reading = self.readings.entry(key).or_insert_with(|| Reading {
                counts: LatencyCounts::default(),
                window: None,
            });
            if counts.count != reading.counts.count {
                let restarted = counts.count < reading.counts.count;
                let first = reading.counts.count == 0 && reading.window.is_none();
                let (n, w) = if restarted {
                    // The agent's counters started again: all they hold is the window.
                    (counts.count, counts.within(bound_ms))
                } else if first {
                    // No "before" to compare with: the counters since the agent started are no
                    // window; wait for the next change.
                    (0, 0)
                } else {
                    (
                        counts.count - reading.counts.count,
                        counts
                            .within(bound_ms)
                            .saturating_sub(reading.counts.within(bound_ms)),
                    )
                };
                if n > 0 {
                    reading.window = Some((n, w.min(n), now));
                }
                reading.counts = counts.clone();
            }
            if let Some((n, w, at)) = reading.window
                && now.duration_since(at) <= WINDOW_TTL
            {
                total += n;
                within += w;
            }
        }
        self.readings
            .retain(|key, _| key.0 != uid || seen.contains(key));
        (total > 0).then(|| (within as f64 / total as f64 * 1000.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_api::LatencyBucket;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn web() -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A report of `web` at `gateway` with `count` requests, `fast` of them within 10 ms and
    /// `ok` within 30 ms.
    fn report(gateway: &str, count: u64, fast: u64, ok: u64) -> TrafficReport {
        let mut r = TrafficReport::new("default", "web", gateway);
        r.spec.latency = Some(LatencyCounts {
            count,
            buckets: vec![
                LatencyBucket {
                    le_ms: 10.0,
                    count: fast,
                },
                LatencyBucket {
                    le_ms: 30.0,
                    count: ok,
                },
            ],
        });
        r
    }

    #[test]
    fn the_share_is_over_each_reports_latest_window() {
        let svc = web();
        let services = [&svc];
        let mut w = Windows::default();
        let t0 = Instant::now();
        // The first reading is the baseline: counters since the agent started are no window.
        assert_eq!(
            w.observe_at("la", &services, &[report("n1", 100, 0, 100)], 30.0, t0),
            None
        );
        // 50 more requests at n1, 40 within 30 ms; n2 appears (baseline only).
        let r = [report("n1", 150, 0, 140), report("n2", 10, 10, 10)];
        assert_eq!(
            w.observe_at("la", &services, &r, 30.0, t0 + Duration::from_secs(10)),
            Some(80.0)
        );
        // Unchanged reports keep their window; n2 now has 30 more, all fast.
        let r = [report("n1", 150, 0, 140), report("n2", 40, 40, 40)];
        assert_eq!(
            w.observe_at("la", &services, &r, 30.0, t0 + Duration::from_secs(20)),
            Some(87.5)
        );
        // A bound between buckets is judged at the one below: 20 ms → the 10 ms bucket. n1's
        // new window is 50 of 100; n2 keeps its 30 of 30: 80 of 130.
        let r = [report("n1", 250, 50, 240), report("n2", 40, 40, 40)];
        assert_eq!(
            w.observe_at("la", &services, &r, 20.0, t0 + Duration::from_secs(30)),
            Some(61.5)
        );
        // Windows expire when a report stops changing for WINDOW_TTL.
        let later = t0 + Duration::from_secs(30) + WINDOW_TTL + Duration::from_secs(1);
        assert_eq!(w.observe_at("la", &services, &r, 20.0, later), None);
    }

    #[test]
    fn a_restarted_agent_starts_a_new_window() {
        let svc = web();
        let services = [&svc];
        let mut w = Windows::default();
        let t0 = Instant::now();
        w.observe_at("la", &services, &[report("n1", 1000, 0, 900)], 30.0, t0);
        let r = [report("n1", 20, 0, 5)];
        assert_eq!(
            w.observe_at("la", &services, &r, 30.0, t0 + Duration::from_secs(5)),
            Some(25.0)
        );
    }
}
