//! The watch loops: one over the service list per namespace query, one per service.
//!
//! Each loop paces itself with a [`RateLimit`] token bucket between queries (not a fixed sleep),
//! keeps its [`BlockingIndex`] by Nomad's rules, and after a failure keeps the last snapshot and
//! retries with [`Backoff`] until Nomad answers again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_core::{Backoff, RateLimit};

use crate::client::{BlockingIndex, QueryError};
use crate::registry::{ServiceKey, Shared};

/// The first, shortest pause after a failure.
const RETRY_BASE: Duration = Duration::from_millis(250);

/// Watches `GET /v1/services?namespace=<namespace>` and hands each answer to the registry.
pub(crate) async fn list(shared: Arc<Shared>, namespace: String) {
    let label = format!("/v1/services?namespace={namespace}");
    run(&shared, &label, |index| {
        let shared = Arc::clone(&shared);
        let namespace = namespace.clone();
        async move {
            let answer = shared.client.services(&namespace, index).await?;
            let services: BTreeSet<ServiceKey> = answer
                .body
                .into_iter()
                .flat_map(|ns| {
                    let namespace = ns.namespace;
                    ns.services
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |s| (namespace.clone(), s.service_name))
                })
                .collect();
            shared.listed(&namespace, services);
            Ok(answer.index)
        }
    })
    .await;
}

/// Watches `GET /v1/service/<name>?namespace=<namespace>` until the registry stops it.
pub(crate) async fn service(shared: Arc<Shared>, key: ServiceKey) {
    let label = service_label(&key);
    run(&shared, &label, |index| {
        let shared = Arc::clone(&shared);
        let key = key.clone();
        async move {
            let answer = shared.client.service(&key.0, &key.1, index).await?;
            shared.registrations(&key, answer.body);
            Ok(answer.index)
        }
    })
    .await;
}

/// How a service watch names itself in logs and in the registry's list of failing watches.
pub(crate) fn service_label(key: &ServiceKey) -> String {
    format!("/v1/service/{}?namespace={}", key.1, key.0)
}

/// The loop both watches share: rate-limited blocking queries, with backoff after failures.
async fn run<F, Fut>(shared: &Shared, label: &str, mut query: F)
where
    F: FnMut(BlockingIndex) -> Fut,
    Fut: Future<Output = Result<u64, QueryError>>,
{
    let config = &shared.config;
    let mut limit = RateLimit::new(config.query_rate, config.query_burst);
    let mut backoff = Backoff::new(RETRY_BASE, config.retry_max);
    let mut index = BlockingIndex::default();
    loop {
        limit.acquire().await;
        match query(index).await {
            Ok(returned) => {
                index.update(returned);
                backoff.reset();
                shared.succeeded(label);
            }
            Err(e) => {
                shared.failed(label, &e.to_string());
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}
