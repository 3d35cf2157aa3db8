//! Throughput over HTTP/2 with h2load: h2c `GET /`, and gRPC unary calls, through each
//! contender's entry point for the protocol, the contenders in turn, in rounds.

use std::path::Path;
use std::time::Duration;

use super::external::{self, H2Request, ToolResult};
use super::{GRPC, Measured, Meter, ThroughputParams, table};
use crate::contenders::{Contender, Framing, Kind, Setup};
use crate::grpc;
use crate::latency::note_errors;
use crate::report::Section;

/// The headers of a gRPC call, as h2load sends them.
const GRPC_HEADERS: [&str; 2] = ["content-type: application/grpc", "te: trailers"];

/// One protocol's figures and table; `None` when no proxy of the scenario speaks it.
pub(super) async fn run(
    setup: &mut Setup,
    h2load: &Path,
    p: &ThroughputParams,
    framing: &Framing,
    protocol: &'static str,
    failures: &mut Vec<String>,
) -> anyhow::Result<Option<(Vec<Measured>, Section)>> {
    let entry = |c: &Contender| {
        if protocol == GRPC {
            c.grpc_addr
        } else {
            c.h2c_addr
        }
    };
    if !setup
        .contenders
        .iter()
        .any(|c| c.kind != Kind::Direct && entry(c).is_some())
    {
        return Ok(None);
    }
    let body = setup.dir.path().join("grpc-request.bin");
    let request = if protocol == GRPC {
        std::fs::write(&body, grpc::frame(grpc::REQUEST_MESSAGE))?;
        H2Request {
            path: grpc::PATH,
            body: Some(&body),
            headers: &GRPC_HEADERS,
        }
    } else {
        H2Request::GET
    };
    // In rounds, the contenders in turn: HTTP/2 runs vary as much as HTTP/1.1's.
    let mut rounds = vec![Vec::new(); setup.contenders.len()];
    let mut errors = vec![0; setup.contenders.len()];
    for round in 1..=p.rounds {
        for (i, c) in setup.contenders.iter_mut().enumerate() {
            let Some(addr) = entry(c) else { continue };
            tracing::info!(contender = c.kind.name(), round, protocol, "throughput");
            let run = |d: Duration, w: Duration| {
                external::h2load(h2load, addr, request, p.h2_connections, p.h2_streams, d, w)
            };
            let (meter, mut r) = if protocol == GRPC {
                // h2load's DATA count includes its own warm-up: warm up in a run of its own,
                // so the measured run's bytes are its responses' alone.
                if !p.warmup.is_zero() {
                    run(p.warmup, Duration::ZERO).await?;
                }
                let meter = Meter::start(c);
                (meter, run(p.duration, Duration::ZERO).await?)
            } else {
                let meter = Meter::start(c);
                (meter, run(p.duration, p.warmup).await?)
            };
            let cpu = meter.shares(c);
            c.check_alive()?;
            if protocol == GRPC {
                count_missing_messages(&mut r);
            }
            let who = format!("{} over {protocol}", c.kind.name());
            note_errors(failures, who, r.errors, r.first_error.as_deref());
            rounds[i].push((r.rps, cpu));
            errors[i] += r.errors;
        }
    }
    let measured: Vec<Measured> = setup
        .contenders
        .iter()
        .zip(rounds.iter().zip(&errors))
        .filter(|(_, (r, _))| !r.is_empty())
        .map(|(c, (r, &e))| Measured::of_rounds(c.kind, protocol, r, e))
        .collect();
    let load = format!(
        "h2load -t1 -c{} -m{} for {:?}, after {:?} of warm-up",
        p.h2_connections, p.h2_streams, p.duration, p.warmup
    );
    let mut t = if protocol == GRPC {
        let mut t = table(
            &format!("Throughput, gRPC unary calls (h2c), {}", framing.scope),
            &measured,
            &format!(
                "{load} (a run of its own, not counted); {}",
                framing.grpc_path
            ),
        );
        t.notes.push(format!(
            "Each call is a POST to {} with content-type application/grpc and te: trailers, \
             carrying one {}-byte message; the upstream reads it and answers one {}-byte \
             message with grpc-status 0 in the trailers. Before the runs, one call through \
             every contender was checked end to end (status 200, the upstream's message, \
             grpc-status 0 in the trailers). During the runs a response without the \
             upstream's message counts as an error: h2load counts HTTP statuses only, and a \
             proxy's own gRPC error is a trailers-only 200, so the check is the DATA bytes \
             h2load received, one message per response.",
            grpc::PATH,
            grpc::frame(grpc::REQUEST_MESSAGE).len(),
            grpc::frame(grpc::RESPONSE_MESSAGE).len(),
        ));
        t.notes
            .extend(framing.grpc_notes.iter().map(|n| (*n).to_owned()));
        t
    } else {
        let mut t = table(
            &format!("Throughput, h2c (HTTP/2 without TLS), {}", framing.scope),
            &measured,
            &format!("{load}; {}", framing.h2c_path),
        );
        t.notes
            .extend(framing.h2c_notes.iter().map(|n| (*n).to_owned()));
        t
    };
    if p.rounds > 1 {
        t.notes.insert(
            1,
            format!(
                "{} rounds, as for HTTP/1.1; requests/s is the median round's.",
                p.rounds
            ),
        );
    }
    Ok(Some((measured, t)))
}

/// Counts the responses of a gRPC run that lacked the upstream's message as errors: every
/// answer the upstream gives carries one, so the DATA bytes h2load received must be one
/// message per response it saw to the end.
fn count_missing_messages(r: &mut ToolResult) {
    let per = grpc::frame(grpc::RESPONSE_MESSAGE).len() as u64;
    let Some(data) = r.data_bytes else {
        r.errors = r.errors.max(1);
        r.first_error
            .get_or_insert_with(|| "h2load reported no DATA bytes".into());
        return;
    };
    let missing = r.done.saturating_sub(data / per);
    if missing > 0 {
        r.errors += missing;
        r.first_error.get_or_insert_with(|| {
            format!(
                "{missing} of {} responses carried no message ({data} DATA bytes, {per} per \
                 message)",
                r.done
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_without_a_message_are_errors() {
        let per = grpc::frame(grpc::RESPONSE_MESSAGE).len() as u64;
        let mut all = ToolResult {
            done: 1000,
            data_bytes: Some(1000 * per),
            ..ToolResult::default()
        };
        count_missing_messages(&mut all);
        assert_eq!((all.errors, all.first_error), (0, None));
        let mut some = ToolResult {
            done: 1000,
            data_bytes: Some(990 * per),
            ..ToolResult::default()
        };
        count_missing_messages(&mut some);
        assert_eq!(some.errors, 10);
        assert!(
            some.first_error
                .is_some_and(|e| e.starts_with("10 of 1000 responses carried no message"))
        );
        let mut unknown = ToolResult::default();
        count_missing_messages(&mut unknown);
        assert_eq!(unknown.errors, 1);
    }
}
