//! Opening the channel to Pilot: plaintext, or mTLS through tokio-rustls.

use std::io;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use crate::config::{
    ClientConfig, HTTP2_KEEPALIVE_INTERVAL, HTTP2_KEEPALIVE_TIMEOUT, PILOT_CONNECT_TIMEOUT,
    PilotTls,
};

/// Ports when the URI names none, as its scheme implies.
const HTTP_PORT: u16 = 80;
const HTTPS_PORT: u16 = 443;

/// Opens the channel to Pilot, over mTLS when the config says so. Every call is a new TCP (and
/// TLS) connection, so a reconnect presents the proxy's current certificate.
pub(super) async fn connect(config: &ClientConfig) -> Result<Channel, tonic::transport::Error> {
    let Some(tls) = &config.tls else {
        return with_settings(Endpoint::from(config.pilot.clone()))
            .connect()
            .await;
    };
    let (host, port) = host_port(&config.pilot);
    // TLS is done by our connector, so the URI only names the authority; an `https` scheme
    // would make tonic look for TLS of its own.
    let authority = config
        .pilot
        .authority()
        .map_or_else(String::new, |a| a.to_string());
    let endpoint = with_settings(Endpoint::from_shared(format!("http://{authority}"))?);
    let PilotTls {
        config: rustls_config,
        server_name,
    } = tls.clone();
    let connector = TlsConnector::from(rustls_config);
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            tls_connect(connector.clone(), host.clone(), port, server_name.clone())
        }))
        .await
}

async fn tls_connect(
    connector: TlsConnector,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
) -> io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    // Responses are small and latency matters more than packet count, as on the plaintext path.
    tcp.set_nodelay(true)?;
    let tls = connector.connect(server_name, tcp).await?;
    Ok(TokioIo::new(tls))
}

/// The timeouts and keepalives of every connection to Pilot.
fn with_settings(endpoint: Endpoint) -> Endpoint {
    endpoint
        .connect_timeout(PILOT_CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
}

/// The host (IPv6 without brackets) and port to dial; an empty host fails at connect time with
/// the resolver's error.
fn host_port(uri: &Uri) -> (String, u16) {
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
}
