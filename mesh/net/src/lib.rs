//! Outgoing TCP connections of the mesh's clients: the proxy's upstream connections and its
//! control-plane channels to Pilot and Citadel.
//!
//! Every connection gets `TCP_NODELAY` (requests and xDS responses are small; latency matters
//! more than packet count) and is refused when the kernel connected the socket to itself. That
//! happens on Linux when nothing listens on a loopback port inside the ephemeral range and the
//! connecting socket is given that very port as its own: the SYN meets itself (simultaneous
//! open) and `connect` succeeds. A sidecar whose Pilot on the same host is down, and which
//! reconnects every few hundred milliseconds, would then hold a "connection to Pilot" that
//! only echoes what it sends, and would keep Pilot from binding its port when it comes back.
//! Go's dialer checks for the same case.

use std::io;
use std::net::SocketAddr;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, ToSocketAddrs};

/// Ports when a URI names none, as its scheme implies.
const HTTP_PORT: u16 = 80;
const HTTPS_PORT: u16 = 443;

/// Connects to `addr` with `TCP_NODELAY`; a socket connected to itself is closed and reported
/// as [`io::ErrorKind::ConnectionRefused`], since nothing listens there.
pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
    let stream = refuse_self(TcpStream::connect(addr).await?)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `stream`, unless its local address is its peer's. Such a socket is closed with a reset, so
/// that it leaves no connection state behind that would keep the port from being listened on.
fn refuse_self(stream: TcpStream) -> io::Result<TcpStream> {
    let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
    if local == peer {
        stream.set_zero_linger()?;
        return Err(self_connected(peer));
    }
    Ok(stream)
}

fn self_connected(addr: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("nothing listens on {addr}: the socket was connected to itself"),
    )
}

/// A connector for tonic's `Endpoint::connect_with_connector` and hyper's clients: dials the
/// host and port of the URI it is given through [`connect`].
pub fn uri_connector()
-> impl tower::Service<Uri, Response = TokioIo<TcpStream>, Error = io::Error, Future: Send> + Clone
{
    tower::service_fn(|uri: Uri| async move {
        let (host, port) = host_port(&uri);
        Ok(TokioIo::new(connect((host.as_str(), port)).await?))
    })
}

/// The host (IPv6 without brackets) and port to dial; an empty host fails at connect time with
/// the resolver's error.
pub fn host_port(uri: &Uri) -> (String, u16) {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let default = if uri.scheme_str() == Some("https") {
        HTTPS_PORT
    } else {
        HTTP_PORT
    };
    (host, uri.port_u16().unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use tokio::net::{TcpListener, TcpSocket};

    use super::*;

    #[test]
    fn host_and_port_from_the_uri() {
        let cases = [
            ("http://127.0.0.1:15010", ("127.0.0.1", 15010)),
            ("https://pilot.rigging:15010", ("pilot.rigging", 15010)),
            ("http://[::1]:15010", ("::1", 15010)),
            ("https://pilot.rigging", ("pilot.rigging", 443)),
            ("http://pilot.rigging", ("pilot.rigging", 80)),
        ];
        for (uri, (host, port)) in cases {
            let uri: Uri = uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(host_port(&uri), (host.to_owned(), port), "{uri}");
        }
    }

    /// A port nothing listens on: bound, then released.
    fn unused_port() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }

    #[tokio::test]
    async fn a_socket_connected_to_itself_is_refused() {
        // What the kernel does when it picks the dialled port as the ephemeral one, forced.
        let addr = unused_port();
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind(addr).expect("bind the port nothing listens on");
        let stream = socket.connect(addr).await.expect("simultaneous open");
        assert_eq!(stream.local_addr().ok(), stream.peer_addr().ok());

        let err = refuse_self(stream).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        // Closed: the port can be listened on at once.
        TcpListener::bind(addr).await.expect("port free again");
    }

    #[tokio::test]
    async fn a_listener_is_reached_with_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (dialled, accepted) = tokio::join!(connect(addr), listener.accept());
        let stream = dialled.expect("connected");
        accepted.expect("accepted");
        assert_eq!(stream.peer_addr().ok(), Some(addr));
        assert!(stream.nodelay().expect("nodelay"));
    }

    #[tokio::test]
    async fn the_uri_connector_dials_the_uris_authority() {
        use tower::ServiceExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let uri: Uri = format!("http://{addr}").parse().expect("uri");
        let (dialled, accepted) = tokio::join!(uri_connector().oneshot(uri), listener.accept());
        let io = dialled.expect("connected");
        assert_eq!(io.inner().peer_addr().ok(), Some(addr));
        accepted.expect("accepted");
    }
}
