//! The memory phase of `brume bench proxy`: the resident memory an open, idle client
//! connection costs the Brume proxy and HAProxy.
//!
//! For each proxy and mode, a fresh proxy process; its `VmRSS` before and after `n` client
//! connections were opened through it, each after one request and then idle (a keep-alive
//! client between requests). A fresh process per case, so that one case does not reuse memory
//! another freed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::haproxy::HaProxy;
use super::proc::{Memory, mib};
use super::proxy::{Target, start_brume, start_haproxy};
use super::proxy_child::BenchChild;

/// A proxy process for the memory phase, killed on drop.
enum Fresh {
    Brume(BenchChild),
    Haproxy(HaProxy),
}

impl Fresh {
    fn pid(&self) -> anyhow::Result<u32> {
        match self {
            Fresh::Brume(c) => c.pid(),
            Fresh::Haproxy(h) => h.pid(),
        }
    }
}

/// What opening the idle connections did to one proxy process.
struct ConnMemory {
    label: &'static str,
    before: Memory,
    after: Memory,
    opened: usize,
}

impl ConnMemory {
    fn kib_per_connection(&self) -> f64 {
        (self.after.rss as f64 - self.before.rss as f64) / 1024.0 / self.opened.max(1) as f64
    }
}

pub(super) async fn memory(
    n: usize,
    threads: usize,
    backends: &[SocketAddr],
) -> anyhow::Result<()> {
    let cases = [
        ("Brume TCP", Target::BrumeTcp),
        ("Brume HTTP", Target::BrumeHttp),
        ("HAProxy TCP", Target::HaproxyTcp),
        ("HAProxy HTTP", Target::HaproxyHttp),
    ];
    let mut figures = Vec::new();
    for (label, target) in cases {
        let (proxy, addr) = match target {
            Target::BrumeTcp | Target::BrumeHttp => {
                let (c, http, tcp) = start_brume(threads, backends).await?;
                let addr = if target == Target::BrumeTcp {
                    tcp
                } else {
                    http
                };
                (Fresh::Brume(c), addr)
            }
            _ => {
                let (h, http, tcp) = start_haproxy(threads, backends).await?;
                let addr = if target == Target::HaproxyTcp {
                    tcp
                } else {
                    http
                };
                (Fresh::Haproxy(h), addr)
            }
        };
        // Warm up: the first connections allocate what every later one shares (pools, the
        // allocator's first pages); they are closed before the baseline.
        drop(open_idle(addr, 16).await?);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = Memory::of(proxy.pid()?)?;
        let conns = open_idle(addr, n)
            .await
            .with_context(|| format!("opening {n} connections through {label}"))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = Memory::of(proxy.pid()?)?;
        figures.push(ConnMemory {
            label,
            before,
            after,
            opened: conns.len(),
        });
        drop(conns);
        drop(proxy);
    }
    println!(
        "proxy memory per open connection: VmRSS of a fresh proxy process before and after {n} client connections, each after one GET and then idle"
    );
    println!(
        "  {:<16} {:>11} {:>10} {:>10} {:>16}",
        "", "before MiB", "after MiB", "KiB/conn", "MiB per 1,000"
    );
    for f in &figures {
        let per = f.kib_per_connection();
        println!(
            "  {:<16} {:>11.1} {:>10.1} {:>10.1} {:>16.1}",
            f.label,
            mib(f.before.rss),
            mib(f.after.rss),
            per,
            per * 1000.0 / 1024.0
        );
    }
    Ok(())
}

/// Opens `n` connections to `addr`, one after the other, sends one `GET /` on each and reads
/// the answer; returns them open and idle.
async fn open_idle(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    let mut buf = Vec::with_capacity(1024);
    for i in 0..n {
        let mut s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connection {i} to {addr}"))?;
        s.set_nodelay(true)?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await?;
        tokio::time::timeout(Duration::from_secs(5), read_response(&mut s, &mut buf))
            .await
            .with_context(|| format!("no answer on connection {i} to {addr} within 5 s"))?
            .with_context(|| format!("reading the answer on connection {i} to {addr}"))?;
        conns.push(s);
    }
    Ok(conns)
}

/// Reads one HTTP/1.1 response with a `Content-Length` body.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(total) = response_length(buf)?
            && buf.len() >= total
        {
            return Ok(());
        }
        let n = s.read(&mut chunk).await?;
        anyhow::ensure!(
            n > 0,
            "the connection closed after {} bytes: {:?}",
            buf.len(),
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the whole response (head and body) once its head is in `buf`.
fn response_length(buf: &[u8]) -> anyhow::Result<Option<usize>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "not a 200 answer: {head:?}"
    );
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .with_context(|| format!("no Content-Length in {head:?}"))?;
    Ok(Some(end + 4 + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_after_its_body() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: x\r\n\r\n";
        assert_eq!(response_length(&head[..10]).unwrap(), None);
        assert_eq!(response_length(head).unwrap(), Some(head.len() + 5));
        assert!(response_length(b"HTTP/1.1 503 No\r\ncontent-length: 0\r\n\r\n").is_err());
        assert!(response_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
