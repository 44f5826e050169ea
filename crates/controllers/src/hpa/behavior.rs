//! From the metrics' proposal to the replica count to apply, as Kubernetes'
//! `normalizeDesiredReplicas` (no `spec.behavior`) and `normalizeDesiredReplicasWithBehaviors`
//! do (`pkg/controller/podautoscaler/horizontal.go`): stabilize against recent proposals, then
//! limit the rate of change, then hold within `[minReplicas, maxReplicas]`. Each step names
//! itself in the AbleToScale and ScalingLimited conditions with upstream's reasons.
//!
//! Upstream keeps the recent proposals and scale events in the controller's memory, and so does
//! [`History`]: a restarted controller starts with none, which makes the first scale-down
//! after a restart wait one window less than it would have.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerSpec};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// `now - d`, saturating at the earliest time.
fn before(now: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| now.checked_sub(d).ok())
        .unwrap_or(Timestamp::MIN)
}

/// How a scaling direction picks among its policies (`selectPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// One rate policy: at most `value` pods, or `value` percent, per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `type: Pods`.
    Pods {
        /// Pods added or removed per period.
        value: i32,
        /// The period.
        period: Duration,
    },
    /// `type: Percent`.
    Percent {
        /// Percent of the count at the period's start.
        value: i32,
        /// The period.
        period: Duration,
    },
}

impl Policy {
    fn period(&self) -> Duration {
        match self {
            Policy::Pods { period, .. } | Policy::Percent { period, .. } => *period,
        }
    }
}

/// The rules of one direction (`spec.behavior.scaleUp` or `scaleDown`), defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// How far back proposals hold this direction back.
    pub stabilization: Duration,
    /// How the policies combine.
    pub select: Select,
    /// The rate policies.
    pub policies: Vec<Policy>,
    /// The tolerance of this direction, when the HPA sets one (`spec.behavior.*.tolerance`).
    pub tolerance: Option<f64>,
}

/// How an HPA may change its target's replica count.
#[derive(Clone, Debug, PartialEq)]
pub enum Behavior {
    /// No `spec.behavior`: the controller's legacy rules, a scale-down window of
    /// `--horizontal-pod-autoscaler-downscale-stabilization` and a scale-up limit of
    /// `max(2 × current, 4)` per sync.
    Legacy {
        /// The scale-down stabilization window.
        scale_down_window: Duration,
    },
    /// `spec.behavior`, with `SetDefaults_HorizontalPodAutoscalerBehavior`'s defaults.
    Rules {
        /// Scaling up.
        up: Rules,
        /// Scaling down.
        down: Rules,
    },
}

fn rules(given: Option<&HPAScalingRules>, up: bool) -> Rules {
    let secs = |s: i32| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    // Upstream's defaults: up by 4 pods or 100 % every 15 s at once; down by 100 % every 15 s
    // after 300 s of stability.
    let default_policies = if up {
        vec![
            Policy::Pods {
                value: 4,
                period: secs(15),
            },
            Policy::Percent {
                value: 100,
                period: secs(15),
            },
        ]
    } else {
        vec![Policy::Percent {
            value: 100,
            period: secs(15),
        }]
    };
    let given_policies: Option<Vec<Policy>> = given.and_then(|g| g.policies.as_ref()).map(|ps| {
        ps.iter()
            .filter_map(|p| match p.type_.as_str() {
                "Pods" => Some(Policy::Pods {
                    value: p.value,
                    period: secs(p.period_seconds),
                }),
                "Percent" => Some(Policy::Percent {
                    value: p.value,
                    period: secs(p.period_seconds),
                }),
                _ => None,
            })
            .collect()
    });
    Rules {
        stabilization: secs(
            given
                .and_then(|g| g.stabilization_window_seconds)
                .unwrap_or(if up { 0 } else { 300 }),
        ),
        select: match given.and_then(|g| g.select_policy.as_deref()) {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            _ => Select::Max,
        },
        policies: given_policies
            .filter(|p| !p.is_empty())
            .unwrap_or(default_policies),
        tolerance: given
            .and_then(|g| g.tolerance.as_ref())
            .and_then(brume_api::metrics::milli_value)
            .map(|m| m as f64 / 1000.0),
    }
}

impl Behavior {
    /// The behavior of an HPA's spec; `scale_down_window` is the controller's default for HPAs
    /// without `spec.behavior`.
    pub fn of(spec: &HorizontalPodAutoscalerSpec, scale_down_window: Duration) -> Behavior {
        match &spec.behavior {
            None => Behavior::Legacy { scale_down_window },
            Some(b) => Behavior::Rules {
                up: rules(b.scale_up.as_ref(), true),
                down: rules(b.scale_down.as_ref(), false),
            },
        }
    }

    /// The tolerances (scale down, scale up) around a usage ratio of 1, `default` where the
    /// HPA sets none (`--horizontal-pod-autoscaler-tolerance`, 0.1).
    pub fn tolerances(&self, default: f64) -> (f64, f64) {
        match self {
            Behavior::Legacy { .. } => (default, default),
            Behavior::Rules { up, down } => (
                down.tolerance.unwrap_or(default),
                up.tolerance.unwrap_or(default),
            ),
        }
    }
}

/// A past rescale, for the rate policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScaleEvent {
    at: Timestamp,
    change: i32,
}

/// What one HPA's controller remembers between syncs: its recent proposals and rescales.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    recommendations: Vec<(Timestamp, i32)>,
    up: Vec<ScaleEvent>,
    down: Vec<ScaleEvent>,
    seen: bool,
}

impl History {
    /// The first time the controller sees an HPA, its target's current count counts as a
    /// recommendation made now (upstream's `recordInitialRecommendation`): a scale-down then
    /// waits out the stabilization window instead of cutting a running Deployment at the
    /// first sync after the HPA is created or the controller restarts.
    pub fn first_seen(&mut self, current: i32, now: Timestamp) {
        if !std::mem::replace(&mut self.seen, true) {
            self.recommendations.push((now, current));
        }
    }

    /// Notes a rescale from `from` to `to` replicas, done at `at`.
    pub fn scaled(&mut self, at: Timestamp, from: i32, to: i32) {
        if to > from {
            self.up.push(ScaleEvent {
                at,
                change: to - from,
            });
        } else if to < from {
            self.down.push(ScaleEvent {
                at,
                change: from - to,
            });
        }
    }

    /// Replicas added (`up`) or removed in the last `period`.
    fn changed_within(&self, up: bool, period: Duration, now: Timestamp) -> i32 {
        let cutoff = before(now, period);
        let events = if up { &self.up } else { &self.down };
        events
            .iter()
            .filter(|e| e.at > cutoff)
            .map(|e| e.change)
            .sum()
    }

    /// Forgets what no window or policy can look at any more.
    fn prune(&mut self, keep: Duration, now: Timestamp) {
        let cutoff = before(now, keep);
        self.recommendations.retain(|(at, _)| *at > cutoff);
        self.up.retain(|e| e.at > cutoff);
        self.down.retain(|e| e.at > cutoff);
    }
}

/// The outcome of normalization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    /// The replica count to apply.
    pub desired: i32,
    /// AbleToScale (always True here): reason and message.
    pub able: (&'static str, String),
    /// ScalingLimited: whether the count was limited, reason and message.
    pub limited: (bool, &'static str, String),
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);

fn owned((reason, message): (&'static str, &str)) -> (&'static str, String) {
    (reason, message.to_string())
}

/// Stabilizes, rate-limits and bounds `proposed` for a target at `current` replicas, and
/// records `proposed` among the recent proposals.
pub fn normalize(
    history: &mut History,
    behavior: &Behavior,
    current: i32,
    proposed: i32,
    (min, max): (i32, i32),
    now: Timestamp,
) -> Normalized {
    match behavior {
        Behavior::Legacy { scale_down_window } => legacy(
            history,
            *scale_down_window,
            current,
            proposed,
            (min, max),
            now,
        ),
        Behavior::Rules { up, down } => {
            with_rules(history, (up, down), current, proposed, (min, max), now)
        }
    }
}

fn legacy(
    history: &mut History,
    window: Duration,
    current: i32,
    proposed: i32,
    (min, max): (i32, i32),
    now: Timestamp,
) -> Normalized {
    history.prune(window, now);
    history.recommendations.push((now, proposed));
    // The highest proposal of the window, this one included: a scale-down waits it out.
    let stabilized = history
        .recommendations
        .iter()
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(proposed);
    let able = owned(if stabilized != proposed {
        DOWN_STABILIZED
    } else {
        READY
    });
    // Upstream's scaleUpLimitFactor 2 and scaleUpLimitMinimum 4.
    let up_limit = (current.saturating_mul(2)).max(4);
    let (lowest, low_why) = (min, TOO_FEW);
    let (highest, high_why) = if up_limit < max {
        (up_limit, UP_LIMIT)
    } else {
        (max, TOO_MANY)
    };
    let (desired, why) = if stabilized < lowest {
        (lowest, low_why)
    } else if stabilized > highest {
        (highest, high_why)
    } else {
        (stabilized, WITHIN)
    };
    Normalized {
        desired,
        able,
        limited: (desired != stabilized, why.0, why.1.to_string()),
    }
}

fn with_rules(
    history: &mut History,
    (up, down): (&Rules, &Rules),
    current: i32,
    proposed: i32,
    (min, max): (i32, i32),
    now: Timestamp,
) -> Normalized {
    // Stabilize: no higher than the lowest proposal of the scale-up window, no lower than the
    // highest of the scale-down window (each window includes this proposal).
    let up_cutoff = before(now, up.stabilization);
    let down_cutoff = before(now, down.stabilization);
    let (mut up_rec, mut down_rec) = (proposed, proposed);
    for (at, r) in &history.recommendations {
        if *at > up_cutoff {
            up_rec = up_rec.min(*r);
        }
        if *at > down_cutoff {
            down_rec = down_rec.max(*r);
        }
    }
    let stabilized = current.max(up_rec).min(down_rec);
    let longest = [up.stabilization, down.stabilization]
        .into_iter()
        .chain(up.policies.iter().map(Policy::period))
        .chain(down.policies.iter().map(Policy::period))
        .max()
        .unwrap_or_default();
    history.prune(longest, now);
    history.recommendations.push((now, proposed));
    let able = owned(if stabilized == proposed {
        READY
    } else if proposed >= current {
        UP_STABILIZED
    } else {
        DOWN_STABILIZED
    });
    // Limit the rate, then bound.
    let (desired, why) = if stabilized > current {
        let limit = rate_limit(history, up, current, true, now).max(current);
        let (highest, why) = if max > limit {
            (limit, UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        if stabilized > highest {
            (highest, why)
        } else {
            (stabilized, WITHIN)
        }
    } else if stabilized < current {
        let limit = rate_limit(history, down, current, false, now).min(current);
        let (lowest, why) = if min < limit {
            (limit, DOWN_LIMIT)
        } else {
            (min, TOO_FEW)
        };
        if stabilized < lowest {
            (lowest, why)
        } else {
            (stabilized, WITHIN)
        }
    } else {
        (stabilized, WITHIN)
    };
    Normalized {
        desired,
        able,
        limited: (desired != stabilized, why.0, why.1.to_string()),
    }
}

/// The farthest the policies of one direction let the count go from `current`
/// (`calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`): each
/// policy measures from the count at the start of its period.
fn rate_limit(history: &History, rules: &Rules, current: i32, up: bool, now: Timestamp) -> i32 {
    if rules.select == Select::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|p| {
        let start = current - history.changed_within(true, p.period(), now)
            + history.changed_within(false, p.period(), now);
        let start_f = f64::from(start);
        match (*p, up) {
            (Policy::Pods { value, .. }, true) => start.saturating_add(value),
            (Policy::Pods { value, .. }, false) => start.saturating_sub(value),
            // Rounded up when growing, so a small count can always grow by one.
            (Policy::Percent { value, .. }, true) => {
                (start_f * (1.0 + f64::from(value) / 100.0)).ceil() as i32
            }
            (Policy::Percent { value, .. }, false) => {
                (start_f * (1.0 - f64::from(value) / 100.0)) as i32
            }
        }
    });
    // Max picks the largest change: the highest limit up, the lowest down.
    match (rules.select, up) {
        (Select::Max, true) | (Select::Min, false) => proposals.max().unwrap_or(current),
        _ => proposals.min().unwrap_or(current),
    }
}
