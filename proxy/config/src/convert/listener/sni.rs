//! A listener whose chains are told apart by the client's SNI: a terminating gateway's mTLS
//! relays, or (in [`super::public_sni`]) an ingress gateway's certificates by server name.

use super::{
    Chain, Ctx, InboundTls, InboundTlsMode, ListenerKind, SniRoute, TlsClients, join, mesh_alpn,
    public_sni,
};
use crate::error::ConfigError;

/// An SNI listener (a terminating gateway's): behind the TLS inspector, chains that each
/// take the mTLS connections naming their server names and relay them to a cluster. Every
/// chain is mTLS with the same ALPN, names at least one server, and no name twice.
pub(super) fn sni(
    ctx: Ctx<'_>,
    chains: Vec<Chain>,
) -> Result<(ListenerKind, Option<InboundTls>), ConfigError> {
    let public = chains.first().is_some_and(|c| {
        c.tls
            .as_ref()
            .is_some_and(|t| matches!(t.clients, TlsClients::Public(_)))
    });
    if public {
        return public_sni::listener(ctx, chains);
    }
    let mut routes: Vec<SniRoute> = Vec::new();
    let mut alpn: Option<Vec<String>> = None;
    for chain in chains {
        let Chain {
            path,
            transport: _,
            server_names,
            kind,
            tls,
        } = chain;
        if server_names.is_empty() {
            return Err(ctx.missing(join(&path, "filter_chain_match.server_names")));
        }
        let chain_alpn = mesh_alpn(ctx, &path, tls)?;
        if alpn.as_ref().is_some_and(|a| *a != chain_alpn) {
            return Err(ctx.invalid(
                join(&path, "transport_socket"),
                "ALPN differs from filter_chains[0]'s; an SNI listener's chains share one",
            ));
        }
        alpn.get_or_insert(chain_alpn);
        let ListenerKind::Tcp { cluster } = kind else {
            return Err(ctx.unsupported(
                join(&path, "filters"),
                "an HTTP connection manager behind server names (only tcp_proxy)",
            ));
        };
        unique_names(
            ctx,
            &path,
            &server_names,
            routes.iter().flat_map(|r| &r.server_names),
        )?;
        routes.push(SniRoute {
            server_names,
            cluster,
        });
    }
    let tls = InboundTls {
        mode: InboundTlsMode::Strict,
        alpn: alpn.unwrap_or_default(),
        clients: TlsClients::Mesh,
    };
    Ok((ListenerKind::Sni { routes }, Some(tls)))
}

/// Refuses a chain matching a server name that an earlier chain (`earlier`) matches, case
/// aside.
pub(super) fn unique_names<'a>(
    ctx: Ctx<'_>,
    path: &str,
    names: &[String],
    earlier: impl Iterator<Item = &'a String> + Clone,
) -> Result<(), ConfigError> {
    for name in names {
        if earlier.clone().any(|m| m.eq_ignore_ascii_case(name)) {
            return Err(ctx.invalid(
                join(path, "filter_chain_match.server_names"),
                format!("{name:?} is matched by an earlier chain too"),
            ));
        }
    }
    Ok(())
}
