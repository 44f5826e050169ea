//! `brume`: the one binary. `brume dev` runs a fog cluster in one process; `brume server` runs
//! the control plane; the kubectl-like verbs talk to any Brume (or Kubernetes) API server.

mod agent;
mod bench;
mod cli;
mod data_dir;
mod latency;
mod local;
mod server;
mod sim;

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
    /// Manage join tokens (`brume token create`).
    #[command(subcommand)]
    Token(cli::token::Command),
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
    /// Where the nodes are: coordinate errors, and with `--latency` the estimated RTT between
    /// every two nodes next to the measured one.
    Nodes(cli::nodes::Args),
    /// Set the replica count of a Deployment, ReplicaSet or other scalable object.
    Scale(cli::scale::Args),
    /// Show the CPU and memory of pods or nodes, as the agents measured them (`brume top pods`,
    /// `brume top nodes`).
    Top(cli::top::Args),
    /// Load container images from `docker save` tarballs into the local Docker engine, for
    /// sites without a registry.
    #[command(subcommand)]
    Image(agent::ImageCommand),
    /// Evaluate the fog algorithms at scale on real or synthetic latency data, against the
    /// Kubernetes baselines; writes JSON results and SVG plots.
    Sim(sim::SimArgs),
    /// Measure Brume and print figures against a baseline.
    #[command(subcommand)]
    Bench(bench::Bench),
}

/// mimalloc reads its options from the environment when the process starts, before `main`;
/// an agent sets its option by starting itself again with the variable set (see below).
const MIMALLOC_THP: &str = "MIMALLOC_ALLOW_THP";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Agent(_)) && std::env::var_os(MIMALLOC_THP).is_none() {
        // An agent's heap is small, and with transparent huge pages mimalloc commits its
        // arenas in 2 MiB pages: about 9 MiB of RSS for nothing on a fog node (docs/
        // BENCHMARKS.md, agent memory). The server keeps them: its allocation-heavy API path
        // ran about 8% faster with them in `brume bench scheduler`. `exec` only returns on
        // failure, and then the agent simply runs with the default.
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new("/proc/self/exe")
            .args(std::env::args_os().skip(1))
            .env(MIMALLOC_THP, "0")
            .exec();
        eprintln!("brume agent: could not restart without transparent huge pages: {err}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BRUME_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match cli.command {
        // CPU work on its own threads, with no use for a runtime.
        Command::Sim(args) => return sim::run(args),
        command => Cli { command },
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Command::Agent(_)) {
        // The kernel's own huge pages too, where it gives them unasked (`always`).
        if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
            tracing::debug!(error = %e, "transparent huge pages stay on");
        }
        builder.worker_threads(agent_worker_threads(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ));
    }
    if let Command::Bench(b) = &cli.command
        && let Some(n) = b.worker_threads()
    {
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => server::dev(args).await,
            Command::Server(args) => server::server(args).await,
            Command::Agent(args) => agent::agent(args).await,
            Command::Token(c) => cli::token::run(c).await,
            Command::Kubeconfig(args) => data_dir::print_kubeconfig(args),
            Command::Apply(args) => cli::apply::run(args).await,
            Command::Get(args) => cli::get::run(args).await,
            Command::Describe(args) => cli::describe::run(args).await,
            Command::Delete(args) => cli::delete::run(args).await,
            Command::Scale(args) => cli::scale::run(args).await,
            Command::Top(args) => cli::top::run(args).await,
            Command::Nodes(args) => cli::nodes::run(args).await,
            Command::Image(c) => agent::image(c).await,
            Command::Bench(b) => bench::run(b).await,
            Command::Sim(_) => unreachable!("run before the runtime starts"),
        }
    })
}

/// Tokio worker threads for `brume agent` on a host with `cores` cores: at most two. An agent
/// waits on the API and its runtimes and needs little CPU, while every worker thread costs
/// resident memory of its own (about 2 MiB, mostly its allocator heap: `brume bench memory
/// agent` measured 27.6 MiB with two workers and 25.3 MiB with one); two rather than one, so a
/// slow call on one worker does not hold up the Lease renewals.
fn agent_worker_threads(cores: usize) -> usize {
    cores.clamp(1, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_uses_at_most_two_worker_threads() {
        assert_eq!(agent_worker_threads(1), 1);
        assert_eq!(agent_worker_threads(2), 2);
        assert_eq!(agent_worker_threads(64), 2);
    }
}
