//! One table row per validation rule: the file, and the exact located error it gives.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rigging_mesh_config_entries::{ConfigEntry, parse_str, validate_set};

/// Parses `text` as `t.hcl` (or `t.json` when it starts with `{`) and returns every error
/// as `line:column: message`.
fn errors(text: &str) -> Vec<String> {
    let name = if text.trim_start().starts_with('{') {
        "t.json"
    } else {
        "t.hcl"
    };
    parse_str(Path::new(name), text)
        .errors
        .iter()
        .map(|e| format!("{}:{}: {}", e.location.line, e.location.column, e.message))
        .collect()
}

fn check(table: &[(&str, &str, &str)]) {
    let mut failed = Vec::new();
    for (rule, text, want) in table {
        let got = errors(text);
        if got.first().map(String::as_str) != Some(*want) {
            failed.push(format!("{rule}:\n  want {want}\n  got  {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn syntax_and_keys() {
    check(&[
        (
            "hcl syntax error",
            "Kind = \"service-router\"\nName = \n",
            "2:8: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
        ),
        (
            "json syntax error",
            "{\n  \"Kind\": \"mesh\",\n}",
            "3:1: expected a quoted object key, found '}'",
        ),
        (
            "unknown key",
            "Kind = \"service-defaults\"\nName = \"web\"\nProtocoll = \"http\"\n",
            "3:1: unknown key \"Protocoll\" in service-defaults; expected one of: Kind, Name, Namespace, Partition, Meta, CreateIndex, ModifyIndex, Hash, Protocol, Mode, TransparentProxy, MutualTLSMode, MeshGateway, Expose, ExternalSNI, UpstreamConfig, Destination, MaxInboundConnections, LocalConnectTimeoutMs, LocalRequestTimeoutMs, MaxRequestHeadersKB, BalanceInboundConnections, RateLimits, EnvoyExtensions, Connect",
        ),
        (
            "unknown nested key",
            "Kind = \"service-router\"\nName = \"web\"\nRoutes = [{\n  Destination { Servise = \"a\" }\n}]\n",
            "4:17: unknown key \"Servise\" in route Destination; expected one of: Service, ServiceSubset, Namespace, Partition, PrefixRewrite, RequestTimeout, IdleTimeout, NumRetries, RetryOnConnectFailure, RetryOn, RetryOnStatusCodes, RequestHeaders, ResponseHeaders, Fault, Mirror",
        ),
        (
            "json unknown key",
            "{\"Kind\": \"service-resolver\", \"Name\": \"web\", \"Subset\": {}}",
            "1:45: unknown key \"Subset\" in service-resolver; expected one of: Kind, Name, Namespace, Partition, Meta, CreateIndex, ModifyIndex, Hash, DefaultSubset, Subsets, Redirect, Failover, ConnectTimeout, RequestTimeout, PrioritizeByLocality, LoadBalancer",
        ),
        (
            "same key in two spellings",
            "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"http\"\nprotocol = \"tcp\"\n",
            "4:1: Protocol is given more than once (first at t.hcl:3:1); expected one",
        ),
        (
            "missing kind",
            "Name = \"web\"\n",
            "1:1: missing Kind; expected Kind = \"service-router\" (or another config entry kind)",
        ),
        (
            "unknown kind",
            "Kind = \"service-route\"\nName = \"web\"\n",
            "1:8: Kind: unknown config entry kind \"service-route\"; expected one of: service-defaults, proxy-defaults, service-router, service-splitter, service-resolver, ingress-gateway, terminating-gateway, service-intentions, mesh",
        ),
        (
            "wrong type",
            "Kind = \"service-router\"\nName = \"web\"\nRoutes = [{ Destination { NumRetries = \"many\" } }]\n",
            "3:40: NumRetries: expected a whole number from 0 to 4294967295, found \"many\"",
        ),
        (
            "name required",
            "Kind = \"service-splitter\"\nSplits = [{ Weight = 100 }]\n",
            "1:1: Name is required",
        ),
    ]);
}

#[test]
fn splitter_rules() {
    check(&[
        (
            "weights must sum to 100",
            "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [\n  { Weight = 90, ServiceSubset = \"v1\" },\n  { Weight = 20, ServiceSubset = \"v2\" },\n]\n",
            "3:1: the sum of all split weights must be 100, not 110.00",
        ),
        (
            "weights round to 0.01",
            "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [\n  { Weight = 33.33, ServiceSubset = \"a\" },\n  { Weight = 33.33, ServiceSubset = \"b\" },\n  { Weight = 33.33, ServiceSubset = \"c\" },\n]\n",
            "3:1: the sum of all split weights must be 100, not 99.99",
        ),
        (
            "weight out of range",
            "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [{ Weight = 101 }]\n",
            "3:22: Weight: expected a number from 0 to 100, found 101",
        ),
        (
            "no splits",
            "Kind = \"service-splitter\"\nName = \"web\"\nSplits = []\n",
            "3:1: Splits: no splits configured; expected at least one",
        ),
        (
            "duplicate destination",
            "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [\n  { Weight = 50, ServiceSubset = \"v1\" },\n  { Weight = 50, Service = \"web\", ServiceSubset = \"v1\" },\n]\n",
            "5:3: split destination occurs more than once: service \"web\", subset \"v1\"",
        ),
    ]);
}

#[test]
fn router_rules() {
    let route = |m: &str, d: &str| {
        format!(
            "Kind = \"service-router\"\nName = \"web\"\nRoutes = [\n  {{\n    Match {{ HTTP {{ {m} }} }}\n    Destination {{ {d} }}\n  }},\n]\n"
        )
    };
    check(&[
        (
            "path must start with /",
            &route("PathPrefix = \"admin\"", "Service = \"admin\""),
            "5:33: PathPrefix: must start with '/', found \"admin\"",
        ),
        (
            "only one path match",
            &route("PathExact = \"/a\", PathPrefix = \"/b\"", ""),
            "5:38: PathPrefix: only one of PathExact, PathPrefix or PathRegex may be set, and PathExact is set too",
        ),
        (
            "prefix rewrite needs a path match",
            &route("PathRegex = \"/a.*\"", "PrefixRewrite = \"/\""),
            "6:17: PrefixRewrite needs the route to match PathExact or PathPrefix",
        ),
        (
            "regex syntax",
            &route("PathRegex = \"/a(\"", ""),
            "5:32: PathRegex: invalid regular expression \"/a(\": unclosed group",
        ),
        (
            "one header condition",
            &route(
                "Header = [{ Name = \"x\", Exact = \"1\", Prefix = \"2\" }]",
                "",
            ),
            "5:30: Header \"x\": exactly one of Present, Exact, Prefix, Suffix, Regex is required; Exact and Prefix are set",
        ),
        (
            "header condition required",
            &route("Header = [{ Name = \"x\", Invert = true }]", ""),
            "5:30: Header \"x\": exactly one of Present, Exact, Prefix, Suffix, Regex is required; none is set",
        ),
        (
            "header name required",
            &route("Header = [{ Exact = \"1\" }]", ""),
            "5:30: Header: Name is required",
        ),
        (
            "query param condition",
            &route("QueryParam = [{ Name = \"env\", Prefix = \"d\" }]", ""),
            "5:50: unknown key \"Prefix\" in QueryParam match; expected one of: Name, Present, Exact, Regex",
        ),
        (
            "methods",
            &route("Methods = [\"GET\", \"FETCH\"]", ""),
            "5:30: Methods: \"FETCH\" is not an HTTP method; expected one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE",
        ),
        (
            "methods twice",
            &route("Methods = [\"GET\", \"get\"]", ""),
            "5:30: Methods: \"GET\" is listed more than once",
        ),
        (
            "retry condition",
            &route("", "RetryOn = [\"5xx\", \"sometimes\"]"),
            "6:29: RetryOn: expected one of \"5xx\", \"gateway-error\", \"reset\", \"connect-failure\", \"envoy-ratelimited\", \"retriable-4xx\", \"refused-stream\", \"cancelled\", \"deadline-exceeded\", \"internal\", \"resource-exhausted\", \"unavailable\", found \"sometimes\"",
        ),
        (
            "timeouts are not negative",
            &route("", "RequestTimeout = \"-1s\""),
            "6:36: RequestTimeout: expected a duration such as \"5s\", \"150ms\" or \"1m30s\", found \"-1s\": negative durations are not allowed",
        ),
        (
            "retries are not negative",
            &route("", "NumRetries = -2"),
            "6:32: NumRetries: expected a whole number from 0 to 4294967295, found -2",
        ),
        (
            "bare duration",
            &route("", "IdleTimeout = 5"),
            "6:33: IdleTimeout: expected a duration such as \"5s\", \"150ms\" or \"1m30s\", found the bare number 5; add a unit",
        ),
        (
            "retry status codes",
            &route("", "RetryOnStatusCodes = [503, 42]"),
            "6:46: RetryOnStatusCodes: expected a whole number from 100 to 599, found 42",
        ),
    ]);
}

#[test]
fn extension_rules() {
    let dest = |d: &str| {
        format!(
            "Kind = \"service-router\"\nName = \"web\"\nRoutes = [{{\n  Destination {{\n    {d}\n  }}\n}}]\n"
        )
    };
    check(&[
        (
            "fault percent range",
            &dest("Fault { Delay { Percent = 0, Duration = \"1s\" } }"),
            "5:31: Fault Delay Percent: expected more than 0 and at most 100, found 0",
        ),
        (
            "fault delay duration",
            &dest("Fault { Delay { Percent = 10 } }"),
            "5:19: Fault Delay: Duration is required",
        ),
        (
            "fault abort status",
            &dest("Fault { Abort { Percent = 10, HTTPStatus = 503, GRPCStatus = 14 } }"),
            "5:19: Fault Abort: exactly one of HTTPStatus (200 to 599) or GRPCStatus (1 to 16) is required",
        ),
        (
            "fault abort status range",
            &dest("Fault { Abort { Percent = 10, HTTPStatus = 99 } }"),
            "5:48: HTTPStatus: expected a whole number from 200 to 599, found 99",
        ),
        (
            "empty fault",
            &dest("Fault {}"),
            "5:11: Fault: expected a Delay or an Abort block, found neither",
        ),
        (
            "mirror service",
            &dest("Mirror { Percent = 5 }"),
            "5:12: Mirror: Service is required",
        ),
    ]);
}

#[test]
fn resolver_rules() {
    let resolver = |body: &str| format!("Kind = \"service-resolver\"\nName = \"web\"\n{body}\n");
    check(&[
        (
            "subset names",
            &resolver("Subsets = { V1 = { Filter = \"Service.Meta.version == v1\" } }"),
            "3:13: Subsets: \"V1\" is not a valid subset name; expected at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit",
        ),
        (
            "default subset exists",
            &resolver("DefaultSubset = \"v3\"\nSubsets = { v1 = {} }"),
            "3:17: DefaultSubset \"v3\" is not one of the Subsets (defined: \"v1\")",
        ),
        (
            "filter syntax",
            &resolver("Subsets = { v1 = { Filter = \"Service.Meta.version = v1\" } }"),
            "3:29: Filter of subset \"v1\" is not a valid expression: expected an operator (==, !=, is empty, contains, matches, in), found \"=\" at character 22",
        ),
        (
            "connect timeout",
            &resolver("ConnectTimeout = \"15 seconds\""),
            "3:18: ConnectTimeout: expected a duration such as \"5s\", \"150ms\" or \"1m30s\", found \"15 seconds\": unknown unit \" seconds\"; expected one of h, m, s, ms, us, ns",
        ),
        (
            "failover needs a target",
            &resolver("Failover = { \"*\" = {} }"),
            "3:20: Failover[\"*\"]: one of Service, ServiceSubset, Namespace, Targets, SamenessGroup or Datacenters is required",
        ),
        (
            "failover targets exclude datacenters",
            &resolver(
                "Failover = { \"*\" = { Datacenters = [\"dc2\"], Targets = [{ Peer = \"p\" }] } }",
            ),
            "3:20: Failover[\"*\"]: Targets cannot be set with Datacenters",
        ),
        (
            "failover target pairs",
            &resolver(
                "Failover = { \"*\" = { Targets = [{ Peer = \"p\", Datacenter = \"dc2\" }] } }",
            ),
            "3:33: Failover[\"*\"].Targets[0]: Peer cannot be set with Datacenter",
        ),
        (
            "failover subset exists",
            &resolver("Failover = { \"*\" = { ServiceSubset = \"v9\" } }"),
            "3:20: Failover[\"*\"]: ServiceSubset \"v9\" is not a subset of \"web\"",
        ),
        (
            "redirect and failover",
            &resolver(
                "Redirect { Service = \"api\" }\nFailover = { \"*\" = { Datacenters = [\"dc2\"] } }",
            ),
            "4:1: Redirect and Failover cannot both be set",
        ),
        (
            "empty redirect",
            &resolver("Redirect {}"),
            "3:1: Redirect is empty; expected a Service, ServiceSubset, Namespace, Partition, Datacenter or Peer",
        ),
        (
            "lb policy",
            &resolver("LoadBalancer { Policy = \"fastest\" }"),
            "3:25: Policy: expected one of \"round_robin\", \"least_request\", \"random\", \"ring_hash\", \"maglev\", found \"fastest\"",
        ),
        (
            "hash policies need a hash-based policy",
            &resolver(
                "LoadBalancer {\n  Policy = \"round_robin\"\n  HashPolicies = [{ Field = \"header\", FieldValue = \"x-user\" }]\n}",
            ),
            "5:3: HashPolicies need a hash-based Policy (\"ring_hash\" or \"maglev\"), not \"round_robin\"",
        ),
        (
            "ring hash config only with ring_hash",
            &resolver(
                "LoadBalancer {\n  Policy = \"maglev\"\n  RingHashConfig { MinimumRingSize = 1024 }\n}",
            ),
            "5:3: RingHashConfig is only valid with Policy \"ring_hash\", not \"maglev\"",
        ),
        (
            "hash policy field value",
            &resolver(
                "LoadBalancer {\n  Policy = \"maglev\"\n  HashPolicies = [{ Field = \"header\" }]\n}",
            ),
            "5:19: hash policy: Field needs a FieldValue (the header, cookie or parameter name)",
        ),
        (
            "source ip excludes field",
            &resolver(
                "LoadBalancer {\n  Policy = \"ring_hash\"\n  HashPolicies = [{ Field = \"cookie\", FieldValue = \"id\", SourceIP = true }]\n}",
            ),
            "5:19: hash policy: SourceIP cannot be combined with Field",
        ),
        (
            "session cookie has no ttl",
            &resolver(
                "LoadBalancer {\n  Policy = \"ring_hash\"\n  HashPolicies = [{\n    Field = \"cookie\"\n    FieldValue = \"id\"\n    CookieConfig { Session = true, TTL = \"10s\" }\n  }]\n}",
            ),
            "8:18: CookieConfig: a session cookie cannot have a TTL",
        ),
    ]);
}

#[test]
fn defaults_and_gateway_rules() {
    check(&[
        (
            "proxy-defaults is global",
            "Kind = \"proxy-defaults\"\nName = \"web\"\n",
            "2:8: invalid name \"web\": a proxy-defaults entry must be named \"global\"",
        ),
        (
            "service-defaults not a wildcard",
            "Kind = \"service-defaults\"\nName = \"*\"\n",
            "2:8: service-defaults name must be the name of a service, and not a wildcard",
        ),
        (
            "upstream override name",
            "Kind = \"service-defaults\"\nName = \"web\"\nUpstreamConfig { Overrides = [{ Protocol = \"http\" }] }\n",
            "3:31: UpstreamConfig Overrides: Name is required",
        ),
        (
            "limits not negative",
            "Kind = \"service-defaults\"\nName = \"web\"\nUpstreamConfig { Defaults { Limits { MaxConnections = -1 } } }\n",
            "3:55: MaxConnections: expected a whole number from 0 to 4294967295, found -1",
        ),
        (
            "mode",
            "Kind = \"service-defaults\"\nName = \"web\"\nMode = \"opaque\"\n",
            "3:8: Mode: expected one of \"direct\", \"transparent\", found \"opaque\"",
        ),
        (
            "ingress tcp wildcard",
            "Kind = \"ingress-gateway\"\nName = \"in\"\nListeners = [{ Port = 80, Protocol = \"tcp\", Services = [{ Name = \"*\" }] }]\n",
            "3:57: listener on port 80: the wildcard service \"*\" needs an L7 protocol, not tcp",
        ),
        (
            "ingress duplicate ports",
            "Kind = \"ingress-gateway\"\nName = \"in\"\nListeners = [\n  { Port = 80, Protocol = \"http\", Services = [{ Name = \"a\" }] },\n  { Port = 80, Protocol = \"http\", Services = [{ Name = \"b\" }] },\n]\n",
            "5:3: port 80 is declared on two listeners",
        ),
        (
            "ingress wildcard host with tls",
            "Kind = \"ingress-gateway\"\nName = \"in\"\nTLS { Enabled = true }\nListeners = [{ Port = 80, Protocol = \"http\", Services = [{ Name = \"a\", Hosts = [\"*\"] }] }]\n",
            "4:80: Hosts: \"*\" is not allowed when TLS is enabled; every host must be a DNS name for the certificate",
        ),
        (
            "terminating mtls needs all files",
            "Kind = \"terminating-gateway\"\nName = \"out\"\nServices = [{ Name = \"billing\", CertFile = \"c.pem\" }]\n",
            "3:13: service \"billing\" must have a CertFile, CAFile and KeyFile for mutual TLS (CAFile alone gives one-way TLS)",
        ),
        (
            "intentions action or permissions",
            "Kind = \"service-intentions\"\nName = \"api\"\nSources = [{\n  Name = \"web\"\n  Action = \"allow\"\n  Permissions = [{ Action = \"deny\", HTTP { PathPrefix = \"/admin\" } }]\n}]\n",
            "5:3: Action must be omitted when Permissions are given",
        ),
        (
            "mesh name",
            "Kind = \"mesh\"\nName = \"global\"\n",
            "2:8: invalid name \"global\": the mesh entry is named \"mesh\"",
        ),
    ]);
}

#[test]
fn set_rules() {
    let set = |text: &str| -> Vec<String> {
        let loaded = parse_str(Path::new("set.hcl"), text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        validate_set(&loaded.entries)
            .iter()
            .map(|e| format!("{}:{}: {}", e.location.line, e.location.column, e.message))
            .collect()
    };
    let agent = |entries: &str| format!("config_entries {{\n{entries}\n}}\n");
    assert_eq!(
        set(&agent(
            "  bootstrap {\n    kind = \"service-splitter\"\n    name = \"web\"\n    splits = [{ weight = 100 }]\n  }"
        )),
        [
            "3:5: service-splitter \"web\" needs an L7 protocol (http, http2 or grpc), but service \"web\" uses tcp (the default: no service-defaults Protocol or proxy-defaults Config.protocol sets it)"
        ]
    );
    assert_eq!(
        set(&agent(
            "  bootstrap {\n    kind = \"service-defaults\"\n    name = \"web\"\n    protocol = \"http\"\n  }\n  bootstrap {\n    kind = \"service-router\"\n    name = \"web\"\n    routes = [{ destination { service = \"db\" } }]\n  }"
        )),
        [
            "8:5: the discovery chain of \"web\" uses inconsistent protocols: it is http, but it sends to \"db\", which uses tcp (the default: no service-defaults Protocol or proxy-defaults Config.protocol sets it)"
        ]
    );
    assert_eq!(
        set(&agent(
            "  bootstrap {\n    kind = \"service-resolver\"\n    name = \"a\"\n    redirect { service = \"b\" }\n  }\n  bootstrap {\n    kind = \"service-resolver\"\n    name = \"b\"\n    redirect { service = \"a\" }\n  }"
        )),
        [
            "3:5: service-resolver \"a\" redirects in a loop back to \"a\"",
            "8:5: service-resolver \"b\" redirects in a loop back to \"b\""
        ]
    );
    assert_eq!(
        set(&agent(
            "  bootstrap {\n    kind = \"proxy-defaults\"\n    name = \"global\"\n  }\n  bootstrap {\n    kind = \"proxy-defaults\"\n  }"
        )),
        ["7:5: proxy-defaults \"global\" is defined more than once (first at set.hcl:3:5)"]
    );
}

#[test]
fn set_rules_take_any_entries() {
    // entries built in code have no origin; errors about them still read well
    assert!(validate_set(&Vec::<ConfigEntry>::new()).is_empty());
}
