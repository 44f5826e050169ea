//! Runs [wrk](https://github.com/wg/wrk) and reads its report: requests per second, latency
//! percentiles and errors.

use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Report {
    /// `Requests/sec`.
    pub requests_per_second: f64,
    /// The 50% line of `Latency Distribution`, in microseconds.
    pub p50_us: f64,
    /// The 99% line, in microseconds.
    pub p99_us: f64,
    /// Responses counted (`N requests in ...`).
    pub requests: u64,
    /// `Socket errors` (connect + read + write + timeout), 0 when wrk printed none.
    pub socket_errors: u64,
    /// `Non-2xx or 3xx responses`, 0 when wrk printed none.
    pub bad_status: u64,
}

/// How to load a target.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    /// wrk `-c`: connections kept open, each with one request in flight.
    pub connections: usize,
    /// wrk `-d`.
    pub duration: Duration,
}

impl Load {
    /// The command line wrk runs with, for the printed report.
    pub fn command(&self, url: &str) -> String {
        format!(
            "wrk -t1 -c{} -d{}s --latency {url}",
            self.connections,
            self.duration.as_secs()
        )
    }
}

/// Runs `wrk -t1 -c<connections> -d<duration>s --latency <url>` and parses its report.
///
/// One wrk thread: on a two-core host the load generator must leave the other core to the
/// backend and the proxy, and one thread drives 32 keep-alive connections with room to spare.
pub(crate) async fn run(url: &str, load: Load) -> anyhow::Result<Report> {
    let out = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--latency")
        .arg(url)
        .output()
        .await
        .context("running wrk (is it installed? apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "{} failed ({}): {}{}",
        load.command(url),
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&text).with_context(|| format!("reading the report of {}:\n{text}", load.command(url)))
}

/// Parses wrk's `--latency` report.
pub(crate) fn parse(text: &str) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let (mut rps, mut p50, mut p99) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = Some(v.trim().parse::<f64>().context("Requests/sec")?);
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = Some(duration_us(v.trim())?);
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = Some(duration_us(v.trim())?);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            report.socket_errors = v
                .split(',')
                .filter_map(|f| f.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.bad_status = v.trim().parse().context("Non-2xx or 3xx responses")?;
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            report.requests = n.trim().parse().unwrap_or(0);
        }
    }
    report.requests_per_second = rps.context("no Requests/sec line")?;
    report.p50_us = p50.context("no 50% line (was --latency given?)")?;
    report.p99_us = p99.context("no 99% line")?;
    Ok(report)
}

/// A wrk duration such as `277.00us`, `1.23ms` or `2.00s`, in microseconds.
fn duration_us(text: &str) -> anyhow::Result<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .with_context(|| format!("no unit in {text:?}"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("bad number in {text:?}"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => anyhow::bail!("unit {unit:?} in {text:?} is not one of us, ms, s, m, h"),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://127.0.0.1:8080/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   293.59us  105.07us   3.92ms   80.52%
    Req/Sec    97.72k     5.65k  107.38k    76.00%
  Latency Distribution
     50%  277.00us
     75%  328.00us
     90%  389.00us
     99%    1.53ms
  972329 requests in 10.00s, 113.11MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 5
Requests/sec:  97229.96
Transfer/sec:     11.31MB
";

    #[test]
    fn a_latency_report_is_read() {
        let r = parse(REPORT).unwrap();
        assert_eq!(r.requests_per_second, 97229.96);
        assert_eq!(r.p50_us, 277.0);
        assert_eq!(r.p99_us, 1530.0);
        assert_eq!(r.requests, 972_329);
        assert_eq!(r.socket_errors, 3);
        assert_eq!(r.bad_status, 5);
    }

    #[test]
    fn a_report_without_errors_counts_none() {
        let text: String = REPORT
            .lines()
            .filter(|l| !l.contains("errors") && !l.contains("Non-2xx"))
            .map(|l| format!("{l}\n"))
            .collect();
        let r = parse(&text).unwrap();
        assert_eq!((r.socket_errors, r.bad_status), (0, 0));
    }

    #[test]
    fn a_report_without_percentiles_is_refused() {
        let text = "Requests/sec: 10.0\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("--latency"), "{err}");
    }

    #[test]
    fn durations_carry_their_unit() {
        assert_eq!(duration_us("12.5us").unwrap(), 12.5);
        assert_eq!(duration_us("2.00s").unwrap(), 2e6);
        assert!(duration_us("3.0parsecs").is_err());
        assert!(duration_us("42").is_err());
    }
}
