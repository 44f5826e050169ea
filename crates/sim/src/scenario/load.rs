//! Load rising and falling (DESIGN §8, "Latency-SLO autoscaling"): one Service and a fixed
//! population of users whose request rate follows a "day" of [`DURATION_S`]: a raised cosine
//! from [`LOW`] to [`PEAK`] times the offered rate (`--utilisation` of `--replicas` replicas'
//! capacity) and back, the peak in the middle, so that at the peak the fixed replica count is
//! overloaded. Three clusters carry the same day, each in a full run of its own:
//!
//! - **fixed**: Kubernetes without an autoscaler, `--replicas` replicas placed by the default
//!   scheduler profile, random routing (kube-proxy);
//! - **kubernetes hpa**: the live HorizontalPodAutoscaler decision (`hpa::decide`) on a real
//!   `autoscaling/v2` object, CPU Utilization target [`HPA_CPU_TARGET`] %, synced every 15 s,
//!   reading real PodMetrics; the default scheduler profile, random routing;
//! - **brume latency autoscaler**: the live `latency_autoscaler::decide` on a real
//!   LatencyAutoscaler (90 % of requests within `--slo-ms`, a replica sized at
//!   [`CAPACITY_SHARE`] of its capacity), synced every 10 s on the demand reports; new pods
//!   placed with ProximityPlacement and the current demand, proximity routing at the default α.
//!
//! Both autoscalers allow 1 to [`MAX_FACTOR`] × `--replicas` replicas and start, like the fixed
//! cluster, at `--replicas`: their first sync brings them to their own count, as happens when
//! an autoscaler is put on a running Deployment. Pods go through [`SimDeployment`]: new ones
//! through the live scheduler profile, listed [`POD_STARTUP_S`] later; deleted ones in the
//! ReplicaSet controller's order, unlisted at once.
//!
//! How the inputs are made. A pod's CPU usage over a metrics window is its busy share (requests
//! it took × the mean service time, over its workers × the window, at most 1) times its CPU
//! request: a replica busy on every worker uses exactly its 250 m request. The samples are
//! written every 15 s over the 15 s before, as the agents write them. The demand reports give
//! each gateway its users' share of the mean offered rate over the last sync period.
//!
//! Not modelled: the proxies' smoothing and report delay (the demand is exact, one period
//! old at most); CPU spent outside serving requests, and usage above the request (a replica
//! is never measured above 100 %: the HPA sees an overloaded replica at 100 %, not at the
//! queue it has); the ReplicaSet and Deployment controllers' own delays (a replica count
//! written takes effect at once); image pulls (a pod is Ready [`POD_STARTUP_S`] after its
//! binding). When `--requests` cannot carry the whole day, the rate profile is scaled down
//! (`rate_scale` in the results) and the peak may then not overload the fixed replicas:
//! `requests_for_full_profile` says how many requests the unscaled day needs.

pub mod autoscalers;

use std::collections::BTreeMap;

use serde::Serialize;

use autoscalers::{Autoscaler, SyncInputs};

use crate::engine::{ServiceModel, Tally};
use crate::error::SimError;
use crate::figure::{Figure, Series};
use crate::histogram::LatencyStats;
use crate::placement;
use crate::report::{Report, Table, fixed, headline};
use crate::router::Routing;
use crate::scenario::deployment::SimDeployment;
use crate::scenario::failures::{POD_STARTUP_S, affordable_rate};
use crate::scenario::{Progress, Settings, Setup, parallel};
use crate::topology::Topology;

/// The length of the day, in simulated seconds: half an hour, long enough for the HPA's 5 min
/// scale-down window to matter and short enough to simulate at full rate.
pub const DURATION_S: u32 = 1800;

/// The width of a measurement window, in seconds.
pub const WINDOW_S: u32 = 10;

/// The rate at the start and end of the day, as a share of the offered rate.
pub const LOW: f64 = 0.25;

/// The rate at the peak, as a share of the offered rate: at the default 60 % utilisation, the
/// fixed replicas get 120 % of their capacity.
pub const PEAK: f64 = 2.0;

/// The HPA's CPU target, percent of the request: a common production setting, leaving room
/// for the 15 s sync and the pods' startup.
pub const HPA_CPU_TARGET: i32 = 70;

/// The replica capacity the LatencyAutoscaler declares, as a share of what a replica serves
/// flat out: at 70 % busy, an M/M/4 queue waits about a service time on average, within a
/// 30 ms objective's budget.
pub const CAPACITY_SHARE: f64 = 0.7;

/// Both autoscalers' `maxReplicas`, as a multiple of `--replicas`.
pub const MAX_FACTOR: usize = 4;

/// The metrics the agents write: a sample every 15 s over the 15 s before
/// ([`brume_api::metrics::REPORT_INTERVAL_SECONDS`]).
const METRICS_WINDOW_S: u32 = brume_api::metrics::REPORT_INTERVAL_SECONDS as u32;

/// The request rate over the day: a raised cosine from `low` to `peak` times `base_rps` and
/// back, the peak at the middle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Profile {
    /// The rate the shares are of, in requests per second.
    pub base_rps: f64,
    /// The share at the start and the end.
    pub low: f64,
    /// The share at the middle.
    pub peak: f64,
    /// The length of the day, in seconds.
    pub duration_s: f64,
}

impl Profile {
    /// The rate at time `t`, in requests per second.
    pub fn rate_at(&self, t: f64) -> f64 {
        let phase = std::f64::consts::TAU * t / self.duration_s;
        self.base_rps * (self.low + (self.peak - self.low) * (1.0 - phase.cos()) / 2.0)
    }

    /// The mean rate over `[a, b]` (the rate at `a` when they are equal).
    pub fn mean_over(&self, a: f64, b: f64) -> f64 {
        if b <= a {
            return self.rate_at(a);
        }
        let k = std::f64::consts::TAU / self.duration_s;
        let sines = ((k * b).sin() - (k * a).sin()) / k;
        let integral = self.low * (b - a) + (self.peak - self.low) / 2.0 * ((b - a) - sines);
        self.base_rps * integral / (b - a)
    }

    /// The requests of the whole day.
    pub fn requests(&self) -> f64 {
        self.mean_over(0.0, self.duration_s) * self.duration_s
    }

    /// The same shape at `factor` times the rate.
    pub fn scaled(self, factor: f64) -> Profile {
        Profile {
            base_rps: self.base_rps * factor,
            ..self
        }
    }
}

/// The CPU one replica used over a window, in cores: its busy share (`served` requests of the
/// mean service time over its workers × `window_s`, at most 1) times its request. The engine
/// counts a request when it reaches the replica, so a replica overloaded in the window is at
/// 100 %, as its CPU would be.
pub fn cpu_cores(served: u64, service: &ServiceModel, window_s: f64, request_cores: f64) -> f64 {
    if window_s <= 0.0 {
        return 0.0;
    }
    let busy_s = served as f64 * service.mean_service_ms / 1000.0;
    let share = busy_s / (service.servers.max(1) as f64 * window_s);
    share.min(1.0) * request_cores
}

/// The three clusters compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// `--replicas` replicas, no autoscaler.
    Fixed,
    /// Kubernetes' HPA on CPU.
    Hpa,
    /// Brume's latency autoscaler.
    LatencyAutoscaler,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Fixed, Variant::Hpa, Variant::LatencyAutoscaler];

    fn label(&self) -> &'static str {
        match self {
            Variant::Fixed => "kubernetes fixed",
            Variant::Hpa => "kubernetes hpa",
            Variant::LatencyAutoscaler => "brume latency autoscaler",
        }
    }

    /// The prefix of its headline keys.
    fn key(&self) -> &'static str {
        match self {
            Variant::Fixed => "fixed",
            Variant::Hpa => "hpa",
            Variant::LatencyAutoscaler => "brume",
        }
    }

    fn brume(&self) -> bool {
        *self == Variant::LatencyAutoscaler
    }

    fn routing(&self, settings: &Settings) -> Routing {
        if self.brume() {
            settings.proximity(settings.default_alpha)
        } else {
            Routing::Random
        }
    }
}

/// The share of requests the objective asks within the SLO bound (p90).
pub const OBJECTIVE: f64 = 0.9;

/// What one window measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Its end, in simulated seconds.
    pub end_s: f64,
    /// The mean offered rate over it, in requests per second.
    pub offered_rps: f64,
    /// Requests answered or failed in it.
    pub requests: u64,
    /// The share within the SLO, failures counting as misses.
    pub attainment: f64,
    /// Replicas in the endpoints at its end.
    pub listed: usize,
    /// `spec.replicas` at its end.
    pub replicas: i32,
    /// The mean latency of the answered requests.
    pub mean_ms: f64,
    /// Their 90th percentile.
    pub p90_ms: f64,
}

impl Window {
    fn of(end_s: f64, offered_rps: f64, tally: &Tally, listed: usize, replicas: i32) -> Window {
        let failed = tally.failed + tally.no_endpoint;
        Window {
            end_s,
            offered_rps,
            requests: tally.latency.count() + failed,
            attainment: tally.attainment(),
            listed,
            replicas,
            mean_ms: tally.latency.mean(),
            p90_ms: tally.latency.quantile(0.9),
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
    /// Requests issued.
    pub issued: u64,
    /// The share within the SLO over the run, failures counting as misses.
    pub attainment: f64,
    /// The share of windows whose attainment met the objective.
    pub windows_meeting_objective: f64,
    /// The lowest window attainment.
    pub worst_window_attainment: f64,
    /// Pods times seconds: every pod counts from its creation to its deletion, starting or not.
    pub replica_seconds: f64,
    /// Listed replicas times seconds.
    pub listed_replica_seconds: f64,
    /// The fewest and the most pods over the run.
    pub replicas_range: (usize, usize),
    /// Replica counts the autoscaler wrote.
    pub scale_events: usize,
    /// Pods created and deleted, the starting ones included.
    pub churn: (usize, usize),
    /// The reasons the controller gave, counted over its syncs.
    pub reasons: BTreeMap<String, usize>,
    /// Latency of the answered requests over the run.
    pub latency: LatencyStats,
    /// Window by window.
    pub windows: Vec<Window>,
}

/// How a run is paced: the rate profile and the cap on requests.
#[derive(Debug, Clone, Copy)]
struct Pace {
    profile: Profile,
    cap: u64,
}

fn simulate(
    setup: &Setup<'_>,
    settings: &Settings,
    variant: Variant,
    pace: Pace,
    progress: &Progress,
) -> Outcome {
    let n = setup.topology.len();
    let mut engine = setup.engine(settings, variant.routing(settings), &[]);
    let per_user = |rate: f64| rate / setup.users.len().max(1) as f64;
    let demand = setup.users.demand(n, per_user(pace.profile.rate_at(0.0)));
    let background = placement::background_load(n, settings.seed);
    let mut nodes = placement::cluster(&setup.estimates, n, &background);
    let placed = placement::schedule(&mut nodes, &demand, settings.replicas, variant.brume(), 0);
    let mut deployment = SimDeployment::running(nodes, &placed, variant.brume(), &mut engine);
    deployment.set_demand(&demand);
    let mut autoscaler = Autoscaler::of(variant, settings);
    let period = autoscaler.period_s();
    let (mut replica_seconds, mut listed_seconds) = (0.0, 0.0);
    let mut range = (usize::MAX, 0);
    let (mut scale_events, mut reasons) = (0, BTreeMap::<String, usize>::new());
    let mut windows: Vec<Window> = Vec::new();
    // Every change happens on a whole second: syncs, windows, and pods Ready 5 s after a sync.
    for second in 0..DURATION_S {
        let (start, end) = (f64::from(second), f64::from(second + 1));
        let pods = deployment.live_pods().len();
        range = (range.0.min(pods), range.1.max(pods));
        replica_seconds += pods as f64;
        listed_seconds += deployment
            .live_pods()
            .iter()
            .filter(|p| p.replica.is_some())
            .count() as f64;
        let rate = pace.profile.mean_over(start, end);
        engine.run_until(end, pace.cap, &setup.users, rate);
        deployment.list_ready(&mut engine, end);
        if (second + 1) % WINDOW_S == 0 {
            let tally = engine.take_window();
            let offered = pace.profile.mean_over(end - f64::from(WINDOW_S), end);
            let listed = engine.listed().len();
            windows.push(Window::of(
                end,
                offered,
                &tally,
                listed,
                deployment.replicas(),
            ));
            progress.advance(1);
        }
        if period > 0 && (second + 1) % period == 0 {
            let inputs = SyncInputs {
                setup,
                settings,
                profile: &pace.profile,
                measured: windows.last().map(|w| 100.0 * w.attainment),
            };
            let (to, why) = autoscaler.sync(&mut deployment, &mut engine, &inputs, end);
            scale_events += usize::from(to.is_some());
            for r in why {
                *reasons.entry(r).or_default() += 1;
            }
        }
    }
    engine.drain();
    let meeting = windows
        .iter()
        .filter(|w| w.requests > 0 && w.attainment >= OBJECTIVE)
        .count();
    let measured = windows.iter().filter(|w| w.requests > 0).count().max(1);
    Outcome {
        variant,
        routing: variant.routing(settings),
        issued: engine.issued(),
        attainment: engine.total.attainment(),
        windows_meeting_objective: meeting as f64 / measured as f64,
        worst_window_attainment: windows.iter().map(|w| w.attainment).fold(1.0, f64::min),
        replica_seconds,
        listed_replica_seconds: listed_seconds,
        replicas_range: range,
        scale_events,
        churn: deployment.churn(),
        reasons,
        latency: engine.total.latency.stats(),
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
    let duration = f64::from(DURATION_S);
    let full = Profile {
        base_rps: settings.rate_rps(),
        low: LOW,
        peak: PEAK,
        duration_s: duration,
    };
    // The budget sets the rate: the whole profile is scaled down when the day would exceed it.
    let cap = (settings.requests / Variant::ALL.len() as u64).max(1);
    let mean = full.requests() / duration;
    let scale = affordable_rate(mean, duration, cap) / mean;
    let pace = Pace {
        profile: full.scaled(scale),
        cap,
    };
    let windows = DURATION_S / WINDOW_S;
    progress.plan(u64::from(windows) * Variant::ALL.len() as u64);
    let outcomes = parallel(Variant::ALL.to_vec(), |v| {
        simulate(&setup, settings, v, pace, progress)
    });
    let capacity = settings.service.capacity_rps();
    let results = serde_json::json!({
        "duration_s": duration,
        "window_s": WINDOW_S,
        "pod_startup_s": POD_STARTUP_S,
        "profile": pace.profile,
        "offered_profile": full,
        "rate_scale": scale,
        "requests_for_full_profile": (full.requests() * Variant::ALL.len() as f64).ceil(),
        "requests_cap_per_variant": cap,
        "peak_utilisation_of_fixed_replicas":
            pace.profile.rate_at(duration / 2.0) / (settings.replicas as f64 * capacity),
        "objective": {"percentile": 100.0 * OBJECTIVE, "latency_ms": settings.slo_ms},
        "hpa_cpu_target_percent": HPA_CPU_TARGET,
        "replica_capacity_rps": CAPACITY_SHARE * capacity,
        "max_replicas": MAX_FACTOR * settings.replicas,
        "vivaldi": setup.estimates.vivaldi,
        "variants": outcomes,
    });
    Ok(report(
        topology,
        settings,
        &pace.profile,
        &outcomes,
        results,
    ))
}

fn report(
    topology: &Topology,
    settings: &Settings,
    profile: &Profile,
    outcomes: &[Outcome],
    results: serde_json::Value,
) -> Report {
    let mut table = Table::new(&[
        "cluster",
        "replicas (min-max)",
        "scale events",
        "replica-hours",
        "within SLO (run)",
        "windows meeting p90",
        "worst window",
        "mean ms",
        "p90 ms",
    ]);
    let percent = |share: f64| format!("{:.1} %", 100.0 * share);
    let hours = |o: &Outcome| o.replica_seconds / 3600.0;
    for o in outcomes {
        table.push(vec![
            o.variant.label().into(),
            format!("{}-{}", o.replicas_range.0, o.replicas_range.1),
            o.scale_events.to_string(),
            fixed(hours(o), 2),
            percent(o.attainment),
            percent(o.windows_meeting_objective),
            percent(o.worst_window_attainment),
            fixed(o.latency.mean_ms, 1),
            fixed(o.latency.p90_ms, 1),
        ]);
    }
    let mut headlines = Vec::new();
    for o in outcomes {
        let (key, name) = (o.variant.key(), o.variant.label());
        headlines.extend([
            headline(
                &format!("{key}_attainment"),
                &format!("requests within the SLO over the day, {name}"),
                100.0 * o.attainment,
                "%",
            ),
            headline(
                &format!("{key}_replica_hours"),
                &format!("pods × hours over the day, {name}"),
                hours(o),
                "replica-hours",
            ),
            headline(
                &format!("{key}_windows_meeting_objective"),
                &format!(
                    "{WINDOW_S} s windows with {:.0} % of requests within the SLO, {name}",
                    100.0 * OBJECTIVE
                ),
                100.0 * o.windows_meeting_objective,
                "%",
            ),
        ]);
    }
    let [fixed_run, hpa_run, brume] = [0, 1, 2].map(|i| &outcomes[i]);
    headlines.extend([
        headline(
            "attainment_gain_vs_hpa",
            "requests within the SLO, Brume's latency autoscaler minus the HPA",
            100.0 * (brume.attainment - hpa_run.attainment),
            "points",
        ),
        headline(
            "attainment_gain_vs_fixed",
            "requests within the SLO, Brume's latency autoscaler minus the fixed replicas",
            100.0 * (brume.attainment - fixed_run.attainment),
            "points",
        ),
        headline(
            "replica_hours_vs_hpa",
            "replica-hours of Brume's latency autoscaler against the HPA's (negative: fewer)",
            100.0 * (hours(brume) / hours(hpa_run).max(f64::MIN_POSITIVE) - 1.0),
            "%",
        ),
    ]);
    let x_label = format!("time (s; {WINDOW_S} s windows)");
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
        Figure::lines(file, title, x_label.clone(), y_label, series)
    };
    let mut replicas = over_time(
        "load-replicas.svg",
        "Replicas in the endpoints as the load rises and falls",
        "listed replicas",
        |w| w.listed as f64,
    );
    // The load on the same axis: how many replicas running flat out it takes.
    let capacity = settings.service.capacity_rps();
    replicas.series.push(Series::line(
        "offered load ÷ one replica's capacity",
        outcomes[0]
            .windows
            .iter()
            .map(|w| (w.end_s, w.offered_rps / capacity))
            .collect(),
    ));
    let offered = (0..=DURATION_S / WINDOW_S)
        .map(|k| {
            let t = f64::from(k * WINDOW_S);
            (t, profile.rate_at(t))
        })
        .collect();
    let rate = Figure::lines(
        "load-rate.svg",
        format!("The offered request rate over the day ({})", topology.name),
        x_label.clone(),
        "requests per second",
        vec![Series::line("offered", offered)],
    );
    let figures = vec![
        replicas,
        over_time(
            "load-attainment.svg",
            "Requests within the SLO as the load rises and falls",
            "share within the SLO (failures count as misses)",
            |w| w.attainment,
        ),
        rate,
    ];
    Report {
        headline: headlines,
        table,
        results,
        figures,
        requests: outcomes.iter().map(|o| o.issued).sum(),
        ..Report::new("load", topology, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Profile {
        Profile {
            base_rps: 1000.0,
            low: LOW,
            peak: PEAK,
            duration_s: 1800.0,
        }
    }

    #[test]
    fn the_profile_rises_to_its_peak_at_noon_and_falls_back() {
        let p = day();
        assert!((p.rate_at(0.0) - 250.0).abs() < 1e-9);
        assert!((p.rate_at(900.0) - 2000.0).abs() < 1e-9);
        assert!((p.rate_at(1800.0) - 250.0).abs() < 1e-9);
        assert!(p.rate_at(450.0) < p.rate_at(600.0));
        assert!((p.rate_at(450.0) - p.rate_at(1350.0)).abs() < 1e-9);
        // The mean over the day is halfway between low and peak; over a short span, the rate
        // in its middle.
        assert!((p.requests() - 1125.0 * 1800.0).abs() < 1e-6);
        assert!((p.mean_over(899.5, 900.5) - 2000.0).abs() < 0.01);
        assert_eq!(p.mean_over(10.0, 10.0), p.rate_at(10.0));
        assert!((p.scaled(0.5).requests() - p.requests() / 2.0).abs() < 1e-6);
    }

    /// Two replicas busy far beyond the HPA's target: its first sync with metrics asks for
    /// more, which it can only do if the pods carry their CPU request and start time.
    #[test]
    fn the_hpa_scales_busy_pods_up_on_their_measured_cpu() {
        use crate::topology::CitySettings;
        let topology = Topology::city(&CitySettings::new(20, 2));
        let settings = Settings {
            users: 200,
            replicas: 2,
            hotspots: 2,
            zones: 2,
            small_nodes: 5,
            ..Settings::default()
        };
        let setup = Setup::new(&topology, &settings).unwrap();
        let mut engine = setup.engine(&settings, Routing::Random, &[]);
        let mut nodes = placement::cluster(&setup.estimates, 20, &[0.0; 20]);
        let placed = placement::schedule(&mut nodes, &[], 2, false, 0);
        let mut d = SimDeployment::running(nodes, &placed, false, &mut engine);
        let mut hpa = Autoscaler::of(Variant::Hpa, &settings);
        let profile = day();
        let inputs = SyncInputs {
            setup: &setup,
            settings: &settings,
            profile: &profile,
            measured: None,
        };
        // 3,400 req/s on 4,000 of capacity: 85 % busy against a 70 % target.
        engine.run_until(15.0, u64::MAX, &setup.users, 3400.0);
        let (to, why) = hpa.sync(&mut d, &mut engine, &inputs, 15.0);
        assert_eq!(to, Some(3), "ceil(2 × 85 / 70); warnings {why:?}");
        assert_eq!(d.live_pods().len(), 3);
        let Autoscaler::Hpa { hpa, .. } = &hpa else {
            unreachable!()
        };
        let status = hpa.status.as_ref().unwrap();
        let cpu = status.current_metrics.as_ref().unwrap()[0]
            .resource
            .as_ref();
        let utilization = cpu.unwrap().current.average_utilization.unwrap();
        assert!((80..=90).contains(&utilization), "{utilization} %");
    }

    #[test]
    fn cpu_is_the_busy_share_of_the_request() {
        let s = ServiceModel::default();
        // 2 ms × 7,500 requests over 4 workers × 15 s: a quarter busy, 62.5 m of 250 m.
        assert!((cpu_cores(7_500, &s, 15.0, 0.25) - 0.0625).abs() < 1e-12);
        // More than it can serve: flat out at its request.
        assert_eq!(cpu_cores(60_000, &s, 15.0, 0.25), 0.25);
        assert_eq!(cpu_cores(0, &s, 15.0, 0.25), 0.0);
        assert_eq!(cpu_cores(10, &s, 0.0, 0.25), 0.0);
    }
}
