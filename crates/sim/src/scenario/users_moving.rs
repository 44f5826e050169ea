//! Users moving (DESIGN §8, "Following users"): the users of one Service gather around
//! hotspots, and every [`PHASE_S`] they move to new ones (a commute: over [`COMMUTE_S`] the
//! share of requests from the new places grows from none to all). Three clusters serve the same
//! users with the same replica count, each in a full run of its own:
//!
//! - **Kubernetes default**: the replicas placed once by the resource scores alone, random
//!   routing; nothing moves.
//! - **Brume static** (`fog.brume.io/placement: static`): placed once by ProximityPlacement for
//!   the first hotspots, proximity routing at the default α; nothing moves.
//! - **Brume follow-users**: the same start, and every fog sync period (10 s) the re-placement
//!   controller's own decision ([`brume_controllers::follow_users::decide`]) reads the
//!   Deployment, its pods and the demand reports, and its steps are carried out as the live
//!   cluster does ([`SimDeployment::apply`]): the leaving pod is marked, the surge pod is
//!   scheduled through the live profile (the ReplicaMove score sends it to the target), it is
//!   listed [`POD_STARTUP_S`] later, then the leaving pod gets the lowest deletion cost and the
//!   ReplicaSet's deletion order removes it.
//!
//! The demand reports the controller reads are the users' rates per gateway as they were
//! [`REPORT_LAG_S`] earlier (the agents report every few seconds; their counts are taken as
//! exact). Not modelled: the ReplicaSet and Deployment controllers' own delays (a replica
//! count written takes effect at once), and the time a leaving pod takes to drain its
//! connections (it leaves the endpoints when it is deleted and finishes what it holds).

use serde::Serialize;

use brume_controllers::ControllersConfig;
use brume_controllers::follow_users::decide::{last_move, move_state};
use brume_controllers::follow_users::{Inputs, Settings as MoveSettings, decide};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;

use crate::engine::Engine;
use crate::error::SimError;
use crate::figure::{Figure, Series};
use crate::histogram::{Histogram, LatencyStats};
use crate::report::{Report, Table, fixed, headline};
use crate::router::Routing;
use crate::scenario::deployment::{SimDeployment, demand_view, sites, timestamp};
use crate::scenario::failures::{POD_STARTUP_S, affordable_rate};
use crate::scenario::{Progress, Settings, Setup, parallel};
use crate::topology::Topology;
use crate::users::Population;

/// How long the users stay around one set of hotspots, in simulated seconds.
pub const PHASE_S: f64 = 1200.0;

/// How many sets of hotspots the users go through.
pub const PHASES: usize = 3;

/// How long a move between two sets takes: the share of the users at the new places grows
/// linearly over this time from the start of a phase.
pub const COMMUTE_S: f64 = 300.0;

/// The width of a measurement window, also the controller's sync period.
pub const WINDOW_S: f64 = 10.0;

/// How old the demand the controller reads is.
pub const REPORT_LAG_S: f64 = 10.0;

/// The clusters compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Kubernetes' default scheduler and random routing, placed once.
    KubernetesDefault,
    /// Brume's placement and routing, placed once.
    BrumeStatic,
    /// Brume's placement and routing, and re-placement.
    BrumeFollowUsers,
}

impl Variant {
    const ALL: [Variant; 3] = [
        Variant::KubernetesDefault,
        Variant::BrumeStatic,
        Variant::BrumeFollowUsers,
    ];

    fn label(&self) -> &'static str {
        match self {
            Variant::KubernetesDefault => "kubernetes default",
            Variant::BrumeStatic => "brume static",
            Variant::BrumeFollowUsers => "brume follow-users",
        }
    }

    fn key(&self) -> &'static str {
        match self {
            Variant::KubernetesDefault => "kubernetes",
            Variant::BrumeStatic => "static",
            Variant::BrumeFollowUsers => "follow_users",
        }
    }

    fn routing(&self, settings: &Settings) -> Routing {
        match self {
            Variant::KubernetesDefault => Routing::Random,
            _ => settings.proximity(settings.default_alpha),
        }
    }

    fn proximity(&self) -> bool {
        *self != Variant::KubernetesDefault
    }
}

/// Where the users are over time: one population per phase, and during a commute a mix of the
/// old and the new.
pub struct Commute {
    /// The users of each phase (the first is the Setup's).
    pub phases: Vec<Population>,
    /// Each phase's hotspots.
    pub hotspots: Vec<Vec<usize>>,
}

impl Commute {
    /// The Setup's users first, then `PHASES - 1` populations around freshly drawn hotspots.
    pub fn draw(setup: &Setup<'_>, settings: &Settings) -> Commute {
        let mut phases = vec![setup.users.clone()];
        let mut hotspots = vec![setup.shape.hotspots.clone()];
        for k in 1..PHASES as u64 {
            let seed = settings.seed.wrapping_add(k.wrapping_mul(0x9e37_79b9));
            let shape = settings.demand_shape(setup.topology, seed);
            phases.push(Population::draw(
                setup.topology,
                &shape,
                settings.users,
                seed,
            ));
            hotspots.push(shape.hotspots);
        }
        Commute { phases, hotspots }
    }

    /// The phase at `t` and the share of its users already there (1 outside a commute).
    pub fn progress(t: f64) -> (usize, f64) {
        let phase = ((t.max(0.0) / PHASE_S) as usize).min(PHASES - 1);
        if phase == 0 {
            return (0, 1.0);
        }
        let into = t - phase as f64 * PHASE_S;
        (phase, (into / COMMUTE_S).clamp(0.0, 1.0))
    }

    /// The users at `t`: during a commute, the first share of the new phase's users and the
    /// rest of the old phase's (each population is an independent draw, so a prefix is a fair
    /// sample of it).
    pub fn users_at(&self, t: f64) -> Population {
        let (phase, share) = Commute::progress(t);
        if share >= 1.0 {
            return self.phases[phase].clone();
        }
        let (old, new) = (&self.phases[phase - 1], &self.phases[phase]);
        let cut = (share * new.len() as f64).round() as usize;
        let mut gateways = new.gateways[..cut].to_vec();
        gateways.extend_from_slice(&old.gateways[cut.min(old.len())..]);
        Population { gateways }
    }
}

/// What one window measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Window {
    /// Its end, in simulated seconds.
    pub end_s: f64,
    /// Requests answered or failed in it.
    pub requests: u64,
    /// The share within the SLO.
    pub attainment: f64,
    /// The mean latency of the answered requests.
    pub mean_ms: f64,
    /// Their 90th percentile.
    pub p90_ms: f64,
    /// Replicas in the endpoints at its end.
    pub listed: usize,
}

/// One replica move the controller made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// When it started.
    pub at_s: f64,
    /// The controller's event: `MovingReplica`, `MovedReplica` or `MoveAborted`.
    pub reason: String,
    /// Its message.
    pub message: String,
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
    /// The share within the SLO over the whole run.
    pub attainment: f64,
    /// Latency over the whole run.
    pub overall: LatencyStats,
    /// Latency once the users of each later phase have arrived and the replicas had time to
    /// follow: the second half of phases 2.. (the first phase is where every cluster was
    /// placed).
    pub settled: LatencyStats,
    /// The share within the SLO over the same stretches.
    pub settled_attainment: f64,
    /// The replica moves (start and end events), in order.
    pub moves: Vec<Move>,
    /// Per later phase, from its start until its last move finished (0 when none).
    pub follow_s: Vec<f64>,
    /// Replica-seconds beyond the Deployment's count (the surges of moves).
    pub surge_replica_s: f64,
    /// Pods created and deleted.
    pub churn: (usize, usize),
    /// The replicas' nodes at the end.
    pub replicas_at_end: Vec<usize>,
    /// Window by window.
    pub windows: Vec<Window>,
}

/// How a run is paced.
#[derive(Debug, Clone, Copy)]
struct Pace {
    windows: usize,
    rate_rps: f64,
    cap: u64,
}

/// Whether a window ending at `end_s` is in the settled half of a later phase.
fn settled(end_s: f64) -> bool {
    let phase = ((end_s - 1e-9) / PHASE_S) as usize;
    phase >= 1 && end_s - phase as f64 * PHASE_S > PHASE_S / 2.0
}

/// The inputs of a re-placement decision that answered nothing.
#[derive(PartialEq)]
struct Quiet {
    demand: Vec<(String, f64)>,
    pods: Vec<Pod>,
    deployment: Deployment,
}

/// Runs the engine to `until`, listing each surge pod when it is Ready.
fn run_to(
    engine: &mut Engine<'_>,
    deployment: &mut SimDeployment,
    until: f64,
    users: &Population,
    pace: Pace,
) {
    while let Some(at) = deployment.next_ready_s().filter(|at| *at <= until) {
        engine.run_until(at, pace.cap, users, pace.rate_rps);
        deployment.list_ready(engine, at);
    }
    engine.run_until(until, pace.cap, users, pace.rate_rps);
}

fn simulate(
    setup: &Setup<'_>,
    settings: &Settings,
    commute: &Commute,
    variant: Variant,
    pace: Pace,
    progress: &Progress,
) -> Outcome {
    let routing = variant.routing(settings);
    let mut engine = setup.engine(settings, routing, &[]);
    let (nodes, placed) = setup.scheduled(settings, variant.proximity());
    let mut deployment = SimDeployment::running(nodes, &placed, variant.proximity(), &mut engine);
    let n = setup.topology.len();
    let rate_per_user = pace.rate_rps / settings.users as f64;
    let move_settings = MoveSettings::default();
    let sync_s = ControllersConfig::default().fog_sync_period.as_secs_f64();
    let mut next_sync = sync_s;
    // The decision is pure, and when idle it reads the time only to wait out the cooldown:
    // once it has answered nothing, idle and cooled down, it answers nothing again until its
    // inputs change, so that call is skipped (the answer is the same; it only saves time).
    let mut last_quiet: Option<Quiet> = None;
    let (mut overall, mut steady) = (Histogram::default(), Histogram::default());
    let (mut steady_within, mut steady_count) = (0u64, 0u64);
    let mut windows = Vec::with_capacity(pace.windows);
    let mut surge_replica_s = 0.0;
    let mut users = commute.users_at(0.0);
    let mut users_share = Commute::progress(0.0);
    for k in 0..pace.windows {
        let start = k as f64 * WINDOW_S;
        let end = start + WINDOW_S;
        let now_share = Commute::progress(start + WINDOW_S / 2.0);
        if now_share != users_share {
            users = commute.users_at(start + WINDOW_S / 2.0);
            users_share = now_share;
        }
        while variant == Variant::BrumeFollowUsers && next_sync <= end {
            run_to(&mut engine, &mut deployment, next_sync, &users, pace);
            let reported = commute
                .users_at(next_sync - REPORT_LAG_S)
                .demand(n, rate_per_user);
            deployment.set_demand(&reported);
            let view = demand_view(&reported);
            let d = deployment.deployment(next_sync);
            let pods = deployment.pods(next_sync);
            let quiet = Quiet {
                demand: view.per_gateway.clone(),
                pods: pods.clone(),
                deployment: d.clone(),
            };
            if last_quiet.as_ref() != Some(&quiet) {
                let now = timestamp(next_sync);
                let site_list = sites(&setup.estimates, deployment.nodes());
                let steps = decide(&Inputs {
                    deployment: &d,
                    pods: &pods,
                    demand: &view,
                    sites: &site_list,
                    settings: move_settings,
                    now,
                });
                let cooled =
                    last_move(&d).is_none_or(|t| now.duration_since(t) >= move_settings.cooldown);
                let idle = move_state(&d).is_none();
                last_quiet = (steps.is_empty() && cooled && idle).then_some(quiet);
                for step in steps {
                    deployment.apply(&mut engine, step, next_sync);
                }
            }
            next_sync += sync_s;
        }
        run_to(&mut engine, &mut deployment, end, &users, pace);
        let listed = engine.listed().len();
        surge_replica_s += WINDOW_S * listed.saturating_sub(settings.replicas) as f64;
        let tally = engine.take_window();
        overall.merge(&tally.latency);
        if settled(end) {
            steady.merge(&tally.latency);
            steady_within += tally.within_slo;
            steady_count += tally.latency.count() + tally.failed + tally.no_endpoint;
        }
        windows.push(Window {
            end_s: end,
            requests: tally.latency.count() + tally.failed + tally.no_endpoint,
            attainment: tally.attainment(),
            mean_ms: tally.latency.mean(),
            p90_ms: tally.latency.quantile(0.9),
            listed,
        });
        progress.advance(1);
    }
    engine.drain();
    let moves: Vec<Move> = deployment
        .events
        .iter()
        .filter(|(_, _, reason, _)| {
            matches!(*reason, "MovingReplica" | "MovedReplica" | "MoveAborted")
        })
        .map(|(at, _, reason, message)| Move {
            at_s: *at,
            reason: reason.to_string(),
            message: message.clone(),
        })
        .collect();
    let follow_s = (1..PHASES)
        .map(|phase| {
            let start = phase as f64 * PHASE_S;
            moves
                .iter()
                .filter(|m| m.reason != "MovingReplica")
                .filter(|m| m.at_s >= start && m.at_s < start + PHASE_S)
                .map(|m| m.at_s - start)
                .fold(0.0, f64::max)
        })
        .collect();
    Outcome {
        variant,
        routing,
        issued: engine.issued(),
        attainment: engine.total.attainment(),
        overall: overall.stats(),
        settled: steady.stats(),
        settled_attainment: if steady_count == 0 {
            0.0
        } else {
            steady_within as f64 / steady_count as f64
        },
        follow_s,
        surge_replica_s,
        churn: deployment.churn(),
        replicas_at_end: deployment.live_pods().iter().map(|p| p.node).collect(),
        moves,
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
    if setup.estimates.vivaldi.is_none() {
        return Err(SimError::Setting {
            name: "--distances",
            value: "measured".into(),
            valid: "vivaldi for --scenario users-moving: the re-placement controller reads \
                    the nodes' coordinates"
                .into(),
        });
    }
    let commute = Commute::draw(&setup, settings);
    let end_s = PHASES as f64 * PHASE_S;
    let windows = (end_s / WINDOW_S).round() as usize;
    let cap = (settings.requests / Variant::ALL.len() as u64).max(1);
    let offered = settings.rate_rps();
    let pace = Pace {
        windows,
        rate_rps: affordable_rate(offered, end_s, cap),
        cap,
    };
    progress.plan(windows as u64 * Variant::ALL.len() as u64);
    let outcomes = parallel(Variant::ALL.to_vec(), |variant| {
        simulate(&setup, settings, &commute, variant, pace, progress)
    });
    let results = serde_json::json!({
        "phase_s": PHASE_S,
        "phases": PHASES,
        "commute_s": COMMUTE_S,
        "window_s": WINDOW_S,
        "report_lag_s": REPORT_LAG_S,
        "pod_startup_s": POD_STARTUP_S,
        "hotspots": commute.hotspots,
        "offered_rate_rps": offered,
        "rate_rps": pace.rate_rps,
        "rate_lowered_to_fit_requests": pace.rate_rps < offered,
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
        "moves",
        "followed within",
        "mean ms (run)",
        "p90 ms (run)",
        "mean ms settled",
        "p90 ms settled",
        "within SLO settled",
    ]);
    let percent = |share: f64| format!("{:.1} %", 100.0 * share);
    let started = |o: &Outcome| {
        o.moves
            .iter()
            .filter(|m| m.reason == "MovingReplica")
            .count()
    };
    for o in outcomes {
        let follow = if o.follow_s.iter().all(|s| *s == 0.0) {
            "-".to_string()
        } else {
            o.follow_s
                .iter()
                .map(|s| format!("{s:.0} s"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        table.push(vec![
            o.variant.label().into(),
            started(o).to_string(),
            follow,
            fixed(o.overall.mean_ms, 1),
            fixed(o.overall.p90_ms, 1),
            fixed(o.settled.mean_ms, 1),
            fixed(o.settled.p90_ms, 1),
            percent(o.settled_attainment),
        ]);
    }
    let mut headlines = Vec::new();
    for o in outcomes {
        let (key, name) = (o.variant.key(), o.variant.label());
        headlines.extend([
            headline(
                &format!("{key}_settled_p90_ms"),
                &format!(
                    "p90 latency once the users have moved (second half of phases 2..), {name}"
                ),
                o.settled.p90_ms,
                "ms",
            ),
            headline(
                &format!("{key}_settled_mean_ms"),
                &format!("mean latency once the users have moved, {name}"),
                o.settled.mean_ms,
                "ms",
            ),
            headline(
                &format!("{key}_settled_attainment"),
                &format!("requests within the SLO once the users have moved, {name}"),
                100.0 * o.settled_attainment,
                "%",
            ),
        ]);
    }
    let (k8s, fixed_brume, follow) = (&outcomes[0], &outcomes[1], &outcomes[2]);
    let cut = |before: f64, after: f64| {
        if before > 0.0 {
            100.0 * (1.0 - after / before)
        } else {
            0.0
        }
    };
    headlines.extend([
        headline(
            "moves",
            "replica moves started by the re-placement controller",
            started(follow) as f64,
            "moves",
        ),
        headline(
            "follow_s_max",
            "the longest time from a commute's start until the last move for it finished",
            follow.follow_s.iter().copied().fold(0.0, f64::max),
            "s",
        ),
        headline(
            "surge_replica_s",
            "replica-seconds spent on surge pods during moves",
            follow.surge_replica_s,
            "replica-s",
        ),
        headline(
            "settled_p90_cut_vs_static",
            "p90 latency cut by following the users against Brume's static placement",
            cut(fixed_brume.settled.p90_ms, follow.settled.p90_ms),
            "%",
        ),
        headline(
            "settled_mean_cut_vs_static",
            "mean latency cut by following the users against Brume's static placement",
            cut(fixed_brume.settled.mean_ms, follow.settled.mean_ms),
            "%",
        ),
        headline(
            "settled_attainment_gain_vs_static",
            "requests within the SLO gained by following the users against Brume's static \
             placement",
            100.0 * (follow.settled_attainment - fixed_brume.settled_attainment),
            "points",
        ),
        headline(
            "settled_p90_cut_vs_kubernetes",
            "p90 latency cut by following the users against Kubernetes' default",
            cut(k8s.settled.p90_ms, follow.settled.p90_ms),
            "%",
        ),
    ]);
    let x_label = format!(
        "time (s; the users move at {} s, over {COMMUTE_S} s; {WINDOW_S} s windows)",
        (1..PHASES)
            .map(|p| format!("{:.0}", p as f64 * PHASE_S))
            .collect::<Vec<_>>()
            .join(" and ")
    );
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
    let figures = vec![
        over_time(
            "users-moving-p90.svg",
            "p90 latency as the users move",
            "p90 latency per window (ms)",
            |w| w.p90_ms,
        ),
        over_time(
            "users-moving-attainment.svg",
            "Requests within the SLO as the users move",
            "share within the SLO",
            |w| w.attainment,
        ),
        over_time(
            "users-moving-replicas.svg",
            "Replicas in the endpoints as the users move (a move surges by one)",
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
        ..Report::new("users-moving", topology, settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_commute_between_phases() {
        assert_eq!(Commute::progress(0.0), (0, 1.0));
        assert_eq!(Commute::progress(PHASE_S - 1.0), (0, 1.0));
        assert_eq!(Commute::progress(PHASE_S), (1, 0.0));
        assert_eq!(Commute::progress(PHASE_S + COMMUTE_S / 2.0), (1, 0.5));
        assert_eq!(Commute::progress(PHASE_S + COMMUTE_S), (1, 1.0));
        assert_eq!(
            Commute::progress(PHASES as f64 * PHASE_S + 5.0).0,
            PHASES - 1
        );
        assert!(
            !settled(PHASE_S / 2.0 + 10.0),
            "the first phase is never settled"
        );
        assert!(!settled(PHASE_S + 10.0));
        assert!(settled(PHASE_S * 2.0));
        assert!(settled(PHASE_S * 1.5 + 10.0));
    }

    #[test]
    fn a_commute_mixes_the_old_and_the_new_users() {
        let commute = Commute {
            phases: vec![
                Population {
                    gateways: vec![0; 10],
                },
                Population {
                    gateways: vec![1; 10],
                },
            ],
            hotspots: vec![vec![0], vec![1]],
        };
        let mid = commute.users_at(PHASE_S + COMMUTE_S * 0.3);
        assert_eq!(mid.gateways, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(commute.users_at(10.0).gateways, vec![0; 10]);
    }
}
