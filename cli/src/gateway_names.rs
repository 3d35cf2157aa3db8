//! Citadel's answer to "which DNS names does this certificate carry": for an ingress gateway,
//! the hosts its `ingress-gateway` entry serves over TLS, read from the same config entries
//! Pilot compiles (Consul puts them in the gateway's leaf certificate the same way).

use std::sync::Arc;

use rigging_adapters_config_entries::EntriesSnapshot;
use rigging_citadel_server::DnsNames;
use rigging_mesh_config_entries::ConfigEntry;
use rigging_mesh_spiffe::SpiffeId;
use tokio::sync::watch;

/// DNS names from the latest config entry set; answered from memory, no I/O.
#[derive(Debug)]
pub struct IngressHosts {
    entries: watch::Receiver<Arc<EntriesSnapshot>>,
    datacenter: String,
}

impl IngressHosts {
    pub fn new(entries: watch::Receiver<Arc<EntriesSnapshot>>, datacenter: String) -> Self {
        Self {
            entries,
            datacenter,
        }
    }
}

impl DnsNames for IngressHosts {
    fn dns_names(&self, identity: &SpiffeId) -> Vec<String> {
        let Some(service) = identity.service_name() else {
            return Vec::new();
        };
        let snapshot = Arc::clone(&self.entries.borrow());
        snapshot
            .entries
            .iter()
            .find_map(|e| match e {
                ConfigEntry::IngressGateway(g) if g.header.name == service => {
                    Some(g.tls_dns_names(&self.datacenter))
                }
                _ => None,
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use rigging_mesh_config_entries::parse_str;
    use rigging_mesh_spiffe::TrustDomain;

    use super::*;

    fn snapshot(text: &str) -> Arc<EntriesSnapshot> {
        let loaded = parse_str(Path::new("edge.hcl"), text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        Arc::new(EntriesSnapshot {
            version: 1,
            entries: loaded.entries,
        })
    }

    fn id(service: &str) -> SpiffeId {
        let td = TrustDomain::new("rigging.local").unwrap();
        SpiffeId::service(&td, "default", "dc1", service).unwrap()
    }

    /// The gateway named by the identity gets its TLS hosts, from the latest set; any other
    /// identity gets none.
    #[test]
    fn names_follow_the_entry_of_the_identitys_service() {
        let tls = |hosts: &str| {
            format!(
                "Kind = \"ingress-gateway\"\nName = \"edge\"\nTLS {{\n  Enabled = true\n}}\n\
                 Listeners = [ {{ Port = 8443, Protocol = \"http\", Services = [ {{ Name = \"api\", Hosts = [{hosts}] }} ] }} ]\n"
            )
        };
        let (tx, rx) = watch::channel(snapshot(&tls("\"api.example.com\"")));
        let hosts = IngressHosts::new(rx, "dc1".into());
        assert_eq!(hosts.dns_names(&id("edge")), ["api.example.com"]);
        assert!(hosts.dns_names(&id("api")).is_empty());
        tx.send(snapshot(&tls("\"api.example.com\", \"www.example.com\"")))
            .unwrap();
        assert_eq!(
            hosts.dns_names(&id("edge")),
            ["api.example.com", "www.example.com"]
        );
    }
}
