//! A public TLS listener whose certificate depends on the client's SNI (an ingress gateway
//! whose services have their own certificates): behind the TLS inspector, chains that differ
//! only by their server names and certificate, at most one of them without server names
//! (the certificate for any other name). They become one listener whose TLS picks the
//! certificate.

use super::{Chain, Ctx, join, unique_names};
use crate::error::ConfigError;
use crate::types::{
    InboundTls, InboundTlsMode, ListenerKind, NamedCertificate, PublicTls, TlsClients,
};

pub(super) fn listener(
    ctx: Ctx<'_>,
    chains: Vec<Chain>,
) -> Result<(ListenerKind, Option<InboundTls>), ConfigError> {
    let mut shared: Option<(ListenerKind, Vec<String>, PublicTls)> = None;
    let mut default = None;
    let mut by_server_name: Vec<NamedCertificate> = Vec::new();
    for chain in chains {
        let Chain {
            path,
            transport: _,
            server_names,
            kind,
            tls,
        } = chain;
        let socket = join(&path, "transport_socket");
        let Some(tls) = tls else {
            return Err(ctx.missing(socket));
        };
        let TlsClients::Public(mut public) = tls.clients else {
            return Err(ctx.invalid(
                socket,
                "mesh mTLS beside public TLS; a listener's chains share one kind of TLS",
            ));
        };
        let Some(certificate) = public.certificate.take() else {
            return Err(ctx.missing(join(&socket, "certificate")));
        };
        match &shared {
            None => shared = Some((kind, tls.alpn, public)),
            Some((k, alpn, p)) => {
                if *k != kind {
                    return Err(ctx.invalid(
                        join(&path, "filters"),
                        "differ from filter_chains[0]'s; chains told apart by server name must do the same",
                    ));
                }
                if *alpn != tls.alpn || *p != public {
                    return Err(ctx.invalid(
                        socket,
                        "TLS settings other than the certificate differ from filter_chains[0]'s",
                    ));
                }
            }
        }
        if server_names.is_empty() {
            if default.replace(certificate).is_some() {
                return Err(ctx.invalid(
                    join(&path, "filter_chain_match"),
                    "a second chain without server names",
                ));
            }
            continue;
        }
        unique_names(
            ctx,
            &path,
            &server_names,
            by_server_name.iter().flat_map(|n| &n.server_names),
        )?;
        by_server_name.push(NamedCertificate {
            server_names,
            certificate,
        });
    }
    let Some((kind, alpn, mut public)) = shared else {
        return Err(ctx.missing("filter_chains"));
    };
    public.certificate = default;
    public.by_server_name = by_server_name;
    let tls = InboundTls {
        mode: InboundTlsMode::Strict,
        alpn,
        clients: TlsClients::Public(public),
    };
    Ok((kind, Some(tls)))
}
