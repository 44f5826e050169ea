//! `brume bench`: benchmarks that print figures and ratios against a baseline measured in the
//! same run. They are not tests and assert nothing about time.

pub mod api;

/// The benchmarks.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// The API server and its store: durable create rate, write latency, watch fan-out, memory.
    Api(api::Args),
}

/// Runs a benchmark.
pub async fn run(b: Bench) -> anyhow::Result<()> {
    match b {
        Bench::Api(args) => api::run(args).await,
    }
}
