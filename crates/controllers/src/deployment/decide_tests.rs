use super::*;
use crate::deployment::status::reason;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn deployment(image: &str, replicas: i32, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            },
            "strategy": strategy,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        }
    }))
    .unwrap()
}

fn rolling(surge: i32, unavailable: i32) -> serde_json::Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

/// The ReplicaSet the Deployment would create for `image`, at `replicas` of which `available`
/// are available, with `revision`, created at second `created`.
fn set(image: &str, replicas: i32, available: i32, revision: i64, created: i64) -> ReplicaSet {
    let d = deployment(image, replicas, rolling(1, 1));
    let name = new_replica_set_name(&d);
    let mut rs = build_replica_set(&d, &name, revision, replicas, Strategy::of(&d).unwrap());
    rs.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
    rs.status = Some(ReplicaSetStatus {
        replicas,
        ready_replicas: Some(available),
        available_replicas: Some(available),
        ..Default::default()
    });
    rs
}

fn now() -> Timestamp {
    Timestamp::from_second(10_000).unwrap()
}

fn plan(d: &Deployment, owned: &[ReplicaSet]) -> Plan {
    decide(d, owned, Strategy::of(d).unwrap(), now())
}

fn progressing(p: &Plan) -> DeploymentCondition {
    p.status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_.as_deref() == Some("Progressing"))
        .cloned()
        .unwrap()
}

use k8s_openapi::api::apps::v1::DeploymentCondition;

#[test]
fn a_new_deployment_creates_its_replica_set_at_full_size() {
    let d = deployment("v1", 3, rolling(1, 1));
    let p = plan(&d, &[]);
    let Step::Create(rs) = &p.steps[0] else {
        panic!("expected a create, got {:?}", p.steps);
    };
    let hash = hash::template_hash(&d.spec.template);
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(rs.spec.replicas, Some(3));
    assert_eq!(rs.spec.selector.match_labels.as_ref().unwrap()[LABEL], hash);
    let labels = rs
        .spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    assert_eq!(labels[LABEL], hash);
    assert_eq!(rs.metadata.annotations.as_ref().unwrap()[REVISION], "1");
    assert_eq!(p.revision, Some(1));
    assert_eq!(
        progressing(&p).reason.as_deref(),
        Some(reason::NEW_RS_CREATED)
    );
    assert_eq!(p.status.observed_generation, Some(2));
}

#[test]
fn a_rolling_update_surges_then_scales_old_down_within_the_budget() {
    let d = deployment("v2", 4, rolling(1, 1));
    let old = set("v1", 4, 4, 1, 1);
    let p = plan(&d, std::slice::from_ref(&old));
    let Step::Create(new) = &p.steps[0] else {
        panic!("expected a create, got {:?}", p.steps);
    };
    // 4 + maxSurge 1 = 5 pods at most.
    assert_eq!(new.spec.replicas, Some(1));
    assert_eq!(new.metadata.annotations.as_ref().unwrap()[REVISION], "2");
    // 4 available - minimum 3 = 1 old pod may go.
    let old_name = old.metadata.name.clone().unwrap();
    assert!(p.steps.contains(&Step::Scale {
        name: old_name.clone(),
        from: 4,
        to: 3
    }));

    // Next round: the new pod is not available yet, so nothing more may go.
    let mut new_rs = (**new).clone();
    new_rs.status = Some(ReplicaSetStatus {
        replicas: 1,
        ..Default::default()
    });
    let mut old3 = old.clone();
    old3.spec.replicas = Some(3);
    old3.status = Some(ReplicaSetStatus {
        replicas: 3,
        available_replicas: Some(3),
        ready_replicas: Some(3),
        ..Default::default()
    });
    let p = plan(&d, &[old3.clone(), new_rs.clone()]);
    let new_name = new_rs.metadata.name.clone().unwrap();
    assert_eq!(
        p.steps,
        vec![Step::Scale {
            name: new_name.clone(),
            from: 1,
            to: 2
        }]
    );

    // With the new pods available, the old set shrinks again.
    new_rs.spec.replicas = Some(2);
    new_rs.status = Some(ReplicaSetStatus {
        replicas: 2,
        available_replicas: Some(2),
        ready_replicas: Some(2),
        ..Default::default()
    });
    let p = plan(&d, &[old3, new_rs]);
    // 5 available - 3 minimum = 2 may go.
    assert!(p.steps.contains(&Step::Scale {
        name: old_name,
        from: 3,
        to: 1
    }));
}

#[test]
fn a_stale_old_status_never_counts_more_than_its_replicas() {
    let d = deployment("v2", 2, rolling(0, 1));
    let mut old = set("v1", 1, 1, 1, 1);
    // Scaled from 2 to 1, status not caught up: it still says 2 available.
    old.status = Some(ReplicaSetStatus {
        replicas: 2,
        available_replicas: Some(2),
        ..Default::default()
    });
    let mut new = set("v2", 1, 0, 2, 5);
    new.status = Some(ReplicaSetStatus {
        replicas: 1,
        ..Default::default()
    });
    let p = plan(&d, &[old, new]);
    // min available 1; counted available 1 (not 2): the old set must keep its pod.
    assert!(
        p.steps
            .iter()
            .all(|s| !matches!(s, Step::Scale { to: 0, .. })),
        "{:?}",
        p.steps
    );
}

#[test]
fn a_rollback_renumbers_the_old_replica_set() {
    let d = deployment("v1", 2, rolling(1, 0));
    let v1 = set("v1", 0, 0, 1, 1);
    let v2 = set("v2", 2, 2, 2, 5);
    let p = plan(&d, &[v1.clone(), v2]);
    let v1_name = v1.metadata.name.clone().unwrap();
    assert_eq!(
        p.steps[0],
        Step::SetRevision {
            name: v1_name.clone(),
            revision: 3
        }
    );
    assert_eq!(p.revision, Some(3));
    // 2 + maxSurge 1: one new pod first.
    assert!(p.steps.contains(&Step::Scale {
        name: v1_name,
        from: 0,
        to: 1
    }));
}

#[test]
fn old_empty_replica_sets_beyond_the_history_limit_are_deleted() {
    let mut d = deployment("v4", 1, rolling(1, 0));
    d.spec.revision_history_limit = Some(1);
    let owned = [
        set("v1", 0, 0, 1, 1),
        set("v2", 0, 0, 2, 2),
        set("v3", 0, 0, 3, 3),
        set("v4", 1, 1, 4, 4),
    ];
    let p = plan(&d, &owned);
    let deleted: Vec<_> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Delete { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        vec![
            owned[0].metadata.name.clone().unwrap(),
            owned[1].metadata.name.clone().unwrap()
        ]
    );
}

#[test]
fn recreate_empties_the_old_set_before_starting_the_new_one() {
    let d = deployment("v2", 2, json!({"type": "Recreate"}));
    let old = set("v1", 2, 2, 1, 1);
    let p = plan(&d, std::slice::from_ref(&old));
    let Step::Create(new) = &p.steps[0] else {
        panic!("{:?}", p.steps)
    };
    assert_eq!(new.spec.replicas, Some(0));
    assert!(p.steps.contains(&Step::Scale {
        name: old.metadata.name.clone().unwrap(),
        from: 2,
        to: 0
    }));

    let mut gone = old.clone();
    gone.spec.replicas = Some(0);
    // Its pods are terminating: still running, so the new set waits.
    gone.status = Some(ReplicaSetStatus {
        terminating_replicas: Some(2),
        ..Default::default()
    });
    let mut new = (**new).clone();
    new.status = Some(ReplicaSetStatus::default());
    let p = plan(&d, &[gone.clone(), new.clone()]);
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    gone.status = Some(ReplicaSetStatus::default());
    let p = plan(&d, &[gone, new.clone()]);
    assert_eq!(
        p.steps,
        vec![Step::Scale {
            name: new.metadata.name.unwrap(),
            from: 0,
            to: 2
        }]
    );
}

#[test]
fn a_paused_deployment_does_not_roll_out_but_scales() {
    let mut d = deployment("v2", 3, rolling(1, 1));
    d.spec.paused = Some(true);
    let old = set("v1", 2, 2, 1, 1);
    let p = plan(&d, std::slice::from_ref(&old));
    assert_eq!(
        p.steps,
        vec![Step::Scale {
            name: old.metadata.name.unwrap(),
            from: 2,
            to: 3
        }]
    );
    assert_eq!(progressing(&p).reason.as_deref(), Some(reason::PAUSED));
    assert_eq!(progressing(&p).status.as_deref(), Some("Unknown"));
}

#[test]
fn a_complete_rollout_reports_new_replica_set_available() {
    let mut d = deployment("v1", 2, rolling(1, 0));
    let rs = set("v1", 2, 2, 1, 1);
    d.status = Some(DeploymentStatus {
        replicas: Some(2),
        updated_replicas: Some(2),
        available_replicas: Some(1),
        ..Default::default()
    });
    let p = plan(&d, &[rs]);
    assert!(p.steps.is_empty(), "{:?}", p.steps);
    let c = progressing(&p);
    assert_eq!(
        (c.status.as_deref().unwrap(), c.reason.as_deref()),
        ("True", Some(reason::NEW_RS_AVAILABLE))
    );
    assert_eq!(p.status.available_replicas, Some(2));
    assert_eq!(p.status.unavailable_replicas, Some(0));
    let avail = p
        .status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_.as_deref() == Some("Available"))
        .unwrap();
    assert_eq!(
        avail.reason.as_deref(),
        Some(reason::MINIMUM_REPLICAS_AVAILABLE)
    );
}

#[test]
fn no_progress_past_the_deadline_times_out() {
    let mut d = deployment("v1", 2, rolling(1, 0));
    d.spec.progress_deadline_seconds = Some(60);
    let rs = set("v1", 2, 0, 1, 1);
    let long_ago = Time(Timestamp::from_second(10_000 - 61).unwrap());
    d.status = Some(DeploymentStatus {
        replicas: Some(2),
        updated_replicas: Some(2),
        conditions: Some(vec![DeploymentCondition {
            type_: Some("Progressing".into()),
            status: Some("True".into()),
            reason: Some(reason::RS_UPDATED.into()),
            message: None,
            last_update_time: Some(long_ago.clone()),
            last_transition_time: Some(long_ago),
        }]),
        ..Default::default()
    });
    let p = plan(&d, std::slice::from_ref(&rs));
    let c = progressing(&p);
    assert_eq!(
        (c.status.as_deref().unwrap(), c.reason.as_deref()),
        ("False", Some(reason::TIMED_OUT))
    );

    // Within the deadline it waits, and asks to be woken when it passes.
    d.spec.progress_deadline_seconds = Some(120);
    let p = plan(&d, &[rs]);
    assert_eq!(progressing(&p).reason.as_deref(), Some(reason::RS_UPDATED));
    let wait = p.requeue_after.unwrap();
    assert!(
        wait > Duration::from_secs(58) && wait <= Duration::from_secs(61),
        "{wait:?}"
    );
}

#[test]
fn change_cause_is_copied_and_min_ready_seconds_follows() {
    let mut d = deployment("v1", 1, rolling(1, 0));
    d.metadata.annotations = Some(
        [
            ("kubernetes.io/change-cause".to_string(), "v1".to_string()),
            (REVISION.to_string(), "7".to_string()),
        ]
        .into(),
    );
    let p = plan(&d, &[]);
    let Step::Create(rs) = &p.steps[0] else {
        panic!("{:?}", p.steps)
    };
    let ann = rs.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann["kubernetes.io/change-cause"], "v1");
    assert_eq!(ann[REVISION], "1");

    d.spec.min_ready_seconds = Some(5);
    let rs = set("v1", 1, 1, 1, 1);
    let p = plan(&d, std::slice::from_ref(&rs));
    assert!(p.steps.contains(&Step::SetMinReadySeconds {
        name: rs.metadata.name.clone().unwrap(),
        seconds: Some(5)
    }));
}

#[test]
fn orphaned_replica_sets_matching_the_selector_are_adopted() {
    let d = deployment("v1", 1, rolling(1, 0));
    let mut orphan = set("v1", 1, 1, 1, 1);
    orphan.metadata.owner_references = None;
    let owned = set("v2", 1, 1, 2, 2);
    let mut other = set("v3", 1, 1, 3, 3);
    other.metadata.owner_references = None;
    other.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
    let sets = [orphan.clone(), owned, other];
    let names: Vec<_> = adoptable(&d, &sets)
        .into_iter()
        .map(|r| r.metadata.name.clone())
        .collect();
    assert_eq!(names, vec![orphan.metadata.name]);
}
