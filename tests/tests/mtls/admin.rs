//! What the processes say about themselves: a proxy's `/ready`, `/config_dump` identity and
//! `/metrics`, and Pilot's `/debug/syncz`.

use std::net::SocketAddr;
use std::time::SystemTime;

use anyhow::Context;
use http::Method;
use rigging_tests::request;

/// A proxy's `/config_dump` identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub spiffe_id: String,
    pub not_after: u64,
    pub trust_domain: String,
    pub roots: u64,
}

/// Seconds since the Unix epoch, with fractions.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether the proxy at `admin` answers `/ready` with 200.
pub async fn ready(admin: SocketAddr) -> anyhow::Result<bool> {
    let reply = request(admin, Method::GET, "/ready", &[], "", false).await?;
    Ok(reply.status == 200)
}

/// The `identity` of the proxy at `admin`'s `/config_dump`.
pub async fn identity(admin: SocketAddr) -> anyhow::Result<Identity> {
    let reply = request(admin, Method::GET, "/config_dump", &[], "", false).await?;
    anyhow::ensure!(reply.status == 200, "/config_dump: {}", reply.status);
    let dump: serde_json::Value = serde_json::from_str(&reply.body)?;
    let i = &dump["identity"];
    let text = |field: &str| i[field].as_str().map(str::to_owned);
    Ok(Identity {
        spiffe_id: text("spiffe_id").with_context(|| format!("no spiffe_id in {i}"))?,
        not_after: i["not_after"]
            .as_u64()
            .with_context(|| format!("no not_after in {i}"))?,
        trust_domain: text("trust_domain").with_context(|| format!("no trust_domain in {i}"))?,
        roots: i["trust_bundle_roots"]
            .as_u64()
            .with_context(|| format!("no trust_bundle_roots in {i}"))?,
    })
}

/// The sum of every series of the counter `name` (e.g. `rig_upstream_tls_failures_total`) in
/// the proxy at `admin`'s `/metrics`; 0 when it has none.
pub async fn metric_sum(admin: SocketAddr, name: &str) -> anyhow::Result<f64> {
    let reply = request(admin, Method::GET, "/metrics", &[], "", false).await?;
    anyhow::ensure!(reply.status == 200, "/metrics: {}", reply.status);
    let mut sum = 0.0;
    for line in reply.body.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("bad metric line {line:?}"))?;
        sum += value;
    }
    Ok(sum)
}

/// `id`'s row in Pilot's `/debug/syncz`.
pub fn proxy_status<'a>(syncz: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    syncz["proxies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["proxy"] == id))
}
