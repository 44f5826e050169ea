//! `brume bench scheduler`: pods bound per second end-to-end through the real API, with hollow
//! nodes.
//!
//! It starts `brume server` (API server, scheduler, controllers) as a child process on a fresh
//! data folder, creates hollow Node objects and their Leases through the API, keeps the Leases
//! fresh from a background task (as agents would, so the node lifecycle controller keeps the
//! nodes Ready), then creates pods with many concurrent writers while one watch records when
//! each pod first shows a `spec.nodeName`. The baseline, measured in the same run, is the pod
//! create rate itself: the scheduler cannot bind faster than pods arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::binding::create_and_bind;
use super::child::BrumeChild;
use super::hollow::{LeaseStats, pods_per_node, register_nodes, spawn_lease_renewal};
use super::kit::{get_json, percentile};

/// Arguments of `brume bench scheduler`.
#[derive(clap::Args)]
pub struct Args {
    /// Hollow nodes to register.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods to create and have bound.
    #[arg(long, default_value_t = 150_000)]
    pods: usize,
    /// Concurrent pod writers.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent lease writers in the renewal task.
    #[arg(long, default_value_t = 16)]
    lease_clients: usize,
    /// Seconds between lease renewal rounds.
    #[arg(long, default_value_t = 4)]
    renew_every: u64,
    /// Give up when no pod was bound for this many seconds.
    #[arg(long, default_value_t = 60)]
    stall_seconds: u64,
}

/// Runs the scheduler benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let server = BrumeChild::start(&["server"]).await?;
    let client = server.client.clone();
    let max_pods = pods_per_node(args.pods, args.nodes);
    println!(
        "brume bench scheduler: server pid {:?}, {} hollow nodes (32 cpu, 256Gi, {} pods each), {} pods, {} writers",
        server.child.id(),
        args.nodes,
        max_pods,
        args.pods,
        args.clients
    );

    let t = Instant::now();
    register_nodes(&client, args.nodes, max_pods, args.clients).await?;
    let reg = t.elapsed().as_secs_f64();
    println!(
        "  registered {} nodes + leases in {reg:.1} s ({:.0} nodes/s, 3 writes each)",
        args.nodes,
        args.nodes as f64 / reg
    );

    let stop = Arc::new(AtomicBool::new(false));
    let lease_stats = Arc::new(LeaseStats::default());
    let renew_started = Instant::now();
    let renewer = spawn_lease_renewal(
        client.clone(),
        args.nodes,
        args.lease_clients,
        Duration::from_secs(args.renew_every),
        stop.clone(),
        lease_stats.clone(),
    );
    // Let the scheduler's node cache fill before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let server_cpu0 = server.cpu_seconds();
    let phase_started = Instant::now();
    let bind = create_and_bind(
        &client,
        args.pods,
        args.clients,
        Duration::from_secs(args.stall_seconds),
    )
    .await?;
    if let Some(why) = &bind.stopped_early {
        println!("  {why}");
    }
    let phase_wall = phase_started.elapsed().as_secs_f64();
    let server_cpu1 = server.cpu_seconds();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(30), renewer).await;
    let renew_secs = renew_started.elapsed().as_secs_f64();

    // Figures.
    let mut lat = Vec::new();
    let mut last_bind = Duration::ZERO;
    for (c, b) in bind.created_at.iter().zip(&bind.bound_at) {
        if let (Some(c), Some(b)) = (c, b) {
            last_bind = last_bind.max(*b);
            lat.push(b.saturating_sub(*c));
        }
    }
    lat.sort();
    let n_bound = bind.bound();
    let create_secs = (bind.last_create - bind.first_create).as_secs_f64();
    let bind_secs = last_bind.saturating_sub(bind.first_create).as_secs_f64();
    let created_rate = args.pods as f64 / create_secs;
    let bound_rate = n_bound as f64 / bind_secs;
    let cl = &bind.create_latency;

    // Nodes the lifecycle controller found silent (their leases were not kept fresh enough).
    let nodes = get_json(&client, "/api/v1/nodes").await?;
    let tainted = nodes["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|n| {
                    n.pointer("/spec/taints")
                        .and_then(Value::as_array)
                        .is_some_and(|t| !t.is_empty())
                })
                .count()
        })
        .unwrap_or(0);

    println!();
    println!(
        "pods: {} created, {n_bound} bound ({} nodes, {} writers)",
        args.pods, args.nodes, args.clients
    );
    println!(
        "  created/s (baseline, first create sent -> last 201): {created_rate:>8.0}   create p50 {:.1} ms, p99 {:.1} ms",
        percentile(cl, 0.5),
        percentile(cl, 0.99)
    );
    println!(
        "  bound/s end-to-end (first create sent -> last bind seen): {bound_rate:>8.0}   over {bind_secs:.1} s"
    );
    println!(
        "  create -> bound latency: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    println!(
        "  ratio bound/created rate: {:.2}",
        bound_rate / created_rate
    );
    if let (Some(a), Some(b)) = (server_cpu0, server_cpu1) {
        println!(
            "  server process CPU during the pod phase: {:.1} s over {phase_wall:.1} s wall ({:.2} cores)",
            b - a,
            (b - a) / phase_wall
        );
    }
    let writes = lease_stats.writes.load(Ordering::Relaxed);
    println!(
        "lease renewal: {writes} writes in {renew_secs:.1} s = {:.0} writes/s ({} rounds, longest {} ms, {} errors); nodes tainted at the end: {tainted}",
        writes as f64 / renew_secs,
        lease_stats.rounds.load(Ordering::Relaxed),
        lease_stats.longest_round_ms.load(Ordering::Relaxed),
        lease_stats.errors.load(Ordering::Relaxed),
    );
    Ok(())
}
