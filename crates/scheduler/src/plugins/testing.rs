//! Small builders for plugin tests.

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo, Resources};

/// A ready node with room for 4 cores, 8 GiB and 110 pods.
pub fn node(name: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        ready: true,
        allocatable: Resources {
            cpu_milli: 4000,
            memory: 8 << 30,
            pods: 110,
        },
        ..NodeInfo::default()
    }
}

/// The node with a label added.
pub fn labelled(mut n: NodeInfo, key: &str, value: &str) -> NodeInfo {
    n.labels.insert(key.into(), value.into());
    n
}

/// A pod in `default` requesting cpu (millicores) and memory (bytes).
pub fn pod(name: &str, cpu_milli: i64, memory: i64) -> PodInfo {
    let r = Resources {
        cpu_milli,
        memory,
        pods: 1,
    };
    PodInfo {
        namespace: "default".into(),
        name: name.into(),
        requests: r,
        nonzero_requests: r,
        ..PodInfo::default()
    }
}

/// Runs one filter the way the framework does (pre-filter over `all`, then filter).
pub fn run_filter(
    f: &dyn FilterPlugin,
    pod: &PodInfo,
    node: &NodeInfo,
    all: &[NodeInfo],
) -> Result<(), String> {
    let mut state = CycleState::default();
    f.pre_filter(pod, all, &mut state);
    f.filter(pod, node, &state)
}
