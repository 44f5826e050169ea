//! Demand reports (DESIGN §8): every few seconds the agent turns its proxy's demand counters
//! into `fog.brume.io/v1` TrafficReports, one per (Service, gateway), so the scheduler and the
//! re-placement controller know where the users of each Service are.
//!
//! A report is written only when its rate moved noticeably or it has not been refreshed for a
//! while ([`due`], pure), so a steady cluster costs the API server a write per Service per
//! gateway every [`ReporterConfig::refresh`], not every tick. A Service whose demand decayed to
//! nothing gets one last report with zero rates.

use std::collections::HashMap;
use std::time::Duration;

use brume_proxy::{Demand, DemandSample, LATENCY_BOUNDS_MS, ServiceRef};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use brume_api::traffic_report::{LatencyBucket, LatencyCounts, TrafficReport};

/// How often reports are written.
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// Time between two looks at the counters.
    pub interval: Duration,
    /// A report is rewritten at least this often while its Service has demand.
    pub refresh: Duration,
    /// The relative change of the rate that makes a report due before `refresh`.
    pub relative_change: f64,
    /// The absolute change (per second) below which a change never makes a report due.
    pub absolute_change: f64,
}

impl Default for ReporterConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            refresh: Duration::from_secs(30),
            relative_change: 0.1,
            absolute_change: 0.2,
        }
    }
}

/// What was last written for one Service.
#[derive(Debug, Clone, Copy)]
struct Written {
    rate: f64,
    at: Instant,
}

/// Whether a report with `rate` is due, given what was last written.
fn due(config: &ReporterConfig, last: Option<Written>, rate: f64, now: Instant) -> bool {
    let Some(last) = last else {
        return true;
    };
    let change = (rate - last.rate).abs();
    now.duration_since(last.at) >= config.refresh
        || (change > config.absolute_change && change > config.relative_change * last.rate)
        || (rate == 0.0 && last.rate > 0.0)
}

/// The TrafficReport of one sample, owned by its Service.
fn report(sample: &DemandSample, service_uid: &str) -> TrafficReport {
    let service = &sample.service;
    let mut r = TrafficReport::new(&service.namespace, &service.name, &sample.gateway);
    r.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: service.name.clone(),
        uid: service_uid.into(),
        ..OwnerReference::default()
    }]);
    r.spec.requests_per_second = sample.requests_per_second;
    r.spec.connections_per_second = sample.connections_per_second;
    r.spec.requests_total = sample.requests_total;
    r.spec.connections_total = sample.connections_total;
    r.spec.observed_time = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    if sample.latency_count > 0 {
        r.spec.latency = Some(LatencyCounts {
            count: sample.latency_count,
            buckets: LATENCY_BOUNDS_MS
                .iter()
                .zip(&sample.latency_within)
                .map(|(le_ms, count)| LatencyBucket {
                    le_ms: *le_ms,
                    count: *count,
                })
                .collect(),
        });
    }
    r
}

/// Writes one report: a merge patch of its spec when it exists, a create otherwise. With
/// `keep_totals`, the stored counters are left as they are (the last report of decayed demand
/// knows only its zero rates).
async fn write(
    client: &kube::Client,
    report: &TrafficReport,
    keep_totals: bool,
) -> Result<(), kube::Error> {
    let ns = report.metadata.namespace.as_deref().unwrap_or("default");
    let name = report.metadata.name.as_deref().unwrap_or_default();
    let api: Api<TrafficReport> = Api::namespaced(client.clone(), ns);
    let mut spec = serde_json::to_value(&report.spec).map_err(kube::Error::SerdeError)?;
    if keep_totals && let Some(spec) = spec.as_object_mut() {
        spec.remove("requestsTotal");
        spec.remove("connectionsTotal");
    }
    let patch = json!({ "spec": spec });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            api.create(&PostParams::default(), report).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Reports `demand` until the process ends; Services are looked up in `services` for the
/// owner reference (a sample of a Service that is gone is not reported).
pub async fn run(
    client: kube::Client,
    demand: Demand,
    services: Store<Service>,
    config: ReporterConfig,
) {
    let mut written: HashMap<ServiceRef, Written> = HashMap::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = Instant::now();
        let mut samples = demand.snapshot(now);
        // Services that had demand and now have none get a last, zero report.
        for gone in written.keys() {
            if written[gone].rate > 0.0 && !samples.iter().any(|s| &s.service == gone) {
                samples.push(DemandSample {
                    service: gone.clone(),
                    gateway: demand.gateway().to_string(),
                    requests_total: 0,
                    connections_total: 0,
                    requests_per_second: 0.0,
                    connections_per_second: 0.0,
                    latency_count: 0,
                    latency_within: Vec::new(),
                });
            }
        }
        for sample in samples {
            let rate = sample.requests_per_second + sample.connections_per_second;
            if !due(&config, written.get(&sample.service).copied(), rate, now) {
                continue;
            }
            let key = ObjectRef::new(&sample.service.name).within(&sample.service.namespace);
            let Some(svc) = services.get(&key) else {
                written.remove(&sample.service);
                continue;
            };
            let body = report(&sample, &svc.uid().unwrap_or_default());
            let decayed =
                sample.requests_total == 0 && sample.connections_total == 0 && rate == 0.0;
            match write(&client, &body, decayed).await {
                Ok(()) => {
                    written.insert(sample.service, Written { rate, at: now });
                }
                Err(e) => tracing::debug!(error = %e, "writing a traffic report failed"),
            }
        }
        written.retain(|_, w| w.rate > 0.0 || now.duration_since(w.at) < config.refresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_api::traffic_report::GATEWAY_LABEL;

    #[test]
    fn a_report_is_due_when_new_moved_stale_or_gone_to_zero() {
        let c = ReporterConfig::default();
        let t0 = Instant::now();
        let last = Some(Written { rate: 10.0, at: t0 });
        assert!(due(&c, None, 0.5, t0), "first report");
        assert!(
            !due(&c, last, 10.5, t0 + Duration::from_secs(2)),
            "5 % is noise"
        );
        assert!(
            due(&c, last, 12.0, t0 + Duration::from_secs(2)),
            "20 % moved"
        );
        assert!(due(&c, last, 10.0, t0 + c.refresh), "refresh");
        assert!(due(&c, last, 0.0, t0 + Duration::from_secs(1)), "gone");
        let small = Some(Written { rate: 0.1, at: t0 });
        assert!(
            !due(&c, small, 0.25, t0 + Duration::from_secs(2)),
            "tiny absolute change"
        );
    }

    #[test]
    fn reports_are_named_labelled_and_owned_by_their_service() {
        let sample = DemandSample {
            service: ServiceRef {
                namespace: "shop".into(),
                name: "web".into(),
            },
            gateway: "node-3".into(),
            requests_total: 7,
            connections_total: 0,
            requests_per_second: 1.5,
            connections_per_second: 0.0,
            latency_count: 4,
            latency_within: vec![0, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
        };
        let r = serde_json::to_value(report(&sample, "uid-1")).unwrap();
        assert_eq!(r["metadata"]["name"], "web.node-3");
        assert_eq!(r["metadata"]["namespace"], "shop");
        assert_eq!(r["metadata"]["labels"][GATEWAY_LABEL], "node-3");
        assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(r["spec"]["requestsPerSecond"], 1.5);
        assert_eq!(r["spec"]["requestsTotal"], 7);
        assert_eq!(r["spec"]["latency"]["count"], 4);
        assert_eq!(
            r["spec"]["latency"]["buckets"][2],
            json!({"leMs": 5.0, "count": 3})
        );
    }
}
