//! The async shell: a UDP socket and a TCP listener on one address, each request answered by
//! [`respond`] from the records current at that moment.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::records::DnsRecords;
use super::wire::{Transport, respond};

/// How long a TCP connection may sit idle between two queries before it is closed. RFC 7766
/// §6.2.3 recommends "on the order of seconds"; this bounds the connections a client can hold.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times to look for a port free for both UDP and TCP when asked for port 0.
const PORT_ZERO_ATTEMPTS: usize = 16;

/// A UDP datagram this large holds any query: queries are a header and one question, and the
/// largest EDNS payload clients announce is 4096.
const UDP_RECV_BUFFER: usize = 4096;

/// Why the DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The UDP socket or the TCP listener could not be bound (the port is taken, or below 1024
    /// without the privilege).
    #[error("binding the DNS server to {transport} {addr} failed: {source}")]
    Bind {
        /// `udp` or `tcp`.
        transport: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: io::Error,
    },
}

/// A running DNS server. Dropping it leaves the server running (as with a [`JoinHandle`]);
/// [`DnsServer::shutdown`] stops it.
#[derive(Debug)]
pub struct DnsServer {
    local_addr: SocketAddr,
    udp: JoinHandle<()>,
    tcp: JoinHandle<()>,
}

impl DnsServer {
    /// The address it answers on, UDP and TCP alike: the real port when port 0 was asked.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops answering: the UDP socket and the TCP listener close. TCP connections already
    /// accepted finish their current exchange and close when idle.
    pub fn shutdown(&self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

/// Binds `addr` for UDP and TCP and answers DNS there from the records in `records`, which the
/// agent replaces (`send`) as Services change; each query reads the latest value. With port 0 a
/// port free for both protocols is chosen; see [`DnsServer::local_addr`].
///
/// Binding happens before this returns, so an agent that cannot serve DNS learns it at once.
///
/// Bind the node's own address rather than `0.0.0.0`: on a host with several addresses a reply
/// from a wildcard UDP socket may leave from another address than the one asked, and resolvers
/// drop such replies.
pub async fn serve(
    addr: SocketAddr,
    records: watch::Receiver<Arc<DnsRecords>>,
) -> Result<DnsServer, DnsError> {
    let (udp, tcp) = bind(addr).await?;
    let local_addr = udp.local_addr().map_err(|source| DnsError::Bind {
        transport: "udp",
        addr,
        source,
    })?;
    tracing::info!(%local_addr, "dns: serving Service names over UDP and TCP");
    Ok(DnsServer {
        local_addr,
        udp: tokio::spawn(serve_udp(udp, records.clone())),
        tcp: tokio::spawn(serve_tcp(tcp, records)),
    })
}

/// A UDP socket and a TCP listener on the same port.
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let attempts = if addr.port() == 0 {
        PORT_ZERO_ATTEMPTS
    } else {
        1
    };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                transport: "udp",
                addr,
                source,
            })?;
        let bound = udp.local_addr().map_err(|source| DnsError::Bind {
            transport: "udp",
            addr,
            source,
        })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // The port the kernel chose for UDP is taken for TCP: try another one.
            Err(source) => last = Some(source),
        }
    }
    Err(DnsError::Bind {
        transport: "tcp",
        addr,
        source: last.unwrap_or_else(|| io::Error::other("no attempt made")),
    })
}

async fn serve_udp(socket: UdpSocket, records: watch::Receiver<Arc<DnsRecords>>) {
    let mut buf = vec![0u8; UDP_RECV_BUFFER];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // An ICMP "port unreachable" for an earlier reply surfaces here on Linux.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                tracing::warn!(error = %e, "dns: UDP receive failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let current = records.borrow().clone();
        let Some(response) = respond(&current, &buf[..len], Transport::Udp) else {
            tracing::debug!(%peer, len, "dns: dropped an unparseable UDP datagram");
            continue;
        };
        if let Err(e) = socket.send_to(&response, peer).await {
            tracing::debug!(%peer, error = %e, "dns: UDP reply failed");
        }
    }
}

async fn serve_tcp(listener: TcpListener, records: watch::Receiver<Arc<DnsRecords>>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "dns: TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let records = records.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, records).await {
                tracing::debug!(%peer, error = %e, "dns: TCP connection ended with an error");
            }
        });
    }
}

/// Answers length-prefixed queries (RFC 1035 §4.2.2) one after the other until the client
/// closes, stays idle for [`TCP_IDLE_TIMEOUT`], or sends something without a DNS header.
async fn serve_connection(
    mut stream: TcpStream,
    records: watch::Receiver<Arc<DnsRecords>>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await {
            Err(_idle) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(result) => result?,
        };
        buf.resize(usize::from(len), 0);
        tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut buf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "query body not sent"))??;
        let current = records.borrow().clone();
        let Some(response) = respond(&current, &buf, Transport::Tcp) else {
            return Ok(());
        };
        // `respond` keeps TCP answers within the two-byte length prefix.
        let Ok(out_len) = u16::try_from(response.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&out_len.to_be_bytes());
        framed.extend_from_slice(&response);
        stream.write_all(&framed).await?;
    }
}
