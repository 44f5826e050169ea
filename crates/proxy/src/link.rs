//! The link-emulation hook: an optional delay per destination node, set by the agent when
//! `brume dev --latency-matrix` emulates RTTs between nodes that all run on one host.
//!
//! Model: the full emulated RTT to the endpoint's node is slept once before each TCP connect
//! attempt and once before each HTTP request is forwarded. This gives every request (and every
//! connection set-up) the one round trip it would pay on a real link, and counts it in the
//! latency the balancer measures, which is what proximity and least-request react to. It does
//! not delay later exchanges on a long-lived TCP stream; emulating that needs a delay line on
//! each direction, which is left to `tc netem` when it is available.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Gives the emulated RTT from this node to another node.
pub trait LinkDelay: Send + Sync {
    /// The emulated round-trip time to `node`; zero for no delay.
    fn delay_to(&self, node: &str) -> Duration;
}

impl<F> LinkDelay for F
where
    F: Fn(&str) -> Duration + Send + Sync,
{
    fn delay_to(&self, node: &str) -> Duration {
        self(node)
    }
}

/// A fixed table of RTTs per destination node that records which nodes it was asked about; the
/// shape of one row of a latency matrix, and the test double of [`LinkDelay`].
#[derive(Debug, Default)]
pub struct StaticDelays {
    delays: HashMap<String, Duration>,
    asked: Mutex<Vec<String>>,
}

impl StaticDelays {
    /// A table with the given RTT per node; unknown nodes get no delay.
    pub fn new(delays: impl IntoIterator<Item = (String, Duration)>) -> Self {
        Self {
            delays: delays.into_iter().collect(),
            asked: Mutex::default(),
        }
    }

    /// The nodes asked about so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl LinkDelay for StaticDelays {
    fn delay_to(&self, node: &str) -> Duration {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(node.to_owned());
        self.delays.get(node).copied().unwrap_or_default()
    }
}
