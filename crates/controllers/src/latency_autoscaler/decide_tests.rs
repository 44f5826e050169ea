use brume_api::LatencyAutoscaler;
use brume_fog::{Coordinate, NodeLocation};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::decide::{Inputs, Plan, decide};
use crate::fog_inputs::{DemandView, Site};

/// Six nodes on a line, 20 ms apart: n0 at 0 ms ... n5 at 100 ms.
fn sites() -> Vec<Site> {
    (0..6)
        .map(|i| Site {
            name: format!("n{i}"),
            location: NodeLocation {
                coordinate: Some(Coordinate {
                    vector: vec![20.0 * f64::from(i), 0.0],
                    height: 0.0,
                    error: 0.1,
                }),
                ..NodeLocation::default()
            },
            usable: true,
        })
        .collect()
}

fn la(min: i32, max: i32) -> LatencyAutoscaler {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "generation": 2},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "objective": {"percentile": 90, "latencyMs": 15}, "replicaCapacity": 100,
            "minReplicas": min, "maxReplicas": max}
    }))
    .unwrap()
}

fn demand(per_gateway: &[(&str, f64)]) -> DemandView {
    DemandView {
        per_gateway: per_gateway
            .iter()
            .map(|(g, r)| (g.to_string(), *r))
            .collect(),
        fresh: per_gateway.len(),
        stale: 0,
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1_000_000).unwrap()
}

fn run(
    la: &LatencyAutoscaler,
    current: i32,
    demand: &DemandView,
    recent: &[(Timestamp, i32)],
) -> Plan {
    decide(&Inputs {
        la,
        current: Some(current),
        moving: false,
        demand,
        sites: &sites(),
        recent,
        measured: Some(88.0),
        scale_down_window: SignedDuration::from_secs(60),
        now: now(),
    })
}

fn condition<'a>(plan: &'a Plan, type_: &str) -> (&'a str, &'a str) {
    let c = plan
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap();
    (c.status.as_str(), c.reason.as_deref().unwrap())
}

#[test]
fn demand_at_two_far_gateways_needs_two_replicas_placed_there() {
    let plan = run(&la(1, 5), 1, &demand(&[("n0", 50.0), ("n5", 50.0)]), &[]);
    assert_eq!(plan.scale_to, Some(2));
    let mut placement = plan.status.placement.clone();
    placement.sort();
    assert_eq!(placement, ["n0", "n5"]);
    assert_eq!(plan.status.predicted_attainment, Some(100.0));
    assert_eq!(plan.status.measured_attainment, Some(88.0));
    assert_eq!(plan.status.reason.as_deref(), Some("ObjectiveMet"));
    assert_eq!(condition(&plan, "SLOUnmet"), ("False", "ObjectiveMet"));
    assert_eq!(
        condition(&plan, "DemandAvailable"),
        ("True", "FreshReports")
    );
    assert_eq!(plan.events.len(), 1);
    assert!(
        plan.events[0]
            .message
            .starts_with("New size: 2; reason: 2 replicas meet p90 < 15ms"),
        "{:?}",
        plan.events
    );
}

#[test]
fn doubling_the_demand_past_capacity_adds_replicas() {
    // A 25 ms bound: a second replica on a neighbour (20 ms away) serves the overflow in time.
    let mut la = la(1, 5);
    la.spec.objective.latency_ms = 25.0;
    let one = run(&la, 1, &demand(&[("n2", 80.0)]), &[]);
    assert_eq!(one.scale_to, None, "{:?}", one.status);
    let two = run(&la, 1, &demand(&[("n2", 160.0)]), &[]);
    assert_eq!(two.scale_to, Some(2), "{:?}", two.status);
    // With a 15 ms bound the overflow cannot be served in time anywhere: max, SLOUnmet.
    let mut tight = la.clone();
    tight.spec.objective.latency_ms = 15.0;
    let unmet = run(&tight, 1, &demand(&[("n2", 160.0)]), &[]);
    assert_eq!(unmet.scale_to, Some(5));
    assert_eq!(unmet.status.reason.as_deref(), Some("ObjectiveUnmetAtMax"));
}

#[test]
fn an_objective_beyond_max_scales_to_max_and_says_so() {
    let spread = demand(&[
        ("n0", 10.0),
        ("n1", 10.0),
        ("n2", 10.0),
        ("n3", 10.0),
        ("n4", 10.0),
        ("n5", 10.0),
    ]);
    let plan = run(&la(1, 2), 1, &spread, &[]);
    assert_eq!(plan.scale_to, Some(2));
    assert_eq!(plan.status.reason.as_deref(), Some("ObjectiveUnmetAtMax"));
    assert_eq!(
        condition(&plan, "SLOUnmet"),
        ("True", "ObjectiveUnmetAtMax")
    );
    let predicted = plan.status.predicted_attainment.unwrap();
    assert!(predicted < 90.0, "{predicted}");
    assert!(
        plan.events
            .iter()
            .any(|e| e.type_ == "Warning" && e.reason == "SLOUnmet"),
        "{:?}",
        plan.events
    );
    // The warning is for the transition, not repeated while it stays unmet.
    let mut again = la(1, 2);
    again.status = Some(plan.status.clone());
    let later = run(&again, 2, &spread, &[]);
    assert!(later.events.is_empty(), "{:?}", later.events);
    assert_eq!(
        later.status.conditions, plan.status.conditions,
        "the transition time is kept"
    );
}

#[test]
fn missing_or_stale_demand_holds_and_never_goes_to_zero() {
    let stale = DemandView {
        per_gateway: vec![],
        fresh: 0,
        stale: 3,
    };
    let plan = run(&la(1, 5), 3, &stale, &[]);
    assert_eq!(plan.scale_to, None);
    assert_eq!(plan.status.desired_replicas, 3);
    assert_eq!(plan.status.reason.as_deref(), Some("HoldingNoFreshDemand"));
    assert!(
        plan.status
            .message
            .as_deref()
            .unwrap()
            .contains("all 3 demand reports are older than 120 s")
    );
    assert_eq!(
        condition(&plan, "DemandAvailable"),
        ("False", "NoFreshReports")
    );
    assert_eq!(
        plan.recommendation, None,
        "a held count is not a recommendation"
    );
    // Held below the minimum is raised to it, never lowered to zero.
    let none = DemandView::default();
    assert_eq!(run(&la(2, 5), 0, &none, &[]).scale_to, Some(2));
    assert_eq!(run(&la(1, 5), 7, &none, &[]).scale_to, Some(5));
}

#[test]
fn scale_down_waits_for_the_window_and_stops_at_min() {
    let small = demand(&[("n2", 10.0)]);
    // A higher recommendation 30 s ago keeps 3 of the 4 replicas.
    let recent = [
        (now() - SignedDuration::from_secs(30), 3),
        (now() - SignedDuration::from_secs(90), 4),
    ];
    let plan = run(&la(1, 5), 4, &small, &recent);
    assert_eq!(plan.scale_to, Some(3));
    assert_eq!(plan.status.reason.as_deref(), Some("ScaleDownStabilizing"));
    assert_eq!(plan.recommendation, Some(1));
    // Once the window is past, it falls to what the demand needs, and not below min.
    let plan = run(
        &la(2, 5),
        3,
        &small,
        &[(now() - SignedDuration::from_secs(61), 3)],
    );
    assert_eq!(plan.scale_to, Some(2));
    assert_eq!(plan.status.reason.as_deref(), Some("ObjectiveMet"));
}

#[test]
fn a_move_in_progress_or_a_missing_target_holds() {
    let d = demand(&[("n0", 500.0)]);
    let la = la(1, 5);
    let moving = decide(&Inputs {
        la: &la,
        current: Some(2),
        moving: true,
        demand: &d,
        sites: &sites(),
        recent: &[],
        measured: None,
        scale_down_window: SignedDuration::from_secs(60),
        now: now(),
    });
    assert_eq!(moving.scale_to, None);
    assert_eq!(moving.status.reason.as_deref(), Some("HoldingDuringMove"));
    let missing = decide(&Inputs {
        la: &la,
        current: None,
        moving: false,
        demand: &d,
        sites: &sites(),
        recent: &[],
        measured: None,
        scale_down_window: SignedDuration::from_secs(60),
        now: now(),
    });
    assert_eq!(missing.scale_to, None);
    assert_eq!(missing.status.reason.as_deref(), Some("TargetNotFound"));
}
