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

/// Opens the channel to Pilot, over mTLS when the config says so. Every call is a new TCP (and
/// TLS) connection, so a reconnect presents the proxy's current certificate.
pub(super) async fn connect(config: &ClientConfig) -> Result<Channel, tonic::transport::Error> {
    let Some(tls) = &config.tls else {
        return with_settings(Endpoint::from(config.pilot.clone()))
            .connect_with_connector(rigging_mesh_net::uri_connector())
            .await;
    };
    let (host, port) = rigging_mesh_net::host_port(&config.pilot);
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
    let tcp = rigging_mesh_net::connect((host.as_str(), port)).await?;
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
