//! The local agent's service endpoints of the fake: `PUT /v1/agent/service/register`,
//! `PUT /v1/agent/service/deregister/:id` and `GET /v1/agent/services`, checked as Consul's
//! agent checks them (api-docs/agent/service.mdx).
//!
//! * A registration body is read in either case (`Name` or `name`), as Consul's API does.
//!   It needs a `Name` (400 `Missing service name`), and a `connect-proxy` a
//!   `Proxy.DestinationServiceName` and a port; a `Connect.SidecarService` may not set an
//!   `ID` (400 `Validation failed: …`).
//! * A nested sidecar is registered too, as the agent expands it: ID
//!   `<id>-sidecar-proxy`, the lowest free port from 21000 unless one is given.
//! * Registered services join the fake's catalog on node [`AGENT_NODE`], so the catalog and
//!   health reads (and so the Consul registry) see them; their checks start `critical`
//!   unless the check gives a `Status`, as in Consul. Deregistering drops the service and the
//!   sidecar it brought (404 for an unknown ID).
//! * With ACLs on ([`super::FakeConsul::require_token`]), a missing or other token is 403.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Map, Value, json};

use super::server::text;
use super::{Inner, Recorded, State, lock};

/// The node the fake agent runs on; what it registers shows up there in the catalog.
pub const AGENT_NODE: &str = "fake-agent";
/// The fake agent node's address.
pub const AGENT_NODE_ADDRESS: &str = "127.0.0.1";
/// Consul's default sidecar port range, from which the fake picks a nested sidecar's port.
const SIDECAR_PORTS: std::ops::RangeInclusive<u64> = 21000..=21255;

pub(super) async fn handle(inner: &Inner, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let token = req
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    {
        let mut s = lock(&inner.state);
        s.requests.push(Recorded {
            path: path.clone(),
            index: None,
            wait: None,
            dc: None,
            token: token.clone(),
        });
        if let Some(required) = &s.token {
            match &token {
                None => {
                    return text(
                        403,
                        "Permission denied: anonymous token lacks permission 'service:write'",
                    );
                }
                Some(t) if t != required => return text(403, "ACL not found"),
                Some(_) => {}
            }
        }
        if s.failing {
            return text(500, "rpc error making call: No cluster leader");
        }
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(400, "Request decode failed: cannot read the body"),
    };
    let answer = match (&method, path.as_str()) {
        (&Method::PUT, "/v1/agent/service/register") => register(inner, &body),
        (&Method::PUT, p) if p.starts_with("/v1/agent/service/deregister/") => {
            let id = p.trim_start_matches("/v1/agent/service/deregister/");
            deregister(inner, id)
        }
        (&Method::GET, "/v1/agent/services") => Ok(services(&lock(&inner.state))),
        (_, "/v1/agent/service/register" | "/v1/agent/services") => {
            Err((405, format!("method {method} not allowed")))
        }
        _ => Err((404, "Not found".to_owned())),
    };
    match answer {
        Ok(v) => Response::builder()
            .status(200)
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())))
            .expect("response"),
        Err((status, reason)) => text(status, &reason),
    }
}

/// A key of a Consul API body in either case: `DestinationServiceName` or
/// `destination_service_name`.
fn field<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let norm = |k: &str| k.replace('_', "").to_lowercase();
    let want = norm(name);
    obj.as_object()?
        .iter()
        .find(|(k, _)| norm(k) == want)
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn str_of<'v>(obj: &'v Value, name: &str) -> &'v str {
    field(obj, name).and_then(Value::as_str).unwrap_or_default()
}

fn port_of(obj: &Value, name: &str) -> u64 {
    field(obj, name).and_then(Value::as_u64).unwrap_or(0)
}

type Refusal = (u16, String);

fn register(inner: &Inner, body: &[u8]) -> Result<Value, Refusal> {
    let svc: Value =
        serde_json::from_slice(body).map_err(|e| (400, format!("Request decode failed: {e}")))?;
    if !svc.is_object() {
        return Err((
            400,
            "Request decode failed: expected a JSON object".to_owned(),
        ));
    }
    if str_of(&svc, "Name").is_empty() {
        return Err((400, "Missing service name".to_owned()));
    }
    validate(&svc).map_err(|e| (400, format!("Validation failed: {e}")))?;
    let sidecar = field(&svc, "Connect").and_then(|c| field(c, "SidecarService"));
    if let Some(sc) = sidecar {
        if !str_of(sc, "ID").is_empty() {
            return Err((
                400,
                "Validation failed: A SidecarService cannot specify an ID as this is managed by the agent".to_owned(),
            ));
        }
        validate(sc).map_err(|e| (400, format!("Validation failed: {e}")))?;
    }
    let mut s = lock(&inner.state);
    let id = match str_of(&svc, "ID") {
        "" => str_of(&svc, "Name").to_owned(),
        id => id.to_owned(),
    };
    put(&mut s, entry_of(&svc, &id));
    if let Some(sc) = sidecar {
        let sidecar_id = format!("{id}-sidecar-proxy");
        let port = match port_of(sc, "Port") {
            0 => free_port(&s, &sidecar_id),
            p => p,
        };
        let expanded = expand_sidecar(&svc, sc, &id, port);
        put(&mut s, entry_of(&expanded, &sidecar_id));
    }
    s.index += 1;
    drop(s);
    inner.changed.send_replace(());
    Ok(Value::Null)
}

/// The rules of Consul's `NodeService.Validate` that a body can break on its own.
fn validate(svc: &Value) -> Result<(), String> {
    let kind = str_of(svc, "Kind");
    let proxy = field(svc, "Proxy").cloned().unwrap_or(Value::Null);
    if kind == "connect-proxy" {
        if str_of(&proxy, "DestinationServiceName").trim().is_empty() {
            return Err(
                "Proxy.DestinationServiceName must be non-empty for Connect proxy services"
                    .to_owned(),
            );
        }
        if port_of(svc, "Port") == 0 && str_of(svc, "SocketPath").is_empty() {
            return Err("Port or SocketPath must be set for a connect-proxy".to_owned());
        }
    }
    for u in field(&proxy, "Upstreams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if str_of(u, "DestinationName").is_empty() {
            return Err("upstream destination name cannot be empty".to_owned());
        }
        if port_of(u, "LocalBindPort") == 0 && str_of(u, "LocalBindSocketPath").is_empty() {
            return Err(
                "upstream local bind port or local socket path must be defined and nonzero"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

/// The sidecar a `Connect.SidecarService` stands for, as the agent expands it.
fn expand_sidecar(parent: &Value, sc: &Value, parent_id: &str, port: u64) -> Value {
    let name = match str_of(sc, "Name") {
        "" => format!("{}-sidecar-proxy", str_of(parent, "Name")),
        n => n.to_owned(),
    };
    let mut proxy = field(sc, "Proxy").cloned().unwrap_or_else(|| json!({}));
    let parent_port = port_of(parent, "Port");
    if let Some(p) = proxy.as_object_mut() {
        p.entry("DestinationServiceName")
            .or_insert(json!(str_of(parent, "Name")));
        p.entry("DestinationServiceID").or_insert(json!(parent_id));
        p.entry("LocalServiceAddress").or_insert(json!("127.0.0.1"));
        p.entry("LocalServicePort").or_insert(json!(parent_port));
    }
    let pick = |key: &str| match field(sc, key) {
        Some(v)
            if v.as_array().is_some_and(|a| !a.is_empty())
                || v.as_object().is_some_and(|o| !o.is_empty()) =>
        {
            v.clone()
        }
        _ => field(parent, key).cloned().unwrap_or(Value::Null),
    };
    json!({
        "Name": name,
        "Kind": "connect-proxy",
        "Port": port,
        "Address": str_of(sc, "Address"),
        "Tags": pick("Tags"),
        "Meta": pick("Meta"),
        "Proxy": proxy,
        "Checks": field(sc, "Checks").cloned().unwrap_or_else(|| json!([
            { "Name": "Connect Sidecar Listening", "TCP": format!("127.0.0.1:{port}"), "Interval": "10s" },
            { "Name": format!("Connect Sidecar Aliasing {parent_id}"), "AliasService": parent_id },
        ])),
    })
}

/// The lowest port of Consul's sidecar range no service on the agent uses (or the one the
/// same sidecar already has, as the agent keeps it across re-registrations).
fn free_port(s: &State, sidecar_id: &str) -> u64 {
    let mine = agent_entries(s).find(|e| e["Service"]["ID"] == sidecar_id);
    if let Some(p) = mine.and_then(|e| e["Service"]["Port"].as_u64()) {
        return p;
    }
    let used: Vec<u64> = agent_entries(s)
        .filter_map(|e| e["Service"]["Port"].as_u64())
        .collect();
    SIDECAR_PORTS
        .clone()
        .find(|p| !used.contains(p))
        .unwrap_or(0)
}

fn agent_entries(s: &State) -> impl Iterator<Item = &Value> {
    s.entries.iter().filter(|e| e["Node"]["Node"] == AGENT_NODE)
}

fn put(s: &mut State, entry: Value) {
    let id = entry["Service"]["ID"].clone();
    s.entries
        .retain(|e| !(e["Node"]["Node"] == AGENT_NODE && e["Service"]["ID"] == id));
    s.entries.push(entry);
}

/// A `/v1/health/service` entry for a registration body.
fn entry_of(svc: &Value, id: &str) -> Value {
    let name = str_of(svc, "Name");
    let port = port_of(svc, "Port");
    let mut e = super::instance(
        AGENT_NODE,
        AGENT_NODE_ADDRESS,
        name,
        id,
        str_of(svc, "Address"),
        0,
    );
    let service = &mut e["Service"];
    service["Port"] = json!(port);
    service["Tags"] = field(svc, "Tags").cloned().unwrap_or_else(|| json!([]));
    service["Meta"] = field(svc, "Meta").cloned().unwrap_or_else(|| json!({}));
    service["Kind"] = json!(str_of(svc, "Kind"));
    if let Some(p) = field(svc, "Proxy") {
        service["Proxy"] = p.clone();
    }
    if field(svc, "Connect").and_then(|c| field(c, "Native")) == Some(&json!(true)) {
        service["Connect"] = json!({ "Native": true });
    }
    let serf = e["Checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["CheckID"] == "serfHealth").cloned())
        .unwrap_or(Value::Null);
    let mut checks: Vec<Value> = field(svc, "Check").into_iter().cloned().collect();
    checks.extend(
        field(svc, "Checks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .cloned(),
    );
    let several = checks.len() > 1;
    let mut out = vec![serf];
    for (i, c) in checks.iter().enumerate() {
        let check_id = match str_of(c, "CheckID") {
            "" if several => format!("service:{id}:{}", i + 1),
            "" => format!("service:{id}"),
            given => given.to_owned(),
        };
        let status = match str_of(c, "Status") {
            "" => "critical",
            given => given,
        };
        out.push(json!({
            "Node": AGENT_NODE,
            "CheckID": check_id,
            "Name": str_of(c, "Name"),
            "Status": status,
            "ServiceID": id,
            "ServiceName": name,
        }));
    }
    e["Checks"] = json!(out);
    e
}

fn deregister(inner: &Inner, id: &str) -> Result<Value, Refusal> {
    let mut s = lock(&inner.state);
    if !agent_entries(&s).any(|e| e["Service"]["ID"] == id) {
        return Err((
            404,
            format!(
                "Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."
            ),
        ));
    }
    let sidecar = format!("{id}-sidecar-proxy");
    s.entries.retain(|e| {
        !(e["Node"]["Node"] == AGENT_NODE
            && (e["Service"]["ID"] == id || e["Service"]["ID"] == sidecar.as_str()))
    });
    s.index += 1;
    drop(s);
    inner.changed.send_replace(());
    Ok(Value::Null)
}

/// `GET /v1/agent/services`: the agent's services by ID, in the API's `AgentService` shape.
fn services(s: &State) -> Value {
    let mut out = Map::new();
    for e in agent_entries(s) {
        let svc = &e["Service"];
        let id = svc["ID"].as_str().unwrap_or_default().to_owned();
        let mut agent = json!({
            "ID": id,
            "Service": svc["Service"],
            "Tags": svc["Tags"],
            "Meta": svc["Meta"],
            "Port": svc["Port"],
            "Address": svc["Address"],
            "Weights": svc["Weights"],
            "EnableTagOverride": false,
            "Datacenter": s.datacenter,
        });
        if svc["Kind"].as_str().is_some_and(|k| !k.is_empty()) {
            agent["Kind"] = svc["Kind"].clone();
            agent["Proxy"] = svc["Proxy"].clone();
        }
        out.insert(id, agent);
    }
    Value::Object(out)
}
