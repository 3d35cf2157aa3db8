# A small registry: a web front end calling an api, both with sidecars, and a
# database reached directly. The front end also takes plaintext from callers
# outside the mesh; the api takes only mTLS (the default).

service "web" {
  protocol        = "http"
  mutual_tls_mode = "permissive"

  instance "web-1" {
    address = "127.0.0.1"
    port    = 8080
    sidecar {
      port = 21000
      upstream "api" {
        local_bind_port = 9191
      }
    }
  }
}

service "api" {
  protocol      = "grpc"
  load_balancer = "least_request"

  instance "api-1" {
    address = "127.0.0.1"
    port    = 9001
    meta    = { version = "v1" }
    sidecar {
      port = 21001
      upstream "db" {
        local_bind_port = 9192
      }
    }
  }

  instance "api-2" {
    address = "127.0.0.1"
    port    = 9002
    meta    = { version = "v2" }
    locality {
      region = "local"
      zone   = "b"
    }
    sidecar {
      port = 21002
      upstream "db" {
        local_bind_port = 9192
      }
    }
  }
}

service "db" {
  instance "db-1" {
    address = "127.0.0.1"
    port    = 5432
  }
}
