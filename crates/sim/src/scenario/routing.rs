//! The routing trade-off (DESIGN §8: "the trade-off curve between latency and load imbalance
//! must be measured and published"). The replicas are placed once, by the scheduler with
//! proximity placement (or pinned on the hotspot centres: `--placement hotspots`); then every
//! policy serves the same users on that placement: Kubernetes'
//! random routing, Kubernetes' same-zone preference, nearest-replica without a load guard, and
//! Brume's proximity routing at each α.

use serde::Serialize;

use crate::engine::imbalance;
use crate::error::SimError;
use crate::figure::{Figure, FigureKind, Series};
use crate::histogram::LatencyStats;
use crate::report::{Report, Table, fixed, headline};
use crate::router::Routing;
use crate::scenario::{Progress, Settings, Setup, parallel, run_static};
use crate::topology::Topology;

/// What one policy measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The policy's name.
    pub policy: String,
    /// The policy.
    pub routing: Routing,
    /// End-to-end latency.
    pub latency: LatencyStats,
    /// The network part (gateway to replica RTT).
    pub network: LatencyStats,
    /// max / mean requests per replica.
    pub imbalance: f64,
    /// The share of requests within the SLO bound.
    pub attainment: f64,
    /// Requests that reached a failed replica or found none.
    pub failed: u64,
    /// The latency CDF, for the plot.
    #[serde(skip)]
    pub cdf: Vec<(f64, f64)>,
}

/// The policies compared: the baselines, then Brume at each α.
pub fn policies(settings: &Settings) -> Vec<Routing> {
    let mut out = vec![Routing::Random, Routing::SameZone, Routing::nearest()];
    out.extend(settings.alphas.iter().map(|&a| settings.proximity(a)));
    if !settings.alphas.contains(&settings.default_alpha) {
        out.push(settings.proximity(settings.default_alpha));
    }
    out
}

/// Runs the scenario.
pub fn run(
    topology: &Topology,
    settings: &Settings,
    progress: &Progress,
) -> Result<Report, SimError> {
    let setup = Setup::new(topology, settings)?;
    let replicas = setup.routing_placement(settings);
    let policies = policies(settings);
    let per_policy = (settings.requests / policies.len() as u64).max(1);
    progress.plan(per_policy * policies.len() as u64);
    let outcomes = parallel(policies, |routing| {
        let engine = run_static(&setup, settings, routing, &replicas, per_policy, progress);
        let t = &engine.total;
        Outcome {
            policy: routing.label(),
            routing,
            latency: t.latency.stats(),
            network: t.network.stats(),
            imbalance: imbalance(&engine.served()),
            attainment: t.attainment(),
            failed: t.failed + t.no_endpoint,
            cdf: t.latency.cdf(200),
        }
    });
    Ok(report(
        topology, settings, &setup, &replicas, &outcomes, per_policy,
    ))
}

fn report(
    topology: &Topology,
    settings: &Settings,
    setup: &Setup<'_>,
    replicas: &[usize],
    outcomes: &[Outcome],
    per_policy: u64,
) -> Report {
    let random = &outcomes[0];
    let brume = outcomes
        .iter()
        .find(|o| matches!(o.routing, Routing::Proximity { params } if params.alpha == settings.default_alpha && params.beta.is_some()))
        .unwrap_or(random);
    let cut = |a: f64, b: f64| if a > 0.0 { 100.0 * (1.0 - b / a) } else { 0.0 };
    let mut table = Table::new(&[
        "policy",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "network mean ms",
        "max/mean load",
        "within SLO",
        "mean cut vs random",
    ]);
    for o in outcomes {
        table.push(vec![
            o.policy.clone(),
            fixed(o.latency.mean_ms, 1),
            fixed(o.latency.p50_ms, 1),
            fixed(o.latency.p90_ms, 1),
            fixed(o.latency.p99_ms, 1),
            fixed(o.network.mean_ms, 1),
            fixed(o.imbalance, 2),
            format!("{:.1} %", 100.0 * o.attainment),
            format!("{:.1} %", cut(random.latency.mean_ms, o.latency.mean_ms)),
        ]);
    }
    let alpha = settings.default_alpha;
    let headline = vec![
        headline(
            "mean_cut_vs_random",
            &format!("mean latency cut of Brume α={alpha} against Kubernetes random routing"),
            cut(random.latency.mean_ms, brume.latency.mean_ms),
            "%",
        ),
        headline(
            "p99_cut_vs_random",
            &format!("p99 latency cut of Brume α={alpha} against Kubernetes random routing"),
            cut(random.latency.p99_ms, brume.latency.p99_ms),
            "%",
        ),
        headline(
            "network_mean_cut_vs_random",
            &format!(
                "network part (gateway to replica RTT) of the mean cut by Brume α={alpha} \
                 against Kubernetes random routing"
            ),
            cut(random.network.mean_ms, brume.network.mean_ms),
            "%",
        ),
        headline(
            "nearest_network_mean_cut_vs_random",
            "network mean cut of the nearest replica (no guard) against Kubernetes random routing",
            cut(random.network.mean_ms, outcomes[2].network.mean_ms),
            "%",
        ),
        headline(
            "imbalance",
            &format!("max/mean requests per replica under Brume α={alpha}"),
            brume.imbalance,
            "×",
        ),
        headline(
            "mean_ms",
            &format!("mean latency under Brume α={alpha}"),
            brume.latency.mean_ms,
            "ms",
        ),
        headline(
            "random_mean_ms",
            "mean latency under Kubernetes random routing",
            random.latency.mean_ms,
            "ms",
        ),
    ];
    let cdf = Figure {
        file: "routing-latency-cdf.svg".into(),
        title: format!("Request latency by routing policy ({})", topology.name),
        x_label: "latency (ms)".into(),
        y_label: "share of requests".into(),
        x_log: true,
        kind: FigureKind::Lines,
        series: outcomes
            .iter()
            .filter(|o| !o.policy.starts_with("brume") || o.routing == brume.routing)
            .map(|o| Series {
                name: o.policy.clone(),
                points: o.cdf.clone(),
                labels: Vec::new(),
            })
            .collect(),
    };
    let curve: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o.routing, Routing::Proximity { params } if params.beta.is_some()))
        .collect();
    let mut series = vec![Series {
        name: "brume proximity (α)".into(),
        points: curve
            .iter()
            .map(|o| (o.imbalance, o.latency.mean_ms))
            .collect(),
        labels: curve
            .iter()
            .map(|o| match o.routing {
                Routing::Proximity { params } => format!("α={}", params.alpha),
                _ => String::new(),
            })
            .collect(),
    }];
    for o in outcomes.iter().take(3) {
        series.push(Series {
            name: o.policy.clone(),
            points: vec![(o.imbalance, o.latency.mean_ms)],
            labels: vec![o.policy.clone()],
        });
    }
    let trade_off = Figure {
        file: "routing-trade-off.svg".into(),
        title: "Mean latency against load imbalance".into(),
        x_label: "max/mean requests per replica".into(),
        y_label: "mean latency (ms)".into(),
        x_log: false,
        kind: FigureKind::LabelledPoints,
        series,
    };
    Report {
        headline,
        table,
        results: serde_json::json!({
            "replicas": replicas,
            "placement": settings.placement,
            "hotspots": setup.shape.hotspots,
            "rate_rps": settings.rate_rps(),
            "requests_per_policy": per_policy,
            "vivaldi": setup.estimates.vivaldi,
            "policies": outcomes,
        }),
        figures: vec![cdf, trade_off],
        requests: per_policy * outcomes.len() as u64,
        ..Report::new("routing", topology, settings)
    }
}
