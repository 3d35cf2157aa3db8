//! One keep-alive HTTP/1.1 connection of the load generator.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// A connection to the target, its request ready to send again.
#[derive(Debug)]
pub struct Conn {
    sender: http1::SendRequest<Empty<Bytes>>,
    host: header::HeaderValue,
}

impl Conn {
    pub async fn connect(target: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target)
            .await
            .with_context(|| format!("connect {target}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            host: header::HeaderValue::from_str(&target.to_string())?,
        })
    }

    /// One `GET /`, its body read to the end; an error unless the status is 200.
    pub async fn get(&mut self) -> anyhow::Result<()> {
        self.sender.ready().await?;
        let req = Request::get("/")
            .header(header::HOST, self.host.clone())
            .body(Empty::new())?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status == http::StatusCode::OK,
            "status {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }
}

/// One `GET /` over h2c (HTTP/2 with prior knowledge) on a new connection: a readiness check
/// of an h2c entry point; the h2c load itself is h2load's.
pub async fn h2c_get(target: SocketAddr) -> anyhow::Result<()> {
    let mut sender = h2c_connect(target).await?;
    let req = Request::get(format!("http://{target}/")).body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status == http::StatusCode::OK,
        "h2c status {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}

/// A new h2c (prior knowledge) connection to `target`, driven by a task of its own.
pub async fn h2c_connect<B>(target: SocketAddr) -> anyhow::Result<http2::SendRequest<B>>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(target)
        .await
        .with_context(|| format!("connect {target}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
