//! The simulator decides as the live system does: one fixture, driven both ways.
//!
//! - Routing: the same endpoints (estimated distances, in-flight counts, answers) and the same seeded
//!   random source go to the live proxy's policies (`brume_proxy::policy`) and to the
//!   simulator's router; the endpoints picked must be the same, pick after pick.
//! - Placement: the same nodes (Vivaldi coordinates, resources already taken) and the same
//!   demand go to the live scheduler, through an in-process API server with Nodes, bound
//!   background pods, a Service and TrafficReports, and to the simulator's
//!   `placement::schedule`; the replicas must land on the same nodes, one after the other.

use std::net::SocketAddr;
use std::time::Duration;

use brume_api::TrafficReport;
use brume_fog::{COORDINATES_ANNOTATION, Coordinate, GuardInputs};
use brume_proxy::Endpoint;
use brume_proxy::policy::{PickContext, Policy, Proximity, Random};
use brume_sim::estimates::Estimates;
use brume_sim::placement::{cluster, node_name, schedule};
use brume_sim::router::Routing;
use brume_testkit::TestServer;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

/// Endpoints at these estimated distances (one unknown), with these requests in flight.
const DISTANCES: [Option<f64>; 6] = [
    Some(12.5),
    Some(3.0),
    None,
    Some(48.0),
    Some(3.02),
    Some(150.0),
];
const IN_FLIGHT: [u64; 6] = [0, 14, 2, 1, 0, 3];
/// Two answers from each endpoint, in ms (0: none): the least and then the latest, so the
/// guard sees the second minus the first as queueing.
const ANSWERS_MS: [(f64, f64); 6] = [
    (0.0, 0.0),
    (9.0, 12.0),
    (4.0, 4.5),
    (60.0, 60.0),
    (5.0, 40.0),
    (0.0, 0.0),
];
/// The floors the router is given for them: the least answer, none where none came.
const FLOORS_MS: [Option<f64>; 6] = [None, Some(9.0), Some(4.0), Some(60.0), Some(5.0), None];
/// The queueing the router is given for them: latest − least.
const QUEUEING_MS: [f64; 6] = [0.0, 3.0, 0.5, 0.0, 35.0, 0.0];

fn endpoints() -> Vec<Endpoint> {
    DISTANCES
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let address = SocketAddr::from(([10, 0, 0, i as u8 + 1], 80));
            let mut e = Endpoint::ready(address, format!("node-{i}"));
            e.distance_ms = *d;
            e
        })
        .collect()
}

/// The live policy's picks: the in-flight counts are made by starting that much work, the
/// observed latencies by reporting one answer each.
fn live_picks(policy: &dyn Policy, picks: usize, seed: u64) -> Vec<usize> {
    let eps = endpoints();
    let now = tokio::time::Instant::now();
    for ((e, &n), &(least, latest)) in eps.iter().zip(&IN_FLIGHT).zip(&ANSWERS_MS) {
        for _ in 0..n {
            policy.on_start(e, now);
        }
        for ms in [least, latest].into_iter().filter(|ms| *ms > 0.0) {
            policy.on_latency(e, std::time::Duration::from_secs_f64(ms / 1000.0), now);
        }
    }
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..picks)
        .map(|_| {
            let mut ctx = PickContext {
                client: None,
                rng: &mut rng,
                now,
            };
            policy.pick(&refs, &mut ctx).expect("a candidate")
        })
        .collect()
}

fn guard() -> GuardInputs<'static> {
    GuardInputs {
        in_flight: &IN_FLIGHT,
        floors_ms: &FLOORS_MS,
        queueing_ms: &QUEUEING_MS,
    }
}

fn sim_picks(routing: Routing, picks: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..picks)
        .map(|_| {
            routing
                .pick(&DISTANCES, guard(), &mut rng)
                .expect("a candidate")
        })
        .collect()
}

#[test]
fn the_router_picks_what_the_live_proxy_picks() {
    for alpha in [0.0, 0.5, 0.8, 1.0] {
        let routing = Routing::proximity(alpha);
        let Routing::Proximity { params } = routing else {
            unreachable!()
        };
        let live = Proximity::new(params.into());
        let expected = live_picks(&live, 2000, 7);
        assert_eq!(sim_picks(routing, 2000, 7), expected, "α = {alpha}");
        // The guard is on (β = 1): it skips endpoint 1 (14 in flight); endpoint 4, as near by
        // its RTT, queues 35 ms; endpoint 2, of unknown distance, answered in 4 ms, so it is
        // now the nearest (its floor replaces the missing estimate).
        if alpha == 1.0 {
            let nearest = expected.iter().filter(|&&i| i == 2).count();
            assert!(nearest > 1500, "{:?}", &expected[..10]);
            assert!(!expected.contains(&1));
        }
    }
    let nearest = Routing::nearest();
    let Routing::Proximity { params } = nearest else {
        unreachable!()
    };
    let expected = live_picks(&Proximity::new(params.into()), 500, 3);
    assert_eq!(sim_picks(nearest, 500, 3), expected);
    assert!(
        expected.contains(&1),
        "without a guard the busy nearest one is used"
    );
    assert_eq!(
        sim_picks(Routing::Random, 1000, 11),
        live_picks(&Random, 1000, 11)
    );
}

/// Eight nodes with coordinates in whole tenths of a millisecond (so that the annotation's JSON
/// carries them exactly), and what other workloads already take on each, in millicores.
const POSITIONS: [(f64, f64, f64); 8] = [
    (0.0, 0.0, 1.0),
    (12.5, 3.0, 0.5),
    (30.0, -4.0, 2.0),
    (31.0, 2.5, 0.8),
    (60.0, 10.0, 1.2),
    (-20.0, 40.0, 0.6),
    (5.0, 35.0, 3.0),
    (58.0, 12.0, 0.4),
];
const TAKEN_MILLI: [i64; 8] = [400, 0, 2400, 100, 1200, 800, 0, 2000];
/// Requests per second at each gateway node.
const DEMAND: [(usize, f64); 4] = [(4, 120.0), (7, 60.0), (5, 30.0), (2, 15.0)];

fn coordinate(i: usize) -> Coordinate {
    let (x, y, h) = POSITIONS[i];
    Coordinate {
        vector: vec![x, y],
        height: h,
        error: 0.2,
    }
}

fn live_node(i: usize) -> Node {
    let annotation = serde_json::to_string(&coordinate(i)).unwrap();
    serde_json::from_value(json!({
        "metadata": {"name": node_name(i),
            "annotations": {COORDINATES_ANNOTATION: annotation}},
        "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]},
    }))
    .unwrap()
}

fn pod(
    name: &str,
    labels: serde_json::Value,
    cpu_milli: i64,
    memory: i64,
    node: Option<usize>,
) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "i",
        "resources": {"requests": {"cpu": format!("{cpu_milli}m"), "memory": memory.to_string()}}}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(node_name(n));
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": spec,
    }))
    .unwrap()
}

/// The sim's view of the fixture: background load as a share of the 4 cores (memory alike).
fn sim_placement(count: usize) -> Vec<String> {
    let estimates = Estimates::from_coordinates((0..8).map(coordinate).collect());
    let background: Vec<f64> = TAKEN_MILLI.iter().map(|&m| m as f64 / 4000.0).collect();
    let mut nodes = cluster(&estimates, 8, &background);
    schedule(&mut nodes, &DEMAND, count, true, 0)
        .into_iter()
        .map(node_name)
        .collect()
}

#[tokio::test]
async fn the_placement_is_the_live_schedulers() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let pp = PostParams::default();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (i, &taken) in TAKEN_MILLI.iter().enumerate() {
        nodes.create(&pp, &live_node(i)).await.unwrap();
        if taken > 0 {
            // The same share of memory as of cpu, as `placement::cluster` takes it.
            let memory = ((8i64 << 30) as f64 * taken as f64 / 4000.0) as i64;
            let other = pod(
                &format!("other-{i}"),
                json!({"app": "other"}),
                taken,
                memory,
                Some(i),
            );
            pods.create(&pp, &other).await.unwrap();
        }
    }
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "sim", "namespace": "default"},
        "spec": {"selector": {"app": "sim"}, "ports": [{"port": 80}]},
    }))
    .unwrap();
    services.create(&pp, &service).await.unwrap();
    let reports: Api<TrafficReport> = Api::namespaced(client.clone(), "default");
    for (gateway, rate) in DEMAND {
        let mut report = TrafficReport::new("default", "sim", &node_name(gateway));
        report.spec.requests_per_second = rate;
        report.spec.observed_time = Some(Time(Timestamp::now()));
        reports.create(&pp, &report).await.unwrap();
    }
    let scheduler = tokio::spawn(brume_scheduler::run(
        client.clone(),
        brume_scheduler::default_profile(),
    ));
    let mut live = Vec::new();
    for k in 0..3 {
        let name = format!("sim-{k}");
        let replica = pod(&name, json!({"app": "sim"}), 250, 256 << 20, None);
        pods.create(&pp, &replica).await.unwrap();
        let mut bound = None;
        for _ in 0..150 {
            bound = pods
                .get(&name)
                .await
                .unwrap()
                .spec
                .and_then(|s| s.node_name);
            if bound.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        live.push(bound.unwrap_or_else(|| panic!("{name} is bound within 15 s")));
    }
    scheduler.abort();
    assert_eq!(sim_placement(3), live);
    // The fixture is not trivial: the replicas follow the demand (node 4's users first, then
    // node 5's, far from everything, then node 7's), not the free cores of nodes 1 and 6.
    assert_eq!(live, [node_name(4), node_name(5), node_name(7)]);
}
