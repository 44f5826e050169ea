//! The [`Proxy`]: owns one listener per Service port and address, opening and closing them as
//! the desired set and the endpoints change.
//!
//! Each listener is a small state machine driven by the routing table:
//! `NoEndpoints → Listening → NoEndpoints …`, with `BindFailed` retried after a back-off.
//!
//! A Service port with no ready endpoint is **not bound**, so clients get ECONNREFUSED at once
//! (DESIGN §7: "Service selecting no pods → connections refused at once"), as with kube-proxy's
//! REJECT rule, instead of a connection that is accepted and then dropped. The listener is bound
//! again as soon as an endpoint becomes ready; `SO_REUSEADDR` (set by tokio on Unix) lets it
//! rebind while old connections on the port are still draining. Ports should therefore be
//! fixed (node ports), not 0: a rebind of port 0 gets a new port.
//!
//! Closing a listener, because the port left the desired set or lost its endpoints, stops
//! accepting; connections already accepted run on their own tasks and finish (drain).

use std::collections::{BTreeMap, HashMap};
use std::future::pending;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::context::{Context, ProxyConfig};
use crate::demand::{Demand, ServiceRef};
use crate::table::{Protocol, RoutingTable, ServicePortKey};

/// How a listener balances: per connection or per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListenMode {
    /// Per connection (DESIGN §7, the default).
    Tcp,
    /// Per HTTP/1.1 request, for `appProtocol: http`.
    Http,
}

impl ListenMode {
    /// The mode for a Service port's `appProtocol`: `http` balances per request, anything else
    /// (including `kubernetes.io/h2c`, as this proxy speaks only HTTP/1.1) per connection.
    pub fn for_app_protocol(app_protocol: Option<&str>) -> Self {
        match app_protocol {
            Some(p) if p.eq_ignore_ascii_case("http") => Self::Http,
            _ => Self::Tcp,
        }
    }
}

/// One listener the agent wants: an address to listen on and the Service port behind it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenerSpec {
    /// Where to listen, e.g. `0.0.0.0:30080` for a node port.
    pub bind: SocketAddr,
    /// The Service port whose endpoints get the traffic.
    pub service: ServicePortKey,
    /// Per connection or per request.
    pub mode: ListenMode,
}

/// Where a listener stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerState {
    /// The Service port has no ready endpoint, so the port is closed and connections are
    /// refused; the agent should raise an event on the Service.
    NoEndpoints,
    /// Accepting on this address.
    Listening(SocketAddr),
    /// Binding failed with this error; retried after [`ProxyConfig::rebind_backoff`].
    BindFailed(String),
    /// The protocol is not proxied (UDP and SCTP are not implemented).
    Unsupported(Protocol),
}

/// One listener and its state; also the payload of [`ProxyConfig::on_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStatus {
    /// What was asked.
    pub spec: ListenerSpec,
    /// Where it stands.
    pub state: ListenerState,
}

type StatusMap = BTreeMap<SocketAddr, ListenerStatus>;

struct Running {
    spec: ListenerSpec,
    task: JoinHandle<()>,
}

/// The per-node service proxy: owns the listeners and shares the routing table and demand
/// counters with the agent.
pub struct Proxy {
    ctx: Arc<Context>,
    listeners: Mutex<HashMap<SocketAddr, Running>>,
    status: Arc<watch::Sender<StatusMap>>,
}

impl Proxy {
    /// A proxy with no listener yet, routing with `table` and counting into `demand`.
    pub fn new(table: RoutingTable, demand: Demand, config: ProxyConfig) -> Self {
        Self {
            ctx: Arc::new(Context::new(table, demand, config)),
            listeners: Mutex::new(HashMap::new()),
            status: Arc::new(watch::channel(StatusMap::new()).0),
        }
    }

    /// The routing table the agent updates.
    pub fn table(&self) -> &RoutingTable {
        &self.ctx.table
    }

    /// The demand counters the agent reports.
    pub fn demand(&self) -> &Demand {
        &self.ctx.demand
    }

    /// Makes the set of listeners equal to `desired`: opens new ones, closes removed ones and
    /// restarts changed ones. Binding happens in the background; watch [`Proxy::watch_status`].
    pub async fn set_listeners(&self, desired: impl IntoIterator<Item = ListenerSpec>) {
        let desired: HashMap<SocketAddr, ListenerSpec> =
            desired.into_iter().map(|s| (s.bind, s)).collect();
        let mut listeners = self.listeners.lock().await;
        let stale: Vec<SocketAddr> = listeners
            .iter()
            .filter(|(bind, r)| desired.get(bind) != Some(&r.spec))
            .map(|(bind, _)| *bind)
            .collect();
        for bind in stale {
            if let Some(r) = listeners.remove(&bind) {
                r.task.abort();
                // Wait until the task, and with it the listening socket, is gone.
                let _ = r.task.await;
            }
            self.status.send_modify(|m| {
                m.remove(&bind);
            });
        }
        for (bind, spec) in desired {
            if listeners.contains_key(&bind) {
                continue;
            }
            let task = tokio::spawn(supervise(
                Arc::clone(&self.ctx),
                spec.clone(),
                Arc::clone(&self.status),
            ));
            listeners.insert(bind, Running { spec, task });
        }
    }

    /// The state of every listener, by bind address.
    pub fn status(&self) -> Vec<ListenerStatus> {
        self.status.borrow().values().cloned().collect()
    }

    /// The listeners whose Service port has no ready endpoint, for events on those Services.
    pub fn without_endpoints(&self) -> Vec<ListenerStatus> {
        let status = self.status.borrow();
        let none = status
            .values()
            .filter(|s| s.state == ListenerState::NoEndpoints);
        none.cloned().collect()
    }

    /// A receiver notified whenever a listener's state changes.
    pub fn watch_status(&self) -> watch::Receiver<BTreeMap<SocketAddr, ListenerStatus>> {
        self.status.subscribe()
    }

    /// Waits until the listener on `bind` satisfies `f`.
    pub async fn wait_for(&self, bind: SocketAddr, f: impl Fn(&ListenerState) -> bool) {
        let mut rx = self.status.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx
            .wait_for(|m| m.get(&bind).is_some_and(|s| f(&s.state)))
            .await;
    }

    /// The number of open client connections, through all listeners.
    pub fn active_connections(&self) -> usize {
        self.ctx.active()
    }

    /// Closes every listener, asks HTTP connections to close after their current request, and
    /// waits up to `grace` for open connections to finish; returns how many are still open.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.set_listeners([]).await;
        self.ctx.shutdown.send_replace(true);
        let _ = tokio::time::timeout(grace, self.ctx.idle()).await;
        self.ctx.active()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for r in self.listeners.get_mut().values() {
            r.task.abort();
        }
    }
}

/// Runs one listener: binds while the Service port has a ready endpoint, accepts and hands
/// each connection to its own task.
async fn supervise(ctx: Arc<Context>, spec: ListenerSpec, status: Arc<watch::Sender<StatusMap>>) {
    let report = |state: ListenerState| {
        let next = ListenerStatus {
            spec: spec.clone(),
            state,
        };
        let changed = status.send_if_modified(|m| {
            if m.get(&spec.bind) == Some(&next) {
                return false;
            }
            m.insert(spec.bind, next.clone());
            true
        });
        if changed {
            tracing::info!(bind = %spec.bind, service = %spec.service, state = ?next.state, "listener");
            if let Some(on_event) = &ctx.config.on_event {
                on_event(&next);
            }
        }
    };
    if spec.service.protocol != Protocol::Tcp {
        report(ListenerState::Unsupported(spec.service.protocol));
        return;
    }
    let demand = ctx.demand.counter(ServiceRef {
        namespace: spec.service.namespace.clone(),
        name: spec.service.service.clone(),
    });
    let mut table = ctx.table.subscribe();
    let mut listener: Option<TcpListener> = None;
    loop {
        let ready = table.borrow_and_update().has_ready(&spec.service);
        if !ready {
            // Dropping the socket closes the port: new connections are refused.
            listener = None;
            report(ListenerState::NoEndpoints);
        } else if listener.is_none() {
            match TcpListener::bind(spec.bind).await {
                Ok(l) => {
                    report(ListenerState::Listening(
                        l.local_addr().unwrap_or(spec.bind),
                    ));
                    listener = Some(l);
                }
                Err(e) => {
                    report(ListenerState::BindFailed(e.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(ctx.config.rebind_backoff) => {}
                        r = table.changed() => if r.is_err() { return },
                    }
                    continue;
                }
            }
        }
        tokio::select! {
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let (ctx, key, demand) = (Arc::clone(&ctx), spec.service.clone(), demand.clone());
                    tokio::spawn(handle(ctx, spec.mode, key, demand, stream, peer));
                }
                Err(e) => {
                    // Typically EMFILE: back off briefly instead of spinning on the error.
                    tracing::warn!(bind = %spec.bind, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            r = table.changed() => if r.is_err() { return },
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => pending().await,
    }
}

async fn handle(
    ctx: Arc<Context>,
    mode: ListenMode,
    key: ServicePortKey,
    demand: crate::demand::DemandCounter,
    stream: TcpStream,
    peer: SocketAddr,
) {
    match mode {
        ListenMode::Tcp => crate::tcp::serve(ctx, key, demand, stream, peer).await,
        ListenMode::Http => crate::http::serve(ctx, key, demand, stream, peer).await,
    }
}
