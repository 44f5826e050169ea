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

use brume_proxy::{Demand, DemandSample, ServiceRef};
use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use brume_api::traffic_report::{GATEWAY_LABEL, SERVICE_LABEL, TrafficReport};

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

/// The TrafficReport body for one sample, owned by its Service.
fn report(sample: &DemandSample, service_uid: &str) -> Value {
    let name = TrafficReport::name_for(&sample.service.name, &sample.gateway);
    json!({
        "apiVersion": "fog.brume.io/v1",
        "kind": "TrafficReport",
        "metadata": {
            "name": name,
            "namespace": sample.service.namespace,
            "labels": {SERVICE_LABEL: sample.service.name, GATEWAY_LABEL: sample.gateway},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                "name": sample.service.name, "uid": service_uid}],
        },
        "spec": {
            "service": sample.service.name,
            "gateway": sample.gateway,
            "requestsPerSecond": sample.requests_per_second,
            "connectionsPerSecond": sample.connections_per_second,
            "requestsTotal": sample.requests_total,
            "connectionsTotal": sample.connections_total,
            "observedTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    })
}

fn resource() -> ApiResource {
    ApiResource {
        group: "fog.brume.io".into(),
        version: "v1".into(),
        api_version: "fog.brume.io/v1".into(),
        kind: "TrafficReport".into(),
        plural: "trafficreports".into(),
    }
}

/// Writes one report: a merge patch of the spec when it exists, a create otherwise.
async fn write(client: &kube::Client, body: Value) -> Result<(), kube::Error> {
    let ns = body["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = body["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource());
    let patch = json!({"spec": body["spec"]});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let object: DynamicObject =
                serde_json::from_value(body).map_err(kube::Error::SerdeError)?;
            api.create(&PostParams::default(), &object)
                .await
                .map(|_| ())
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
            let mut body = report(&sample, &svc.uid().unwrap_or_default());
            if sample.requests_total == 0 && sample.connections_total == 0 && rate == 0.0 {
                // The last report of decayed demand: keep the stored totals.
                let spec = body["spec"].as_object_mut().expect("the body has a spec");
                spec.remove("requestsTotal");
                spec.remove("connectionsTotal");
            }
            match write(&client, body).await {
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
        };
        let r = report(&sample, "uid-1");
        assert_eq!(r["metadata"]["name"], "web.node-3");
        assert_eq!(r["metadata"]["namespace"], "shop");
        assert_eq!(r["metadata"]["labels"][GATEWAY_LABEL], "node-3");
        assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(r["spec"]["requestsPerSecond"], 1.5);
        assert_eq!(r["spec"]["requestsTotal"], 7);
    }
}
