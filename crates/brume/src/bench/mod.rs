//! `brume bench`: benchmarks that print figures and ratios against a baseline measured in the
//! same run. They are not tests and assert nothing about time.

pub mod api;
pub mod failover;
pub mod memory;
pub mod proxy;
pub mod proxy_child;
pub mod scheduler;
pub mod slo;
pub mod startup;

mod agents;
mod binding;
mod child;
mod haproxy;
mod hollow;
mod kit;
mod pods;
mod proc;
mod proxy_memory;
mod watch;
mod wrk;

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// The API server and its store: durable create rate, write latency, watch fan-out, memory.
    Api(api::Args),
    /// The scheduler with hollow nodes: pods bound per second end-to-end through the API.
    Scheduler(scheduler::Args),
    /// The fog decisions at scale: latency-SLO sizing and the best replica move, for N nodes
    /// and G gateways' demand, against the G × N distance estimates alone.
    Slo(slo::Args),
    /// Pod startup latency on `brume agent` nodes: create -> Running seen through a watch.
    Startup(startup::Args),
    /// Failover: an agent is SIGKILLed; detection, eviction, scheduling and start of the
    /// replacements.
    Failover(failover::Args),
    /// Resident memory of an agent (idle, with pods) or of the server (with hollow nodes and pods).
    #[command(subcommand)]
    Memory(memory::Args),
    /// The per-node service proxy against direct and HAProxy: req/s, latency, memory per
    /// connection (needs `wrk` and `haproxy`; installs them with apt-get when missing).
    Proxy(proxy::Args),
    /// An HTTP/1.1 backend for `bench proxy` (started by it).
    #[command(hide = true)]
    ProxyBackend(proxy_child::BackendArgs),
    /// The Brume proxy with a static routing table for `bench proxy` (started by it).
    #[command(hide = true)]
    ProxyChild(proxy_child::ProxyArgs),
}

impl Bench {
    /// The tokio worker threads this benchmark's process should have, when not the default:
    /// the children of `bench proxy` get as many as they are meant to use, so that the
    /// comparison with a single-threaded HAProxy is like for like.
    pub fn worker_threads(&self) -> Option<usize> {
        match self {
            Bench::ProxyBackend(_) => Some(1),
            Bench::ProxyChild(args) => Some(args.threads.max(1)),
            _ => None,
        }
    }
}

/// Runs a benchmark.
pub async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Api(args) => api::run(args).await,
        Bench::Scheduler(args) => scheduler::run(args).await,
        Bench::Startup(args) => startup::run(args).await,
        Bench::Slo(args) => slo::run(args).await,
        Bench::Failover(args) => failover::run(args).await,
        Bench::Memory(args) => memory::run(args).await,
        Bench::Proxy(args) => proxy::run(args).await,
        Bench::ProxyBackend(args) => proxy_child::backend(args).await,
        Bench::ProxyChild(args) => proxy_child::proxy(args).await,
    }
}
