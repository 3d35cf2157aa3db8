# The storefront's web tier on one VM, as a Consul agent service definition.
#
# `rig proxy --service-def web.hcl --register` runs its sidecar: proxy id
# `web-vm1-sidecar-proxy`, listening for mesh traffic on the first free port of
# 21000-21255, handing it to the app on 127.0.0.1:8080, and giving the app the
# `api` service on 127.0.0.1:9191 and `payments` on 127.0.0.1:9292.
service {
  name = "web"
  id   = "web-vm1"
  port = 8080
  tags = ["vm", "v2"]
  meta = {
    version = "2.4.1"
    host    = "vm1"
  }

  connect {
    sidecar_service {
      proxy {
        upstreams = [
          {
            destination_name = "api"
            local_bind_port  = 9191
          },
          {
            destination_name = "payments"
            local_bind_port  = 9292
            config = {
              connect_timeout_ms = 2000
            }
          }
        ]
      }
    }
  }

  check {
    id       = "web-vm1-health"
    name     = "web answers /healthz"
    http     = "http://127.0.0.1:8080/healthz"
    interval = "10s"
    timeout  = "2s"
  }
}
