# The demo's static-file registry. `rig demo` writes this file into its folder and
# `rig up` watches it: edit it while the demo runs and the proxies follow within a second.

service "web" {
  protocol = "http"

  instance "web-1" {
    address = "127.0.0.1"
    port    = 18080
    meta    = { version = "v1" }
    sidecar {
      port = 21000
      upstream "api" { local_bind_port = 9191 }
      upstream "db" { local_bind_port = 9192 }
    }
  }
}

service "api" {
  protocol      = "http"
  load_balancer = "round_robin"

  instance "api-v1-1" {
    address = "127.0.0.1"
    port    = 18081
    meta    = { version = "v1" }
    sidecar { port = 21001 }
  }

  instance "api-v2-1" {
    address = "127.0.0.1"
    port    = 18082
    meta    = { version = "v2" }
    sidecar { port = 21002 }
  }
}

service "db" {
  protocol = "tcp"

  instance "db-1" {
    address = "127.0.0.1"
    port    = 18083
    sidecar { port = 21003 }
  }
}

# The door for your curl: a proxy with no application of its own, whose
# upstreams put web, api and db on local ports.
service "client" {
  protocol = "http"

  instance "client-1" {
    address = "127.0.0.1"
    port    = 18089
    sidecar {
      port = 21009
      upstream "web" { local_bind_port = 9090 }
      upstream "api" { local_bind_port = 9091 }
      upstream "db" { local_bind_port = 9092 }
    }
  }
}
