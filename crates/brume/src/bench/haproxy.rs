//! HAProxy (Debian's `haproxy`) as the baseline of `brume bench proxy`: a configuration
//! equivalent to the Brume proxy's, and the process running it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::process::{Child, Command};

/// What the HAProxy configuration sets up: the same two listeners as the Brume proxy child.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The HTTP-mode frontend (per-request round robin, keep-alive on both sides).
    pub http: SocketAddr,
    /// The TCP-mode frontend (per-connection round robin).
    pub tcp: SocketAddr,
    /// The backends, in order.
    pub backends: Vec<SocketAddr>,
    /// `nbthread`: the same number of threads as the Brume proxy's tokio workers.
    pub threads: usize,
}

/// The configuration file for `setup`.
///
/// The settings that matter for a fair comparison with the Brume proxy:
/// - `nbthread` as many as the Brume proxy's worker threads;
/// - `balance roundrobin` in both modes, as the Brume Service ports use `round-robin`;
/// - HTTP mode keeps client connections alive (`option http-keep-alive`, HAProxy's default) and
///   reuses idle server connections for any request (`http-reuse always`), as the Brume proxy's
///   shared pool does, and adds `X-Forwarded-For` (`option forwardfor`) as Brume does;
/// - no logging, as the Brume proxy child logs only warnings;
/// - timeouts long enough that the idle connections of the memory phase stay open.
pub(crate) fn config(setup: &Setup) -> String {
    let servers = |prefix: &str| -> String {
        setup
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server {prefix}{i} {b}\n"))
            .collect()
    };
    format!(
        "global
    nbthread {threads}
    maxconn 4096

defaults
    timeout connect 1s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s

frontend http_in
    mode http
    bind {http}
    option http-keep-alive
    option forwardfor
    default_backend http_servers

backend http_servers
    mode http
    balance roundrobin
    http-reuse always
{http_servers}
frontend tcp_in
    mode tcp
    bind {tcp}
    default_backend tcp_servers

backend tcp_servers
    mode tcp
    balance roundrobin
{tcp_servers}",
        threads = setup.threads,
        http = setup.http,
        tcp = setup.tcp,
        http_servers = servers("h"),
        tcp_servers = servers("t"),
    )
}

/// A running HAProxy with its configuration file.
pub(crate) struct HaProxy {
    /// The process (killed on drop).
    pub child: Child,
    /// Holds the configuration file.
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Starts `haproxy -db -f <config>`: in the foreground, one process (no master-worker), so
    /// the child's RSS is all of HAProxy.
    pub fn start(setup: &Setup) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let file: PathBuf = dir.path().join("haproxy.cfg");
        std::fs::write(&file, config(setup))?;
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting haproxy (is it installed? apt-get install haproxy)")?;
        Ok(Self { child, _dir: dir })
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("haproxy has exited")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_every_backend_in_both_modes() {
        let setup = Setup {
            http: "127.0.0.1:8001".parse().unwrap(),
            tcp: "127.0.0.1:8002".parse().unwrap(),
            backends: vec![
                "127.0.0.1:9001".parse().unwrap(),
                "127.0.0.1:9002".parse().unwrap(),
            ],
            threads: 1,
        };
        let c = config(&setup);
        assert!(c.contains("nbthread 1\n"));
        assert!(c.contains("bind 127.0.0.1:8001\n"));
        assert!(c.contains("bind 127.0.0.1:8002\n"));
        assert!(c.contains("http-reuse always\n"));
        for s in [
            "server h0 127.0.0.1:9001",
            "server h1 127.0.0.1:9002",
            "server t0 127.0.0.1:9001",
            "server t1 127.0.0.1:9002",
        ] {
            assert!(c.contains(s), "{s} missing from\n{c}");
        }
        assert_eq!(c.matches("balance roundrobin").count(), 2);
    }
}
