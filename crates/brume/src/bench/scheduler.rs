//! `brume bench scheduler`: pods bound per second end-to-end through the real API, with hollow
//! nodes.
//!
//! It starts `brume server` (API server, scheduler, controllers) as a child process on a fresh
//! data folder, creates hollow Node objects and their Leases through the API, keeps the Leases
//! fresh from a background task (as agents would, so the node lifecycle controller keeps the
//! nodes Ready), then creates pods with many concurrent writers while one watch records when
//! each pod first shows a `spec.nodeName`. The baseline, measured in the same run, is the pod
//! create rate itself: the scheduler cannot bind faster than pods arrive.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use http::{Method, Request, header};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

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

/// A `brume server` or `brume dev` child process on a temporary data folder, and a client for it.
pub(crate) struct BrumeChild {
    /// The child process (killed on drop).
    pub child: Child,
    /// An admin client for its API.
    pub client: kube::Client,
    /// The data folder, removed on drop.
    pub _dir: tempfile::TempDir,
}

impl BrumeChild {
    /// Starts `brume <args> --listen 127.0.0.1:0 --data <tmp>` and waits for its kubeconfig.
    pub async fn start(args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .env("BRUME_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting brume {}", args.join(" ")))?;
        let kubeconfig = dir.path().join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !kubeconfig.exists() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "brume {} did not start within 30 s",
                args.join(" ")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The file may be seen before it is fully written.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let client = client_for(&kubeconfig).await?;
        Ok(BrumeChild {
            child,
            client,
            _dir: dir,
        })
    }

    /// CPU seconds (user + system) the child used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.id()?;
        cpu_seconds_of(&format!("/proc/{pid}/stat"))
    }
}

async fn client_for(kubeconfig: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(kube::Client::try_from(config)?)
}

/// User + system CPU seconds from a `/proc/<pid>/stat` file (clock ticks of 1/100 s).
pub(crate) fn cpu_seconds_of(stat_file: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat_file).ok()?;
    // The command name may hold spaces; fields start after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A request with a JSON body.
pub(crate) fn json_request(
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(serde_json::to_vec(body).unwrap_or_default())
        .expect("a valid request")
}

fn post(path: &str, body: &Value) -> Request<Vec<u8>> {
    json_request(Method::POST, path, "application/json", body)
}

fn merge_patch(path: &str, body: &Value) -> Request<Vec<u8>> {
    json_request(Method::PATCH, path, "application/merge-patch+json", body)
}

/// The value at quantile `p` of a sorted sample, in milliseconds.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn node_name(i: usize) -> String {
    format!("hollow-{i:05}")
}

fn pod_name(i: usize) -> String {
    format!("p-{i}")
}

fn pod_index(name: &str) -> Option<usize> {
    name.strip_prefix("p-")?.parse().ok()
}

/// Pods per node needed for `pods` over `nodes`, with room to spare so that spreading is not
/// limited by the pod count.
fn pods_per_node(pods: usize, nodes: usize) -> usize {
    (pods.div_ceil(nodes.max(1)) * 2).max(110)
}

fn hollow_node(name: &str, max_pods: usize, now: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "brume.io/hollow": "true"},
            "annotations": {"fog.brume.io/runtime-handlers": "fake"}},
        "spec": {},
        "status": node_status(max_pods, now),
    })
}

fn node_status(max_pods: usize, now: &str) -> Value {
    let capacity = json!({"cpu": "32", "memory": "256Gi", "pods": max_pods.to_string()});
    json!({
        "capacity": capacity, "allocatable": capacity,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "hollow node", "lastHeartbeatTime": now, "lastTransitionTime": now}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
    })
}

fn lease(name: &str, now: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 10, "renewTime": now},
    })
}

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "brume/busybox:1",
            "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
    })
}

/// Runs `f(i)` for every `i` in `0..n` with `concurrency` workers.
async fn for_each_concurrent<F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                f(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn register_nodes(
    client: &kube::Client,
    nodes: usize,
    max_pods: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let client = client.clone();
    for_each_concurrent(nodes, clients, move |i| {
        let client = client.clone();
        async move {
            let name = node_name(i);
            let now = brume_agent::heartbeat::now_micro();
            let now_s = brume_agent::heartbeat::now_time();
            client
                .request_text(post(
                    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                    &lease(&name, &now),
                ))
                .await
                .with_context(|| format!("creating lease {name}"))?;
            client
                .request_text(post("/api/v1/nodes", &hollow_node(&name, max_pods, &now_s)))
                .await
                .with_context(|| format!("creating node {name}"))?;
            // A create may drop the status (as for agents); post it again.
            client
                .request_text(merge_patch(
                    &format!("/api/v1/nodes/{name}/status"),
                    &json!({"status": node_status(max_pods, &now_s)}),
                ))
                .await
                .with_context(|| format!("posting the status of node {name}"))?;
            Ok(())
        }
    })
    .await
}

/// What the lease renewal task did.
#[derive(Default)]
struct LeaseStats {
    writes: AtomicU64,
    errors: AtomicU64,
    rounds: AtomicU64,
    /// The longest round, in milliseconds.
    longest_round_ms: AtomicU64,
}

/// Renews every hollow node's Lease every `every`, until `stop`.
fn spawn_lease_renewal(
    client: kube::Client,
    nodes: usize,
    concurrency: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<LeaseStats>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let round = Instant::now();
            let client = client.clone();
            let stats2 = stats.clone();
            let _ = for_each_concurrent(nodes, concurrency, move |i| {
                let client = client.clone();
                let stats = stats2.clone();
                async move {
                    let name = node_name(i);
                    let patch = json!({"spec": {"renewTime": brume_agent::heartbeat::now_micro()}});
                    let path = format!(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
                    );
                    match client.request_text(merge_patch(&path, &patch)).await {
                        Ok(_) => stats.writes.fetch_add(1, Ordering::Relaxed),
                        Err(_) => stats.errors.fetch_add(1, Ordering::Relaxed),
                    };
                    Ok(())
                }
            })
            .await;
            let took = round.elapsed();
            stats.rounds.fetch_add(1, Ordering::Relaxed);
            stats
                .longest_round_ms
                .fetch_max(took.as_millis() as u64, Ordering::Relaxed);
            if let Some(rest) = every.checked_sub(took) {
                tokio::time::sleep(rest).await;
            }
        }
    })
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: EventObject,
}

#[derive(Deserialize)]
struct EventObject {
    metadata: Meta,
    #[serde(default)]
    spec: Option<PodSpecLite>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct PodSpecLite {
    #[serde(default, rename = "nodeName")]
    node_name: Option<String>,
}

/// Watches pods from `rv` and stores, per pod index, the microseconds since `origin` at which
/// it was first seen bound. Returns when `pods` are bound or `stop` is set.
async fn watch_bindings(
    client: kube::Client,
    mut rv: String,
    origin: Instant,
    bound_at: Arc<Vec<AtomicU64>>,
    bound: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let pods = bound_at.len();
    while bound.load(Ordering::Relaxed) < pods && !stop.load(Ordering::Relaxed) {
        let path = format!(
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=600&allowWatchBookmarks=true"
        );
        let stream = client
            .request_stream(Request::get(path).body(Vec::new())?)
            .await?;
        let mut lines = stream.lines();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(500), lines.next()).await;
            if stop.load(Ordering::Relaxed) || bound.load(Ordering::Relaxed) >= pods {
                return Ok(());
            }
            let line = match next {
                Err(_) => continue,
                Ok(None) => break,
                Ok(Some(line)) => line?,
            };
            let ev: Event = serde_json::from_str(&line).context("decoding a watch event")?;
            anyhow::ensure!(ev.kind != "ERROR", "the watch failed: {line}");
            if let Some(v) = ev.object.metadata.resource_version {
                rv = v;
            }
            let bound_to = ev.object.spec.and_then(|s| s.node_name).is_some();
            let idx = ev.object.metadata.name.as_deref().and_then(pod_index);
            if let (true, Some(i)) = (bound_to, idx.filter(|&i| i < pods)) {
                let at = origin.elapsed().as_micros() as u64 + 1;
                if bound_at[i]
                    .compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    bound.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    Ok(())
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

    let list: Value = serde_json::from_str(
        &client
            .request_text(Request::get("/api/v1/namespaces/default/pods?limit=1").body(Vec::new())?)
            .await?,
    )?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let origin = Instant::now();
    let created_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.pods).map(|_| AtomicU64::new(0)).collect());
    let bound_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.pods).map(|_| AtomicU64::new(0)).collect());
    let bound = Arc::new(AtomicUsize::new(0));
    let watch_stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_bindings(
        client.clone(),
        rv,
        origin,
        bound_at.clone(),
        bound.clone(),
        watch_stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let server_cpu0 = server.cpu_seconds();
    let first_create = origin.elapsed();
    let create_latency = Arc::new(std::sync::Mutex::new(Vec::with_capacity(args.pods)));
    {
        let client = client.clone();
        let created_at = created_at.clone();
        let create_latency = create_latency.clone();
        for_each_concurrent(args.pods, args.clients, move |i| {
            let client = client.clone();
            let created_at = created_at.clone();
            let create_latency = create_latency.clone();
            async move {
                let sent = origin.elapsed();
                created_at[i].store(sent.as_micros() as u64 + 1, Ordering::Relaxed);
                client
                    .request_text(post("/api/v1/namespaces/default/pods", &pod(&pod_name(i))))
                    .await
                    .with_context(|| format!("creating pod {i}"))?;
                let took = origin.elapsed() - sent;
                create_latency.lock().expect("not poisoned").push(took);
                Ok(())
            }
        })
        .await?;
    }
    let last_create = origin.elapsed();
    let create_secs = (last_create - first_create).as_secs_f64();
    println!(
        "  created {} pods in {create_secs:.1} s; bound so far: {}",
        args.pods,
        bound.load(Ordering::Relaxed)
    );

    // Wait for the bindings, giving up after a stall.
    let mut last_count = bound.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while bound.load(Ordering::Relaxed) < args.pods {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = bound.load(Ordering::Relaxed);
        if now != last_count {
            last_count = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(args.stall_seconds) {
            println!(
                "  no binding for {} s: stopping with {now} of {} bound",
                args.stall_seconds, args.pods
            );
            break;
        }
        if watcher.is_finished() {
            break;
        }
    }
    watch_stop.store(true, Ordering::Relaxed);
    match watcher.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => println!("  the watch failed: {e:#}"),
        Err(e) => println!("  the watch task failed: {e}"),
    }
    let server_cpu1 = server.cpu_seconds();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(30), renewer).await;
    let renew_secs = renew_started.elapsed().as_secs_f64();

    // Figures.
    let mut lat = Vec::new();
    let mut last_bind = Duration::ZERO;
    for i in 0..args.pods {
        let b = bound_at[i].load(Ordering::Relaxed);
        let c = created_at[i].load(Ordering::Relaxed);
        if b > 0 && c > 0 {
            let b = Duration::from_micros(b - 1);
            last_bind = last_bind.max(b);
            lat.push(b.saturating_sub(Duration::from_micros(c - 1)));
        }
    }
    lat.sort();
    let n_bound = lat.len();
    let bind_secs = last_bind.saturating_sub(first_create).as_secs_f64();
    let created_rate = args.pods as f64 / create_secs;
    let bound_rate = n_bound as f64 / bind_secs;
    let mut cl = std::mem::take(&mut *create_latency.lock().expect("not poisoned"));
    cl.sort();

    // Nodes the lifecycle controller found silent (their leases were not kept fresh enough).
    let nodes: Value = serde_json::from_str(
        &client
            .request_text(Request::get("/api/v1/nodes").body(Vec::new())?)
            .await?,
    )?;
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
        percentile(&cl, 0.5),
        percentile(&cl, 0.99)
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
        let wall = origin.elapsed().as_secs_f64() - first_create.as_secs_f64();
        println!(
            "  server process CPU from first create to end: {:.1} s over {wall:.1} s wall ({:.2} cores)",
            b - a,
            (b - a) / wall
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_have_room_for_twice_their_share_of_pods() {
        assert_eq!(pods_per_node(150_000, 5000), 110);
        assert_eq!(pods_per_node(150_000, 500), 600);
        assert_eq!(pods_per_node(10, 0), 110);
    }

    #[test]
    fn pod_names_round_trip_to_their_index() {
        assert_eq!(pod_index(&pod_name(1234)), Some(1234));
        assert_eq!(pod_index("other"), None);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 0.5), 51.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn cpu_seconds_are_read_after_the_command_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("stat");
        let mut fields = vec!["0"; 20];
        fields[11] = "250";
        fields[12] = "50";
        std::fs::write(&f, format!("42 (brume x) {}", fields.join(" "))).unwrap();
        assert_eq!(cpu_seconds_of(f.to_str().unwrap()), Some(3.0));
    }
}
