use serde_json::{Value, json};

use super::*;

/// The fixed "now" of these tests.
fn t(offset_secs: i64) -> Timestamp {
    let base: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
    base + k8s_openapi::jiff::SignedDuration::from_secs(offset_secs)
}

fn hpa(min: i32, max: i32, metrics: Value, behavior: Option<Value>) -> HorizontalPodAutoscaler {
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": min, "maxReplicas": max, "metrics": metrics});
    if let Some(b) = behavior {
        spec["behavior"] = b;
    }
    serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default",
        "generation": 1}, "spec": spec}))
    .unwrap()
}

fn cpu(percent: i32) -> Value {
    json!([{"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}}])
}

/// A Running, Ready pod started ten minutes before `t(0)`, asking for 100m of CPU.
fn pod(name: &str) -> Pod {
    pod_with(
        name,
        json!({"requests": {"cpu": "100m", "memory": "64Mi"}}),
        "Running",
    )
}

fn pod_with(name: &str, resources: Value, phase: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "x", "resources": resources}]},
        "status": {"phase": phase, "startTime": "2026-12-03T11:50:00Z",
            "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-12-03T11:50:05Z"}]}
    }))
    .unwrap()
}

/// Metrics of `name` ending at `at`, over 15 s.
fn usage(name: &str, cpu: &str, memory: &str, at: Timestamp) -> PodMetrics {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "timestamp": at.to_string(), "window": "15s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}]
    }))
    .unwrap()
}

fn scale(replicas: i32) -> Result<ScaleView, String> {
    Ok(ScaleView {
        replicas,
        selector: "app=web".into(),
    })
}

fn sync(
    hpa: &HorizontalPodAutoscaler,
    current: i32,
    pods: &[Pod],
    metrics: &[PodMetrics],
    now: Timestamp,
    history: &mut History,
) -> Plan {
    let obs = Observed {
        hpa,
        scale: scale(current),
        pods,
        metrics: Ok(metrics),
        now,
    };
    decide(&obs, &Settings::default(), history)
}

fn condition<'a>(plan: &'a Plan, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = plan
        .status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", plan.status));
    (
        c.status.as_str(),
        c.reason.as_deref().unwrap_or(""),
        c.message.as_deref().unwrap_or(""),
    )
}

/// `n` pods `web-0..` each using `cpu`, with their metrics.
fn fleet(n: usize, cpu: &str, now: Timestamp) -> (Vec<Pod>, Vec<PodMetrics>) {
    let names: Vec<String> = (0..n).map(|i| format!("web-{i}")).collect();
    (
        names.iter().map(|n| pod(n)).collect(),
        names.iter().map(|n| usage(n, cpu, "32Mi", now)).collect(),
    )
}

#[test]
fn utilization_is_usage_over_request_and_the_count_follows_the_ratio() {
    // Two pods at 150m of 100m requested against a 50 % target: a ratio of 3, so 6 pods,
    // held to 4 by the legacy scale-up limit max(2 × 2, 4).
    let h = hpa(1, 10, cpu(50), None);
    let (pods, metrics) = fleet(2, "150m", t(0));
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    let rescale = plan.rescale.clone().expect("a rescale");
    assert_eq!((rescale.from, rescale.to), (2, 4));
    assert_eq!(
        rescale.message(),
        "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    );
    assert_eq!(plan.status.desired_replicas, 4);
    assert_eq!(plan.status.current_replicas, Some(2));
    assert_eq!(plan.status.last_scale_time, Some(Time(t(0))));
    let current = &plan.status.current_metrics.as_ref().unwrap()[0];
    let cpu_now = &current.resource.as_ref().unwrap().current;
    assert_eq!(cpu_now.average_utilization, Some(150));
    assert_eq!(cpu_now.average_value, Some(Quantity("150m".into())));
    assert_eq!(
        condition(&plan, "ScalingActive"),
        (
            "True",
            "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource \
             utilization (percentage of request)"
        )
    );
    assert_eq!(
        condition(&plan, "ScalingLimited"),
        (
            "True",
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate"
        )
    );
    assert_eq!(
        condition(&plan, "AbleToScale"),
        (
            "True",
            "SucceededRescale",
            "the HPA controller was able to update the target scale to 4"
        )
    );
    assert!(plan.warnings.is_empty());
}

#[test]
fn a_ratio_within_the_tolerance_changes_nothing() {
    let h = hpa(1, 10, cpu(50), None);
    // 54 % and 45 % of a 50 % target: ratios 1.08 and 0.9, inside ±0.1.
    for cpu in ["54m", "45m"] {
        let (pods, metrics) = fleet(4, cpu, t(0));
        let plan = sync(&h, 4, &pods, &metrics, t(0), &mut History::default());
        assert_eq!(plan.rescale, None, "{cpu}");
        assert_eq!(plan.status.desired_replicas, 4, "{cpu}");
        assert_eq!(condition(&plan, "AbleToScale").1, "ReadyForNewScale");
        assert_eq!(condition(&plan, "ScalingLimited").1, "DesiredWithinRange");
    }
    // 56 %: a ratio of 1.12, just outside: ceil(1.12 × 4) = 5.
    let (pods, metrics) = fleet(4, "56m", t(0));
    let plan = sync(&h, 4, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale.unwrap().to, 5);
}

#[test]
fn a_scale_down_waits_out_the_stabilization_window() {
    let h = hpa(1, 10, cpu(50), None);
    let mut history = History::default();
    // Busy: 4 pods at the target propose 4.
    let (pods, busy) = fleet(4, "50m", t(0));
    assert_eq!(sync(&h, 4, &pods, &busy, t(0), &mut history).rescale, None);
    // Quiet a minute later (30 %: ceil(0.6 × 4) = 3), but 4 was proposed within 300 s.
    let (_, quiet) = fleet(4, "15m", t(60));
    let plan = sync(&h, 4, &pods, &quiet, t(60), &mut history);
    assert_eq!(plan.rescale, None);
    assert_eq!(
        condition(&plan, "AbleToScale"),
        (
            "True",
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest \
             recent recommendation"
        )
    );
    // Past the window, the quiet proposals are all that remain.
    let (_, quiet) = fleet(4, "15m", t(301));
    let plan = sync(&h, 4, &pods, &quiet, t(301), &mut history);
    let rescale = plan.rescale.expect("scaled down");
    assert_eq!(
        (rescale.to, rescale.reason.as_str()),
        (2, "All metrics below target")
    );
}

#[test]
fn a_new_hpa_does_not_cut_a_running_deployment_before_the_window() {
    // Upstream counts the current count as a recommendation when it first sees an HPA.
    let h = hpa(1, 10, cpu(50), None);
    let mut history = History::default();
    let (pods, idle) = fleet(10, "5m", t(0));
    let plan = sync(&h, 10, &pods, &idle, t(0), &mut history);
    assert_eq!(plan.rescale, None, "held at the first sync");
    assert_eq!(condition(&plan, "AbleToScale").1, "ScaleDownStabilized");
    let (_, idle) = fleet(10, "5m", t(301));
    let plan = sync(&h, 10, &pods, &idle, t(301), &mut history);
    assert_eq!(plan.rescale.expect("scaled down after the window").to, 1);
}

#[test]
fn behavior_sets_the_windows_and_a_scale_up_is_not_held_back() {
    let behavior = json!({"scaleDown": {"stabilizationWindowSeconds": 30},
        "scaleUp": {"stabilizationWindowSeconds": 0}});
    let h = hpa(1, 10, cpu(50), Some(behavior));
    let mut history = History::default();
    let (pods, busy) = fleet(4, "50m", t(0));
    assert_eq!(sync(&h, 4, &pods, &busy, t(0), &mut history).rescale, None);
    // Quiet (15 %: a ratio of 0.3, ceil(1.2) = 2), but 4 was proposed 20 s ago.
    let (_, quiet) = fleet(4, "15m", t(20));
    let held = sync(&h, 4, &pods, &quiet, t(20), &mut history);
    assert_eq!(held.rescale, None);
    assert_eq!(condition(&held, "AbleToScale").1, "ScaleDownStabilized");
    // 31 s after the busy proposal, the 30 s window holds only quiet ones.
    let (_, quiet) = fleet(4, "15m", t(31));
    let down = sync(&h, 4, &pods, &quiet, t(31), &mut history);
    assert_eq!(down.rescale.map(|r| r.to), Some(2));
    // A burst right after goes up at once (no scale-up window), by at most the default
    // policies' 100 % or 4 pods per 15 s: 400 % is a ratio of 4, 8 pods wanted, 6 allowed.
    let (pods2, burst) = fleet(2, "200m", t(32));
    let up = sync(&h, 2, &pods2, &burst, t(32), &mut history);
    assert_eq!(up.rescale.as_ref().map(|r| r.to), Some(6));
    assert_eq!(condition(&up, "ScalingLimited").1, "ScaleUpLimit");
}

#[test]
fn rate_policies_limit_each_period() {
    let behavior = json!({"scaleUp": {"selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}});
    let h = hpa(1, 10, cpu(50), Some(behavior));
    let mut history = History::default();
    let (pods, metrics) = fleet(2, "500m", t(0));
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut history);
    assert_eq!(plan.rescale.as_ref().map(|r| r.to), Some(3));
    assert_eq!(condition(&plan, "ScalingLimited").1, "ScaleUpLimit");
    history.scaled(t(0), 2, 3);
    // Within the same 60 s the one pod allowed is spent.
    let (pods, metrics) = fleet(3, "500m", t(30));
    let plan = sync(&h, 3, &pods, &metrics, t(30), &mut history);
    assert_eq!(plan.rescale, None);
    assert_eq!(condition(&plan, "ScalingLimited").1, "ScaleUpLimit");
    // The next period allows one more.
    let plan = sync(&h, 3, &pods, &metrics, t(61), &mut history);
    assert_eq!(plan.rescale.map(|r| r.to), Some(4));
}

#[test]
fn min_and_max_hold_the_count() {
    let h = hpa(2, 3, cpu(50), None);
    let (pods, metrics) = fleet(1, "1000m", t(0));
    // 2000 % of request: 20 pods wanted, 3 allowed.
    let h1 = hpa(1, 3, cpu(50), None);
    let plan = sync(&h1, 1, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale.as_ref().map(|r| r.to), Some(3));
    assert_eq!(
        condition(&plan, "ScalingLimited"),
        (
            "True",
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count"
        )
    );
    // Outside the bounds the count is brought in without looking at metrics.
    let plan = sync(&h, 5, &[], &[], t(0), &mut History::default());
    let r = plan.rescale.unwrap();
    assert_eq!(
        (r.to, r.reason.as_str()),
        (3, "Current number of replicas above Spec.MaxReplicas")
    );
    let plan = sync(&h, 1, &[], &[], t(0), &mut History::default());
    assert_eq!(plan.rescale.unwrap().to, 2);
    // Idle pods never go below min (the HPA was first seen long before).
    let (pods, idle) = fleet(3, "0m", t(0));
    let mut seen = History::default();
    seen.first_seen(3, t(-600));
    let plan = sync(&h, 3, &pods, &idle, t(0), &mut seen);
    assert_eq!(plan.rescale.as_ref().map(|r| r.to), Some(2));
    assert_eq!(condition(&plan, "ScalingLimited").1, "TooFewReplicas");
    // A target scaled to zero by hand is left there.
    let plan = sync(&h, 0, &[], &[], t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    assert_eq!(
        condition(&plan, "ScalingActive"),
        (
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero"
        )
    );
}

#[test]
fn without_metrics_nothing_scales_and_the_condition_says_why_once() {
    let h = hpa(1, 10, cpu(50), None);
    let (pods, _) = fleet(2, "0m", t(0));
    let plan = sync(&h, 2, &pods, &[], t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    assert_eq!(
        condition(&plan, "ScalingActive"),
        (
            "False",
            "FailedGetResourceMetric",
            "the HPA was unable to compute the replica count: failed to get cpu utilization: \
             unable to get metrics for resource cpu: no metrics returned from resource metrics API"
        )
    );
    assert_eq!(condition(&plan, "AbleToScale").1, "SucceededGetScale");
    let reasons: Vec<&str> = plan.warnings.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        reasons,
        ["FailedGetResourceMetric", "FailedComputeMetricsReplicas"]
    );
    assert_eq!(
        plan.warnings[1].1,
        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu utilization: \
         unable to get metrics for resource cpu: no metrics returned from resource metrics API"
    );
    // The next sync sees its own condition: the failure is not news any more.
    let mut again = h.clone();
    again.status = Some(plan.status.clone());
    let plan = sync(&again, 2, &pods, &[], t(15), &mut History::default());
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // A listing error is reported the same way.
    let obs = Observed {
        hpa: &h,
        scale: scale(2),
        pods: &pods,
        metrics: Err("the server is away".into()),
        now: t(0),
    };
    let plan = decide(&obs, &Settings::default(), &mut History::default());
    assert!(
        condition(&plan, "ScalingActive")
            .2
            .ends_with("the server is away")
    );
}

#[test]
fn a_stale_sample_counts_as_missing() {
    let h = hpa(1, 10, cpu(50), None);
    // b's agent stopped reporting two minutes ago; its last sample said it was idle. Scaling
    // up, a missing pod counts as idle anyway: 150 % and 0 % over two pods, 75 %, ratio 1.5.
    let pods = [pod("a"), pod("b")];
    let metrics = [
        usage("a", "150m", "1Mi", t(0)),
        usage("b", "0m", "1Mi", t(-120)),
    ];
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale.map(|r| r.to), Some(3));
    // Only stale samples: nothing to scale on.
    let stale = [usage("a", "150m", "1Mi", t(-120))];
    let plan = sync(&h, 1, &pods[..1], &stale, t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    assert!(
        condition(&plan, "ScalingActive")
            .2
            .ends_with("did not receive metrics for targeted pods (pods might be unready)")
    );
}

#[test]
fn a_pod_without_a_request_is_named() {
    let h = hpa(1, 10, cpu(50), None);
    let pods = [pod_with("web-0", json!({}), "Running")];
    let metrics = [usage("web-0", "50m", "1Mi", t(0))];
    let plan = sync(&h, 1, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    assert!(
        condition(&plan, "ScalingActive").2.ends_with(
            "failed to get cpu utilization: missing request for cpu in container app of Pod web-0"
        ),
        "{:?}",
        condition(&plan, "ScalingActive")
    );
}

#[test]
fn unready_and_missing_pods_count_as_idle_on_a_scale_up_and_busy_on_a_scale_down() {
    let h = hpa(1, 10, cpu(50), None);
    // a and b at 150 % (ratio 3); c has no metrics; d is Pending. Taken as using nothing:
    // 300m of 400m requested is 75 %, a ratio of 1.5 over 4 pods: 6.
    let pods = [
        pod("a"),
        pod("b"),
        pod("c"),
        pod_with("d", json!({"requests": {"cpu": "100m"}}), "Pending"),
    ];
    let metrics = [
        usage("a", "150m", "1Mi", t(0)),
        usage("b", "150m", "1Mi", t(0)),
    ];
    let plan = sync(&h, 4, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale.map(|r| r.to), Some(6));
    // Scaling down, the missing c is taken as using its request: (10 + 10 + 100) of 300 is
    // 40 %, a ratio of 0.8 over 3 pods: ceil(2.4) = 3, the current count.
    let pods = [pod("a"), pod("b"), pod("c")];
    let metrics = [
        usage("a", "10m", "1Mi", t(0)),
        usage("b", "10m", "1Mi", t(0)),
    ];
    let plan = sync(&h, 3, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    assert_eq!(plan.status.desired_replicas, 3);
}

#[test]
fn a_starting_pods_cpu_counts_only_once_measured_while_ready() {
    let h = hpa(1, 10, cpu(50), None);
    // Started 60 s ago, Ready 10 s ago: a 15 s window ending now began before it was Ready.
    let young: Pod = serde_json::from_value(json!({
        "metadata": {"name": "web-0", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "x",
            "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running", "startTime": t(-60).to_string(),
            "conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": t(-10).to_string()}]}
    }))
    .unwrap();
    let metrics = [usage("web-0", "900m", "1Mi", t(0))];
    let plan = sync(
        &h,
        1,
        std::slice::from_ref(&young),
        &metrics,
        t(0),
        &mut History::default(),
    );
    assert_eq!(plan.rescale, None);
    assert!(
        condition(&plan, "ScalingActive")
            .2
            .ends_with("did not receive metrics for targeted pods (pods might be unready)")
    );
    // A window that began after it was Ready counts.
    let metrics = [usage("web-0", "900m", "1Mi", t(6))];
    let plan = sync(&h, 1, &[young], &metrics, t(6), &mut History::default());
    assert_eq!(plan.rescale.map(|r| r.to), Some(4));
}

#[test]
fn memory_can_be_targeted_by_average_value() {
    let metrics_spec = json!([{"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "200Mi"}}}]);
    let h = hpa(1, 10, metrics_spec, None);
    let pods = [pod("a"), pod("b")];
    let metrics = [
        usage("a", "1m", "300Mi", t(0)),
        usage("b", "1m", "300Mi", t(0)),
    ];
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    let r = plan.rescale.clone().unwrap();
    assert_eq!(
        (r.to, r.reason.as_str()),
        (3, "memory resource above target")
    );
    let current = &plan.status.current_metrics.unwrap()[0];
    let memory = &current.resource.as_ref().unwrap().current;
    assert_eq!(memory.average_value, Some(Quantity("314572800".into())));
    assert_eq!(memory.average_utilization, None);
}

#[test]
fn the_highest_metric_wins_and_unserved_types_say_so() {
    let both = json!([
        {"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "Utilization", "averageUtilization": 50}}}]);
    let h = hpa(1, 10, both, None);
    // cpu at 50 % (stay), memory at 100 % of 64Mi (double).
    let pods = [pod("a"), pod("b")];
    let metrics = [
        usage("a", "50m", "64Mi", t(0)),
        usage("b", "50m", "64Mi", t(0)),
    ];
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    let r = plan.rescale.unwrap();
    assert_eq!(
        (r.to, r.reason.as_str()),
        (
            4,
            "memory resource utilization (percentage of request) above target"
        )
    );
    let pods_metric = json!([{"type": "Pods", "pods": {"metric": {"name": "rps"},
        "target": {"type": "AverageValue", "averageValue": "10"}}}]);
    let h = hpa(1, 10, pods_metric, None);
    let plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    assert_eq!(plan.rescale, None);
    let (status, reason, message) = condition(&plan, "ScalingActive");
    assert_eq!((status, reason), ("False", "FailedGetPodsMetric"));
    assert!(
        message.contains("type Resource, cpu or memory"),
        "{message}"
    );
}

#[test]
fn an_unreadable_scale_or_a_failed_rescale_is_able_to_scale_false() {
    let h = hpa(1, 10, cpu(50), None);
    let obs = Observed {
        hpa: &h,
        scale: Err("deployments.apps \"web\" not found".into()),
        pods: &[],
        metrics: Ok(&[]),
        now: t(0),
    };
    let plan = decide(&obs, &Settings::default(), &mut History::default());
    assert_eq!(
        condition(&plan, "AbleToScale"),
        (
            "False",
            "FailedGetScale",
            "the HPA controller was unable to get the target's current scale: \
             deployments.apps \"web\" not found"
        )
    );
    assert_eq!(plan.warnings[0].0, "FailedGetScale");

    let (pods, metrics) = fleet(2, "150m", t(0));
    let mut plan = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    rescale_failed(&mut plan, None, "conflict", t(0));
    assert_eq!(plan.rescale, None);
    assert_eq!(plan.status.last_scale_time, None);
    assert_eq!(plan.status.desired_replicas, 2);
    assert_eq!(condition(&plan, "AbleToScale").1, "FailedUpdateScale");
    assert_eq!(
        plan.warnings,
        [(
            "FailedRescale",
            "New size: 4; reason: cpu resource utilization (percentage of request) above \
             target; error: conflict"
                .to_string()
        )]
    );
}

#[test]
fn conditions_keep_their_transition_time_while_their_status_holds() {
    let h = hpa(1, 10, cpu(50), None);
    let (pods, metrics) = fleet(2, "50m", t(0));
    let first = sync(&h, 2, &pods, &metrics, t(0), &mut History::default());
    let mut again = h.clone();
    again.status = Some(first.status.clone());
    let (_, metrics) = fleet(2, "50m", t(15));
    let second = sync(&again, 2, &pods, &metrics, t(15), &mut History::default());
    let time = |p: &Plan| {
        p.status.conditions.as_ref().unwrap()[0]
            .last_transition_time
            .clone()
    };
    assert_eq!(time(&first), time(&second));
    assert_eq!(time(&second), Some(Time(t(0))));
}
