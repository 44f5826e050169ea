//! What the fog controllers (latency autoscaler, re-placement) read about a Deployment's users,
//! pure: which Services front its pods, their fresh demand per gateway, and the nodes a replica
//! may run on with where they are (DESIGN §8).

use std::collections::BTreeMap;

use brume_api::TrafficReport;
use brume_fog::{NodeDistances, NodeLocation};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// A report older than this is stale ([`brume_api::traffic_report::STALE_AFTER_SECS`], the
/// scheduler's bound too).
pub const STALE_AFTER: SignedDuration =
    SignedDuration::from_secs(brume_api::traffic_report::STALE_AFTER_SECS);

/// The demand of a Deployment's Services.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemandView {
    /// (gateway, requests plus connections per second) from fresh reports, summed over the
    /// Services, by gateway name.
    pub per_gateway: Vec<(String, f64)>,
    /// How many reports were fresh.
    pub fresh: usize,
    /// How many were stale (or had no time).
    pub stale: usize,
}

impl DemandView {
    /// The total fresh demand.
    pub fn total(&self) -> f64 {
        self.per_gateway.iter().map(|(_, r)| r).sum()
    }

    /// Whether any fresh report was read: without one nothing is known about the users.
    pub fn known(&self) -> bool {
        self.fresh > 0
    }
}

/// The Services whose selector selects pods with `labels` (a Service without a selector selects
/// none), or only the one named `only` when set.
pub fn services_for<'a>(
    labels: &BTreeMap<String, String>,
    services: &'a [Service],
    only: Option<&str>,
) -> Vec<&'a Service> {
    services
        .iter()
        .filter(|s| only.is_none_or(|o| s.metadata.name.as_deref() == Some(o)))
        .filter(|s| {
            let selector = s.spec.as_ref().and_then(|sp| sp.selector.as_ref());
            selector.is_some_and(|sel| {
                !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
        })
        .collect()
}

/// The fresh demand of `services` in `reports`, by gateway. A report without `observedTime`
/// cannot be judged fresh and counts as stale: a controller that changes replicas acts only
/// on demand it knows is current.
pub fn demand_of(services: &[&Service], reports: &[TrafficReport], now: Timestamp) -> DemandView {
    let names: Vec<&str> = services
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    let mut by_gateway: BTreeMap<String, f64> = BTreeMap::new();
    let mut view = DemandView::default();
    for r in reports {
        if !names.contains(&r.spec.service.as_str()) || r.spec.gateway.is_empty() {
            continue;
        }
        let fresh = r
            .spec
            .observed_time
            .as_ref()
            .is_some_and(|t| now.duration_since(t.0) <= STALE_AFTER);
        if !fresh {
            view.stale += 1;
            continue;
        }
        view.fresh += 1;
        *by_gateway.entry(r.spec.gateway.clone()).or_default() += r.demand();
    }
    view.per_gateway = by_gateway.into_iter().collect();
    view
}

/// A node as the fog controllers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The node's name.
    pub name: String,
    /// Where it is (coordinates, GPS, zone/region).
    pub location: NodeLocation,
    /// Ready and schedulable: a replica may be placed there.
    pub usable: bool,
}

/// Reads the nodes.
pub fn sites(nodes: &[Node]) -> Vec<Site> {
    nodes
        .iter()
        .map(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let unschedulable = n
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false);
            Site {
                name: n.metadata.name.clone().unwrap_or_default(),
                location: NodeLocation::from_metadata(
                    n.metadata.annotations.as_ref(),
                    n.metadata.labels.as_ref(),
                )
                .0,
                usable: ready && !unschedulable,
            }
        })
        .collect()
}

/// The RTT between two nodes by name: 0 from a node to itself (users at a gateway served there
/// cross no link), the RTT either measured to the other, else the estimate from their
/// locations, unknown (never 0) when nothing tells (`brume_fog::named_rtt_ms`, as the scheduler
/// and the proxies weigh it, by index: `brume_fog::NodeDistances`).
pub fn distance<'a>(sites: &'a [Site]) -> impl Fn(&String, &String) -> Option<f64> + 'a {
    let table = NodeDistances::new(sites.iter().map(|s| (s.name.as_str(), &s.location)));
    move |a: &String, b: &String| {
        if a == b {
            return Some(0.0);
        }
        table.rtt_ms(table.index(a)?, table.index(b)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn service(name: &str, selector: &[(&str, &str)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
                selector: Some(
                    selector
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn report(service: &str, gateway: &str, rps: f64, age_s: Option<i64>) -> TrafficReport {
        let mut r = TrafficReport::new("default", service, gateway);
        r.spec.requests_per_second = rps;
        r.spec.observed_time = age_s.map(|a| Time(now() - SignedDuration::from_secs(a)));
        r
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_000_000).unwrap()
    }

    #[test]
    fn only_the_services_selecting_the_pods_count() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "x".to_string()),
        ]
        .into();
        let services = vec![
            service("web", &[("app", "web")]),
            service("api", &[("app", "api")]),
            service("none", &[]),
        ];
        let picked: Vec<_> = services_for(&labels, &services, None)
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(picked, ["web"]);
        assert!(services_for(&labels, &services, Some("api")).is_empty());
    }

    #[test]
    fn stale_and_undated_reports_are_counted_but_not_used() {
        let services = [service("web", &[("app", "web")])];
        let refs: Vec<&Service> = services.iter().collect();
        let reports = vec![
            report("web", "n1", 10.0, Some(5)),
            report("web", "n1", 2.5, Some(30)),
            report("web", "n2", 99.0, Some(121)),
            report("web", "n3", 99.0, None),
            report("api", "n4", 7.0, Some(1)),
        ];
        let view = demand_of(&refs, &reports, now());
        assert_eq!(view.per_gateway, [("n1".to_string(), 12.5)]);
        assert_eq!((view.fresh, view.stale), (2, 2));
        assert!(view.known());
        assert_eq!(view.total(), 12.5);
        let none = demand_of(&refs, &reports[2..4], now());
        assert!(!none.known());
    }
}
