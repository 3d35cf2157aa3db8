job "countdash" {
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
    }

    task "backend" {
      driver = "docker"

      config {
        image = "docker.io/hashicorpdev/counter-api:v3"
      }
    }

    task "connect-proxy-count-api" {
      driver         = "exec2"
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
        unveil  = ["rx:/opt/bin", "rwc:/dev/shm"]
      }

      identity {
        name = "rigging"
        aud  = ["rigging-citadel"]
        file = true
        ttl  = "1h"
      }

      resources {
        cpu    = 1000
        memory = 256
      }

      logs {
        max_files     = 2
        max_file_size = 2
      }

      user = "nobody"
    }
  }

  group "dashboard" {
    network {
      mode = "bridge"

      port "http" {
        static = 9002
        to     = 9002
      }

      port "connect-proxy-count-dashboard" {
        to = -1
      }
    }

    service {
      name = "count-dashboard"
      port = "http"

      connect {
        sidecar_service {
          proxy {
            upstreams {
              destination_name = "count-api"
              local_bind_port  = 8080
            }
          }
        }
      }
    }

    task "dashboard" {
      driver = "docker"

      env {
        COUNTING_SERVICE_URL          = "http://${NOMAD_UPSTREAM_ADDR_count_api}"
        NOMAD_UPSTREAM_ADDR_count-api = "127.0.0.1:8080"
        NOMAD_UPSTREAM_IP_count-api   = "127.0.0.1"
        NOMAD_UPSTREAM_PORT_count-api = "8080"
        NOMAD_UPSTREAM_ADDR_count_api = "127.0.0.1:8080"
        NOMAD_UPSTREAM_IP_count_api   = "127.0.0.1"
        NOMAD_UPSTREAM_PORT_count_api = "8080"
      }

      config {
        image = "docker.io/hashicorpdev/counter-dashboard:v3"
      }
    }

    task "connect-proxy-count-dashboard" {
      driver         = "exec2"
      kind           = "connect-proxy:count-dashboard"
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
          "_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-count-dashboard-http-sidecar-proxy",
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
        unveil  = ["rx:/opt/bin", "rwc:/dev/shm"]
      }

      identity {
        name = "rigging"
        aud  = ["rigging-citadel"]
        file = true
        ttl  = "1h"
      }

      resources {
        cpu    = 1000
        memory = 256
      }

      logs {
        max_files     = 2
        max_file_size = 2
      }

      user = "nobody"
    }
  }
}
