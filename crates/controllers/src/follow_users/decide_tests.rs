use brume_api::placement::{LAST_MOVE_ANNOTATION, MOVE_ANNOTATION};
use brume_fog::{Coordinate, NodeLocation};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::decide::{Inputs, LEAVING_COST, MoveState, Phase, Settings, Step, decide, move_state};
use crate::fog_inputs::{DemandView, Site};
use crate::pod::fixtures::{pod, ready};

const WEB: &[(&str, &str)] = &[("app", "web")];

/// Six nodes on a line, 20 ms apart.
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

fn now() -> Timestamp {
    Timestamp::from_second(1_000_000).unwrap()
}

/// A stable Deployment of `replicas`, with these annotations.
fn deployment(replicas: i32, annotations: serde_json::Value) -> Deployment {
    let mut d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "generation": 4,
            "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}}}
    }))
    .unwrap();
    d.status = Some(DeploymentStatus {
        observed_generation: Some(4),
        replicas: Some(replicas),
        ready_replicas: Some(replicas),
        updated_replicas: Some(replicas),
        ..Default::default()
    });
    d
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

fn run(d: &Deployment, pods: &[Pod], demand: &DemandView) -> Vec<Step> {
    decide(&Inputs {
        deployment: d,
        pods,
        demand,
        sites: &sites(),
        settings: Settings::default(),
        now: now(),
    })
}

fn with_move(replicas: i32, state: &MoveState) -> Deployment {
    deployment(
        replicas,
        json!({"fog.brume.io/placement": "follow-users",
        MOVE_ANNOTATION: serde_json::to_string(state).unwrap()}),
    )
}

fn surging() -> MoveState {
    MoveState {
        phase: Phase::Surging,
        pod: "web-a".into(),
        from: "n0".into(),
        to: "n5".into(),
        replicas: 1,
        started: now() - SignedDuration::from_secs(10),
        gateway: "n5".into(),
        tail_before_ms: 100.0,
        tail_after_ms: 0.0,
    }
}

#[test]
fn demand_that_moved_far_starts_a_make_before_break_move() {
    let d = deployment(1, json!({"fog.brume.io/placement": "follow-users"}));
    let pods = [ready(pod("web-a", 1, WEB), 2, "n0")];
    let steps = run(&d, &pods, &demand(&[("n5", 40.0)]));
    assert_eq!(steps.len(), 4, "{steps:?}");
    let Step::SetMove(Some(state)) = &steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (
            state.phase,
            state.pod.as_str(),
            state.from.as_str(),
            state.to.as_str()
        ),
        (Phase::Surging, "web-a", "n0", "n5")
    );
    assert_eq!(state.replicas, 1);
    assert_eq!(steps[1], Step::MarkPod("web-a".into(), Some("n5".into())));
    assert_eq!(steps[2], Step::Scale(2));
    let Step::Event("Normal", "MovingReplica", message) = &steps[3] else {
        panic!("{steps:?}")
    };
    assert!(message.starts_with("Moving a replica from n0 to n5 for the demand at gateway n5 (40.0 req/s): expected p90 latency 100.0 ms -> 0.0 ms"), "{message}");
}

#[test]
fn no_move_without_fresh_demand_a_real_gain_stability_or_after_the_cooldown() {
    let pods = [ready(pod("web-a", 1, WEB), 2, "n0")];
    let d = deployment(1, json!({}));
    // Stale data: hold.
    assert!(
        run(
            &d,
            &pods,
            &DemandView {
                stale: 2,
                ..DemandView::default()
            }
        )
        .is_empty()
    );
    // The users are where the replica is, or a move would cut less than the threshold.
    assert!(run(&d, &pods, &demand(&[("n0", 40.0)])).is_empty());
    assert!(run(&d, &pods, &demand(&[("n0", 40.0), ("n1", 4.0)])).is_empty());
    // A rollout or scale in progress.
    let mut rolling = deployment(1, json!({}));
    rolling.status.as_mut().unwrap().updated_replicas = Some(0);
    assert!(run(&rolling, &pods, &demand(&[("n5", 40.0)])).is_empty());
    // Within the cooldown of the last move.
    let recent = (now() - SignedDuration::from_secs(30)).to_string();
    let cooling = deployment(1, json!({LAST_MOVE_ANNOTATION: recent}));
    assert!(run(&cooling, &pods, &demand(&[("n5", 40.0)])).is_empty());
    let old = (now() - SignedDuration::from_secs(61)).to_string();
    let cooled = deployment(1, json!({LAST_MOVE_ANNOTATION: old}));
    assert_eq!(run(&cooled, &pods, &demand(&[("n5", 40.0)])).len(), 4);
}

#[test]
fn the_far_replica_goes_only_once_its_replacement_is_ready() {
    let state = surging();
    let d = with_move(2, &state);
    let mut leaving = ready(pod("web-a", 1, WEB), 2, "n0");
    leaving.metadata.annotations =
        Some([("fog.brume.io/move-to".to_string(), "n5".to_string())].into());
    // The replacement is scheduled but not Ready: wait.
    let mut starting = pod("web-b", 990, WEB);
    starting.spec.get_or_insert_with(Default::default).node_name = Some("n5".into());
    assert!(run(&d, &[leaving.clone(), starting], &demand(&[("n5", 40.0)])).is_empty());
    // Ready: drain the leaving pod.
    let replacement = ready(pod("web-b", 990, WEB), 995, "n5");
    let steps = run(
        &d,
        &[leaving.clone(), replacement.clone()],
        &demand(&[("n5", 40.0)]),
    );
    let drained = MoveState {
        phase: Phase::Draining,
        ..state.clone()
    };
    assert_eq!(
        steps,
        [
            Step::SetMove(Some(drained.clone())),
            Step::DeletionCost("web-a".into(), LEAVING_COST),
            Step::Scale(1)
        ]
    );
    // Draining waits for the pod to go, then the move is over.
    let d = with_move(1, &drained);
    assert!(
        run(
            &d,
            &[leaving, replacement.clone()],
            &demand(&[("n5", 40.0)])
        )
        .is_empty()
    );
    let steps = run(&d, &[replacement], &demand(&[("n5", 40.0)]));
    assert_eq!(steps[0], Step::SetMove(None));
    assert_eq!(steps[1], Step::StampLastMove(now()));
    let Step::Event("Normal", "MovedReplica", message) = &steps[2] else {
        panic!("{steps:?}")
    };
    assert!(message.contains("pod web-a replaced by web-b"), "{message}");
}

#[test]
fn a_replacement_that_never_becomes_ready_aborts_the_move() {
    let mut state = surging();
    state.started = now() - SignedDuration::from_secs(181);
    let d = with_move(2, &state);
    let leaving = ready(pod("web-a", 1, WEB), 2, "n0");
    let stuck = pod("web-b", 990, WEB);
    let steps = run(&d, &[leaving, stuck], &demand(&[("n5", 40.0)]));
    assert_eq!(steps[0], Step::MarkPod("web-a".into(), None));
    assert_eq!(steps[1], Step::Scale(1));
    assert_eq!(steps[2], Step::SetMove(None));
    assert!(
        matches!(&steps[4], Step::Event("Warning", "MoveAborted", m) if m.contains("within 180 s")),
        "{steps:?}"
    );
}

#[test]
fn moves_strictly_improve_and_never_go_straight_back() {
    // After a move to n5, the same demand proposes nothing further.
    let pods = [ready(pod("web-b", 1, WEB), 2, "n5")];
    let d = deployment(1, json!({}));
    assert!(run(&d, &pods, &demand(&[("n5", 40.0)])).is_empty());
    // Two replicas, demand at both ends: nothing to gain.
    let pods = [
        ready(pod("web-a", 1, WEB), 2, "n0"),
        ready(pod("web-b", 1, WEB), 2, "n5"),
    ];
    let d = deployment(2, json!({}));
    assert!(run(&d, &pods, &demand(&[("n0", 20.0), ("n5", 20.0)])).is_empty());
    assert!(move_state(&d).is_none());
}
