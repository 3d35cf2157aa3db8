//! Arbitrary bytes as the resources of every xDS type: the proxy's conversion must refuse, never panic.
#![no_main]

use envoy_types::pb::google::protobuf::Any;
use libfuzzer_sys::fuzz_target;
use rigging_mesh_xds::ResourceType;
use rigging_proxy_config::ProxyConfig;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, value)) = data.split_first() else {
        return;
    };
    let ty = ResourceType::ALL[usize::from(selector) % ResourceType::ALL.len()];
    let any = Any {
        type_url: ty.type_url().to_owned(),
        value: value.to_vec(),
    };
    if let Ok(config) = ProxyConfig::default().with_resources(ty, &[any]) {
        let _ = config.check_references();
        let _ = config.eds_names();
        let _ = config.rds_names();
    }
});
