//! Node failures (DESIGN §8, "Autonomy"): a steady load on R replicas placed by the scheduler;
//! at [`T_FAIL_S`] the nodes of ⌈R/3⌉ of them die, and requests that reach them fail. Two
//! clusters handle the same failure, each in a full run of its own:
//!
//! - **Kubernetes defaults**: random routing; the node is NotReady once its Lease is older than
//!   the node-monitor grace period, which takes its pods out of the endpoints; the NoExecute
//!   taint goes on at the per-zone eviction rate, and the pods are evicted when their default
//!   300 s toleration runs out; the replacements are scheduled with the resource scores alone.
//! - **Brume**: proximity routing at the default α; Brume's own controller settings (10 s grace,
//!   30 s default toleration counted from when the node went silent); the replacements are
//!   scheduled with ProximityPlacement and the Service's demand.
//!
//! Both start from one placement (Brume's scheduler, as in the routing scenario) and lose the
//! same nodes, so the difference is how each notices and repairs the failure; the placements
//! themselves are compared in the placement scenario. Every lifecycle step is timed from the
//! real loops: lease renewals, the controller's monitor ticks, the taint queue, the toleration
//! clock (the pure model is [`Lifecycle::courses`]); replacements go through the live scheduler
//! profile. Each replacement is listed [`POD_STARTUP_S`] after it is scheduled.
//!
//! Not modelled: Brume's proxy retries a connection that fails on another endpoint (after its
//! 1 s connect timeout), so in the live system many of Brume's failed requests would be answered
//! late instead: still SLO misses, so the attainment figures hold, but Brume's failed-request
//! count here is an upper bound. kube-proxy does not retry.

pub mod lifecycle;

use std::sync::Arc;

use brume_scheduler::NodeInfo;
use serde::Serialize;

use crate::engine::Tally;
use crate::error::SimError;
use crate::figure::{Figure, Series};
use crate::histogram::{Histogram, LatencyStats};
use crate::placement;
use crate::report::{Report, Table, fixed, headline};
use crate::router::Routing;
use crate::scenario::{Progress, Settings, Setup, parallel};
use crate::topology::Topology;

pub use lifecycle::{Course, FailedNode, Failure, Lifecycle, TolerationClock, draw_failure};

/// When the nodes fail, in simulated seconds: a minute of steady load first.
pub const T_FAIL_S: f64 = 60.0;

/// How long the run goes on after the failure: past Kubernetes' last replacement (about
/// 50 s grace + 300 s toleration + startup), with a steady stretch after it.
pub const AFTER_FAIL_S: f64 = 400.0;

/// The least steady time kept after the last replacement is listed: the run is stretched when
/// the taint queue pushes a replacement past [`AFTER_FAIL_S`] − this.
const SETTLE_S: f64 = 30.0;

/// The width of a measurement window.
pub const WINDOW_S: f64 = 5.0;

/// From a replacement's binding to its being Ready in the endpoints: the image is already on
/// the node, the container starts, the readiness probe passes. An assumption, the same for both
/// clusters, at Kubernetes' pod startup SLO (SIG Scalability: creation to containers started
/// within 5 s at p99, image pulls excluded).
pub const POD_STARTUP_S: f64 = 5.0;

/// The request rate the run can afford: the offered rate, lowered when needed so that the
/// Poisson count of requests over `duration_s` stays under `cap` (by three standard deviations,
/// so the cap is not reached before the end and the last window is full).
pub fn affordable_rate(offered_rps: f64, duration_s: f64, cap: u64) -> f64 {
    let cap = cap as f64;
    let target = (cap - 3.0 * cap.sqrt()).max(cap / 2.0);
    offered_rps.min(target / duration_s)
}

/// The two clusters compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Kubernetes' defaults.
    KubernetesDefaults,
    /// Brume's defaults.
    Brume,
}

impl Variant {
    const ALL: [Variant; 2] = [Variant::KubernetesDefaults, Variant::Brume];

    fn label(&self) -> &'static str {
        match self {
            Variant::KubernetesDefaults => "kubernetes defaults",
            Variant::Brume => "brume",
        }
    }

    /// The prefix of its headline keys.
    fn key(&self) -> &'static str {
        match self {
            Variant::KubernetesDefaults => "kubernetes",
            Variant::Brume => "brume",
        }
    }

    fn lifecycle(&self) -> Lifecycle {
        match self {
            Variant::KubernetesDefaults => Lifecycle::KUBERNETES,
            Variant::Brume => Lifecycle::BRUME,
        }
    }

    fn routing(&self, settings: &Settings) -> Routing {
        match self {
            Variant::KubernetesDefaults => Routing::Random,
            Variant::Brume => settings.proximity(settings.default_alpha),
        }
    }
}

/// One replacement pod.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Replacement {
    /// The failed node whose pod it replaces.
    pub replaces: usize,
    /// Where the scheduler put it.
    pub node: usize,
    /// When it was created and scheduled (its predecessor's eviction).
    pub scheduled_s: f64,
    /// When it joined the endpoints.
    pub listed_s: f64,
}

/// A change to the replica set during the run.
#[derive(Debug, Clone, Copy)]
enum Change {
    Fail(usize),
    Unlist(usize),
    List(usize),
}

/// What a cluster does about the failure, decided before the run (none of it depends on the
/// requests).
struct Plan {
    variant: Variant,
    courses: Vec<Course>,
    replacements: Vec<Replacement>,
    unscheduled: usize,
    changes: Vec<(f64, Change)>,
}

fn plan(
    variant: Variant,
    cluster: &[NodeInfo],
    demand: &[(usize, f64)],
    replicas: &[usize],
    failure: &Failure,
) -> Plan {
    let courses = variant
        .lifecycle()
        .courses(&failure.nodes, T_FAIL_S, failure.tick_phase);
    let mut nodes = cluster.to_vec();
    let mut by_eviction: Vec<&Course> = courses.iter().collect();
    by_eviction.sort_by(|a, b| {
        a.evicted_s
            .total_cmp(&b.evicted_s)
            .then(a.node.cmp(&b.node))
    });
    let (mut replacements, mut unscheduled) = (Vec::new(), 0);
    let mut next_index = replicas.len();
    for c in by_eviction {
        // Nodes already NotReady carry the NoSchedule taint: the NodeReady filter skips them.
        for other in courses.iter().filter(|o| o.not_ready_s <= c.evicted_s) {
            nodes[other.node].ready = false;
        }
        // The evicted pods are terminating: no longer replicas to ProximityPlacement.
        for pod in nodes[c.node].pods.iter_mut() {
            let mut gone = (**pod).clone();
            gone.terminating = true;
            *pod = Arc::new(gone);
        }
        let count = replicas.iter().filter(|&&r| r == c.node).count();
        let proximity = variant == Variant::Brume;
        let chosen = placement::schedule(&mut nodes, demand, count, proximity, next_index);
        next_index += count;
        unscheduled += count - chosen.len();
        replacements.extend(chosen.into_iter().map(|node| Replacement {
            replaces: c.node,
            node,
            scheduled_s: c.evicted_s,
            listed_s: c.evicted_s + POD_STARTUP_S,
        }));
    }
    let mut changes: Vec<(f64, Change)> = courses
        .iter()
        .map(|c| (T_FAIL_S, Change::Fail(c.node)))
        .chain(
            courses
                .iter()
                .map(|c| (c.not_ready_s, Change::Unlist(c.node))),
        )
        .chain(
            replacements
                .iter()
                .map(|r| (r.listed_s, Change::List(r.node))),
        )
        .collect();
    changes.sort_by(|a, b| a.0.total_cmp(&b.0));
    Plan {
        variant,
        courses,
        replacements,
        unscheduled,
        changes,
    }
}

impl Plan {
    /// When the last replacement was listed (the failure time if there was none).
    fn recovered_s(&self) -> f64 {
        self.replacements
            .iter()
            .map(|r| r.listed_s)
            .fold(T_FAIL_S, f64::max)
    }
}

/// What one window measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Its end, in simulated seconds.
    pub end_s: f64,
    /// Requests answered or failed in it.
    pub requests: u64,
    /// Requests that failed (a dead replica, or none listed).
    pub failed: u64,
    /// The share within the SLO, failures counting as misses.
    pub attainment: f64,
    /// Replicas in the endpoints at its end.
    pub listed: usize,
    /// The mean latency of the answered requests.
    pub mean_ms: f64,
}

impl Window {
    fn of(end_s: f64, tally: &Tally, listed: usize) -> Window {
        let failed = tally.failed + tally.no_endpoint;
        Window {
            end_s,
            requests: tally.latency.count() + failed,
            failed,
            attainment: tally.attainment(),
            listed,
            mean_ms: tally.latency.mean(),
        }
    }
}

/// What one cluster went through.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The cluster.
    pub variant: Variant,
    /// Its routing.
    pub routing: Routing,
    /// Its lifecycle settings.
    pub lifecycle: Lifecycle,
    /// Each failed node's course.
    pub courses: Vec<Course>,
    /// The replacements, in the order they were scheduled.
    pub replacements: Vec<Replacement>,
    /// Replacements the scheduler found no node for.
    pub unscheduled: usize,
    /// Requests issued.
    pub issued: u64,
    /// Requests that failed.
    pub failed_requests: u64,
    /// From the failure until the last failed node was NotReady.
    pub detect_s: f64,
    /// From the failure until the last replacement was listed.
    pub recovery_s: f64,
    /// Replicas in the endpoints at the end.
    pub listed_at_end: usize,
    /// The lowest window attainment.
    pub worst_window_attainment: f64,
    /// The attainment over the whole run.
    pub attainment: f64,
    /// Latency before the failure.
    pub before: LatencyStats,
    /// From the failure until the last replacement was listed.
    pub during: LatencyStats,
    /// After the last replacement was listed.
    pub after: LatencyStats,
    /// Window by window.
    pub windows: Vec<Window>,
}

/// How a run is paced: its windows, the request rate and the cap on requests.
#[derive(Debug, Clone, Copy)]
struct Pace {
    windows: usize,
    rate_rps: f64,
    cap: u64,
}

fn simulate(
    setup: &Setup<'_>,
    settings: &Settings,
    replicas: &[usize],
    plan: Plan,
    pace: Pace,
    progress: &Progress,
) -> Outcome {
    let routing = plan.variant.routing(settings);
    let mut engine = setup.engine(settings, routing, replicas);
    let recovered_s = plan.recovered_s();
    let mut phases = [
        Histogram::default(),
        Histogram::default(),
        Histogram::default(),
    ];
    let mut changes = plan.changes.iter().peekable();
    let mut windows = Vec::with_capacity(pace.windows);
    for k in 0..pace.windows {
        let start = k as f64 * WINDOW_S;
        let end = start + WINDOW_S;
        while let Some(&(at, change)) = changes.next_if(|(at, _)| *at <= end) {
            engine.run_until(at, pace.cap, &setup.users, pace.rate_rps);
            match change {
                Change::Fail(node) => engine.set_node_alive(node, false),
                Change::Unlist(node) => {
                    for (id, _) in engine.listed().into_iter().filter(|(_, n)| *n == node) {
                        engine.unlist(id);
                    }
                }
                Change::List(node) => {
                    engine.add_replica(node);
                }
            }
        }
        engine.run_until(end, pace.cap, &setup.users, pace.rate_rps);
        let tally = engine.take_window();
        let phase = if end <= T_FAIL_S {
            0
        } else if start < recovered_s {
            1
        } else {
            2
        };
        phases[phase].merge(&tally.latency);
        windows.push(Window::of(end, &tally, engine.listed().len()));
        progress.advance(1);
    }
    engine.drain();
    let total = &engine.total;
    let [before, during, after] = phases.map(|h| h.stats());
    let last_not_ready = plan
        .courses
        .iter()
        .map(|c| c.not_ready_s)
        .fold(T_FAIL_S, f64::max);
    Outcome {
        variant: plan.variant,
        routing,
        lifecycle: plan.variant.lifecycle(),
        issued: engine.issued(),
        failed_requests: total.failed + total.no_endpoint,
        detect_s: last_not_ready - T_FAIL_S,
        recovery_s: recovered_s - T_FAIL_S,
        listed_at_end: engine.listed().len(),
        worst_window_attainment: windows.iter().map(|w| w.attainment).fold(1.0, f64::min),
        attainment: total.attainment(),
        before,
        during,
        after,
        courses: plan.courses,
        replacements: plan.replacements,
        unscheduled: plan.unscheduled,
        windows,
    }
}

/// Runs the scenario.
pub fn run(
    topology: &Topology,
    settings: &Settings,
    progress: &Progress,
) -> Result<Report, SimError> {
    let setup = Setup::new(topology, settings)?;
    let (cluster, replicas) = setup.brume_placement(settings);
    let failure = draw_failure(&replicas, &setup.zones, settings.seed);
    let plans: Vec<Plan> = Variant::ALL
        .iter()
        .map(|&v| plan(v, &cluster, &setup.demand, &replicas, &failure))
        .collect();
    let last_listed = plans.iter().map(Plan::recovered_s).fold(T_FAIL_S, f64::max);
    let end_s = (T_FAIL_S + AFTER_FAIL_S).max(last_listed + SETTLE_S);
    let windows = (end_s / WINDOW_S - 1e-9).ceil() as usize;
    let end_s = windows as f64 * WINDOW_S;
    // The run's length is fixed by the lifecycles, not by the request budget: the budget sets
    // the rate instead, lowered below the offered load when rate × length would exceed it.
    let cap = (settings.requests / Variant::ALL.len() as u64).max(1);
    let offered = settings.rate_rps();
    let pace = Pace {
        windows,
        rate_rps: affordable_rate(offered, end_s, cap),
        cap,
    };
    progress.plan(windows as u64 * Variant::ALL.len() as u64);
    let outcomes = parallel(plans, |plan| {
        simulate(&setup, settings, &replicas, plan, pace, progress)
    });
    let lost = replicas
        .iter()
        .filter(|r| failure.nodes.iter().any(|f| f.node == **r))
        .count();
    let results = serde_json::json!({
        "t_fail_s": T_FAIL_S,
        "end_s": end_s,
        "window_s": WINDOW_S,
        "pod_startup_s": POD_STARTUP_S,
        "replicas": replicas,
        "failure": failure,
        "lost_replicas": lost,
        "offered_rate_rps": offered,
        "rate_rps": pace.rate_rps,
        "rate_lowered_to_fit_requests": pace.rate_rps < offered,
        "simulated_utilisation": pace.rate_rps / (replicas.len() as f64 * settings.service.capacity_rps()),
        "requests_cap_per_variant": cap,
        "vivaldi": setup.estimates.vivaldi,
        "variants": outcomes,
    });
    Ok(report(topology, settings, &outcomes, results))
}

fn report(
    topology: &Topology,
    settings: &Settings,
    outcomes: &[Outcome],
    results: serde_json::Value,
) -> Report {
    let mut table = Table::new(&[
        "cluster",
        "failed requests",
        "NotReady after",
        "replaced after",
        "worst 5 s window",
        "within SLO (run)",
        "mean ms before",
        "mean ms during",
        "mean ms after",
    ]);
    let percent = |share: f64| format!("{:.1} %", 100.0 * share);
    for o in outcomes {
        table.push(vec![
            o.variant.label().into(),
            format!(
                "{} ({})",
                o.failed_requests,
                percent(o.failed_requests as f64 / o.issued.max(1) as f64)
            ),
            format!("{:.0} s", o.detect_s),
            format!("{:.0} s", o.recovery_s),
            percent(o.worst_window_attainment),
            percent(o.attainment),
            fixed(o.before.mean_ms, 1),
            fixed(o.during.mean_ms, 1),
            fixed(o.after.mean_ms, 1),
        ]);
    }
    let mut headlines = Vec::new();
    for o in outcomes {
        let (key, name) = (o.variant.key(), o.variant.label());
        headlines.extend([
            headline(
                &format!("{key}_failed_requests"),
                &format!("requests failed after the node failure, {name}"),
                o.failed_requests as f64,
                "requests",
            ),
            headline(
                &format!("{key}_detect_s"),
                &format!("from the failure until every failed node is NotReady, {name}"),
                o.detect_s,
                "s",
            ),
            headline(
                &format!("{key}_recovery_s"),
                &format!("from the failure until every replacement is listed, {name}"),
                o.recovery_s,
                "s",
            ),
            headline(
                &format!("{key}_worst_window_attainment"),
                &format!("requests within the SLO in the worst 5 s window, {name}"),
                100.0 * o.worst_window_attainment,
                "%",
            ),
            headline(
                &format!("{key}_attainment"),
                &format!("requests within the SLO over the whole run, {name}"),
                100.0 * o.attainment,
                "%",
            ),
        ]);
    }
    let (k8s, brume) = (&outcomes[0], &outcomes[1]);
    let cut = if k8s.failed_requests > 0 {
        100.0 * (1.0 - brume.failed_requests as f64 / k8s.failed_requests as f64)
    } else {
        0.0
    };
    headlines.push(headline(
        "failed_requests_cut_vs_kubernetes",
        "failed requests cut by Brume against Kubernetes' defaults",
        cut,
        "%",
    ));
    let over_time = |file: &str, title: &str, y_label: &str, y: fn(&Window) -> f64| {
        let series = outcomes
            .iter()
            .map(|o| {
                Series::line(
                    o.variant.label(),
                    o.windows.iter().map(|w| (w.end_s, y(w))).collect(),
                )
            })
            .collect();
        let title = format!("{title} ({})", topology.name);
        Figure::lines(
            file,
            title,
            format!("time (s; nodes fail at {T_FAIL_S} s; {WINDOW_S} s windows)"),
            y_label,
            series,
        )
    };
    let figures = vec![
        over_time(
            "failures-attainment.svg",
            "Requests within the SLO through a node failure",
            "share within the SLO (failures count as misses)",
            |w| w.attainment,
        ),
        over_time(
            "failures-listed-replicas.svg",
            "Replicas in the endpoints through a node failure",
            "listed replicas",
            |w| w.listed as f64,
        ),
    ];
    Report {
        headline: headlines,
        table,
        results,
        figures,
        requests: outcomes.iter().map(|o| o.issued).sum(),
        ..Report::new("failures", topology, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_lowered_only_to_fit_the_requests() {
        assert_eq!(affordable_rate(100.0, 100.0, 1_000_000), 100.0);
        let lowered = affordable_rate(12_000.0, 460.0, 150_000);
        assert!((lowered * 460.0) < 150_000.0 - 1000.0, "{lowered}");
        assert!((lowered * 460.0) > 148_000.0, "{lowered}");
    }
}
