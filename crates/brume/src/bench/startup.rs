//! `brume bench startup`: pod startup latency, create → `Running` seen through a watch.
//!
//! It starts `brume server` (API server, scheduler, controllers) on a fresh data folder and
//! three `brume agent` children with the chosen runtime (see [`super::agents`]), waits for three
//! Ready nodes, then creates pods one at a time, each running `sleep 3600`, and times the first
//! watch event that shows the pod `Running`. The baseline, measured in the same run, is the
//! API's create latency of the same pods (request sent → 201): the part of startup that is not
//! scheduling, binding, the agent and the runtime.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::agents::start_ready_agents;
use super::child::BrumeChild;
use super::kit::{percentile, post};
use super::pods::{delete_all, sleep_pod};
use super::watch::watch;

/// Arguments of `brume bench startup`.
#[derive(clap::Args)]
pub struct Args {
    /// Pods to start, one after the other.
    #[arg(long, default_value_t = 50)]
    pods: usize,
    /// The runtime the nodes offer: `process` or `docker` (docker needs the image
    /// `brume/busybox:1` from `tests/images/build.sh`).
    #[arg(long, default_value = "process")]
    runtime: String,
}

/// The label of this benchmark's pods.
const APP: &str = "startup-bench";

/// Runs the startup benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.runtime == "process" || args.runtime == "docker",
        "--runtime is process or docker, not {:?}",
        args.runtime
    );
    let dev = BrumeChild::start(&["server"]).await?;
    let (_agents, took) = start_ready_agents(&dev, 3, &args.runtime).await?;
    let client = dev.client.clone();
    println!(
        "brume bench startup: brume server pid {:?} + 3 brume agents, 3 nodes Ready after {:.1} s, runtime {}, {} pods one at a time",
        dev.child.id(),
        took.as_secs_f64(),
        args.runtime,
        args.pods
    );

    let (watcher, mut rx) = watch(&client, "/api/v1/namespaces/default/pods").await?;
    let mut api = Vec::with_capacity(args.pods);
    let mut startup = Vec::with_capacity(args.pods);
    for i in 0..args.pods {
        let name = format!("s-{i}");
        let sent = Instant::now();
        client
            .request_text(post(
                "/api/v1/namespaces/default/pods",
                &sleep_pod(&name, APP, &args.runtime),
            ))
            .await
            .with_context(|| format!("creating pod {name}"))?;
        api.push(sent.elapsed());
        let deadline = sent + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let seen = tokio::time::timeout(left, rx.recv())
                .await
                .with_context(|| format!("pod {name} not Running within 60 s"))?
                .context("the watch ended")?;
            if seen.object["metadata"]["name"] == name.as_str()
                && seen.object["status"]["phase"] == "Running"
            {
                startup.push(seen.at - sent);
                break;
            }
        }
    }
    watcher.abort();

    // Clean up: no pod process may outlive the benchmark.
    let (left, took) = delete_all(&client, APP, Duration::from_secs(120)).await?;

    api.sort();
    startup.sort();
    println!();
    println!("pod startup ({} runtime, {} pods)", args.runtime, args.pods);
    println!(
        "  {:<40} {:>8} {:>8} {:>8}",
        "", "p50 ms", "p99 ms", "max ms"
    );
    let line = |label: &str, s: &[std::time::Duration]| {
        println!(
            "  {label:<40} {:>8.1} {:>8.1} {:>8.1}",
            percentile(s, 0.5),
            percentile(s, 0.99),
            percentile(s, 1.0)
        );
    };
    line("API create -> 201 (baseline)", &api);
    line("create -> Running seen by a watch", &startup);
    println!(
        "  deleted all {} pods: {} left after {:.1} s",
        args.pods,
        left,
        took.as_secs_f64()
    );
    Ok(())
}
