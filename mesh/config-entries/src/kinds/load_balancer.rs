//! A resolver's `LoadBalancer`: the policy, its settings and the hash policies.

use std::time::Duration;

use crate::decode::{Fields, one_of};
use crate::error::Diag;
use crate::tree::Node;

/// How the proxy picks an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbPolicy {
    /// Unset: the proxy's default (round robin).
    #[default]
    Default,
    RoundRobin,
    LeastRequest,
    Random,
    RingHash,
    Maglev,
}

impl LbPolicy {
    /// Whether the policy hashes requests onto endpoints (and so takes `HashPolicies`).
    pub fn is_hash_based(self) -> bool {
        matches!(self, Self::RingHash | Self::Maglev)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "",
            Self::RoundRobin => "round_robin",
            Self::LeastRequest => "least_request",
            Self::Random => "random",
            Self::RingHash => "ring_hash",
            Self::Maglev => "maglev",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancer {
    pub policy: LbPolicy,
    pub ring_hash: Option<RingHashConfig>,
    pub least_request: Option<LeastRequestConfig>,
    /// Tried in order; with none, a hash-based policy picks at random.
    pub hash_policies: Vec<HashPolicy>,
}

/// `RingHashConfig`; unset sizes take Envoy's defaults (1024 and 8M), Consul's docs say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RingHashConfig {
    pub minimum_ring_size: Option<u64>,
    pub maximum_ring_size: Option<u64>,
}

/// `LeastRequestConfig { ChoiceCount }`; unset means 2.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeastRequestConfig {
    pub choice_count: Option<u32>,
}

/// What one hash policy hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    Header(String),
    Cookie {
        name: String,
        config: Option<CookieConfig>,
    },
    QueryParameter(String),
    SourceIp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPolicy {
    pub on: HashOn,
    /// When this policy yields a hash, later ones are skipped.
    pub terminal: bool,
}

/// `CookieConfig`: the proxy sets the cookie when the request has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CookieConfig {
    /// A session cookie (no expiry); excludes `ttl`.
    pub session: bool,
    pub ttl: Option<Duration>,
    pub path: Option<String>,
}

const POLICIES: &[(&str, LbPolicy)] = &[
    ("", LbPolicy::Default),
    ("round_robin", LbPolicy::RoundRobin),
    ("least_request", LbPolicy::LeastRequest),
    ("random", LbPolicy::Random),
    ("ring_hash", LbPolicy::RingHash),
    ("maglev", LbPolicy::Maglev),
];

pub(crate) fn load_balancer(d: &mut Diag, node: &Node) -> Option<LoadBalancer> {
    let f = Fields::of(
        d,
        node,
        "LoadBalancer",
        &[
            "Policy",
            "RingHashConfig",
            "LeastRequestConfig",
            "HashPolicies",
        ],
    )?;
    let policy = one_of(d, &f, "Policy", POLICIES).unwrap_or_default();
    let ring_hash = f.node(d, "RingHashConfig").and_then(|n| {
        let r = Fields::of(
            d,
            n,
            "RingHashConfig",
            &["MinimumRingSize", "MaximumRingSize"],
        )?;
        let size = |d: &mut Diag, name| {
            r.int(d, name, 0..=i64::MAX)
                .and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v != 0)
        };
        let c = RingHashConfig {
            minimum_ring_size: size(d, "MinimumRingSize"),
            maximum_ring_size: size(d, "MaximumRingSize"),
        };
        if let (Some(min), Some(max)) = (c.minimum_ring_size, c.maximum_ring_size)
            && min > max
        {
            d.err(
                r.at(),
                format!(
                    "RingHashConfig: MinimumRingSize {min} is larger than MaximumRingSize {max}"
                ),
            );
        }
        Some(c)
    });
    let least_request = f.node(d, "LeastRequestConfig").and_then(|n| {
        let l = Fields::of(d, n, "LeastRequestConfig", &["ChoiceCount"])?;
        Some(LeastRequestConfig {
            choice_count: l.u32(d, "ChoiceCount").filter(|c| *c != 0),
        })
    });
    let policy_name = |p: LbPolicy| format!("{:?}", p.as_str());
    if ring_hash.is_some() && policy != LbPolicy::RingHash {
        d.err(
            &f.key_at("RingHashConfig"),
            format!(
                "RingHashConfig is only valid with Policy \"ring_hash\", not {}",
                policy_name(policy)
            ),
        );
    }
    if least_request.is_some() && policy != LbPolicy::LeastRequest {
        d.err(
            &f.key_at("LeastRequestConfig"),
            format!(
                "LeastRequestConfig is only valid with Policy \"least_request\", not {}",
                policy_name(policy)
            ),
        );
    }
    let hash_nodes = f.list(d, "HashPolicies");
    if !hash_nodes.is_empty() && !policy.is_hash_based() {
        d.err(
            &f.key_at("HashPolicies"),
            format!(
                "HashPolicies need a hash-based Policy (\"ring_hash\" or \"maglev\"), not {}",
                policy_name(policy)
            ),
        );
    }
    let hash_policies = hash_nodes
        .into_iter()
        .filter_map(|n| hash_policy(d, n))
        .collect();
    Some(LoadBalancer {
        policy,
        ring_hash,
        least_request,
        hash_policies,
    })
}

fn hash_policy(d: &mut Diag, node: &Node) -> Option<HashPolicy> {
    let h = Fields::of(
        d,
        node,
        "hash policy",
        &[
            "Field",
            "FieldValue|FieldMatchValue",
            "CookieConfig",
            "SourceIP|SourceAddress",
            "Terminal",
        ],
    )?;
    #[derive(Clone, Copy, PartialEq)]
    enum Field {
        Header,
        Cookie,
        Query,
    }
    let field = one_of(
        d,
        &h,
        "Field",
        &[
            ("", None),
            ("header", Some(Field::Header)),
            ("cookie", Some(Field::Cookie)),
            ("query_parameter", Some(Field::Query)),
        ],
    )
    .flatten();
    let value = h.string(d, "FieldValue").filter(|s| !s.is_empty());
    let source_ip = h.flag(d, "SourceIP");
    let cookie = h.node(d, "CookieConfig").and_then(|n| {
        let c = Fields::of(d, n, "CookieConfig", &["Session", "TTL", "Path"])?;
        let config = CookieConfig {
            session: c.flag(d, "Session"),
            ttl: c.duration(d, "TTL").filter(|t| !t.is_zero()),
            path: c.string(d, "Path").filter(|s| !s.is_empty()),
        };
        if config.session && config.ttl.is_some() {
            d.err(c.at(), "CookieConfig: a session cookie cannot have a TTL");
        }
        Some(config)
    });
    if cookie.is_some() && field != Some(Field::Cookie) {
        d.err(
            &h.key_at("CookieConfig"),
            "CookieConfig is only valid with Field \"cookie\"",
        );
    }
    let on = match (field, value, source_ip) {
        (Some(_), _, true) => {
            d.err(
                h.at(),
                "hash policy: SourceIP cannot be combined with Field",
            );
            return None;
        }
        (None, Some(_), true) => {
            d.err(
                h.at(),
                "hash policy: FieldValue cannot be set when hashing SourceIP",
            );
            return None;
        }
        (None, None, true) => HashOn::SourceIp,
        (Some(_), None, false) => {
            d.err(
                h.at(),
                "hash policy: Field needs a FieldValue (the header, cookie or parameter name)",
            );
            return None;
        }
        (None, Some(_), false) => {
            d.err(h.at(), "hash policy: FieldValue needs a Field to apply to");
            return None;
        }
        (None, None, false) => {
            d.err(
                h.at(),
                "hash policy: expected Field and FieldValue, or SourceIP = true",
            );
            return None;
        }
        (Some(Field::Header), Some(v), false) => HashOn::Header(v),
        (Some(Field::Query), Some(v), false) => HashOn::QueryParameter(v),
        (Some(Field::Cookie), Some(v), false) => HashOn::Cookie {
            name: v,
            config: cookie,
        },
    };
    Some(HashPolicy {
        on,
        terminal: h.flag(d, "Terminal"),
    })
}
