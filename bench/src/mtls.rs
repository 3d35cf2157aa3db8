//! The two-hop scenario: client → outbound proxy → inbound proxy → upstream, rig with and
//! without mTLS between its proxies beside HAProxy (both) and nginx (mTLS). Added latency at
//! fixed rates, throughput (HTTP/1.1, and h2c with h2 between the hops), and what mTLS costs.

mod pki;
mod setup;

pub use setup::start;

use crate::contenders::{Framing, Kind, Setup};
use crate::latency::{self, LatencyParams, Outcome, Step};
use crate::report::Section;
use crate::throughput::{self, GRPC, H2C, HTTP1, Measured, ThroughputParams};
use crate::tools::Tools;

/// `(mTLS contender, its plaintext twin)`: the difference between them is what mTLS costs.
const TWINS: [(Kind, Kind); 2] = [
    (Kind::RigMtls2, Kind::RigPlain2),
    (Kind::HaproxyMtls2, Kind::HaproxyPlain2),
];

/// rig's two mTLS hops against HAProxy's (latency) and HAProxy's and nginx's (throughput).
pub fn framing() -> Framing {
    Framing {
        ours: Kind::RigMtls2,
        latency_versus: Kind::HaproxyMtls2,
        latency_target: "Targets: rig's two mTLS hops add at most the latency of HAProxy's",
        throughput_versus: vec![Kind::HaproxyMtls2, Kind::NginxMtls2],
        scope: "both hops on one core",
        pinning: "on CPU 0 with the upstream; both proxies of each contender on CPU 1 (this \
                  machine has two CPUs, so the hops share one; the same for every contender).",
        h2c_path: "h2 between the hops (over mTLS for rig-mtls and haproxy-mtls, ALPN h2) and \
                   h2c to the upstream.",
        h2c_notes: &[
            "nginx-mtls is not measured over h2c: nginx proxies only HTTP/1.x to its \
                      upstreams, so its two hops cannot speak h2 to each other.",
        ],
        grpc_path: "for rig, a third service of each mesh declared with protocol grpc (its \
                    own inbound sidecar, as a user declares a gRPC service); HAProxy proxies \
                    gRPC as any HTTP/2 (mode http), so its gRPC entry point is its h2c one; \
                    nginx through a server of its own in each of its two processes, with its \
                    grpc module (grpc_pass); h2 between the hops (over mTLS, ALPN h2, for the \
                    mTLS contenders) and h2c to the upstream.",
        grpc_notes: &[
            "nginx's gRPC proxy sends one request at a time on each HTTP/2 connection to the \
             next hop (it does not multiplex streams; up to 64 such connections are kept \
             alive), where rig and HAProxy multiplex calls on shared HTTP/2 connections.",
        ],
    }
}

/// Measures every contender of `setup` (started by [`start`]): latency, then throughput.
pub async fn run(
    setup: &mut Setup,
    tools: &Tools,
    latency_params: &LatencyParams,
    throughput_params: &ThroughputParams,
) -> anyhow::Result<Outcome> {
    setup.wait_serving().await?;
    let framing = framing();
    let lat = latency::run(setup, latency_params, &framing).await?;
    let tput = throughput::run(setup, tools, throughput_params, &framing).await?;
    let mut out = Outcome {
        sections: vec![topology()],
        ..Outcome::default()
    };
    out.sections.push(mtls_cost(&lat.steps, &tput.throughput));
    out.sections.push(cpu_per_request(&tput.throughput));
    out.sections.extend(lat.sections);
    out.sections.extend(tput.sections);
    out.failures = lat.failures.into_iter().chain(tput.failures).collect();
    Ok(out)
}

/// What each contender is, how it is pinned, and what is comparable.
fn topology() -> Section {
    let mut s = Section::new(
        "Contenders: client → proxy → proxy → upstream",
        &[
            "contender",
            "hop 1 (client's side)",
            "between the hops",
            "hop 2 (upstream's side)",
        ],
    );
    let rows: [[&str; 4]; 6] = [
        ["direct", "–", "–", "–"],
        [
            "rig-plaintext",
            "rig proxy (outbound listener)",
            "HTTP/1.1 keep-alive (h2 for the HTTP/2 and gRPC services), plaintext",
            "rig proxy (inbound sidecar)",
        ],
        [
            "rig-mtls",
            "rig proxy (outbound listener)",
            "TLS 1.3 (rustls), Citadel's ECDSA P-256 SVIDs both ways, SPIFFE IDs checked, ALPN \
             http/1.1 (h2), keep-alive",
            "rig proxy (inbound sidecar, strict mTLS), x-forwarded-client-cert added",
        ],
        [
            "haproxy-plaintext",
            "HAProxy, 1 thread",
            "HTTP/1.1 keep-alive (h2 for h2c and gRPC), plaintext",
            "HAProxy, 1 thread",
        ],
        [
            "haproxy-mtls",
            "HAProxy, 1 thread",
            "TLS 1.3 (OpenSSL), bench-made ECDSA P-256 certificates both ways, CA and name \
             checked, ALPN http/1.1 (h2), keep-alive",
            "HAProxy, 1 thread, client certificate required, x-forwarded-client-cert added",
        ],
        [
            "nginx-mtls",
            "nginx, 1 worker",
            "TLS 1.3 (OpenSSL), the same certificates, keep-alive pool of 64 (gRPC: h2, ALPN \
             h2, one call per connection at a time)",
            "nginx, 1 worker, ssl_verify_client on, x-forwarded-client-cert added",
        ],
    ];
    s.rows = rows
        .iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect();
    s.notes = vec![
        "Pinning: the load generator (or wrk, h2load) and the upstream on CPU 0; both proxies \
         of every contender on CPU 1 (taskset). This machine has two CPUs, so the two hops \
         share one core instead of one each; the control planes (`rig up`, with Citadel for \
         rig-mtls) also sit on CPU 0 and are idle during the measurements."
            .into(),
        "rig runs two meshes, each with its own `rig up` (one `--plaintext`, one with Citadel \
         in-process); the mTLS proxies get their certificates with one-time tokens from `rig \
         citadel token create`. Each mesh has a second upstream service with protocol http2 \
         (its own inbound sidecar), the h2c path; its sidecar idles during HTTP/1.1 runs and \
         its CPU is counted with the others."
            .into(),
        "Every connection is kept alive: client → hop 1, hop 1 → hop 2, hop 2 → upstream, so \
         TLS handshakes happen at warm-up, and the figures are the cost of encrypting, \
         decrypting and forwarding requests."
            .into(),
        "gRPC unary calls are made by h2load (a POST of one length-prefixed message with \
         gRPC's headers), answered by the upstream with a message and grpc-status 0 in the \
         trailers; rig's gRPC path is a service declared with protocol grpc."
            .into(),
    ];
    s
}

/// mTLS contender − its plaintext twin: latency at each rate and percentile (direct cancels
/// out), throughput ratio, and CPU per request.
fn mtls_cost(steps: &[Step], throughput: &[Measured]) -> Section {
    let mut headers = vec!["measure".to_owned()];
    headers.extend(
        TWINS
            .iter()
            .map(|(m, p)| format!("{} − {}", m.name(), p.name())),
    );
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut s = Section::new(
        "What mTLS costs: each mTLS contender minus its plaintext twin",
        &headers,
    );
    for step in steps {
        let q = |k: Kind| {
            step.results
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, r)| [r.p50_us, r.p90_us, r.p99_us, r.p999_us])
        };
        for (i, name) in ["p50", "p90", "p99", "p99.9"].iter().enumerate() {
            let mut row = vec![format!("latency {name} at {} rps", step.rate)];
            for (m, p) in TWINS {
                row.push(match (q(m), q(p)) {
                    (Some(m), Some(p)) => format!("{:+.0} µs", m[i] - p[i]),
                    _ => "–".into(),
                });
            }
            s.rows.push(row);
        }
    }
    for protocol in [HTTP1, H2C, GRPC] {
        let find = |k: Kind| {
            throughput
                .iter()
                .find(|m| m.kind == k && m.protocol == protocol)
        };
        let mut rps = vec![format!("requests/s, {protocol}: mTLS / plaintext")];
        let mut cpu = vec![format!("CPU per request, {protocol} (both hops)")];
        for (m, p) in TWINS {
            let (Some(m), Some(p)) = (find(m), find(p)) else {
                rps.push("–".into());
                cpu.push("–".into());
                continue;
            };
            rps.push(format!(
                "{:.0} / {:.0} = {:.2}",
                m.rps,
                p.rps,
                m.rps / p.rps
            ));
            cpu.push(match (cpu_us(m), cpu_us(p)) {
                (Some(a), Some(b)) => format!("{a:.1} − {b:.1} = {:+.1} µs", a - b),
                _ => "–".into(),
            });
        }
        s.rows.push(rps);
        s.rows.push(cpu);
    }
    s.notes.push(
        "Latency rows compare raw percentiles of the two contenders in the same run (the same \
         as comparing their added latency; direct cancels out). A single run's p99.9 moves by \
         hundreds of µs between runs on this machine: read the tails as noise unless they \
         repeat."
            .into(),
    );
    s
}

/// CPU microseconds both hops spend per request, from the throughput runs.
fn cpu_per_request(throughput: &[Measured]) -> Section {
    let mut s = Section::new(
        "Proxy CPU per request (both hops, from the throughput runs)",
        &["contender", HTTP1, H2C, GRPC],
    );
    for kind in Kind::ALL {
        let find = |protocol: &str| {
            throughput
                .iter()
                .find(|m| m.kind == kind && m.protocol == protocol)
                .and_then(cpu_us)
                .map_or("–".into(), |us| format!("{us:.1} µs"))
        };
        if kind == Kind::Direct || !throughput.iter().any(|m| m.kind == kind) {
            continue;
        }
        s.rows
            .push(vec![kind.name().into(), find(HTTP1), find(H2C), find(GRPC)]);
    }
    s.notes.push(
        "User + system CPU time of every process of the contender (both proxies; nginx's \
         workers too) over the requests it answered: the cost of a request, independent of \
         whether the proxies' core or the client's was the limit."
            .into(),
    );
    s
}

/// CPU µs per request of a throughput figure.
fn cpu_us(m: &Measured) -> Option<f64> {
    let pct = m.cpu_pct.filter(|c| *c > 0.0)?;
    (m.rps > 0.0).then(|| pct / 100.0 / m.rps * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::LoadResult;

    fn measured(kind: Kind, protocol: &'static str, rps: f64, cpu: f64) -> Measured {
        Measured {
            kind,
            protocol,
            rps,
            runs: vec![rps],
            errors: 0,
            cpu_pct: Some(cpu),
            client_cpu_pct: None,
        }
    }

    #[test]
    fn cpu_per_request_is_cpu_time_over_requests() {
        let m = measured(Kind::RigMtls2, HTTP1, 20_000.0, 100.0);
        assert_eq!(cpu_us(&m), Some(50.0));
        assert_eq!(cpu_us(&measured(Kind::RigMtls2, HTTP1, 0.0, 100.0)), None);
    }

    #[test]
    fn mtls_cost_subtracts_the_plaintext_twin() {
        let at = |p50: f64| LoadResult {
            p50_us: p50,
            ..LoadResult::default()
        };
        let steps = vec![Step {
            rate: 1000.0,
            results: vec![
                (Kind::RigPlain2, at(400.0)),
                (Kind::RigMtls2, at(450.0)),
                (Kind::HaproxyPlain2, at(300.0)),
                (Kind::HaproxyMtls2, at(330.0)),
            ],
        }];
        let tput = vec![
            measured(Kind::RigPlain2, HTTP1, 20_000.0, 100.0),
            measured(Kind::RigMtls2, HTTP1, 10_000.0, 100.0),
        ];
        let s = mtls_cost(&steps, &tput);
        assert_eq!(s.rows[0][1], "+50 µs");
        assert_eq!(s.rows[0][2], "+30 µs");
        let rps = s
            .rows
            .iter()
            .find(|r| r[0].starts_with("requests/s, HTTP/1.1"))
            .unwrap();
        assert_eq!(rps[1], "10000 / 20000 = 0.50");
        assert_eq!(rps[2], "–");
        let cpu = s
            .rows
            .iter()
            .find(|r| r[0].starts_with("CPU per request, HTTP/1.1"))
            .unwrap();
        assert_eq!(cpu[1], "100.0 − 50.0 = +50.0 µs");
    }
}
