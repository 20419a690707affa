//! `mumu-server check-ready`: asks a running server's `/readyz` over loopback and says whether
//! it is ready, for container health checks (the image has no curl, no shell tools).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;
use thiserror::Error;

/// Why the server is not ready.
#[derive(Debug, Error)]
pub enum NotReady {
    /// Nothing answered at the address.
    #[error("no server answers at {addr}: {source}")]
    Unreachable {
        /// Where it asked.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// The answer was not HTTP.
    #[error("{addr} did not answer with HTTP: {head:?}")]
    NotHttp {
        /// Where it asked.
        addr: SocketAddr,
        /// The first line it got.
        head: String,
    },
    /// The server answered, and said it is not ready.
    #[error("the server at {addr} is not ready ({status}): {body}")]
    Unready {
        /// Where it asked.
        addr: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// What `/readyz` said (which dependency is down).
        body: String,
    },
}

/// The answers a readiness check reads at most.
const MAX_ANSWER: u64 = 64 * 1024;

/// Asks `/readyz` of the server listening on `listen` (a wildcard address means this machine);
/// its body when ready.
pub fn check_ready(listen: SocketAddr, timeout: Duration) -> Result<String, NotReady> {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    let unreachable = |source| NotReady::Unreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(unreachable)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(unreachable)?;
    let answer = String::from_utf8_lossy(&answer);
    let head = answer.lines().next().unwrap_or_default().to_owned();
    let Some(status) = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
    else {
        return Err(NotReady::NotHttp { addr, head });
    };
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_owned())
        .unwrap_or_default();
    if status == 200 {
        Ok(body)
    } else {
        Err(NotReady::Unready { addr, status, body })
    }
}
