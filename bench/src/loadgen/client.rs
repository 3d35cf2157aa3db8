//! One keep-alive HTTP/1.1 connection of the load generator.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
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
