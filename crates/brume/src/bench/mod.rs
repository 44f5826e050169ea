//! `brume bench`: benchmarks that print figures and ratios against a baseline measured in the
//! same run. They are not tests and assert nothing about time.

pub mod api;
pub mod scheduler;
pub mod startup;

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// The API server and its store: durable create rate, write latency, watch fan-out, memory.
    Api(api::Args),
    /// The scheduler with hollow nodes: pods bound per second end-to-end through the API.
    Scheduler(scheduler::Args),
    /// Pod startup latency with `brume dev`: create -> Running seen through a watch.
    Startup(startup::Args),
}

/// Runs a benchmark.
pub async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Api(args) => api::run(args).await,
        Bench::Scheduler(args) => scheduler::run(args).await,
        Bench::Startup(args) => startup::run(args).await,
    }
}
