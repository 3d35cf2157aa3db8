job "web" {
  datacenters = ["dc1"]

  group "web" {
    network {
      mode = "bridge"

      port "http" {
        static = 80
        to     = 8080
      }

      port "connect-proxy-website" {
        to = -1
      }
    }

    service {
      name = "website"
      port = "8080"

      connect {
        sidecar_service {
          proxy {
            upstreams {
              destination_name = "database"
              local_bind_port  = 5432

              config {
                connect_timeout_ms = 9999
              }
            }
          }
        }
      }
    }

    task "httpserver" {
      driver = "docker"

      env {
        COUNTING_SERVICE_URL         = "http://${NOMAD_UPSTREAM_ADDR_database}"
        NOMAD_UPSTREAM_ADDR_database = "127.0.0.1:5432"
        NOMAD_UPSTREAM_IP_database   = "127.0.0.1"
        NOMAD_UPSTREAM_PORT_database = "5432"
      }

      config {
        image          = "hashicorp/website:v1"
        auth_soft_fail = true
      }
    }

    task "connect-proxy-website" {
      driver         = "exec"
      kind           = "connect-proxy:website"
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
          "_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-website-8080-sidecar-proxy",
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
        cpu    = 250
        memory = 128
      }

      logs {
        max_files     = 2
        max_file_size = 2
      }
    }
  }
}
