# The two small meshes that scripts/link-order and scripts/release-pgo run the proxy in, as the
# benchmarks do. Source after procs.sh. The caller sets `rig` and `bench` (the binaries) and
# passes a runner: a command taking a name and the arguments of `rig` that starts one proxy in
# the background (`start_rig` below, or one that wraps the proxy in a tool).

# start_rig NAME ARGS...: `rig ARGS...` in the background, as `start` does.
start_rig() {
    local name=$1
    shift
    start "$name" "$rig" "$@"
}

# wait_http PORT [curl options...]: until a request through PORT is answered with a success
# (the first ones may race a proxy's configuration or certificates).
wait_http() {
    local p=$1
    shift
    for _ in $(seq 300); do
        curl -fs -o /dev/null "$@" "http://127.0.0.1:$p/" && return 0
        sleep 0.2
    done
    echo "no answer through port $p; logs in $work:" >&2
    tail -n 5 "$work"/*.log >&2
    exit 1
}

# registry MODE: writes $work/MODE.hcl, the registry of the mesh: rig-bench's upstream as the
# service `bench-upstream`, and the instance `bench-client`, whose sidecar reaches it on
# $outbound. MODE `mtls` adds the upstream's inbound sidecar ($inbound), and the same upstream
# as an HTTP/2 service, reached on $outbound_h2 through its own sidecar ($inbound_h2).
registry() {
    local sidecar="" h2_service="" h2_upstream=""
    if [ "$1" = mtls ]; then
        sidecar="sidecar { port = $inbound }"
        h2_service="service \"bench-upstream-h2\" {
  protocol = \"http2\"
  instance \"bench-upstream-h2-1\" {
    address = \"127.0.0.1\"
    port    = $upstream
    sidecar { port = $inbound_h2 }
  }
}"
        h2_upstream="upstream \"bench-upstream-h2\" { local_bind_port = $outbound_h2 }"
    fi
    cat > "$work/$1.hcl" << HCL
service "bench-upstream" {
  protocol = "http"
  instance "bench-upstream-1" {
    address = "127.0.0.1"
    port    = $upstream
    $sidecar
  }
}
$h2_service
service "client" {
  protocol = "http"
  instance "bench-client" {
    address = "127.0.0.1"
    port    = $client
    sidecar {
      port = $client_inbound
      upstream "bench-upstream" { local_bind_port = $outbound }
      $h2_upstream
    }
  }
}
HCL
}

# plain_mesh RUNNER: one plaintext hop, the benchmarks' setup: rig-bench's upstream, `rig up
# --plaintext`, and the client's proxy, started by RUNNER as `plain`, its outbound listener on
# $outbound and its admin on $admin. Returns once the listener is up.
plain_mesh() {
    local runner=$1
    ports upstream xds outbound client client_inbound debug admin
    start upstream "$bench" upstream --listen "127.0.0.1:$upstream"
    wait_port "$upstream"
    registry plain
    start_rig up-plain up --plaintext --registry "$work/plain.hcl" --xds-addr "127.0.0.1:$xds" \
        --debug-addr "127.0.0.1:$debug"
    wait_port "$xds"
    "$runner" plain proxy --id bench-client --pilot "http://127.0.0.1:$xds" \
        --admin "127.0.0.1:$admin"
    wait_port "$outbound"
}

# mtls_mesh RUNNER: two hops with mTLS from Citadel: `rig up`, the client's proxy (outbound
# listeners $outbound for an HTTP/1.1 service and $outbound_h2 for an HTTP/2 one) and the
# services' inbound sidecars, each proxy started by RUNNER (named after its instance) with a
# one-time token. Returns once a request through each outbound listener has been answered.
mtls_mesh() {
    local runner=$1
    ports upstream xds citadel outbound outbound_h2 inbound inbound_h2 client client_inbound debug
    start upstream "$bench" upstream --listen "127.0.0.1:$upstream"
    wait_port "$upstream"
    registry mtls
    local state=$work/citadel
    start_rig up-mtls up --registry "$work/mtls.hcl" --xds-addr "127.0.0.1:$xds" \
        --debug-addr "127.0.0.1:$debug" --citadel-addr "127.0.0.1:$citadel" \
        --citadel-state "$state"
    wait_port "$xds"
    for _ in $(seq 600); do [ -f "$state/trust-bundle.pem" ] && break; sleep 0.1; done
    local pair id
    for pair in bench-client:client bench-upstream-1:bench-upstream \
        bench-upstream-h2-1:bench-upstream-h2; do
        id=${pair%%:*}
        RUST_LOG=warn "$rig" citadel token create --state "$state" --service "${pair#*:}" \
            --ttl 1h | tail -n 1 > "$work/$id.token"
        ports admin
        "$runner" "$id" proxy --id "$id" --pilot "http://127.0.0.1:$xds" \
            --admin "127.0.0.1:$admin" --citadel "127.0.0.1:$citadel" \
            --citadel-ca "$state/trust-bundle.pem" --token-file "$work/$id.token"
    done
    wait_port "$outbound"
    wait_port "$outbound_h2"
    # The inbound hops listen once their certificates are in.
    wait_http "$outbound"
    wait_http "$outbound_h2"
}
