//! `brume bench proxy`: the per-node service proxy (`brume-proxy`) against a direct connection
//! to a backend and against HAProxy, on loopback, in one run.
//!
//! Every piece is its own process, so CPU time and resident memory are each one's own:
//! - `--backends` HTTP/1.1 keep-alive backends (hidden `brume bench proxy-backend`, a tiny hyper
//!   server answering a fixed 33-byte body, one tokio worker each);
//! - the Brume proxy (hidden `brume bench proxy-child`) with a static routing table: the same
//!   backends behind an HTTP-mode Service port (per-request round robin through its keep-alive
//!   pool) and a TCP-mode one (per-connection round robin), with `--threads` tokio workers;
//! - HAProxy with the equivalent configuration and `nbthread` = `--threads` (see
//!   [`super::haproxy::config`]).
//!
//! Throughput and latency: `wrk -t1 -c<N> -d<D>s --latency` against the first backend directly
//! (the baseline), Brume HTTP, Brume TCP, HAProxy HTTP and HAProxy TCP, each after a warm-up
//! run. Memory: for each proxy and mode, a fresh proxy process; its `VmRSS` before and after
//! `--idle-connections` client connections were opened through it, each after one request and
//! then idle (a keep-alive client between requests).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use super::haproxy::{self, HaProxy};
use super::proc::cpu_seconds_of;
use super::proxy_child::{BODY, BenchChild, free_port, wait_port};
use super::wrk::{self, Load, Report};

/// Arguments of `brume bench proxy`.
#[derive(clap::Args)]
pub struct Args {
    /// wrk connections (`-c`), each with one request in flight.
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    /// Seconds of each measured wrk run (`-d`).
    #[arg(long, short = 'd', default_value_t = 10)]
    duration: u64,
    /// Seconds of the warm-up wrk run before each measured one (0: none).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Backend processes behind the proxies.
    #[arg(long, default_value_t = 3)]
    backends: usize,
    /// Tokio worker threads of the Brume proxy, and HAProxy's `nbthread`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Idle client connections opened through each proxy for the memory figures (0: skip).
    #[arg(long, default_value_t = 1000)]
    idle_connections: usize,
    /// Times to run the five targets; the table shows each target's median run by req/s.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Fail instead of installing missing `wrk` and `haproxy` with apt-get.
    #[arg(long)]
    no_install: bool,
}

/// What wrk is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Direct,
    BrumeHttp,
    BrumeTcp,
    HaproxyHttp,
    HaproxyTcp,
}

impl Target {
    const ALL: [Target; 5] = [
        Target::Direct,
        Target::BrumeHttp,
        Target::BrumeTcp,
        Target::HaproxyHttp,
        Target::HaproxyTcp,
    ];

    fn label(self) -> &'static str {
        match self {
            Target::Direct => "direct to one backend (baseline)",
            Target::BrumeHttp => "Brume HTTP (per request)",
            Target::BrumeTcp => "Brume TCP (per connection)",
            Target::HaproxyHttp => "HAProxy HTTP (http-reuse always)",
            Target::HaproxyTcp => "HAProxy TCP",
        }
    }

    /// The HAProxy run a Brume run is compared with.
    fn haproxy_peer(self) -> Option<Target> {
        match self {
            Target::BrumeHttp => Some(Target::HaproxyHttp),
            Target::BrumeTcp => Some(Target::HaproxyTcp),
            _ => None,
        }
    }
}

/// One measured run: wrk's report and the CPU the process in the middle used.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    report: Report,
    /// CPU seconds of the proxy process during the run; `None` for the direct run.
    proxy_cpu: Option<f64>,
    /// The run's length in seconds.
    seconds: f64,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    target: Target,
    measured: Measured,
    /// req/s over the direct run's.
    to_direct: f64,
    /// req/s over the matching HAProxy run's (Brume rows only).
    to_haproxy: Option<f64>,
    /// p50 minus the direct run's p50, in µs (proxied rows only).
    added_p50_us: Option<f64>,
}

/// The comparisons of one set of runs; `None` without a direct run.
fn compare(runs: &[(Target, Measured)]) -> Option<Vec<Row>> {
    let find = |t: Target| runs.iter().find(|(r, _)| *r == t).map(|(_, m)| m);
    let direct = find(Target::Direct)?.report;
    let rows = runs.iter().map(|(target, m)| {
        let to_haproxy = target
            .haproxy_peer()
            .and_then(find)
            .map(|h| m.report.requests_per_second / h.report.requests_per_second);
        Row {
            target: *target,
            measured: *m,
            to_direct: m.report.requests_per_second / direct.requests_per_second,
            to_haproxy,
            added_p50_us: (*target != Target::Direct).then_some(m.report.p50_us - direct.p50_us),
        }
    });
    Some(rows.collect())
}

/// For each target, the run with the median req/s among `rounds` (the lower middle one for an
/// even count).
fn medians(rounds: &[Vec<(Target, Measured)>]) -> Vec<(Target, Measured)> {
    Target::ALL
        .iter()
        .filter_map(|t| {
            let mut runs: Vec<Measured> = rounds
                .iter()
                .filter_map(|r| r.iter().find(|(x, _)| x == t).map(|(_, m)| *m))
                .collect();
            runs.sort_by(|a, b| {
                let (a, b) = (a.report.requests_per_second, b.report.requests_per_second);
                a.total_cmp(&b)
            });
            let m = *runs.get(runs.len().checked_sub(1)? / 2)?;
            Some((*t, m))
        })
        .collect()
}

/// The processes and addresses of the throughput phase.
struct Rig {
    _backends: Vec<BenchChild>,
    backends: Vec<SocketAddr>,
    brume: BenchChild,
    brume_http: SocketAddr,
    brume_tcp: SocketAddr,
    haproxy: HaProxy,
    haproxy_http: SocketAddr,
    haproxy_tcp: SocketAddr,
}

impl Rig {
    fn address(&self, t: Target) -> SocketAddr {
        match t {
            Target::Direct => self.backends[0],
            Target::BrumeHttp => self.brume_http,
            Target::BrumeTcp => self.brume_tcp,
            Target::HaproxyHttp => self.haproxy_http,
            Target::HaproxyTcp => self.haproxy_tcp,
        }
    }

    fn proxy_pid(&self, t: Target) -> anyhow::Result<Option<u32>> {
        Ok(match t {
            Target::Direct => None,
            Target::BrumeHttp | Target::BrumeTcp => Some(self.brume.pid()?),
            Target::HaproxyHttp | Target::HaproxyTcp => Some(self.haproxy.pid()?),
        })
    }
}

/// Runs the proxy benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.connections >= 1, "--connections must be at least 1");
    anyhow::ensure!(args.duration >= 1, "--duration must be at least 1 s");
    anyhow::ensure!(args.backends >= 1, "--backends must be at least 1");
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    ensure_tools(!args.no_install).await?;

    let (backend_children, backends) = start_backends(args.backends).await?;
    let (brume, brume_http, brume_tcp) = start_brume(args.threads, &backends).await?;
    let (haproxy, haproxy_http, haproxy_tcp) = start_haproxy(args.threads, &backends).await?;
    let rig = Rig {
        _backends: backend_children,
        backends,
        brume,
        brume_http,
        brume_tcp,
        haproxy,
        haproxy_http,
        haproxy_tcp,
    };
    let load = Load {
        connections: args.connections,
        duration: Duration::from_secs(args.duration),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "brume bench proxy: {} backends (brume bench proxy-backend, hyper, 1 worker each, {}-byte body), Brume proxy pid {} ({} worker thread(s)), {} pid {} (nbthread {}), round robin; {cores} cores shared by wrk, backends and proxies",
        args.backends,
        BODY.len(),
        rig.brume.pid()?,
        args.threads,
        haproxy_version().await,
        rig.haproxy.pid()?,
        args.threads,
    );
    println!(
        "  load: {} (after a {} s warm-up)",
        load.command("<target>"),
        args.warmup
    );

    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let mut runs = Vec::new();
        for t in Target::ALL {
            let url = format!("http://{}/", rig.address(t));
            if args.warmup > 0 {
                let warm = Load {
                    duration: Duration::from_secs(args.warmup),
                    ..load
                };
                wrk::run(&url, warm).await?;
            }
            let pid = rig.proxy_pid(t)?;
            let cpu_before = pid.and_then(cpu_of);
            let report = wrk::run(&url, load).await?;
            let proxy_cpu = match (cpu_before, pid.and_then(cpu_of)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let m = Measured {
                report,
                proxy_cpu,
                seconds: load.duration.as_secs_f64(),
            };
            println!(
                "  round {}: {:<34} {:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs{}",
                round + 1,
                t.label(),
                report.requests_per_second,
                report.p50_us,
                report.p99_us,
                errors(&report)
            );
            runs.push((t, m));
        }
        rounds.push(runs);
    }
    drop(rig.brume);
    drop(rig.haproxy);

    let rows = compare(&medians(&rounds)).context("no direct run to compare with")?;
    println!();
    print_table(&rows, &load, args.rounds);

    if args.idle_connections > 0 {
        println!();
        super::proxy_memory::memory(args.idle_connections, args.threads, &rig.backends).await?;
    }
    Ok(())
}

fn cpu_of(pid: u32) -> Option<f64> {
    cpu_seconds_of(&format!("/proc/{pid}/stat"))
}

/// Socket errors and bad statuses, when wrk saw any.
fn errors(r: &Report) -> String {
    if r.socket_errors == 0 && r.bad_status == 0 {
        return String::new();
    }
    format!(
        "  ({} socket errors, {} non-2xx/3xx)",
        r.socket_errors, r.bad_status
    )
}

fn print_table(rows: &[Row], load: &Load, rounds: usize) {
    let which = if rounds > 1 {
        format!(", median of {rounds} rounds by req/s")
    } else {
        String::new()
    };
    println!(
        "proxy throughput and latency: {}{which}",
        load.command("<target>")
    );
    println!(
        "  {:<34} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8}",
        "", "req/s", "p50 µs", "p99 µs", "/direct", "/HAProxy", "+p50 µs", "cores", "CPU µs/r"
    );
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    for r in rows {
        let rep = &r.measured.report;
        let cores = r.measured.proxy_cpu.map(|c| c / r.measured.seconds);
        let per_request = r
            .measured
            .proxy_cpu
            .map(|c| c * 1e6 / rep.requests.max(1) as f64);
        println!(
            "  {:<34} {:>9.0} {:>8.0} {:>8.0} {:>8.2} {:>8} {:>8} {:>7} {:>8}{}",
            r.target.label(),
            rep.requests_per_second,
            rep.p50_us,
            rep.p99_us,
            r.to_direct,
            opt(r.to_haproxy, 2),
            opt(r.added_p50_us, 0),
            opt(cores, 2),
            opt(per_request, 1),
            errors(rep)
        );
    }
    println!(
        "  targets (keep-alive): Brume / direct >= 0.9 and >= HAProxy's ratio; added p50 <= 50 µs. cores: CPU of the proxy process during the run; CPU µs/r: that CPU per request"
    );
}

/// Installs `wrk` and `haproxy` with apt-get when they are missing and `install` is set.
async fn ensure_tools(install: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = ["wrk", "haproxy"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::ensure!(
        install,
        "{} not found on PATH; install with `apt-get install -y {}`, or run without --no-install",
        missing.join(" and "),
        missing.join(" ")
    );
    println!("installing {} with apt-get", missing.join(" "));
    for args in [
        vec!["update"],
        [
            vec!["install", "-y", "--no-install-recommends"],
            missing.clone(),
        ]
        .concat(),
    ] {
        let status = tokio::process::Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .await
            .context("running apt-get")?;
        anyhow::ensure!(
            status.success(),
            "apt-get {} failed ({status}); install {} by hand",
            args.join(" "),
            missing.join(" ")
        );
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// The first line of `haproxy -v`, shortened to `HAProxy <version>`.
async fn haproxy_version() -> String {
    let out = tokio::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .await;
    out.ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next()?.to_owned();
            let version = first.split_whitespace().nth(2)?.to_owned();
            Some(format!("HAProxy {version}"))
        })
        .unwrap_or_else(|| "HAProxy".to_owned())
}

async fn start_backends(n: usize) -> anyhow::Result<(Vec<BenchChild>, Vec<SocketAddr>)> {
    let mut children = Vec::with_capacity(n);
    let mut addrs = Vec::with_capacity(n);
    for _ in 0..n {
        let addr = free_port()?;
        let args = [
            "proxy-backend".to_owned(),
            "--listen".into(),
            addr.to_string(),
        ];
        children.push(BenchChild::start(&args, addr).await?);
        addrs.push(addr);
    }
    Ok((children, addrs))
}

pub(super) async fn start_brume(
    threads: usize,
    backends: &[SocketAddr],
) -> anyhow::Result<(BenchChild, SocketAddr, SocketAddr)> {
    let (http, tcp) = (free_port()?, free_port()?);
    let mut args = vec![
        "proxy-child".to_owned(),
        "--threads".into(),
        threads.to_string(),
        "--http".into(),
        http.to_string(),
        "--tcp".into(),
        tcp.to_string(),
    ];
    for b in backends {
        args.extend(["--backend".to_owned(), b.to_string()]);
    }
    let mut child = BenchChild::start(&args, http).await?;
    child.wait_port(tcp).await?;
    Ok((child, http, tcp))
}

pub(super) async fn start_haproxy(
    threads: usize,
    backends: &[SocketAddr],
) -> anyhow::Result<(HaProxy, SocketAddr, SocketAddr)> {
    let setup = haproxy::Setup {
        http: free_port()?,
        tcp: free_port()?,
        backends: backends.to_vec(),
        threads,
    };
    let mut h = HaProxy::start(&setup)?;
    for addr in [setup.http, setup.tcp] {
        wait_port(addr, || match h.child.try_wait() {
            Ok(Some(status)) => Some(format!("(haproxy) exited with {status}")),
            _ => None,
        })
        .await?;
    }
    Ok((h, setup.http, setup.tcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(rps: f64, p50: f64) -> Measured {
        Measured {
            report: Report {
                requests_per_second: rps,
                p50_us: p50,
                p99_us: p50 * 3.0,
                requests: (rps * 10.0) as u64,
                ..Report::default()
            },
            proxy_cpu: Some(5.0),
            seconds: 10.0,
        }
    }

    #[test]
    fn rows_compare_with_direct_and_with_haproxy() {
        let runs = vec![
            (Target::Direct, measured(100.0, 200.0)),
            (Target::BrumeHttp, measured(45.0, 260.0)),
            (Target::HaproxyHttp, measured(50.0, 240.0)),
        ];
        let rows = compare(&runs).unwrap();
        assert_eq!(rows[0].to_direct, 1.0);
        assert_eq!(rows[0].added_p50_us, None);
        assert_eq!(rows[1].to_direct, 0.45);
        assert_eq!(rows[1].to_haproxy, Some(0.9));
        assert_eq!(rows[1].added_p50_us, Some(60.0));
        assert_eq!(rows[2].to_haproxy, None);
        assert!(compare(&runs[1..]).is_none());
    }

    #[test]
    fn the_median_round_is_kept_per_target() {
        let rounds: Vec<Vec<(Target, Measured)>> = [30.0, 10.0, 20.0]
            .iter()
            .map(|&r| {
                vec![
                    (Target::Direct, measured(r, r)),
                    (Target::BrumeTcp, measured(r * 2.0, r)),
                ]
            })
            .collect();
        let m = medians(&rounds);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1.report.requests_per_second, 20.0);
        assert_eq!(m[1].1.report.requests_per_second, 40.0);
        assert_eq!(medians(&rounds[..2])[0].1.report.requests_per_second, 10.0);
    }
}
