//! `brume bench api`: the API server on its durable redb store, measured from outside.
//!
//! It starts `brume server` as a child process on a fresh data folder, so memory is the
//! server's alone, and drives it over HTTP with kube-rs clients:
//! - durable creates per second with one client and with many (group commit at work), and the
//!   write latency percentiles under load;
//! - the same creates straight into a redb store in this process, without HTTP: the baseline
//!   the API's own cost is measured against;
//! - watch fan-out: many watchers, the delay from a write being sent to its delivery;
//! - the server's resident memory with many pods stored.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{AsyncBufReadExt, StreamExt};
use http::Request;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::child::BrumeChild;
use super::kit::{percentile, post};
use super::proc::mib;

/// Arguments of `brume bench api`.
#[derive(clap::Args)]
pub struct Args {
    /// Concurrent writers in the loaded phases.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds each write phase runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent watchers in the fan-out phase.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Writes observed by the watchers.
    #[arg(long, default_value_t = 100)]
    watch_writes: usize,
    /// Pods stored for the memory figure (0 skips it).
    #[arg(long, default_value_t = 150_000)]
    pods: usize,
}

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
            "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}
    })
}

struct Phase {
    rate: f64,
    p50: f64,
    p99: f64,
    count: usize,
}

/// Runs `clients` loops that each call `write(client_index, i)` back to back for `seconds`,
/// and measures the rate and the latency of the calls.
async fn write_phase<F, Fut>(clients: usize, seconds: u64, write: F) -> anyhow::Result<Phase>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let latencies = latencies.clone();
        let write = write.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                write(c, i).await?;
                mine.push(t.elapsed());
                i += 1;
            }
            latencies.lock().await.extend(mine);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *latencies.lock().await);
    lat.sort();
    Ok(Phase {
        rate: lat.len() as f64 / elapsed,
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        count: lat.len(),
    })
}

/// Durable ConfigMap creates through the API by `clients` concurrent clients.
async fn create_phase(
    client: &kube::Client,
    clients: usize,
    seconds: u64,
    tag: &str,
) -> anyhow::Result<Phase> {
    let (client, tag) = (client.clone(), tag.to_string());
    write_phase(clients, seconds, move |c, i| {
        let (client, name) = (client.clone(), format!("{tag}-{c}-{i}"));
        async move {
            client
                .request_text(post(
                    "/api/v1/namespaces/default/configmaps",
                    &configmap(&name),
                ))
                .await?;
            Ok(())
        }
    })
    .await
}

/// The baseline: the same durable puts straight into a redb store in this process.
async fn store_phase(clients: usize, seconds: u64) -> anyhow::Result<Phase> {
    use brume_store::{Precondition, RedbStore, Store};
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RedbStore::open(&dir.path().join("store.redb"))?);
    let value = Bytes::from(serde_json::to_vec(&configmap("baseline"))?);
    write_phase(clients, seconds, move |c, i| {
        let (store, value) = (store.clone(), value.clone());
        async move {
            let key = format!("/registry/core/configmaps/default/b-{c}-{i}");
            store.put(&key, value, Precondition::Absent).await?;
            Ok(())
        }
    })
    .await
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

/// Opens `watchers` watches, then writes objects stamped with their send time; each watcher
/// records the delay to delivery.
async fn watch_phase(
    client: &kube::Client,
    watchers: usize,
    writes: usize,
) -> anyhow::Result<(usize, f64, f64, f64)> {
    client
        .request_text(post(
            "/api/v1/namespaces",
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fanout"}}),
        ))
        .await?;
    let list: Value = serde_json::from_str(
        &client
            .request_text(Request::get("/api/v1/namespaces/fanout/configmaps").body(Vec::new())?)
            .await?,
    )?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let delays = Arc::new(Mutex::new(Vec::with_capacity(watchers * writes)));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let client = client.clone();
        let delays = delays.clone();
        let ready = ready_tx.clone();
        let path = format!(
            "/api/v1/namespaces/fanout/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=300"
        );
        tasks.push(tokio::spawn(async move {
            let stream = client
                .request_stream(Request::get(path).body(Vec::new())?)
                .await?;
            ready.send(()).await.ok();
            let mut lines = stream.lines();
            let mut mine = Vec::with_capacity(writes);
            while mine.len() < writes {
                let Some(line) = lines.next().await else {
                    break;
                };
                let ev: Value = serde_json::from_str(&line?)?;
                let sent: u128 = ev
                    .pointer("/object/data/sent")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                mine.push(Duration::from_micros(
                    (now_micros().saturating_sub(sent)) as u64,
                ));
            }
            delays.lock().await.extend(mine);
            anyhow::Ok(())
        }));
    }
    drop(ready_tx);
    for _ in 0..watchers {
        ready_rx.recv().await;
    }
    // Let the last streams reach the server's watch before writing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..writes {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("w-{i}")}, "data": {"sent": now_micros().to_string()}});
        client
            .request_text(post("/api/v1/namespaces/fanout/configmaps", &body))
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t).await???;
    }
    let mut d = std::mem::take(&mut *delays.lock().await);
    d.sort();
    Ok((
        d.len(),
        percentile(&d, 0.5),
        percentile(&d, 0.99),
        percentile(&d, 1.0),
    ))
}

async fn memory_phase(
    server: &BrumeChild,
    pods: usize,
    clients: usize,
) -> anyhow::Result<(u64, u64)> {
    let before = server.memory()?.rss;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = server.client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= pods {
                    break;
                }
                client
                    .request_text(post(
                        "/api/v1/namespaces/default/pods",
                        &pod(&format!("pod-{i}")),
                    ))
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    // A list of everything, as a controller would do at start, touches every object once.
    let list = server
        .client
        .request_text(Request::get("/api/v1/pods?limit=500").body(Vec::new())?)
        .await?;
    drop(list);
    Ok((before, server.memory()?.rss))
}

/// Runs the API benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let server = BrumeChild::start(&["server"]).await?;
    println!(
        "brume bench api: server pid {:?}, {} writers, {} s per phase",
        server.child.id(),
        args.clients,
        args.seconds
    );

    let base1 = store_phase(1, args.seconds).await?;
    let base_n = store_phase(args.clients, args.seconds).await?;
    let one = create_phase(&server.client, 1, args.seconds, "one").await?;
    let many = create_phase(&server.client, args.clients, args.seconds, "many").await?;
    println!();
    println!("durable creates (ConfigMap, redb, fsync per commit)");
    println!(
        "  {:<34} {:>10} {:>10} {:>10} {:>9}",
        "", "per second", "p50 ms", "p99 ms", "count"
    );
    let line = |label: &str, p: &Phase| {
        println!(
            "  {label:<34} {:>10.0} {:>10.2} {:>10.2} {:>9}",
            p.rate, p.p50, p.p99, p.count
        );
    };
    line("store only, 1 writer (baseline)", &base1);
    line(
        &format!("store only, {} writers (baseline)", args.clients),
        &base_n,
    );
    line("API, 1 client", &one);
    line(&format!("API, {} clients", args.clients), &many);
    println!(
        "  ratios: API/store with {} writers = {:.2}; {} clients / 1 client = {:.1}x",
        args.clients,
        many.rate / base_n.rate,
        args.clients,
        many.rate / one.rate
    );

    if args.watchers > 0 {
        let (n, p50, p99, max) =
            watch_phase(&server.client, args.watchers, args.watch_writes).await?;
        println!();
        println!(
            "watch fan-out: {} watchers x {} writes = {n} deliveries",
            args.watchers, args.watch_writes
        );
        println!(
            "  delay from write sent to event delivered: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms"
        );
    }

    if args.pods > 0 {
        let (before, after) = memory_phase(&server, args.pods, args.clients).await?;
        println!();
        println!(
            "memory: server RSS {:.0} MiB at start of phase, {:.0} MiB with {} pods stored (+{} ConfigMaps from earlier phases)",
            mib(before),
            mib(after),
            args.pods,
            one.count + many.count + args.watch_writes
        );
    }
    Ok(())
}
