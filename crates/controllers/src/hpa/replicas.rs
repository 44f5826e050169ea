//! The replica count one resource metric asks for, as Kubernetes' replica calculator computes
//! it (`pkg/controller/podautoscaler/replica_calculator.go`, `GetResourceReplicas` and
//! `GetRawResourceReplicas`):
//!
//! - the usage ratio is the pods' usage over their requests (Utilization: `usage / request`,
//!   against the target percentage) or their average usage over the target (AverageValue);
//! - within the tolerance of 1 (±0.1 by default) nothing changes; otherwise the count is
//!   `ceil(ratio × pods measured)`;
//! - pods being deleted or failed are ignored; pending pods, and for CPU pods still starting
//!   (within the 5 min CPU initialization period, not Ready or measured partly before they
//!   became Ready), are unready; pods without metrics are missing. When scaling up, unready
//!   and missing pods count as using nothing; when scaling down, missing pods count as using
//!   their request (or the target, when it is above 100 %). If that reversal of assumptions
//!   would change the direction of the scale, or bring the ratio within the tolerance, the
//!   count stays.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brume_api::metrics::{PodMetrics, milli_value};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// How a resource metric is targeted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `averageUtilization`: percent of the pods' requests.
    Utilization(i32),
    /// `averageValue`: per-pod usage, in thousandths of the unit (millicores, millibytes).
    AverageValue(i64),
}

/// One pod's usage of the resource: the sum over its containers, as upstream's metrics client
/// gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodMetric {
    /// Usage in thousandths of the unit.
    pub value: i64,
    /// The end of the measuring window.
    pub timestamp: Timestamp,
    /// The window.
    pub window: Duration,
}

/// Settings the replica calculator takes from the controller's flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calculator {
    /// Tolerance below a ratio of 1 (`--horizontal-pod-autoscaler-tolerance`, 0.1).
    pub scale_down_tolerance: f64,
    /// Tolerance above a ratio of 1.
    pub scale_up_tolerance: f64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period: Duration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub delay_of_initial_readiness_status: Duration,
}

impl Default for Calculator {
    fn default() -> Self {
        Self {
            scale_down_tolerance: 0.1,
            scale_up_tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            delay_of_initial_readiness_status: Duration::from_secs(30),
        }
    }
}

/// What a metric proposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The replica count it asks for (not yet bounded).
    pub replicas: i32,
    /// The current utilization in percent of request (Utilization targets).
    pub utilization: Option<i32>,
    /// The current average usage per pod, in thousandths of the unit.
    pub average: i64,
}

/// How old a sample may be and still count: the agents write every 15 s, so a sample older
/// than four rounds comes from an agent that stopped reporting (a node cut off keeps its last
/// PodMetrics stored). The metrics-server drops such pods; here they count as missing.
pub const MAX_SAMPLE_AGE: Duration = Duration::from_secs(60);

/// The usage of `resource` of every pod listed in `items` with all its containers measured
/// within [`MAX_SAMPLE_AGE`] of `now`, by pod name; an error when there is nothing at all, in
/// upstream's words.
pub fn metrics_by_pod(
    resource: &str,
    items: &[PodMetrics],
    now: Timestamp,
) -> Result<BTreeMap<String, PodMetric>, String> {
    if items.is_empty() {
        return Err("no metrics returned from resource metrics API".into());
    }
    Ok(items
        .iter()
        .filter_map(|m| {
            let timestamp = m.timestamp.as_ref()?.0;
            if plus(timestamp, MAX_SAMPLE_AGE) < now {
                return None;
            }
            Some((
                m.metadata.name.clone()?,
                PodMetric {
                    value: i64::try_from(m.total_milli(resource)?).ok()?,
                    timestamp,
                    window: m.window.0,
                },
            ))
        })
        .collect())
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The pods, sorted as upstream's `groupPods` sorts them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn group_pods(
    pods: &[Pod],
    metrics: &BTreeMap<String, PodMetric>,
    resource: &str,
    calc: &Calculator,
    now: Timestamp,
) -> Groups {
    let mut g = Groups::default();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        if pod.metadata.deletion_timestamp.is_some() || phase == Some("Failed") {
            g.ignored.insert(name);
            continue;
        }
        if phase == Some("Pending") {
            g.unready.insert(name);
            continue;
        }
        let Some(metric) = metrics.get(&name) else {
            g.missing.insert(name);
            continue;
        };
        if resource == "cpu" {
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
            let start = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
            let unready = match (ready, start) {
                (Some(ready), Some(start)) => {
                    let transition = ready
                        .last_transition_time
                        .as_ref()
                        .map_or(Timestamp::MIN, |t| t.0);
                    if plus(start, calc.cpu_initialization_period) > now {
                        // Still starting: only a window measured wholly while Ready counts.
                        ready.status == "False"
                            || metric.timestamp < plus(transition, metric.window)
                    } else {
                        // Unready and never Ready since it started.
                        ready.status == "False"
                            && plus(start, calc.delay_of_initial_readiness_status) > transition
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(name);
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

/// Each pod's request of `resource` (the sum over its containers), in thousandths of the
/// unit; an error naming the first container without one.
fn pod_requests(pods: &[Pod], resource: &str) -> Result<BTreeMap<String, i64>, String> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let mut sum = 0i64;
        for c in pod.spec.iter().flat_map(|s| &s.containers) {
            let request = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get(resource))
                .and_then(milli_value)
                .and_then(|m| i64::try_from(m).ok());
            match request {
                Some(r) => sum += r,
                None => {
                    return Err(format!(
                        "missing request for {resource} in container {} of Pod {name}",
                        c.name
                    ));
                }
            }
        }
        out.insert(name, sum);
    }
    Ok(out)
}

/// The ratio a set of measured pods gives against the target, with the current utilization
/// (percent of request, Utilization only) and average (per pod).
fn ratio(
    metrics: &BTreeMap<String, i64>,
    requests: &BTreeMap<String, i64>,
    target: Target,
) -> Result<(f64, Option<i32>, i64), String> {
    match target {
        Target::Utilization(goal) => {
            let (mut used, mut requested, mut n) = (0i64, 0i64, 0i64);
            for (pod, value) in metrics {
                if let Some(request) = requests.get(pod) {
                    used += value;
                    requested += request;
                    n += 1;
                }
            }
            if requested == 0 {
                return Err("no metrics returned matched known pods".into());
            }
            // Integer percent, truncated, as upstream: the ratio is taken from it.
            let utilization = i32::try_from(used * 100 / requested).unwrap_or(i32::MAX);
            Ok((
                f64::from(utilization) / f64::from(goal.max(1)),
                Some(utilization),
                used / n,
            ))
        }
        Target::AverageValue(goal) => {
            let n = metrics.len().max(1) as i64;
            let average = metrics.values().sum::<i64>() / n;
            Ok((average as f64 / goal.max(1) as f64, None, average))
        }
    }
}

/// The replica count `target` on `resource` proposes for a target at `current` replicas.
pub fn propose(
    current: i32,
    target: Target,
    resource: &str,
    pods: &[Pod],
    metrics: &BTreeMap<String, PodMetric>,
    calc: &Calculator,
    now: Timestamp,
) -> Result<Proposal, String> {
    if pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let groups = group_pods(pods, metrics, resource, calc, now);
    let mut measured: BTreeMap<String, i64> = metrics
        .iter()
        .filter(|(pod, _)| !groups.ignored.contains(*pod) && !groups.unready.contains(*pod))
        // Metrics of pods the selector no longer picks are not the target's.
        .filter(|(pod, _)| {
            pods.iter()
                .any(|p| p.metadata.name.as_deref() == Some(pod.as_str()))
        })
        .map(|(pod, m)| (pod.clone(), m.value))
        .collect();
    if measured.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let requests = match target {
        Target::Utilization(_) => pod_requests(pods, resource)?,
        Target::AverageValue(_) => BTreeMap::new(),
    };
    let within =
        |r: f64| 1.0 - calc.scale_down_tolerance <= r && r <= 1.0 + calc.scale_up_tolerance;
    let (usage_ratio, utilization, average) = ratio(&measured, &requests, target)?;
    let proposal = |replicas| Proposal {
        replicas,
        utilization,
        average,
    };
    let scale_up_with_unready = !groups.unready.is_empty() && usage_ratio > 1.0;
    if !scale_up_with_unready && groups.missing.is_empty() {
        if within(usage_ratio) {
            return Ok(proposal(current));
        }
        return Ok(proposal(ceil(usage_ratio * groups.ready as f64)));
    }
    if usage_ratio < 1.0 {
        // Scaling down: a missing pod is taken to use its request (or the target above 100 %).
        for pod in &groups.missing {
            let value = match target {
                Target::Utilization(goal) => {
                    requests.get(pod).copied().unwrap_or(0) * i64::from(goal.max(100)) / 100
                }
                Target::AverageValue(goal) => goal,
            };
            measured.insert(pod.clone(), value);
        }
    } else if usage_ratio > 1.0 {
        // Scaling up: a missing pod is taken to use nothing.
        for pod in &groups.missing {
            measured.insert(pod.clone(), 0);
        }
    }
    if scale_up_with_unready {
        for pod in &groups.unready {
            measured.insert(pod.clone(), 0);
        }
    }
    let (new_ratio, _, _) = ratio(&measured, &requests, target)?;
    let reversed = (usage_ratio < 1.0 && new_ratio > 1.0) || (usage_ratio > 1.0 && new_ratio < 1.0);
    if within(new_ratio) || reversed {
        return Ok(proposal(current));
    }
    let replicas = ceil(new_ratio * measured.len() as f64);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(proposal(current));
    }
    Ok(proposal(replicas))
}

fn ceil(x: f64) -> i32 {
    let c = x.ceil();
    if c >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        c as i32
    }
}
