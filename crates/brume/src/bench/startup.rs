//! `brume bench startup`: pod startup latency, create → `Running` seen through a watch.
//!
//! It starts `brume server` (API server, scheduler, controllers) on a fresh data folder and
//! three `brume agent` children with the chosen runtime, each on a free loopback address (the
//! agents of `brume dev` use fixed addresses 127.0.0.2-4, which concurrent test clusters on the
//! same machine may hold), waits for three Ready nodes,
//! then creates pods one at a time, each running `sleep 3600`, and times the first watch event
//! that shows the pod `Running`. The baseline, measured in the same run, is the API's create
//! latency of the same pods (request sent → 201): the part of startup that is not scheduling,
//! binding, the agent and the runtime.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use http::{Method, Request};
use serde::Deserialize;
use serde_json::{Value, json};

use super::scheduler::{BrumeChild, json_request, percentile};

/// Arguments of `brume bench startup`.
#[derive(clap::Args)]
pub struct Args {
    /// Pods to start, one after the other.
    #[arg(long, default_value_t = 50)]
    pods: usize,
    /// The runtime the dev nodes offer: `process` or `docker` (docker needs the image
    /// `brume/busybox:1` from `tests/images/build.sh`).
    #[arg(long, default_value = "process")]
    runtime: String,
}

fn pod(name: &str, runtime: &str) -> Value {
    let image = if runtime == "docker" {
        "brume/busybox:1"
    } else {
        "busybox"
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "startup-bench"}},
        "spec": {"terminationGracePeriodSeconds": 2,
            "containers": [{"name": "c", "image": image, "command": ["sleep", "3600"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
    })
}

#[derive(Deserialize)]
struct Event {
    object: Obj,
}

#[derive(Deserialize)]
struct Obj {
    metadata: Meta,
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    phase: Option<String>,
}

/// The port an agent serves logs on; a loopback address where it is free can host an agent.
const AGENT_PORT: u16 = 10250;

/// `count` loopback addresses in 127.77.0.0/16 where the agent port is free.
fn free_loopback_addresses(count: usize) -> Vec<Ipv4Addr> {
    let base = std::process::id() as usize;
    (0..65_000usize)
        .map(|k| {
            let n = (base * 7 + k) % 65_000 + 2;
            Ipv4Addr::new(127, 77, (n / 256) as u8, (n % 256) as u8)
        })
        .filter(|a| TcpListener::bind((*a, AGENT_PORT)).is_ok())
        .take(count)
        .collect()
}

/// Starts three `brume agent` children for the server's kubeconfig.
fn start_agents(server: &BrumeChild, runtime: &str) -> anyhow::Result<Vec<tokio::process::Child>> {
    let exe = std::env::current_exe()?;
    let dir = server._dir.path();
    let tag = std::process::id();
    free_loopback_addresses(3)
        .into_iter()
        .enumerate()
        .map(|(i, addr)| {
            tokio::process::Command::new(&exe)
                .arg("agent")
                .arg("--kubeconfig")
                .arg(dir.join("kubeconfig"))
                .args(["--name", &format!("bench-{tag}-{i}")])
                .args(["--address", &addr.to_string()])
                .arg("--data")
                .arg(dir.join(format!("agent-{i}")))
                .args(["--runtimes", runtime])
                .env("BRUME_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting brume agent")
        })
        .collect()
}

/// Whether `node` (a Node as JSON) has condition Ready=True.
fn is_ready(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

async fn get_json(client: &kube::Client, path: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(
        &client
            .request_text(Request::get(path).body(Vec::new())?)
            .await?,
    )?)
}

/// Runs the startup benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.runtime == "process" || args.runtime == "docker",
        "--runtime is process or docker"
    );
    let dev = BrumeChild::start(&["server"]).await?;
    let _agents = start_agents(&dev, &args.runtime)?;
    let client = dev.client.clone();
    let t = Instant::now();
    loop {
        let nodes = get_json(&client, "/api/v1/nodes").await?;
        let ready = nodes["items"]
            .as_array()
            .map(|i| i.iter().filter(|n| is_ready(n)).count())
            .unwrap_or(0);
        if ready >= 3 {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(60),
            "only {ready} of 3 nodes Ready after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "brume bench startup: brume server pid {:?} + 3 brume agents, 3 nodes Ready after {:.1} s, runtime {}, {} pods one at a time",
        dev.child.id(),
        t.elapsed().as_secs_f64(),
        args.runtime,
        args.pods
    );

    let list = get_json(&client, "/api/v1/namespaces/default/pods").await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watch_client = client.clone();
    let watcher = tokio::spawn(async move {
        let path = format!(
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=3600"
        );
        let stream = watch_client
            .request_stream(Request::get(path).body(Vec::new())?)
            .await?;
        let mut lines = stream.lines();
        while let Some(line) = lines.next().await {
            let line = line?;
            let seen = Instant::now();
            let ev: Event = serde_json::from_str(&line).context("decoding a watch event")?;
            let running = ev.object.status.and_then(|s| s.phase).as_deref() == Some("Running");
            if let (true, Some(name)) = (running, ev.object.metadata.name) {
                let _ = tx.send((name, seen));
            }
        }
        anyhow::Ok(())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut api = Vec::with_capacity(args.pods);
    let mut startup = Vec::with_capacity(args.pods);
    for i in 0..args.pods {
        let name = format!("s-{i}");
        let sent = Instant::now();
        client
            .request_text(json_request(
                Method::POST,
                "/api/v1/namespaces/default/pods",
                "application/json",
                &pod(&name, &args.runtime),
            ))
            .await
            .with_context(|| format!("creating pod {name}"))?;
        api.push(sent.elapsed());
        let deadline = sent + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (seen_name, at) = tokio::time::timeout(left, rx.recv())
                .await
                .with_context(|| format!("pod {name} not Running within 60 s"))?
                .context("the watch ended")?;
            if seen_name == name {
                startup.push(at - sent);
                break;
            }
        }
    }
    watcher.abort();

    // Clean up: delete every pod and wait for them to be gone.
    let t = Instant::now();
    for i in 0..args.pods {
        client
            .request_text(
                Request::builder()
                    .method(Method::DELETE)
                    .uri(format!("/api/v1/namespaces/default/pods/s-{i}"))
                    .body(Vec::new())?,
            )
            .await
            .with_context(|| format!("deleting pod s-{i}"))?;
    }
    let mut left = args.pods;
    while t.elapsed() < Duration::from_secs(120) {
        let pods = get_json(&client, "/api/v1/namespaces/default/pods").await?;
        left = pods["items"].as_array().map(Vec::len).unwrap_or(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    api.sort();
    startup.sort();
    println!();
    println!("pod startup ({} runtime, {} pods)", args.runtime, args.pods);
    println!(
        "  {:<40} {:>8} {:>8} {:>8}",
        "", "p50 ms", "p99 ms", "max ms"
    );
    let line = |label: &str, s: &[Duration]| {
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
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_ready_only_with_ready_true() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert!(is_ready(&ready));
        assert!(!is_ready(&not));
        assert!(!is_ready(&json!({})));
    }

    #[test]
    fn free_loopback_addresses_are_distinct_and_bindable() {
        let a = free_loopback_addresses(3);
        assert_eq!(a.len(), 3);
        assert!(a[0] != a[1] && a[1] != a[2] && a[0] != a[2]);
        assert!(a.iter().all(|x| x.octets()[..2] == [127, 77]));
    }

    #[test]
    fn docker_pods_use_the_test_image() {
        assert_eq!(
            pod("a", "docker")["spec"]["containers"][0]["image"],
            "brume/busybox:1"
        );
        assert_eq!(
            pod("a", "process")["spec"]["containers"][0]["command"][0],
            "sleep"
        );
    }
}
