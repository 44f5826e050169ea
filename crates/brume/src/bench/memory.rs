//! `brume bench memory agent|server`: resident memory of an agent and of the server.
//!
//! Every figure is the process's own `VmRSS` from `/proc/<pid>/status`, not its children's:
//! process-runtime pods are separate processes in their own process groups, so an agent's RSS
//! is what the agent itself costs a node. The baseline of each benchmark is the same process
//! measured earlier in the same run, before the load:
//! - `agent`: one agent registered with no pods (idle), then with `--pods` pods running;
//! - `server`: the server at start with no nodes or pods, then with `--nodes` hollow nodes whose
//!   Leases are renewed as agents would, then with `--pods` pods bound by its scheduler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::agents::start_ready_agents;
use super::binding::create_and_bind;
use super::child::BrumeChild;
use super::hollow::{LeaseStats, pods_per_node, register_nodes, spawn_lease_renewal};
use super::kit::post;
use super::pods::{delete_all, sleep_pod, wait_running};
use super::proc::{Memory, mib};

/// Which process to measure.
#[derive(clap::Subcommand)]
pub enum Args {
    /// One `brume agent` (process runtime): idle, then with pods running.
    Agent(AgentArgs),
    /// `brume server` (API server, scheduler, controllers): at start, then with hollow nodes
    /// and pods bound.
    Server(ServerArgs),
}

/// Arguments of `brume bench memory agent`.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// Pods (`sleep 3600`, process runtime) the agent runs in the loaded phase.
    #[arg(long, default_value_t = 20)]
    pods: usize,
    /// Seconds to let the agent settle before each reading (lease renewals, status updates).
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
}

/// Arguments of `brume bench memory server`.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// Hollow nodes to register.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods to create and have bound.
    #[arg(long, default_value_t = 30_000)]
    pods: usize,
    /// Concurrent writers (node registration and pod creates).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent lease writers in the renewal task.
    #[arg(long, default_value_t = 16)]
    lease_clients: usize,
    /// Seconds to let the server settle before each reading.
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
}

/// Runs a memory benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args::Agent(a) => agent(a).await,
        Args::Server(s) => server(s).await,
    }
}

/// The label of the agent benchmark's pods.
const APP: &str = "memory-bench";

/// One line of figures for a reading.
fn line(label: &str, m: &Memory) {
    println!(
        "  {label:<44} {:>8.1} {:>8.1} {:>8.1} {:>8}",
        mib(m.rss),
        mib(m.anon),
        mib(m.peak),
        m.threads
    );
}

fn header() {
    println!(
        "  {:<44} {:>8} {:>8} {:>8} {:>8}",
        "", "RSS MiB", "anon", "peak", "threads"
    );
}

/// The agent's memory after `settle`, read at its end.
async fn settled(pid: u32, settle: Duration) -> anyhow::Result<Memory> {
    tokio::time::sleep(settle).await;
    Memory::of(pid).context("reading the agent's memory")
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let server = BrumeChild::start(&["server"]).await?;
    let client = server.client.clone();
    let (agents, took) = start_ready_agents(&server, 1, "process").await?;
    let agent = &agents[0];
    let pid = agent.pid().context("the agent exited")?;
    let settle = Duration::from_secs(args.settle_seconds);
    println!(
        "brume bench memory agent: brume server pid {:?} + brume agent pid {pid} (process runtime), Ready after {:.1} s; {} pods; readings after {} s of quiet",
        server.child.id(),
        took.as_secs_f64(),
        args.pods,
        args.settle_seconds
    );
    let idle = settled(pid, settle).await?;

    let t = Instant::now();
    for i in 0..args.pods {
        let name = format!("m-{i}");
        client
            .request_text(post(
                "/api/v1/namespaces/default/pods",
                &sleep_pod(&name, APP, "process"),
            ))
            .await
            .with_context(|| format!("creating pod {name}"))?;
    }
    wait_running(&client, APP, args.pods, Duration::from_secs(60)).await?;
    let started = t.elapsed();
    let loaded = settled(pid, settle).await?;

    let (left, deleted) = delete_all(&client, APP, Duration::from_secs(60)).await?;
    let after = settled(pid, settle).await?;

    println!();
    println!(
        "agent memory (VmRSS of the agent process; its pods are other processes), {} pods Running and Ready in {:.1} s",
        args.pods,
        started.as_secs_f64()
    );
    header();
    line("registered, no pods (baseline)", &idle);
    line(&format!("{} pods running", args.pods), &loaded);
    line("pods deleted again", &after);
    let per_pod = (loaded.rss as f64 - idle.rss as f64) / args.pods.max(1) as f64;
    println!(
        "  with pods / idle = {:.2}; increment per pod {:.0} KiB; {left} pods left {:.1} s after the deletes",
        loaded.rss as f64 / idle.rss as f64,
        per_pod / 1024.0,
        deleted.as_secs_f64()
    );
    Ok(())
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let server = BrumeChild::start(&["server"]).await?;
    let client = server.client.clone();
    let settle = Duration::from_secs(args.settle_seconds);
    let max_pods = pods_per_node(args.pods, args.nodes);
    let renew_every = brume_agent::heartbeat::HeartbeatConfig::default().renew_every;
    println!(
        "brume bench memory server: brume server pid {:?}; {} hollow nodes (Leases renewed every {} s, as agents do), {} pods, {} writers",
        server.child.id(),
        args.nodes,
        renew_every.as_secs(),
        args.pods,
        args.clients
    );
    tokio::time::sleep(settle).await;
    let start = server.memory()?;

    let t = Instant::now();
    register_nodes(&client, args.nodes, max_pods, args.clients).await?;
    println!(
        "  registered {} nodes + leases in {:.1} s",
        args.nodes,
        t.elapsed().as_secs_f64()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(LeaseStats::default());
    let renewer = spawn_lease_renewal(
        client.clone(),
        args.nodes,
        args.lease_clients,
        renew_every,
        stop.clone(),
        stats.clone(),
    );
    tokio::time::sleep(settle).await;
    let with_nodes = server.memory()?;

    let bind = create_and_bind(&client, args.pods, args.clients, Duration::from_secs(60)).await?;
    let bound = bind.bound();
    tokio::time::sleep(settle).await;
    let loaded = server.memory()?;
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(30), renewer).await;

    println!();
    println!(
        "server memory (VmRSS of the brume server process: API server, store, scheduler, controllers)"
    );
    header();
    line("at start, no nodes or pods (baseline)", &start);
    line(&format!("{} hollow nodes", args.nodes), &with_nodes);
    line(
        &format!("{} nodes + {bound} of {} pods bound", args.nodes, args.pods),
        &loaded,
    );
    let pods_mib = mib(loaded.rss.saturating_sub(with_nodes.rss));
    println!(
        "  loaded / start = {:.2}; {:.0} KiB per node; {:.1} MiB per 1,000 pods; lease errors {}",
        loaded.rss as f64 / start.rss as f64,
        (with_nodes.rss as f64 - start.rss as f64) / 1024.0 / args.nodes.max(1) as f64,
        pods_mib * 1000.0 / bound.max(1) as f64,
        stats.errors.load(Ordering::Relaxed)
    );
    if let Some(why) = bind.stopped_early {
        anyhow::bail!("not every pod was bound, so the loaded figure is short: {why}");
    }
    Ok(())
}
