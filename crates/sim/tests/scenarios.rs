//! Every scenario on a small instance: it runs, its headline figure lands in a stated range,
//! and two runs with the same seed give identical results (a different seed, different ones).
//!
//! The ranges hold what the algorithms must show (proximity routing cuts latency, Brume's
//! placement beats Kubernetes' default) with a margin of about ±15 points around the figures
//! these seeded instances give today, so a change that moves an algorithm's result shows here;
//! docs/EVALUATION.md publishes the full-size runs.

use std::path::PathBuf;

use brume_sim::estimates::Distances;
use brume_sim::report::Report;
use brume_sim::scenario::{self, Pinning, Progress, Scenario, Settings};
use brume_sim::topology::{CitySettings, Topology};

fn small() -> Settings {
    Settings {
        users: 5_000,
        requests: 110_000,
        replicas: 6,
        hotspots: 4,
        zones: 4,
        small_instances: 3,
        small_nodes: 10,
        ..Settings::default()
    }
}

fn city() -> Topology {
    Topology::city(&CitySettings::new(200, 1))
}

fn run(scenario: Scenario, topology: &Topology, settings: &Settings) -> Report {
    let progress = Progress::default();
    let report = scenario::run(scenario, topology, None, settings, "test", &progress).unwrap();
    let (done, total) = progress.get();
    assert_eq!(done, total, "the progress reaches its total");
    report
}

fn json(report: &Report) -> String {
    serde_json::to_string(report).unwrap()
}

#[test]
fn routing_cuts_latency_and_repeats_with_the_seed() {
    let topology = city();
    let settings = small();
    let a = run(Scenario::Routing, &topology, &settings);
    let cut = a.headline("mean_cut_vs_random").unwrap();
    assert!(
        (40.0..80.0).contains(&cut),
        "mean cut {cut} %\n{}",
        a.table.render()
    );
    let imbalance = a.headline("imbalance").unwrap();
    assert!((1.0..1.6).contains(&imbalance), "imbalance {imbalance}");
    assert_eq!(a.table.rows.len(), 3 + settings.alphas.len());
    assert_eq!(
        json(&a),
        json(&run(Scenario::Routing, &topology, &settings))
    );
    let other = Settings { seed: 2, ..small() };
    assert_ne!(json(&a), json(&run(Scenario::Routing, &topology, &other)));
}

#[test]
fn replicas_on_the_demand_sites_let_proximity_cut_most_of_the_latency() {
    let topology = city();
    let sites = Settings {
        concentration: 1.0,
        reach: 0.0,
        hotspots: 6,
        placement: Pinning::Hotspots,
        ..small()
    };
    let a = run(Scenario::Routing, &topology, &sites);
    assert_eq!(a.results["replicas"], a.results["hotspots"]);
    let cut = a.headline("mean_cut_vs_random").unwrap();
    let bound = a.headline("nearest_network_mean_cut_vs_random").unwrap();
    let imbalance = a.headline("imbalance").unwrap();
    // Every user has a replica on its own gateway: nearest would cut the network part whole;
    // α = 0.95 keeps 5 % spread uniformly (measured 76.3 %, max/mean 1.06).
    assert_eq!(bound, 100.0);
    assert!(
        (70.0..95.0).contains(&cut),
        "cut {cut} %\n{}",
        a.table.render()
    );
    assert!(imbalance < 1.3, "imbalance {imbalance}");
    // The same users, spread as usual around the same number of hotspots, with the replicas
    // where the scheduler puts them: the users are farther from them, the cut smaller.
    let spread = run(
        Scenario::Routing,
        &topology,
        &Settings {
            hotspots: 6,
            ..small()
        },
    );
    let spread_cut = spread.headline("mean_cut_vs_random").unwrap();
    assert!(
        spread_cut + 10.0 < cut,
        "spread {spread_cut} % against sites {cut} %"
    );
    let too_many = Settings {
        replicas: 7,
        ..sites
    };
    let message = too_many.validate(&topology).unwrap_err().to_string();
    assert!(
        message
            .contains("--replicas is 7; valid: at most --hotspots (6) with --placement hotspots"),
        "{message}"
    );
    assert!(
        Pinning::parse("nodes")
            .unwrap_err()
            .to_string()
            .contains("scheduler or hotspots")
    );
}

#[test]
fn brume_placement_beats_kubernetes_and_nears_the_optimum() {
    let topology = city();
    let settings = small();
    let a = run(Scenario::Placement, &topology, &settings);
    let cut = a.headline("p90_cut_vs_kubernetes").unwrap();
    assert!(
        (30.0..70.0).contains(&cut),
        "p90 cut {cut} %\n{}",
        a.table.render()
    );
    // Measured: 35.9 % over the optimum on these small instances. Their 10 nodes measure one
    // another (fewer than MEASURED_PEERS), so the distances the scheduler reads are exact and
    // the whole gap is the placement's own: one pod at a time, a score that weighs the mean as
    // much as the p90, and the resource scores.
    let over = a.headline("brume_over_optimum_mean").unwrap();
    assert!((15.0..55.0).contains(&over), "{over} % over the optimum");
    let estimates = a.headline("estimates_optimum_over_optimum_mean").unwrap();
    let own = a.headline("brume_over_estimates_optimum_mean").unwrap();
    assert_eq!(estimates, 0.0, "every pair of a small instance is measured");
    assert_eq!(own, over);
    // The re-placement controller's moves close most of it (a follow-users Deployment at rest).
    let settled = a.headline("follow_users_over_optimum_mean").unwrap();
    assert!(
        settled < over - 10.0 && settled < 20.0,
        "follow-users at rest {settled} %, the scheduler alone {over} %"
    );
    assert_eq!(
        json(&a),
        json(&run(Scenario::Placement, &topology, &settings))
    );
}

#[test]
fn vivaldi_predicts_the_city() {
    let topology = Topology::city(&CitySettings::new(150, 4));
    let a = run(Scenario::Vivaldi, &topology, &small());
    let error = a.headline("median_relative_error").unwrap();
    assert!(
        (0.01..0.3).contains(&error),
        "median relative error {error}"
    );
    assert_eq!(json(&a), json(&run(Scenario::Vivaldi, &topology, &small())));
}

#[test]
fn brume_fails_fewer_requests_and_recovers_sooner_when_nodes_fail() {
    let topology = city();
    let settings = small();
    let a = run(Scenario::Failures, &topology, &settings);
    let table = a.table.render();
    let failed = |key: &str| a.headline(&format!("{key}_failed_requests")).unwrap();
    let (brume, kubernetes) = (failed("brume"), failed("kubernetes"));
    assert!(
        0.0 < brume && brume < kubernetes,
        "failed: brume {brume}, kubernetes {kubernetes}\n{table}"
    );
    // Brume: NotReady 10 s after the last heartbeat seen (2 s renewals, 1 s ticks), evicted
    // 30 s after it, listed 5 s later. Kubernetes: NotReady 50 s after (10 s renewals, 5 s
    // ticks), tainted at 0.1 nodes/s per zone, evicted 300 s after the taint, listed 5 s later.
    let recovery = |key: &str| a.headline(&format!("{key}_recovery_s")).unwrap();
    let (brume, kubernetes) = (recovery("brume"), recovery("kubernetes"));
    assert!(
        (30.0..40.0).contains(&brume),
        "brume recovery {brume} s\n{table}"
    );
    assert!(
        (345.0..420.0).contains(&kubernetes),
        "kubernetes recovery {kubernetes} s\n{table}"
    );
    let detect = a.headline("brume_detect_s").unwrap();
    assert!((9.0..13.0).contains(&detect), "brume detects in {detect} s");
    let variants = a.results["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for v in variants {
        assert_eq!(v["unscheduled"], 0, "{}", v["variant"]);
        assert_eq!(v["listed_at_end"], settings.replicas, "{}", v["variant"]);
    }
    assert_eq!(
        json(&a),
        json(&run(Scenario::Failures, &topology, &settings))
    );
}

/// The measured matrix beside the clone (DESIGN §9); the test says so and passes without it.
fn planetlab(name: &str) -> Option<Topology> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if !path.exists() {
        eprintln!("skipped: {} is missing", path.display());
        return None;
    }
    Some(Topology::from_file(&path).unwrap())
}

#[test]
fn routing_on_planetlab() {
    let Some(topology) = planetlab("planetlab-490-rtt-ms.tsv") else {
        return;
    };
    let a = run(Scenario::Routing, &topology, &small());
    let cut = a.headline("mean_cut_vs_random").unwrap();
    assert!(
        (55.0..90.0).contains(&cut),
        "mean cut {cut} %\n{}",
        a.table.render()
    );
    // The same run with the coordinates alone, as before the scheduler and the proxies read
    // the RTTs the agents measured to their nearest peers: the replicas land farther from the
    // users and the cut is smaller (measured: 73 % against 52 %).
    let coordinates = Settings {
        distances: Distances::Coordinates,
        ..small()
    };
    let b = run(Scenario::Routing, &topology, &coordinates);
    let without = b.headline("mean_cut_vs_random").unwrap();
    assert!(
        without + 10.0 < cut,
        "coordinates alone {without} %, with measurements {cut} %"
    );
}

#[test]
fn bad_settings_are_refused_with_the_valid_range() {
    let topology = city();
    let bad = Settings {
        replicas: 500,
        ..small()
    };
    let message = scenario::run(
        Scenario::Routing,
        &topology,
        None,
        &bad,
        "test",
        &Progress::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("--replicas is 500; valid: 1 to the number of nodes (200)"),
        "{message}"
    );
    let bad = Settings {
        alphas: vec![0.5, 1.5],
        ..small()
    };
    assert!(
        bad.validate(&topology)
            .unwrap_err()
            .to_string()
            .contains("[0, 1]")
    );
    for (bad, expected) in [
        (
            Settings {
                concentration: 1.2,
                ..small()
            },
            "--concentration is 1.2; valid: a share of the users in [0, 1]",
        ),
        (
            Settings {
                reach: -1.0,
                ..small()
            },
            "--reach is -1; valid: a mean rank of nodes >= 0",
        ),
    ] {
        let message = bad.validate(&topology).unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
    }
    let message = Scenario::parse("fast").unwrap_err().to_string();
    assert!(message.contains("routing, placement, vivaldi"), "{message}");
}

/// The load scenario on a slow service (200 ms per request on 4 workers: 20 req/s per
/// replica), so that a day that overloads 2 fixed replicas at its peak fits in 150,000
/// requests; the SLO (600 ms) is set for that service time.
#[test]
fn autoscalers_hold_the_slo_through_the_peak_that_overloads_fixed_replicas() {
    let topology = city();
    let settings = Settings {
        users: 2_000,
        requests: 150_000,
        replicas: 2,
        slo_ms: 600.0,
        service: brume_sim::engine::ServiceModel {
            mean_service_ms: 200.0,
            servers: 4,
        },
        ..small()
    };
    let a = run(Scenario::Load, &topology, &settings);
    let table = a.table.render();
    assert_eq!(a.results["rate_scale"], 1.0, "the whole day fits\n{table}");
    let value = |key: &str| a.headline(key).unwrap();
    // At the peak the 2 fixed replicas get 120 % of their capacity: the queue grows for most
    // of the afternoon.
    let fixed = value("fixed_attainment");
    assert!(fixed < 50.0, "fixed {fixed} %\n{table}");
    let (hpa, brume) = (value("hpa_attainment"), value("brume_attainment"));
    assert!(hpa > 80.0, "hpa {hpa} %\n{table}");
    assert!(
        brume > 80.0 && brume > fixed + 40.0,
        "brume {brume} %\n{table}"
    );
    // Scaling down 120 s after the peak instead of 300 s: no more replica-hours than the HPA.
    let (hpa_hours, brume_hours) = (value("hpa_replica_hours"), value("brume_replica_hours"));
    assert!(
        brume_hours < 1.1 * hpa_hours && brume_hours > 1.1,
        "replica-hours: brume {brume_hours}, hpa {hpa_hours}\n{table}"
    );
    let variants = a.results["variants"].as_array().unwrap();
    for v in &variants[1..] {
        let most = v["replicas_range"][1].as_u64().unwrap();
        assert!(most > 2, "{} scaled up to {most}", v["variant"]);
        assert!(v["scale_events"].as_u64().unwrap() >= 4, "{}", v["variant"]);
    }
    assert_eq!(a.figures.len(), 3);
}

#[test]
fn replicas_follow_the_users_and_cut_the_latency_static_placements_keep() {
    // A region rather than a city (200 ms across): moving a replica to where the users went
    // cuts their latency by more than the re-placement threshold.
    let topology = Topology::city(&CitySettings {
        side_ms: 200.0,
        ..CitySettings::new(150, 2)
    });
    let settings = Settings {
        replicas: 3,
        hotspots: 2,
        requests: 150_000,
        slo_ms: 60.0,
        ..small()
    };
    let a = run(Scenario::UsersMoving, &topology, &settings);
    let rendered = a.table.render();
    let moves = a.headline("moves").unwrap();
    // The p90 belongs to the users spread over the whole region, whom no move serves better:
    // the gain is the mean and the share within the SLO.
    let cut = a.headline("settled_mean_cut_vs_static").unwrap();
    let gain = a.headline("settled_attainment_gain_vs_static").unwrap();
    let vs_k8s = a.headline("settled_p90_cut_vs_kubernetes").unwrap();
    assert!((1.0..=12.0).contains(&moves), "moves {moves}\n{rendered}");
    assert!(
        (8.0..80.0).contains(&cut),
        "mean cut vs static {cut} %\n{rendered}"
    );
    assert!(
        (2.0..50.0).contains(&gain),
        "attainment gain {gain} points\n{rendered}"
    );
    assert!(
        (10.0..90.0).contains(&vs_k8s),
        "cut vs kubernetes {vs_k8s} %\n{rendered}"
    );
    assert_eq!(a.figures.len(), 3);
    assert_eq!(
        json(&a),
        json(&run(Scenario::UsersMoving, &topology, &settings))
    );
}
