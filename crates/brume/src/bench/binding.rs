//! Pods created through the API with many writers, and when each was first seen bound: the
//! load phase of the scheduler benchmark and of the server memory benchmark.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use http::Request;
use serde::Deserialize;
use serde_json::{Value, json};

use super::kit::{for_each_concurrent, get_json, post};

fn pod_name(i: usize) -> String {
    format!("p-{i}")
}

fn pod_index(name: &str) -> Option<usize> {
    name.strip_prefix("p-")?.parse().ok()
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

/// What a create-and-bind phase measured. Times are from `origin`.
pub(crate) struct BindRun {
    /// When the first create was sent.
    pub first_create: Duration,
    /// When the last create was answered.
    pub last_create: Duration,
    /// Per pod: when its create was sent (None: never sent).
    pub created_at: Vec<Option<Duration>>,
    /// Per pod: when it was first seen with a `spec.nodeName` (None: never).
    pub bound_at: Vec<Option<Duration>>,
    /// Create latency (request sent → 201) of every pod, sorted.
    pub create_latency: Vec<Duration>,
    /// Why the phase stopped before every pod was bound, if it did.
    pub stopped_early: Option<String>,
}

impl BindRun {
    /// Pods seen bound.
    pub fn bound(&self) -> usize {
        self.bound_at.iter().flatten().count()
    }
}

/// Creates `pods` pods in `default` with `clients` concurrent writers while one watch records
/// when each is first bound, and waits for every binding, giving up after `stall` with none.
pub(crate) async fn create_and_bind(
    client: &kube::Client,
    pods: usize,
    clients: usize,
    stall: Duration,
) -> anyhow::Result<BindRun> {
    let list = get_json(client, "/api/v1/namespaces/default/pods?limit=1").await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let origin = Instant::now();
    let created_at: Arc<Vec<AtomicU64>> = Arc::new((0..pods).map(|_| AtomicU64::new(0)).collect());
    let bound_at: Arc<Vec<AtomicU64>> = Arc::new((0..pods).map(|_| AtomicU64::new(0)).collect());
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

    let first_create = origin.elapsed();
    let create_latency = Arc::new(std::sync::Mutex::new(Vec::with_capacity(pods)));
    {
        let client = client.clone();
        let created_at = created_at.clone();
        let create_latency = create_latency.clone();
        for_each_concurrent(pods, clients, move |i| {
            let client = client.clone();
            let created_at = created_at.clone();
            let create_latency = create_latency.clone();
            async move {
                let sent = origin.elapsed();
                created_at[i].store(sent.as_micros() as u64 + 1, Ordering::Relaxed);
                client
                    .request_text(post("/api/v1/namespaces/default/pods", &pod(&pod_name(i))))
                    .await
                    .with_context(|| format!("creating pod {}", pod_name(i)))?;
                let took = origin.elapsed() - sent;
                create_latency.lock().expect("not poisoned").push(took);
                Ok(())
            }
        })
        .await?;
    }
    let last_create = origin.elapsed();
    println!(
        "  created {pods} pods in {:.1} s; bound so far: {}",
        (last_create - first_create).as_secs_f64(),
        bound.load(Ordering::Relaxed)
    );

    // Wait for the bindings, giving up after a stall.
    let mut stopped_early = None;
    let mut last_count = bound.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    while bound.load(Ordering::Relaxed) < pods {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = bound.load(Ordering::Relaxed);
        if now != last_count {
            last_count = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > stall {
            stopped_early = Some(format!(
                "no binding for {} s: stopped with {now} of {pods} bound",
                stall.as_secs()
            ));
            break;
        }
        if watcher.is_finished() {
            break;
        }
    }
    watch_stop.store(true, Ordering::Relaxed);
    match watcher.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => stopped_early = Some(format!("the watch failed: {e:#}")),
        Err(e) => stopped_early = Some(format!("the watch task failed: {e}")),
    }

    let at = |v: &AtomicU64| match v.load(Ordering::Relaxed) {
        0 => None,
        us => Some(Duration::from_micros(us - 1)),
    };
    let mut create_latency = std::mem::take(&mut *create_latency.lock().expect("not poisoned"));
    create_latency.sort();
    Ok(BindRun {
        first_create,
        last_create,
        created_at: created_at.iter().map(at).collect(),
        bound_at: bound_at.iter().map(at).collect(),
        create_latency,
        stopped_early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_round_trip_to_their_index() {
        assert_eq!(pod_index(&pod_name(1234)), Some(1234));
        assert_eq!(pod_index("other"), None);
    }
}
