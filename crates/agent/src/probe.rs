//! Liveness, readiness and startup probes: HTTP GET, TCP and exec, with Kubernetes' timing
//! (initial delay, period, timeout, success and failure thresholds).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use brume_runtime::{ContainerId, ContainerRuntime};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// How a probe checks the container.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// GET `path` on the port; 200–399 passes.
    Http {
        /// The container port.
        port: u16,
        /// The path.
        path: String,
    },
    /// A TCP connect to the port passes.
    Tcp {
        /// The container port.
        port: u16,
    },
    /// The command exits 0.
    Exec {
        /// The command.
        command: Vec<String>,
    },
}

/// One probe of a container, with its timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// What it checks.
    pub check: Check,
    /// Seconds after the container starts before the first check.
    pub initial_delay: Duration,
    /// Time between checks.
    pub period: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// Consecutive passes that make the probe pass.
    pub success_threshold: u32,
    /// Consecutive failures that make it fail.
    pub failure_threshold: u32,
}

fn secs(v: &Value, key: &str, default: u64) -> Duration {
    Duration::from_secs(v.get(key).and_then(Value::as_u64).unwrap_or(default))
}

/// Resolves a probe port (number or the name of a container port).
fn port_of(port: &Value, container: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    container
        .get("ports")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|p| p.get("containerPort").and_then(Value::as_u64))
        .and_then(|n| u16::try_from(n).ok())
}

impl Probe {
    /// Reads a probe (`livenessProbe`, `readinessProbe`, `startupProbe`) of a container spec.
    pub fn from_spec(probe: &Value, container: &Value) -> Option<Probe> {
        let check = if let Some(h) = probe.get("httpGet") {
            Check::Http {
                port: port_of(h.get("port")?, container)?,
                path: h
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("/")
                    .to_string(),
            }
        } else if let Some(t) = probe.get("tcpSocket") {
            Check::Tcp {
                port: port_of(t.get("port")?, container)?,
            }
        } else if let Some(e) = probe.get("exec") {
            Check::Exec {
                command: e
                    .get("command")?
                    .as_array()?
                    .iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect(),
            }
        } else {
            return None;
        };
        Some(Probe {
            check,
            initial_delay: secs(probe, "initialDelaySeconds", 0),
            period: secs(probe, "periodSeconds", 10),
            timeout: secs(probe, "timeoutSeconds", 1),
            success_threshold: probe
                .get("successThreshold")
                .and_then(Value::as_u64)
                .unwrap_or(1) as u32,
            failure_threshold: probe
                .get("failureThreshold")
                .and_then(Value::as_u64)
                .unwrap_or(3) as u32,
        })
    }
}

/// The running state of one probe: when it last ran and its consecutive results.
#[derive(Clone, Debug)]
pub struct ProbeState {
    /// The probe.
    pub probe: Probe,
    next_at: Option<Instant>,
    successes: u32,
    failures: u32,
    /// The probe's verdict so far: passing (true) or failing (false).
    pub passing: bool,
}

/// What one round of a probe concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not due yet, or no change.
    Unchanged,
    /// It crossed its success threshold.
    Passed,
    /// It crossed its failure threshold.
    Failed,
}

impl ProbeState {
    /// A probe that has not run yet and starts as `initially_passing`.
    pub fn new(probe: Probe, initially_passing: bool) -> Self {
        ProbeState {
            probe,
            next_at: None,
            successes: 0,
            failures: 0,
            passing: initially_passing,
        }
    }

    /// Forgets results (the container restarted).
    pub fn reset(&mut self, initially_passing: bool) {
        self.next_at = None;
        self.successes = 0;
        self.failures = 0;
        self.passing = initially_passing;
    }

    /// True when the probe should run at `now` for a container that started at `started`.
    pub fn due(&self, started: Instant, now: Instant) -> bool {
        match self.next_at {
            None => now >= started + self.probe.initial_delay,
            Some(t) => now >= t,
        }
    }

    /// Records one result at `now`. Pure, so the thresholds are unit tested.
    pub fn record(&mut self, ok: bool, now: Instant) -> Verdict {
        self.next_at = Some(now + self.probe.period);
        if ok {
            self.failures = 0;
            self.successes += 1;
            if !self.passing && self.successes >= self.probe.success_threshold {
                self.passing = true;
                return Verdict::Passed;
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.passing && self.failures >= self.probe.failure_threshold {
                self.passing = false;
                return Verdict::Failed;
            }
        }
        Verdict::Unchanged
    }
}

/// Runs one check. Ports are container ports; `port_map` finds where they are published.
pub async fn check(
    probe: &Probe,
    host: IpAddr,
    port_map: &(dyn Fn(u16) -> Option<u16> + Sync),
    runtime: &Arc<dyn ContainerRuntime>,
    container: &ContainerId,
) -> bool {
    match &probe.check {
        Check::Tcp { port } => {
            let Some(p) = port_map(*port) else {
                return false;
            };
            tokio::time::timeout(
                probe.timeout,
                tokio::net::TcpStream::connect(SocketAddr::new(host, p)),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        }
        Check::Http { port, path } => {
            let Some(p) = port_map(*port) else {
                return false;
            };
            tokio::time::timeout(probe.timeout, http_get(SocketAddr::new(host, p), path))
                .await
                .unwrap_or(false)
        }
        Check::Exec { command } => runtime
            .exec(container, command, probe.timeout)
            .await
            .is_ok_and(|r| r.exit_code == 0),
    }
}

/// A minimal HTTP/1.0 GET: passes on a 2xx or 3xx status line.
async fn http_get(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: brume-probe\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 32];
    let Ok(n) = stream.read(&mut head).await else {
        return false;
    };
    let line = String::from_utf8_lossy(&head[..n]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (200..400).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_parse_with_kubernetes_defaults_and_named_ports() {
        let container = json!({"ports": [{"name": "http", "containerPort": 8080}]});
        let p = Probe::from_spec(
            &json!({"httpGet": {"port": "http", "path": "/healthz"}}),
            &container,
        )
        .unwrap();
        assert_eq!(
            p.check,
            Check::Http {
                port: 8080,
                path: "/healthz".into()
            }
        );
        assert_eq!(
            (p.period, p.timeout, p.failure_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 3)
        );
        assert!(Probe::from_spec(&json!({"httpGet": {"port": "nope"}}), &container).is_none());
    }

    #[test]
    fn thresholds_decide_verdicts() {
        let probe = Probe {
            check: Check::Tcp { port: 1 },
            initial_delay: Duration::from_secs(5),
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 2,
        };
        let t0 = Instant::now();
        let mut s = ProbeState::new(probe, true);
        assert!(!s.due(t0, t0 + Duration::from_secs(1)));
        assert!(s.due(t0, t0 + Duration::from_secs(5)));
        assert_eq!(s.record(false, t0), Verdict::Unchanged);
        assert_eq!(s.record(false, t0), Verdict::Failed);
        assert!(!s.passing);
        assert_eq!(s.record(true, t0), Verdict::Passed);
    }

    #[tokio::test]
    async fn http_checks_read_the_status_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "500 Oops"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes())
                    .await;
            }
        });
        assert!(http_get(addr, "/").await);
        assert!(!http_get(addr, "/").await);
    }
}
