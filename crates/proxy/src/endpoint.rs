//! One backend of a Service port, as the agent learns it from EndpointSlices.

use std::net::SocketAddr;

/// One backend (pod address and port) of a Service port, with the conditions that decide
/// whether it may receive new traffic.
///
/// The three conditions are those of `discovery.k8s.io/v1` `EndpointConditions`: `ready`
/// (may receive new traffic), `serving` (answers, whatever its termination state) and
/// `terminating` (is shutting down).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Where to connect: the pod IP and the target port.
    pub address: SocketAddr,
    /// The node the pod runs on (`EndpointSlice.endpoints[].nodeName`).
    pub node: String,
    /// The node's `topology.kubernetes.io/zone`, used by `trafficDistribution: PreferSameZone`.
    pub zone: Option<String>,
    /// `conditions.ready`: the endpoint may receive new traffic.
    pub ready: bool,
    /// `conditions.serving`: the endpoint answers, even while terminating.
    pub serving: bool,
    /// `conditions.terminating`: the endpoint is draining.
    pub terminating: bool,
    /// Estimated RTT from this (gateway) node to the endpoint's node in milliseconds
    /// (DESIGN §8); `None` when no estimate exists.
    pub distance_ms: Option<f64>,
}

impl Endpoint {
    /// A ready, serving, non-terminating endpoint with no zone and no distance estimate; a
    /// convenient starting point for the agent and for tests.
    pub fn ready(address: SocketAddr, node: impl Into<String>) -> Self {
        Self {
            address,
            node: node.into(),
            zone: None,
            ready: true,
            serving: true,
            terminating: false,
            distance_ms: None,
        }
    }

    /// Sets the estimated RTT to this endpoint in milliseconds.
    pub fn with_distance_ms(mut self, distance_ms: f64) -> Self {
        self.distance_ms = Some(distance_ms);
        self
    }

    /// Sets the zone of the endpoint's node.
    pub fn with_zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Marks the endpoint terminating, as the EndpointSlice controller does once the pod has a
    /// deletion timestamp: not ready, still serving until it exits.
    pub fn terminating(mut self) -> Self {
        self.ready = false;
        self.terminating = true;
        self
    }

    /// Whether the endpoint may be picked for a new connection or request.
    ///
    /// Only ready endpoints get new traffic (DESIGN §7). A terminating endpoint is excluded even
    /// if a stale slice still says ready, so that it drains: its open connections are left to
    /// finish, but nothing new is sent to it.
    pub fn accepts_new(&self) -> bool {
        self.ready && !self.terminating
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ready_non_terminating_endpoints_accept_new_traffic() {
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let ep = Endpoint::ready(addr, "n1");
        assert!(ep.accepts_new());
        assert!(!ep.clone().terminating().accepts_new());
        let stale = Endpoint {
            terminating: true,
            ..ep.clone()
        };
        assert!(!stale.accepts_new(), "terminating wins over a stale ready");
        let unready = Endpoint { ready: false, ..ep };
        assert!(!unready.accepts_new());
    }
}
