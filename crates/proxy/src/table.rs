//! The routing table the agent feeds: for each Service port, its endpoints and its routing.
//!
//! Readers take an `Arc` of the whole current [`Snapshot`] and keep it as long as they like;
//! writers build a new snapshot aside and swap it in (`watch::Sender::send_replace`), so a
//! reader never sees half an update and never holds up a writer for more than a pointer swap.
//! The same channel wakes the listeners so they can bind or unbind as endpoints come and go.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngCore;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::policy::{PickContext, Policy, RoutingSpec};

/// The L4 protocol of a Service port (`spec.ports[].protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// TCP, the Kubernetes default; the only one this proxy forwards.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        })
    }
}

/// Identifies one port of one Service.
///
/// `appProtocol` is deliberately not part of the key but of the [`ServicePort`] value: changing
/// it switches the listener between TCP and HTTP mode without making the port a new one that
/// would lose its policy's history.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServicePortKey {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// `spec.ports[].name`; empty for a single unnamed port.
    pub port_name: String,
    /// `spec.ports[].port`.
    pub port: u16,
    /// `spec.ports[].protocol`.
    pub protocol: Protocol,
}

impl ServicePortKey {
    /// The key of a TCP port.
    pub fn tcp(
        namespace: impl Into<String>,
        service: impl Into<String>,
        port_name: impl Into<String>,
        port: u16,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            service: service.into(),
            port_name: port_name.into(),
            port,
            protocol: Protocol::Tcp,
        }
    }
}

impl fmt::Display for ServicePortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.service, self.port)?;
        if !self.port_name.is_empty() {
            write!(f, " ({})", self.port_name)?;
        }
        write!(f, "/{}", self.protocol)
    }
}

/// What the table knows about one Service port.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServicePort {
    /// `spec.ports[].appProtocol`; `http` selects per-request balancing.
    pub app_protocol: Option<String>,
    /// Every endpoint of the port, ready or not.
    pub endpoints: Vec<Endpoint>,
    /// The Service's routing choice.
    pub routing: RoutingSpec,
}

/// The node this proxy runs on: the gateway of every request it receives (DESIGN §8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gateway {
    /// The node's name.
    pub node: String,
    /// The node's `topology.kubernetes.io/zone` label.
    pub zone: Option<String>,
}

/// One Service port in a snapshot: its endpoints and the live policy value balancing them.
#[derive(Debug)]
pub struct Route {
    key: ServicePortKey,
    port: ServicePort,
    policy: Arc<dyn Policy>,
}

impl Route {
    /// The Service port this route serves.
    pub fn key(&self) -> &ServicePortKey {
        &self.key
    }

    /// The endpoints and routing the agent gave.
    pub fn port(&self) -> &ServicePort {
        &self.port
    }

    /// The policy value balancing this port.
    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    /// Whether any endpoint may receive new traffic.
    pub fn has_ready(&self) -> bool {
        self.port.endpoints.iter().any(Endpoint::accepts_new)
    }

    /// The endpoints a new connection may go to: ready, not terminating, not in `exclude`
    /// (already tried), narrowed by the topology preference when that leaves any.
    pub fn candidates(&self, gateway: &Gateway, exclude: &[SocketAddr]) -> Vec<&Endpoint> {
        let all: Vec<&Endpoint> = self
            .port
            .endpoints
            .iter()
            .filter(|e| e.accepts_new() && !exclude.contains(&e.address))
            .collect();
        self.port.routing.prefer.narrow(
            all,
            |e| e.node == gateway.node,
            |e| gateway.zone.is_some() && e.zone == gateway.zone,
        )
    }

    /// Picks an endpoint for new work and counts it as started; `None` when no candidate is
    /// left. The returned [`Lease`] reports the end when dropped.
    pub fn pick(
        self: &Arc<Self>,
        gateway: &Gateway,
        client: Option<IpAddr>,
        exclude: &[SocketAddr],
        rng: &mut dyn RngCore,
    ) -> Option<Lease> {
        let candidates = self.candidates(gateway, exclude);
        let now = Instant::now();
        let mut ctx = PickContext { client, rng, now };
        let i = self.policy.pick(&candidates, &mut ctx)?;
        let endpoint = (*candidates.get(i)?).clone();
        self.policy.on_start(&endpoint, now);
        Some(Lease {
            route: Arc::clone(self),
            endpoint,
            started: now,
        })
    }
}

/// One piece of work (a connection or a request) in flight to an endpoint; dropping it tells
/// the policy the work ended, so in-flight counts cannot leak on an early return.
#[derive(Debug)]
pub struct Lease {
    route: Arc<Route>,
    endpoint: Endpoint,
    started: Instant,
}

impl Lease {
    /// The endpoint picked.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// When the work started (before any emulated link delay), for latency measurement.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Reports a latency sample for this endpoint to the policy.
    pub fn record_latency(&self, latency: Duration) {
        self.route
            .policy
            .on_latency(&self.endpoint, latency, Instant::now());
    }

    /// Reports the time since the lease started as a latency sample.
    pub fn record_elapsed(&self) {
        self.record_latency(self.started.elapsed());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.route.policy.on_end(&self.endpoint, Instant::now());
    }
}

/// An immutable view of the whole table at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: HashMap<ServicePortKey, Arc<Route>>,
}

impl Snapshot {
    /// The route of a Service port.
    pub fn route(&self, key: &ServicePortKey) -> Option<&Arc<Route>> {
        self.routes.get(key)
    }

    /// Every route.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }

    /// Whether the Service port exists and has an endpoint that accepts new traffic.
    pub fn has_ready(&self, key: &ServicePortKey) -> bool {
        self.route(key).is_some_and(|r| r.has_ready())
    }
}

/// The shared, swappable routing table; cheap to clone.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gateway: Gateway,
    tx: watch::Sender<Arc<Snapshot>>,
    /// Serialises writers so that two read-modify-swap updates cannot lose each other's work;
    /// readers never take it.
    write: Mutex<()>,
}

impl RoutingTable {
    /// An empty table for the proxy on `gateway`.
    pub fn new(gateway: Gateway) -> Self {
        let (tx, _) = watch::channel(Arc::new(Snapshot::default()));
        Self {
            inner: Arc::new(Inner {
                gateway,
                tx,
                write: Mutex::new(()),
            }),
        }
    }

    /// The node this table routes for.
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.inner.tx.borrow())
    }

    /// A receiver that is notified after every update.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.tx.subscribe()
    }

    /// Replaces the whole table with `ports`.
    pub fn replace_all(&self, ports: impl IntoIterator<Item = (ServicePortKey, ServicePort)>) {
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let routes = ports
            .into_iter()
            .map(|(key, port)| {
                let route = build(old.route(&key), key.clone(), port);
                (key, route)
            })
            .collect();
        self.inner.tx.send_replace(Arc::new(Snapshot { routes }));
    }

    /// Adds or replaces one Service port.
    pub fn upsert(&self, key: ServicePortKey, port: ServicePort) {
        self.modify(|routes| {
            let route = build(routes.get(&key), key.clone(), port);
            routes.insert(key, route);
        });
    }

    /// Removes one Service port.
    pub fn remove(&self, key: &ServicePortKey) {
        self.modify(|routes| {
            routes.remove(key);
        });
    }

    fn modify(&self, f: impl FnOnce(&mut HashMap<ServicePortKey, Arc<Route>>)) {
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut routes = self.snapshot().routes.clone();
        f(&mut routes);
        self.inner.tx.send_replace(Arc::new(Snapshot { routes }));
    }
}

/// Builds a route, keeping the previous policy value (round-robin cursor, latency estimates,
/// in-flight counts) when the routing choice did not change.
fn build(old: Option<&Arc<Route>>, key: ServicePortKey, port: ServicePort) -> Arc<Route> {
    let policy = match old {
        Some(old) if old.port.routing == port.routing => {
            let live = |a: SocketAddr| port.endpoints.iter().any(|e| e.address == a);
            old.policy.retain(&live);
            Arc::clone(&old.policy)
        }
        _ => crate::policy::select::build(&port.routing.policy),
    };
    Arc::new(Route { key, port, policy })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyKind, Preference, RoutingSpec};

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 80))
    }

    fn key() -> ServicePortKey {
        ServicePortKey::tcp("default", "web", "http", 80)
    }

    fn port(endpoints: Vec<Endpoint>, policy: PolicyKind, prefer: Preference) -> ServicePort {
        ServicePort {
            app_protocol: None,
            endpoints,
            routing: RoutingSpec { policy, prefer },
        }
    }

    fn gw() -> Gateway {
        Gateway {
            node: "n1".into(),
            zone: Some("z1".into()),
        }
    }

    #[test]
    fn candidates_are_ready_untried_and_preferred() {
        let eps = vec![
            Endpoint::ready(addr(1), "n1").with_zone("z1"),
            Endpoint::ready(addr(2), "n2").with_zone("z1"),
            Endpoint::ready(addr(3), "n3").with_zone("z2"),
            Endpoint::ready(addr(4), "n1").terminating(),
        ];
        let table = RoutingTable::new(gw());
        let addrs = |prefer, exclude: &[SocketAddr]| {
            table.upsert(key(), port(eps.clone(), PolicyKind::Random, prefer));
            let snap = table.snapshot();
            let route = snap.route(&key()).unwrap();
            let c = route.candidates(table.gateway(), exclude);
            c.iter().map(|e| e.address).collect::<Vec<_>>()
        };
        assert_eq!(addrs(Preference::None, &[]), [addr(1), addr(2), addr(3)]);
        assert_eq!(addrs(Preference::SameNode, &[]), [addr(1)]);
        assert_eq!(addrs(Preference::SameZone, &[]), [addr(1), addr(2)]);
        // The node's only endpoint was tried: fall back to all the others.
        assert_eq!(addrs(Preference::SameNode, &[addr(1)]), [addr(2), addr(3)]);
        assert_eq!(addrs(Preference::SameZone, &[addr(1), addr(2)]), [addr(3)]);
    }

    #[test]
    fn snapshots_are_immutable_and_policy_state_survives_updates() {
        let table = RoutingTable::new(gw());
        let eps = vec![
            Endpoint::ready(addr(1), "n1"),
            Endpoint::ready(addr(2), "n2"),
        ];
        table.upsert(
            key(),
            port(eps.clone(), PolicyKind::RoundRobin, Preference::None),
        );
        let before = table.snapshot();
        let mut rng = rand::rng();
        let first = before
            .route(&key())
            .unwrap()
            .pick(&gw(), None, &[], &mut rng);
        assert_eq!(first.unwrap().endpoint().address, addr(1));

        let mut more = eps.clone();
        more.push(Endpoint::ready(addr(3), "n3"));
        table.upsert(key(), port(more, PolicyKind::RoundRobin, Preference::None));
        assert_eq!(before.route(&key()).unwrap().port().endpoints.len(), 2);
        let after = table.snapshot();
        let route = after.route(&key()).unwrap();
        assert_eq!(route.port().endpoints.len(), 3);
        // The cursor carried over: the next pick is the second endpoint, not the first again.
        let next = route.pick(&gw(), None, &[], &mut rng).unwrap();
        assert_eq!(next.endpoint().address, addr(2));

        table.remove(&key());
        assert!(table.snapshot().route(&key()).is_none());
        assert!(!table.snapshot().has_ready(&key()));
    }

    /// A policy that records the hooks it was called with.
    #[derive(Debug, Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
    }

    impl Policy for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn pick(&self, c: &[&Endpoint], _: &mut PickContext<'_>) -> Option<usize> {
            (!c.is_empty()).then_some(0)
        }
        fn on_start(&self, e: &Endpoint, _: Instant) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("start {}", e.address));
        }
        fn on_latency(&self, e: &Endpoint, d: Duration, _: Instant) {
            let ms = d.as_millis();
            self.calls
                .lock()
                .unwrap()
                .push(format!("latency {} {ms}", e.address));
        }
        fn on_end(&self, e: &Endpoint, _: Instant) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("end {}", e.address));
        }
    }

    #[test]
    fn a_lease_reports_start_latency_and_end_on_drop() {
        let recorder = Arc::new(Recorder::default());
        let route = Arc::new(Route {
            key: key(),
            port: port(
                vec![Endpoint::ready(addr(1), "n1")],
                PolicyKind::Random,
                Preference::None,
            ),
            policy: recorder.clone(),
        });
        let lease = route.pick(&gw(), None, &[], &mut rand::rng()).unwrap();
        lease.record_latency(Duration::from_millis(7));
        assert!(
            route
                .pick(&gw(), None, &[addr(1)], &mut rand::rng())
                .is_none()
        );
        drop(lease);
        let calls = recorder.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                "start 10.0.0.1:80",
                "latency 10.0.0.1:80 7",
                "end 10.0.0.1:80"
            ]
        );
    }
}
