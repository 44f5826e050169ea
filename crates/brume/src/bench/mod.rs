//! `brume bench`: benchmarks that print figures and ratios against a baseline measured in the
//! same run. They are not tests and assert nothing about time.

pub mod api;
pub mod failover;
pub mod memory;
pub mod scheduler;
pub mod startup;

mod agents;
mod binding;
mod child;
mod hollow;
mod kit;
mod pods;
mod proc;
mod watch;

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// The API server and its store: durable create rate, write latency, watch fan-out, memory.
    Api(api::Args),
    /// The scheduler with hollow nodes: pods bound per second end-to-end through the API.
    Scheduler(scheduler::Args),
    /// Pod startup latency on `brume agent` nodes: create -> Running seen through a watch.
    Startup(startup::Args),
    /// Failover: an agent is SIGKILLed; detection, eviction, scheduling and start of the
    /// replacements.
    Failover(failover::Args),
    /// Resident memory of an agent (idle, with pods) or of the server (with hollow nodes and pods).
    #[command(subcommand)]
    Memory(memory::Args),
}

/// Runs a benchmark.
pub async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Api(args) => api::run(args).await,
        Bench::Scheduler(args) => scheduler::run(args).await,
        Bench::Startup(args) => startup::run(args).await,
        Bench::Failover(args) => failover::run(args).await,
        Bench::Memory(args) => memory::run(args).await,
    }
}
