service {
  name = "web"
  id   = "web"
  port = 8080
  tags = ["v1"]
  meta = { version = "v1" }

  connect {
    sidecar_service {
      proxy {
        upstreams = [
          {
            destination_name = "api"
            local_bind_port  = 9191
          }
        ]
      }
    }
  }

  check {
    id       = "web-http"
    http     = "http://127.0.0.1:8080/health"
    interval = "10s"
  }
}
