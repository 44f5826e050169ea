use super::*;
use serde_json::json;

fn t(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn node(ready: &str, taints: serde_json::Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "creationTimestamp": "2020-01-01T00:00:00Z"},
        "spec": {"taints": taints},
        "status": {"conditions": [{"type": "Ready", "status": ready}]}
    }))
    .unwrap()
}

fn pod(tolerations: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"nodeName": "n1", "containers": [], "tolerations": tolerations}
    }))
    .unwrap()
}

fn unreachable_since(s: i64) -> Vec<Taint> {
    vec![Taint {
        key: UNREACHABLE.into(),
        value: None,
        effect: "NoExecute".into(),
        time_added: Some(Time(t(s))),
    }]
}

#[test]
fn a_lease_unchanged_for_the_grace_period_is_unreachable() {
    let grace = Duration::from_secs(10);
    // First seen at 100, whatever the lease says (here a skewed, old clock): a full grace period.
    let p = Probe::step(None, Some(t(3)), t(100));
    assert_eq!(p.health(t(110), grace), Health::Reachable);
    assert_eq!(p.health(t(111), grace), Health::Unreachable);
    // The same value seen again does not refresh it; a new one does.
    assert_eq!(Probe::step(Some(p), Some(t(3)), t(105)), p);
    let renewed = Probe::step(Some(p), Some(t(4)), t(108));
    assert_eq!(renewed.health(t(111), grace), Health::Reachable);
    // No heartbeat at all still gets its grace period from first sight.
    let never = Probe::step(None, None, t(100));
    assert_eq!(never.health(t(111), grace), Health::Unreachable);
}

#[test]
fn an_unreachable_node_is_marked_and_tainted_once() {
    let n = node("True", json!([{"key": "gpu", "effect": "NoSchedule"}]));
    let plan = plan_node(&n, Health::Unreachable, t(50), t(39));
    assert!(plan.mark_unknown);
    let taints = plan.taints.unwrap();
    let keys: Vec<_> = taints
        .iter()
        .map(|t| (t.key.as_str(), t.effect.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("gpu", "NoSchedule"),
            (UNREACHABLE, "NoSchedule"),
            (UNREACHABLE, "NoExecute")
        ]
    );
    // The NoExecute taint dates from when the node went silent, not from now.
    assert_eq!(taints[2].time_added, Some(Time(t(39))));

    // Already marked and tainted: nothing to do.
    let mut marked = node("Unknown", serde_json::to_value(&taints).unwrap());
    marked.metadata.name = Some("n1".into());
    assert_eq!(
        plan_node(&marked, Health::Unreachable, t(60), t(39)),
        NodePlan::default()
    );

    // The lease renews: the unreachable taints go, the user's stay.
    let back = plan_node(&marked, Health::Reachable, t(70), t(70));
    assert!(!back.mark_unknown);
    let keys: Vec<_> = back.taints.unwrap().into_iter().map(|t| t.key).collect();
    assert_eq!(keys, vec!["gpu"]);
}

#[test]
fn a_node_reporting_not_ready_gets_the_not_ready_taints() {
    let plan = plan_node(&node("False", json!([])), Health::Reachable, t(5), t(1));
    assert!(!plan.mark_unknown);
    let keys: Vec<_> = plan
        .taints
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect();
    assert_eq!(
        keys,
        vec![
            (NOT_READY.to_string(), "NoSchedule".to_string()),
            (NOT_READY.to_string(), "NoExecute".to_string())
        ]
    );
}

#[test]
fn eviction_honours_toleration_seconds_and_the_fog_default() {
    let default = Duration::from_secs(30);
    let taints = unreachable_since(100);
    // No toleration: the fog default.
    assert_eq!(
        eviction(&pod(json!([])), &taints, t(100), default, t(0)),
        Eviction::At(t(130))
    );
    // A toleration with seconds.
    let p = pod(
        json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]),
    );
    assert_eq!(
        eviction(&p, &taints, t(100), default, t(0)),
        Eviction::At(t(105))
    );
    // Forever.
    let p = pod(json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]));
    assert_eq!(eviction(&p, &taints, t(100), default, t(0)), Eviction::Stay);
    // Another untolerated NoExecute taint: at once.
    let other = vec![Taint {
        key: "drain".into(),
        value: None,
        effect: "NoExecute".into(),
        time_added: Some(Time(t(90))),
    }];
    assert_eq!(
        eviction(&pod(json!([])), &other, t(100), default, t(0)),
        Eviction::At(t(90))
    );
    // NoSchedule taints never evict.
    let soft = vec![Taint {
        key: "x".into(),
        value: None,
        effect: "NoSchedule".into(),
        time_added: None,
    }];
    assert_eq!(
        eviction(&pod(json!([])), &soft, t(100), default, t(0)),
        Eviction::Stay
    );
}

#[test]
fn ready_pods_of_an_unreachable_node_are_marked_not_ready() {
    use crate::pod::fixtures;
    let ready = fixtures::ready(fixtures::pod("r", 1, &[]), 1, "n1");
    let pending = fixtures::pod("p", 1, &[]);
    let mut leaving = fixtures::ready(fixtures::pod("l", 1, &[]), 1, "n1");
    leaving.metadata.deletion_timestamp = Some(Time(t(5)));
    let pods = [ready, pending, leaving];
    let names: Vec<_> = pods_to_mark_not_ready(&pods)
        .into_iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["r"]);
}

#[test]
fn a_silent_node_has_its_conditions_unknown() {
    let n = node("True", json!([]));
    let c = unknown_conditions(&n, t(9));
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].status.as_str(), c[0].reason.as_deref()),
        ("Unknown", Some("NodeStatusUnknown"))
    );
    assert_eq!(c[0].last_transition_time, Some(Time(t(9))));
    let mut bare = n.clone();
    bare.status = None;
    let c = unknown_conditions(&bare, t(9));
    assert_eq!(
        (c[0].type_.as_str(), c[0].reason.as_deref()),
        ("Ready", Some("NodeStatusNeverUpdated"))
    );
}

#[test]
fn a_full_disruption_stops_evictions_and_restarts_tolerations() {
    use Health::*;
    let start = Evictions::Normal { since: t(0) };
    assert_eq!(start.step(&[Reachable, Unreachable], t(10)), start);
    let down = start.step(&[Unreachable, Unreachable], t(20));
    assert_eq!(down, Evictions::FullDisruption);
    let back = down.step(&[Reachable, Unreachable], t(50));
    assert_eq!(back, Evictions::Normal { since: t(50) });
    // A taint from before the disruption counts from its end.
    let taints = unreachable_since(15);
    assert_eq!(
        eviction(
            &pod(json!([])),
            &taints,
            t(51),
            Duration::from_secs(30),
            t(50)
        ),
        Eviction::At(t(80))
    );
    // No nodes at all is not a disruption.
    assert_eq!(start.step(&[], t(5)), start);
}
