//! `brume`: the one binary. `brume dev` runs a fog cluster in one process; `brume server` runs
//! the control plane; the kubectl-like verbs talk to any Brume (or Kubernetes) API server.

mod agent;
mod bench;
mod cli;
mod data_dir;
mod server;

use clap::{Parser, Subcommand};

// The API server allocates and frees many small JSON values per request; mimalloc measured
// faster than glibc's malloc for that in `brume bench api` (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Brume, a fog-native container orchestrator that speaks the Kubernetes API.
#[derive(Parser)]
#[command(name = "brume", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole cluster in one process on an embedded store (the quickest start).
    Dev(server::DevArgs),
    /// Run the control plane: the API server on a durable store.
    Server(server::ServerArgs),
    /// Run a node agent: join a server and run the pods bound to this node.
    Agent(agent::AgentArgs),
    /// Print the admin kubeconfig of a data folder.
    Kubeconfig(data_dir::KubeconfigArgs),
    /// Create or update objects from a YAML or JSON file (`-f -` reads standard input).
    Apply(cli::apply::Args),
    /// List objects, or show one, as a table or as YAML/JSON.
    Get(cli::get::Args),
    /// Show one object in detail, with its events.
    Describe(cli::describe::Args),
    /// Delete objects and wait until they are gone.
    Delete(cli::delete::Args),
    /// Set the replica count of a Deployment, ReplicaSet or other scalable object.
    Scale(cli::scale::Args),
    /// Load container images from `docker save` tarballs into the local Docker engine, for
    /// sites without a registry.
    #[command(subcommand)]
    Image(agent::ImageCommand),
    /// Measure Brume and print figures against a baseline.
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BRUME_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => server::dev(args).await,
            Command::Server(args) => server::server(args).await,
            Command::Agent(args) => agent::agent(args).await,
            Command::Kubeconfig(args) => data_dir::print_kubeconfig(args),
            Command::Apply(args) => cli::apply::run(args).await,
            Command::Get(args) => cli::get::run(args).await,
            Command::Describe(args) => cli::describe::run(args).await,
            Command::Delete(args) => cli::delete::run(args).await,
            Command::Scale(args) => cli::scale::run(args).await,
            Command::Image(c) => agent::image(c).await,
            Command::Bench(b) => bench::run(b).await,
        }
    })
}
