//! `brume bench failover`: an agent is SIGKILLed; how long until its pods run elsewhere.
//!
//! It starts `brume server` and three `brume agent` children (process runtime by default), runs
//! a Deployment spread over the three nodes, SIGKILLs the agent with the most of its pods, and
//! times through two watches (nodes, pods) the four phases of the failover:
//! - detection: kill → the node's Ready condition is no longer `True`;
//! - eviction: → every pod of the dead node has a `deletionTimestamp` (or is gone);
//! - scheduling: → as many new pods as were lost are bound to other nodes;
//! - start: → those pods are `Running`, then `Ready`.
//!
//! The baseline is the floor the configuration implies: the eviction toleration, which the
//! controllers wait out on purpose and count from when the node went silent (its last lease
//! renewal, up to one renewal period before the kill). What is above it is the cost of
//! noticing, replacing, scheduling and starting.
//!
//! At the end the killed agent is started again (it stops the pod processes that outlived it,
//! as a node that comes back does) and the Deployment is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use super::agents::{BenchAgent, ready_status, start_ready_agents, wait_nodes_ready};
use super::child::BrumeChild;
use super::kit::{delete, post};
use super::pods::{
    describe, is_running_and_ready, labelled, pods_path, sleep_pod_spec, wait_gone, wait_running,
};
use super::watch::{Seen, watch};

/// Arguments of `brume bench failover`.
#[derive(clap::Args)]
pub struct Args {
    /// Replicas of the Deployment, spread over the three nodes.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// The runtime the nodes offer: `process` or `docker` (docker needs the image
    /// `brume/busybox:1` from `tests/images/build.sh`).
    #[arg(long, default_value = "process")]
    runtime: String,
    /// Give up when the replacements are not Ready this long after the kill.
    #[arg(long, default_value_t = 180)]
    timeout_seconds: u64,
}

/// The label and name of this benchmark's Deployment.
const APP: &str = "failover-bench";

/// The nodes the benchmark runs.
const NODES: usize = 3;

fn deployment(replicas: usize, runtime: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {"metadata": {"labels": {"app": APP}}, "spec": sleep_pod_spec(runtime)}}
    })
}

/// What the watches showed after the kill: the instant (from the kill) each phase ended.
///
/// A pure observer: it is fed watch events in order and decides nothing but when a phase is
/// over, so it is tested without a cluster.
#[derive(Debug, Default)]
pub(crate) struct Failover {
    victim: String,
    /// Uids of every pod that existed at the kill; any other pod is a replacement.
    before: BTreeSet<String>,
    /// Uids of the pods that were on the victim.
    lost: BTreeSet<String>,
    /// Uids of the lost pods seen with a `deletionTimestamp`, or deleted.
    evicted: BTreeSet<String>,
    /// Replacements by uid: (bound to another node, Running, Running and Ready), as last seen.
    replacements: BTreeMap<String, (bool, bool, bool)>,
    /// Kill → the node's Ready condition is not `True`.
    pub detected: Option<Duration>,
    /// Kill → the first lost pod is marked for deletion.
    pub first_evicted: Option<Duration>,
    /// Kill → every lost pod is marked for deletion.
    pub evicted_all: Option<Duration>,
    /// Kill → as many replacements as lost pods are bound to live nodes.
    pub bound: Option<Duration>,
    /// Kill → they are `Running`.
    pub running: Option<Duration>,
    /// Kill → they are `Running` and `Ready`.
    pub ready: Option<Duration>,
}

impl Failover {
    /// An observer for the kill of `victim`, whose pods at the time were `pods`.
    pub fn new(victim: &str, pods: &[Value]) -> Self {
        let uid = |p: &Value| {
            p["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        Failover {
            victim: victim.to_string(),
            before: pods.iter().map(uid).collect(),
            lost: pods
                .iter()
                .filter(|p| p["spec"]["nodeName"] == victim)
                .map(uid)
                .collect(),
            ..Failover::default()
        }
    }

    /// How many pods the victim held.
    pub fn lost(&self) -> usize {
        self.lost.len()
    }

    /// Takes a Node watch event seen `at` after the kill.
    pub fn node(&mut self, node: &Value, at: Duration) {
        if self.detected.is_none()
            && node["metadata"]["name"] == self.victim.as_str()
            && ready_status(node) != Some("True")
        {
            self.detected = Some(at);
        }
    }

    /// Takes a Pod watch event of type `kind` seen `at` after the kill.
    pub fn pod(&mut self, kind: &str, pod: &Value, at: Duration) {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let marked = kind == "DELETED" || !pod["metadata"]["deletionTimestamp"].is_null();
        if self.lost.contains(uid) {
            if marked && self.evicted.insert(uid.to_string()) {
                self.first_evicted.get_or_insert(at);
                if self.evicted.len() == self.lost.len() {
                    self.evicted_all.get_or_insert(at);
                }
            }
            return;
        }
        if self.before.contains(uid) {
            return;
        }
        let node = pod["spec"]["nodeName"].as_str();
        let state = if marked {
            (false, false, false)
        } else {
            let bound = node.is_some_and(|n| n != self.victim);
            (
                bound,
                bound && pod["status"]["phase"] == "Running",
                bound && is_running_and_ready(pod),
            )
        };
        self.replacements.insert(uid.to_string(), state);
        let need = self.lost.len();
        let count = |f: fn(&(bool, bool, bool)) -> bool| {
            self.replacements.values().filter(|s| f(s)).count() >= need
        };
        if count(|s| s.0) {
            self.bound.get_or_insert(at);
        }
        if count(|s| s.1) {
            self.running.get_or_insert(at);
        }
        if count(|s| s.2) {
            self.ready.get_or_insert(at);
        }
    }

    /// Whether every phase is over.
    pub fn done(&self) -> bool {
        self.detected.is_some()
            && self.evicted_all.is_some()
            && self.bound.is_some()
            && self.running.is_some()
            && self.ready.is_some()
    }

    /// The phases not seen yet, for the error when the failover does not complete.
    pub fn missing(&self) -> Vec<&'static str> {
        [
            (self.detected, "detection (node not Ready)"),
            (self.evicted_all, "eviction (lost pods marked for deletion)"),
            (self.bound, "scheduling (replacements bound)"),
            (self.running, "start (replacements Running)"),
            (self.ready, "readiness (replacements Ready)"),
        ]
        .into_iter()
        .filter(|(t, _)| t.is_none())
        .map(|(_, what)| what)
        .collect()
    }
}

/// The node holding the most of `pods` (the first by name on a tie).
fn busiest_node(pods: &[Value]) -> Option<String> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pods {
        if let Some(n) = p["spec"]["nodeName"].as_str() {
            *per_node.entry(n).or_default() += 1;
        }
    }
    let most = per_node.values().copied().max()?;
    per_node
        .into_iter()
        .find(|(_, c)| *c == most)
        .map(|(n, _)| n.to_string())
}

/// Feeds both watches to `f` until it is done or `timeout` passes after `t0`.
async fn observe(
    f: &mut Failover,
    t0: Instant,
    nodes: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>,
    pods: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::from_std(t0 + timeout);
    while !f.done() {
        tokio::select! {
            n = nodes.recv() => {
                let n = n.context("the node watch ended")?;
                f.node(&n.object, n.at - t0);
            }
            p = pods.recv() => {
                let p = p.context("the pod watch ended")?;
                f.pod(&p.kind, &p.object, p.at - t0);
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
        }
    }
    Ok(())
}

/// Runs the failover benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.runtime == "process" || args.runtime == "docker",
        "--runtime is process or docker, not {:?}",
        args.runtime
    );
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    let server = BrumeChild::start(&["server"]).await?;
    let client = server.client.clone();
    let (mut agents, took) = start_ready_agents(&server, NODES, &args.runtime).await?;
    let config = brume_controllers::ControllersConfig::default();
    let heartbeat = brume_agent::heartbeat::HeartbeatConfig::default();
    println!(
        "brume bench failover: brume server pid {:?} + {NODES} brume agents ({} runtime), Ready after {:.1} s; deployment of {} replicas",
        server.child.id(),
        args.runtime,
        took.as_secs_f64(),
        args.replicas
    );
    println!(
        "  fog defaults: lease renewed every {} s, node NotReady after {} s without renewal (checked every {} s), pods evicted after a {} s toleration",
        heartbeat.renew_every.as_secs(),
        config.node_grace_period.as_secs(),
        config.node_monitor_period.as_secs(),
        config.default_eviction_toleration.as_secs()
    );

    client
        .request_text(post(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment(args.replicas, &args.runtime),
        ))
        .await
        .context("creating the deployment")?;
    let before = wait_running(&client, APP, args.replicas, Duration::from_secs(60)).await?;
    let victim_name = busiest_node(&before).context("no pod of the deployment is bound")?;
    let victim: &mut BenchAgent = agents
        .iter_mut()
        .find(|a| a.name == victim_name)
        .with_context(|| format!("pods run on {victim_name}, which is not a benchmark node"))?;

    let (node_task, mut node_rx) = watch(&client, "/api/v1/nodes").await?;
    let (pod_task, mut pod_rx) = watch(&client, &pods_path(APP)).await?;
    let mut f = Failover::new(&victim_name, &before);
    let victim_pid = victim.pid();
    let t0 = Instant::now();
    victim.kill().await?;
    observe(
        &mut f,
        t0,
        &mut node_rx,
        &mut pod_rx,
        Duration::from_secs(args.timeout_seconds),
    )
    .await?;
    node_task.abort();
    pod_task.abort();

    let incomplete = (!f.done()).then(|| f.missing());
    let cleanup = cleanup(&server, victim).await;
    if let Some(missing) = incomplete {
        let now: Vec<String> = labelled(&client, APP).await?.iter().map(describe).collect();
        anyhow::bail!(
            "the failover did not complete within {} s of the kill: not seen: {}; pods now: {}",
            args.timeout_seconds,
            missing.join(", "),
            now.join(" | ")
        );
    }

    let s = |d: Option<Duration>| d.unwrap_or_default().as_secs_f64();
    println!();
    println!(
        "failover: SIGKILL of agent {victim_name} (pid {victim_pid:?}, {} of {} pods) -> {} replacements Running and Ready on the other nodes",
        f.lost(),
        args.replicas,
        f.lost()
    );
    println!("  {:<52} {:>9} {:>9}", "", "at s", "phase ms");
    let line = |label: &str, at: Option<Duration>, from: Option<Duration>| {
        println!(
            "  {label:<52} {:>9.2} {:>9.0}",
            s(at),
            (s(at) - s(from)) * 1000.0
        );
    };
    line("detection: node Ready != True seen", f.detected, None);
    line(
        "eviction: every lost pod has a deletionTimestamp",
        f.evicted_all,
        f.detected,
    );
    line(
        "scheduling: replacements bound to live nodes",
        f.bound,
        f.evicted_all,
    );
    line("start: replacements Running", f.running, f.bound);
    line("       replacements Ready", f.ready, f.running);
    // Tolerations count from the last renewal the controller saw (the unreachable taint is
    // dated then), so the grace period is not added to the wait.
    let floor = config.default_eviction_toleration;
    let total = s(f.ready);
    println!(
        "  total kill -> replacements Ready: {total:.2} s (first lost pod evicted at {:.2} s)",
        s(f.first_evicted)
    );
    println!(
        "  baseline: the configured wait, a {} s toleration from the node's last renewal (grace {} s; the kill falls up to {} s after a renewal, checks run every {} s); total / floor = {:.3}; above the floor: {:.2} s",
        floor.as_secs(),
        config.node_grace_period.as_secs(),
        heartbeat.renew_every.as_secs(),
        config.node_monitor_period.as_secs(),
        total / floor.as_secs_f64(),
        total - floor.as_secs_f64()
    );
    match cleanup {
        Ok(took) => println!(
            "  cleanup: agent restarted, stale pods stopped, deployment deleted in {:.1} s",
            took.as_secs_f64()
        ),
        Err(e) => println!("  cleanup failed: {e:#}"),
    }
    Ok(())
}

/// Starts the killed agent again, so it stops the pod processes that outlived it, then deletes
/// the Deployment and waits for its pods to be gone.
async fn cleanup(server: &BrumeChild, victim: &mut BenchAgent) -> anyhow::Result<Duration> {
    let t = Instant::now();
    victim.restart(server)?;
    wait_nodes_ready(&server.client, &[&victim.name], Duration::from_secs(60)).await?;
    delete(
        &server.client,
        &format!("/apis/apps/v1/namespaces/default/deployments/{APP}"),
    )
    .await?;
    let left = wait_gone(&server.client, APP, Duration::from_secs(60)).await?;
    anyhow::ensure!(
        left == 0,
        "{left} pods of {APP} still exist 60 s after the deployment was deleted"
    );
    Ok(t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, node: Option<&str>, phase: &str, ready: bool) -> Value {
        json!({"metadata": {"name": uid, "uid": uid},
            "spec": {"nodeName": node},
            "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_phases_end_in_order_as_the_watches_show_them() {
        let before = [
            pod("a", Some("n1"), "Running", true),
            pod("b", Some("n2"), "Running", true),
            pod("c", Some("n1"), "Running", true),
        ];
        let mut f = Failover::new("n1", &before);
        assert_eq!(f.lost(), 2);
        f.node(
            &json!({"metadata": {"name": "n2"}, "status": {"conditions": [
            {"type": "Ready", "status": "Unknown"}]}}),
            secs(1),
        );
        assert_eq!(f.detected, None, "another node's condition does not count");
        f.node(
            &json!({"metadata": {"name": "n1"}, "status": {"conditions": [
            {"type": "Ready", "status": "Unknown"}]}}),
            secs(9),
        );
        assert_eq!(f.detected, Some(secs(9)));

        let mut a = before[0].clone();
        a["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        f.pod("MODIFIED", &a, secs(39));
        assert_eq!((f.first_evicted, f.evicted_all), (Some(secs(39)), None));
        f.pod("MODIFIED", &before[1], secs(39));
        f.pod("DELETED", &before[2], secs(40));
        assert_eq!(f.evicted_all, Some(secs(40)));

        f.pod("ADDED", &pod("d", None, "Pending", false), secs(40));
        f.pod(
            "MODIFIED",
            &pod("d", Some("n2"), "Pending", false),
            secs(40),
        );
        assert_eq!(f.bound, None, "one of two replacements bound");
        f.pod("ADDED", &pod("e", Some("n3"), "Pending", false), secs(41));
        assert_eq!(f.bound, Some(secs(41)));
        f.pod("MODIFIED", &pod("d", Some("n2"), "Running", true), secs(42));
        f.pod(
            "MODIFIED",
            &pod("e", Some("n3"), "Running", false),
            secs(42),
        );
        assert_eq!((f.running, f.ready), (Some(secs(42)), None));
        assert!(!f.done());
        assert_eq!(f.missing(), ["readiness (replacements Ready)"]);
        f.pod("MODIFIED", &pod("e", Some("n3"), "Running", true), secs(43));
        assert_eq!(f.ready, Some(secs(43)));
        assert!(f.done());
    }

    #[test]
    fn a_replacement_on_the_dead_node_or_being_deleted_does_not_count() {
        let before = [pod("a", Some("n1"), "Running", true)];
        let mut f = Failover::new("n1", &before);
        f.pod("ADDED", &pod("x", Some("n1"), "Running", true), secs(1));
        assert_eq!(f.bound, None);
        let mut y = pod("y", Some("n2"), "Running", true);
        y["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        f.pod("MODIFIED", &y, secs(2));
        assert_eq!(f.bound, None);
    }

    #[test]
    fn the_victim_is_the_node_with_the_most_pods() {
        let pods = [
            pod("a", Some("n2"), "Running", true),
            pod("b", Some("n1"), "Running", true),
            pod("c", Some("n2"), "Running", true),
        ];
        assert_eq!(busiest_node(&pods).as_deref(), Some("n2"));
        assert_eq!(busiest_node(&pods[..2]).as_deref(), Some("n1"));
        assert_eq!(busiest_node(&[]), None);
    }

    #[test]
    fn the_deployment_runs_sleep_pods_with_its_label() {
        let d = deployment(3, "process");
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["template"]["metadata"]["labels"]["app"], APP);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["command"][1],
            "3600"
        );
    }
}
