//! The scheduler's mirror of Services and `fog.brume.io/v1` TrafficReports, and the question
//! asked of it for each pod, answered without I/O: which Services select the pod, and how much
//! demand they have at each gateway ([`Demand::for_pod`], the input of
//! [`ProximityPlacement`](crate::plugins::ProximityPlacement)).

use std::collections::{BTreeMap, HashMap, HashSet};

use brume_api::TrafficReport;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;

use crate::framework::PodInfo;
use crate::plugins::ServiceDemand;
use crate::selector::Labels;

use brume_api::traffic_report::STALE_AFTER_SECS;

/// What the mirror keeps of one report.
#[derive(Debug)]
struct Report {
    gateway: String,
    rate: f64,
    observed: Option<Timestamp>,
}

/// Services with a selector, and the demand reported for them.
#[derive(Default)]
pub(crate) struct Demand {
    /// Namespace → Service name → `spec.selector`; Services without a selector are left out,
    /// as they select no pod.
    services: HashMap<String, BTreeMap<String, Labels>>,
    /// (namespace, Service) → report name → report.
    reports: HashMap<(String, String), BTreeMap<String, Report>>,
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The Service a report is about: `spec.service`, or the part of the name before the first dot
/// (which validation holds to the same).
fn service_of(report: &TrafficReport) -> String {
    if !report.spec.service.is_empty() {
        return report.spec.service.clone();
    }
    let name = report.metadata.name.as_deref().unwrap_or_default();
    name.split_once('.').map_or(name, |(s, _)| s).to_string()
}

impl Demand {
    /// Adds or updates a Service.
    pub(crate) fn apply_service(&mut self, service: &Service) {
        let (namespace, name) = name_of(&service.metadata);
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        let in_namespace = self.services.entry(namespace).or_default();
        if selector.is_empty() {
            in_namespace.remove(&name);
        } else {
            in_namespace.insert(name, selector);
        }
    }

    /// Forgets a Service (its reports stay until their own deletion arrives).
    pub(crate) fn delete_service(&mut self, service: &Service) {
        let (namespace, name) = name_of(&service.metadata);
        if let Some(in_namespace) = self.services.get_mut(&namespace) {
            in_namespace.remove(&name);
        }
    }

    /// Forgets every Service whose `namespace/name` is not in `keys` (after a relist).
    pub(crate) fn retain_services(&mut self, keys: &HashSet<String>) {
        for (namespace, in_namespace) in &mut self.services {
            in_namespace.retain(|name, _| keys.contains(&format!("{namespace}/{name}")));
        }
        self.services.retain(|_, s| !s.is_empty());
    }

    /// Adds or updates a report.
    pub(crate) fn apply_report(&mut self, report: &TrafficReport) {
        let (namespace, name) = name_of(&report.metadata);
        let entry = Report {
            gateway: report.spec.gateway.clone(),
            rate: report.demand(),
            observed: report.spec.observed_time.as_ref().map(|t| t.0),
        };
        self.reports
            .entry((namespace, service_of(report)))
            .or_default()
            .insert(name, entry);
    }

    /// Forgets a report.
    pub(crate) fn delete_report(&mut self, report: &TrafficReport) {
        let (namespace, name) = name_of(&report.metadata);
        let key = (namespace, service_of(report));
        if let Some(of_service) = self.reports.get_mut(&key) {
            of_service.remove(&name);
            if of_service.is_empty() {
                self.reports.remove(&key);
            }
        }
    }

    /// Forgets every report whose `namespace/name` is not in `keys` (after a relist).
    pub(crate) fn retain_reports(&mut self, keys: &HashSet<String>) {
        for ((namespace, _), of_service) in &mut self.reports {
            of_service.retain(|name, _| keys.contains(&format!("{namespace}/{name}")));
        }
        self.reports.retain(|_, r| !r.is_empty());
    }

    /// The pod's Services — those in its namespace whose non-empty selector its labels match —
    /// and their demand summed per gateway, from the reports observed within
    /// [`STALE_AFTER_SECS`] of `now` (a report without `observedTime` cannot be judged and
    /// counts: placement only leans on it). Gateways come out sorted, so the result is deterministic.
    pub(crate) fn for_pod(&self, pod: &PodInfo, now: Timestamp) -> ServiceDemand {
        let Some(in_namespace) = self.services.get(&pod.namespace) else {
            return ServiceDemand::default();
        };
        let mut selectors = Vec::new();
        let mut per_gateway: BTreeMap<&str, f64> = BTreeMap::new();
        for (service, selector) in in_namespace {
            if !selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v)) {
                continue;
            }
            selectors.push(selector.clone());
            let key = (pod.namespace.clone(), service.clone());
            for report in self.reports.get(&key).into_iter().flat_map(|r| r.values()) {
                let fresh = report
                    .observed
                    .is_none_or(|t| now.as_second() - t.as_second() <= STALE_AFTER_SECS);
                if fresh && !report.gateway.is_empty() && report.rate > 0.0 {
                    *per_gateway.entry(&report.gateway).or_default() += report.rate;
                }
            }
        }
        ServiceDemand {
            selectors,
            demand: per_gateway
                .into_iter()
                .map(|(g, r)| (g.to_string(), r))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::{Value, json};

    fn service(namespace: &str, name: &str, selector: Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"port": 80}]},
        }))
        .unwrap()
    }

    fn report(service: &str, gateway: &str, rps: f64, observed: Option<&str>) -> TrafficReport {
        let mut r = TrafficReport::new("default", service, gateway);
        r.spec.requests_per_second = rps;
        r.spec.connections_per_second = 1.0;
        r.spec.observed_time = observed
            .map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.parse().unwrap()));
        r
    }

    fn web() -> PodInfo {
        let mut p = pod("web-1", 100, 0);
        p.labels = [("app", "web"), ("tier", "front")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        p
    }

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_pod_belongs_to_the_services_whose_selector_it_matches() {
        let mut d = Demand::default();
        d.apply_service(&service("default", "web", json!({"app": "web"})));
        d.apply_service(&service(
            "default",
            "front",
            json!({"app": "web", "tier": "front"}),
        ));
        d.apply_service(&service("default", "db", json!({"app": "db"})));
        d.apply_service(&service("default", "manual", json!({})));
        d.apply_service(&service("other", "web", json!({"app": "web"})));
        let got = d.for_pod(&web(), now());
        assert_eq!(got.selectors.len(), 2, "{got:?}");
        // A Service that loses its selector no longer selects the pod.
        d.apply_service(&service("default", "front", json!({})));
        d.delete_service(&service("default", "web", json!({})));
        assert_eq!(d.for_pod(&web(), now()), ServiceDemand::default());
    }

    #[test]
    fn demand_is_summed_per_gateway_over_the_pods_services_and_stale_reports_drop() {
        let mut d = Demand::default();
        d.apply_service(&service("default", "web", json!({"app": "web"})));
        d.apply_service(&service("default", "front", json!({"tier": "front"})));
        d.apply_service(&service("default", "db", json!({"app": "db"})));
        for r in [
            report("web", "g1", 10.0, Some("2026-03-01T11:59:50Z")),
            report("front", "g1", 4.0, None),
            report("web", "g2", 2.0, Some("2026-03-01T11:58:30Z")),
            report("web", "g3", 50.0, Some("2026-03-01T11:57:59Z")),
            report("db", "g3", 99.0, None),
        ] {
            d.apply_report(&r);
        }
        let got = d.for_pod(&web(), now());
        // Each report adds its requests and its 1 connection per second; g3's is 2 min 1 s old.
        assert_eq!(
            got.demand,
            [("g1".to_string(), 16.0), ("g2".to_string(), 3.0)]
        );
        d.delete_report(&report("front", "g1", 0.0, None));
        d.retain_reports(&["default/web.g1".to_string()].into());
        let got = d.for_pod(&web(), now());
        assert_eq!(got.demand, [("g1".to_string(), 11.0)]);
        d.retain_services(&["default/db".to_string()].into());
        assert_eq!(d.for_pod(&web(), now()), ServiceDemand::default());
    }
}
