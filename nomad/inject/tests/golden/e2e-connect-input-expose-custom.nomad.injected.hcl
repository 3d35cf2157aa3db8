job "expose-custom" {
  datacenters = ["dc1"]

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "api" {
    network {
      mode = "bridge"

      port "connect-proxy-count-api" {
        to = -1
      }
    }

    service {
      name = "count-api"
      port = "9001"

      connect {
        sidecar_service {}
      }

      check {
        expose   = true
        name     = "api-health"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "3s"
      }
    }

    task "web" {
      driver = "docker"

      config {
        image = "hashicorpdev/counter-api:v3"
      }
    }

    task "connect-proxy-count-api" {
      driver         = "exec"
      kind           = "connect-proxy:count-api"
      shutdown_delay = "5s"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        command = "/usr/local/bin/rig"
        args = [
          "proxy",
          "--id",
          "_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-count-api-9001-sidecar-proxy",
          "--pilot",
          "http://${attr.unique.network.ip-address}:15010",
          "--admin",
          "127.0.0.2:19000",
          "--citadel",
          "${attr.unique.network.ip-address}:15012",
          "--citadel-ca",
          "/etc/rigging/trust-bundle.pem",
          "--nomad-jwt-file",
          "${NOMAD_SECRETS_DIR}/nomad_rigging.jwt",
        ]
      }

      identity {
        name = "rigging"
        aud  = ["rigging-citadel"]
        file = true
        ttl  = "1h"
      }

      resources {
        cpu    = 133
        memory = 63
      }

      logs {
        max_files     = 2
        max_file_size = 2
      }
    }
  }
}
