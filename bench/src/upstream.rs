//! The upstream: a small fast HTTP/1.1 and h2c server on hyper, answering a fixed body, and
//! gRPC unary calls with a fixed message.

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::grpc;

/// The answer to every request: small, so the benchmark measures the proxies, not the copying.
pub const BODY: &[u8] = b"hello from rig-bench\n";

/// `rig-bench upstream`: hidden, started by the scenarios as its own process.
#[derive(Debug, clap::Args)]
pub struct UpstreamArgs {
    #[arg(long)]
    listen: SocketAddr,
}

/// Serves until killed, on one thread: the upstream shares its CPU with the load generator.
pub fn run(args: &UpstreamArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args.listen))
}

async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    tracing::info!(%addr, "upstream listening");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors under a connection storm: wait, keep serving the others.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                if !grpc::is_grpc(&req) {
                    let body = Full::new(Bytes::from_static(BODY));
                    return Ok::<_, Infallible>(Response::new(Either::Left(body)));
                }
                // A gRPC server reads the call's message before it answers.
                let body = match req.into_body().collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                Ok(grpc::answer(&body).map(Either::Right))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
