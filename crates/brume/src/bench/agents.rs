//! `brume agent` children for the benchmarks, each on a free loopback address, and waiting for
//! their nodes to be Ready.
//!
//! [`BenchAgent::spawn`] is the one place a benchmark starts `brume agent`: when its command
//! line changes, this is what changes.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio::process::Child;

use super::child::BrumeChild;
use super::kit::get_json;

/// The port an agent serves logs on; a loopback address where it is free can host an agent.
const AGENT_PORT: u16 = brume_agent::logs::AGENT_PORT;

/// A `brume agent` child process: one node.
pub(crate) struct BenchAgent {
    /// The node name.
    pub name: String,
    /// The node address (its log endpoint binds there).
    pub address: Ipv4Addr,
    /// The agent's state folder, inside the server's temporary data folder.
    pub data: PathBuf,
    /// The runtime handlers it offers, `process` or `docker`.
    pub runtimes: String,
    /// The process (SIGKILLed on drop, as a crash would).
    pub child: Child,
}

impl BenchAgent {
    /// Starts `brume agent` for `server` as node `name` on `address`.
    fn spawn(
        server: &BrumeChild,
        name: &str,
        address: Ipv4Addr,
        data: &std::path::Path,
        runtimes: &str,
    ) -> anyhow::Result<Child> {
        let kubeconfig = kube::config::Kubeconfig::read_from(server.kubeconfig())?;
        let url = kubeconfig
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref()?.server.clone())
            .context("the server's kubeconfig names no server")?;
        let join_token = server.kubeconfig().with_file_name("join-token");
        let token = std::fs::read_to_string(&join_token)
            .with_context(|| format!("reading {}", join_token.display()))?;
        tokio::process::Command::new(std::env::current_exe()?)
            .arg("agent")
            .args(["--server", &url, "--token", token.trim()])
            .args(["--name", name])
            .args(["--address", &address.to_string()])
            .arg("--data")
            .arg(data)
            .args(["--runtimes", runtimes])
            .env("BRUME_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting brume agent {name} on {address}"))
    }

    /// The agent's process id (None once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILLs the agent (its pods' processes live on, as after a crash) and reaps it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("killing agent {}", self.name))
    }

    /// Starts the agent again with the same name, address and state folder, as a node that
    /// comes back: it re-adopts what its runtime still runs and stops what was replaced.
    pub fn restart(&mut self, server: &BrumeChild) -> anyhow::Result<()> {
        self.child = Self::spawn(server, &self.name, self.address, &self.data, &self.runtimes)?;
        Ok(())
    }
}

/// Starts `count` agents for `server` offering `runtimes`, named `bench-<pid>-<i>`, each on a
/// free loopback address in 127.77.0.0/16 (not `brume dev`'s fixed 127.0.0.2-4, which test
/// clusters running on the same machine may hold).
pub(crate) fn start_agents(
    server: &BrumeChild,
    count: usize,
    runtimes: &str,
) -> anyhow::Result<Vec<BenchAgent>> {
    let tag = std::process::id();
    let addresses = free_loopback_addresses(count);
    anyhow::ensure!(
        addresses.len() == count,
        "only {} of {count} loopback addresses in 127.77.0.0/16 have port {AGENT_PORT} free",
        addresses.len()
    );
    addresses
        .into_iter()
        .enumerate()
        .map(|(i, address)| {
            let name = format!("bench-{tag}-{i}");
            let data = server._dir.path().join(format!("agent-{i}"));
            let child = BenchAgent::spawn(server, &name, address, &data, runtimes)?;
            Ok(BenchAgent {
                name,
                address,
                data,
                runtimes: runtimes.to_string(),
                child,
            })
        })
        .collect()
}

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

/// The status of a Node's Ready condition (`True`, `False`, `Unknown`), if it has one.
pub(crate) fn ready_status(node: &Value) -> Option<&str> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .get("status")?
        .as_str()
}

/// Waits until every node in `names` is Ready, for at most `timeout`.
pub(crate) async fn wait_nodes_ready(
    client: &kube::Client,
    names: &[&str],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    loop {
        let nodes = get_json(client, "/api/v1/nodes").await?;
        let items = nodes["items"].as_array().cloned().unwrap_or_default();
        let not_ready: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| {
                !items
                    .iter()
                    .any(|n| n["metadata"]["name"] == *name && ready_status(n) == Some("True"))
            })
            .collect();
        if not_ready.is_empty() {
            return Ok(t.elapsed());
        }
        anyhow::ensure!(
            t.elapsed() < timeout,
            "nodes {not_ready:?} not Ready after {} s (is `brume agent` failing? run it by hand \
             with BRUME_LOG=info)",
            timeout.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `count` agents and waits for their nodes to be Ready.
pub(crate) async fn start_ready_agents(
    server: &BrumeChild,
    count: usize,
    runtimes: &str,
) -> anyhow::Result<(Vec<BenchAgent>, Duration)> {
    let agents = start_agents(server, count, runtimes)?;
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    let took = wait_nodes_ready(&server.client, &names, Duration::from_secs(60)).await?;
    Ok((agents, took))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_ready_condition_is_read_by_type() {
        let ready = json!({"status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        let unknown = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(ready_status(&ready), Some("True"));
        assert_eq!(ready_status(&unknown), Some("Unknown"));
        assert_eq!(ready_status(&json!({})), None);
    }

    #[test]
    fn free_loopback_addresses_are_distinct_and_bindable() {
        let a = free_loopback_addresses(3);
        assert_eq!(a.len(), 3);
        assert!(a[0] != a[1] && a[1] != a[2] && a[0] != a[2]);
        assert!(a.iter().all(|x| x.octets()[..2] == [127, 77]));
    }
}
