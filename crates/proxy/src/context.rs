//! The proxy's configuration and the state every connection handler shares.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::sync::{Notify, watch};

use crate::demand::Demand;
use crate::link::LinkDelay;
use crate::listener::ListenerStatus;
use crate::table::{Lease, RoutingTable, ServicePortKey};

/// A callback told of every listener state change.
pub type EventHook = Arc<dyn Fn(&ListenerStatus) + Send + Sync>;

/// How the proxy connects and reports; [`ProxyConfig::default`] is what an agent runs with.
#[derive(Clone)]
pub struct ProxyConfig {
    /// How long one connect attempt to an endpoint may take before the next endpoint is tried.
    pub connect_timeout: Duration,
    /// How long a listener waits before retrying a failed bind.
    pub rebind_backoff: Duration,
    /// Seeds the random source of the policies, for reproducible runs; `None` draws from the
    /// thread-local generator.
    pub seed: Option<u64>,
    /// The emulated RTT per destination node (`brume dev --latency-matrix`); off when `None`.
    pub link_delay: Option<Arc<dyn LinkDelay>>,
    /// Called on every listener state change, so the agent can emit Kubernetes events (for
    /// example a Warning on a Service port that has no ready endpoint).
    pub on_event: Option<EventHook>,
}

impl ProxyConfig {
    /// One second: Linux retransmits a lost SYN after 1 s (RFC 6298 initial RTO), so an
    /// endpoint that has not answered by then is more likely gone than slow, and fog RTTs are
    /// tens of milliseconds.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            rebind_backoff: Duration::from_millis(500),
            seed: None,
            link_delay: None,
            on_event: None,
        }
    }
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("rebind_backoff", &self.rebind_backoff)
            .field("seed", &self.seed)
            .field("link_delay", &self.link_delay.is_some())
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// The random source handed to policies.
enum Random {
    Thread,
    Seeded(Box<Mutex<StdRng>>),
}

/// What the listeners and connection handlers share.
pub(crate) struct Context {
    pub table: RoutingTable,
    pub demand: Demand,
    pub config: ProxyConfig,
    /// The keep-alive pool towards endpoints, shared by every HTTP listener.
    pub upstream: crate::http::Upstream,
    random: Random,
    /// Open client connections, for [`crate::Proxy::shutdown`].
    active: AtomicUsize,
    idle: Notify,
    /// Set to `true` when the proxy shuts down; HTTP connections then close after their
    /// current request.
    pub shutdown: watch::Sender<bool>,
}

impl Context {
    pub fn new(table: RoutingTable, demand: Demand, config: ProxyConfig) -> Self {
        let random = match config.seed {
            Some(seed) => Random::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => Random::Thread,
        };
        Self {
            table,
            demand,
            upstream: crate::http::upstream(config.connect_timeout),
            config,
            random,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            shutdown: watch::channel(false).0,
        }
    }

    /// Picks an endpoint for `key` that is not in `tried`; `None` when none is left.
    pub fn pick(
        &self,
        key: &ServicePortKey,
        client: IpAddr,
        tried: &[SocketAddr],
    ) -> Option<Lease> {
        let snapshot = self.table.snapshot();
        let route = snapshot.route(key)?;
        let gateway = self.table.gateway();
        // The generator is used synchronously and never held across an `.await`.
        match &self.random {
            Random::Thread => route.pick(gateway, Some(client), tried, &mut rand::rng()),
            Random::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
                route.pick(gateway, Some(client), tried, &mut *rng as &mut dyn RngCore)
            }
        }
    }

    /// Sleeps the emulated RTT to `node`, if link emulation is on.
    pub async fn link_delay(&self, node: &str) {
        if let Some(delay) = &self.config.link_delay {
            let d = delay.delay_to(node);
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
        }
    }

    /// Counts an open client connection until the guard drops.
    pub fn track(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(Arc::clone(self))
    }

    /// The number of open client connections.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits until no client connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps one client connection counted as open.
pub(crate) struct ActiveGuard(Arc<Context>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}
