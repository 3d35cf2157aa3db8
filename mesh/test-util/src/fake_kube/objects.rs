//! Builders of the objects the fake serves, shaped as the API server and its controllers
//! write them: Services, EndpointSlices and their parts, and the `Status` of an error.

use serde_json::{Value, json};

/// A Kubernetes `Status` object, as the API server sends with every error.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code })
}

/// A ClusterIP Service selecting `app=<name>`, with `ports` (a JSON array of ServicePorts).
pub fn service(namespace: &str, name: &str, ports: Value) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name },
                      "creationTimestamp": "2026-11-27T09:00:00Z" },
        "spec": { "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                  "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                  "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
                  "selector": { "app": name }, "ports": ports },
        "status": { "loadBalancer": {} }
    })
}

/// One ServicePort: `target_port` is a number or a container port's name.
pub fn service_port(
    name: &str,
    port: u16,
    target_port: Value,
    app_protocol: Option<&str>,
) -> Value {
    let mut p = json!({ "name": name, "port": port, "protocol": "TCP", "targetPort": target_port });
    if let Some(a) = app_protocol {
        p["appProtocol"] = json!(a);
    }
    p
}

/// An IPv4 EndpointSlice of `service`, as the EndpointSlice controller writes it.
pub fn endpoint_slice(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: Vec<Value>,
    ports: Value,
) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace, "generateName": format!("{service}-"),
            "labels": { "kubernetes.io/service-name": service,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" },
            "ownerReferences": [{ "apiVersion": "v1", "kind": "Service", "name": service,
                                  "uid": "5d0f2b7a-0000-4000-8000-000000000001",
                                  "controller": true, "blockOwnerDeletion": true }] },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports
    })
}

/// One EndpointSlice port (its name is the Service port's name; `port` the resolved target).
pub fn slice_port(name: &str, port: u16, app_protocol: Option<&str>) -> Value {
    let mut p = json!({ "name": name, "port": port, "protocol": "TCP" });
    if let Some(a) = app_protocol {
        p["appProtocol"] = json!(a);
    }
    p
}

/// One endpoint of a pod: `ready`, `serving` and `terminating` as given.
pub fn endpoint(
    ip: &str,
    pod: &str,
    conditions: (bool, bool, bool),
    node: &str,
    zone: &str,
) -> Value {
    let (ready, serving, terminating) = conditions;
    json!({
        "addresses": [ip],
        "conditions": { "ready": ready, "serving": serving, "terminating": terminating },
        "nodeName": node,
        "zone": zone,
        "targetRef": { "kind": "Pod", "name": pod, "namespace": "default",
                       "uid": "7c1f9a52-0000-4000-8000-000000000002" }
    })
}
