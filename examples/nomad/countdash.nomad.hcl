# countdash: a dashboard that shows a counter it reads from an API, the two
# talking only through the service mesh.
#
# Nothing here knows about Rigging: it is an ordinary Nomad job for Consul's
# service mesh. `rig nomad run countdash.nomad.hcl` adds a `rig proxy` task
# where Nomad would add Envoy; countdash.injected.nomad.hcl is the result.

variable "datacenters" {
  description = "Where the job may run."
  type        = list(string)
  default     = ["*"]
}

job "countdash" {
  datacenters = var.datacenters

  # The API: reachable only through its sidecar, so its group network has no
  # port of its own.
  group "api" {
    network {
      mode = "bridge"
    }

    service {
      name = "count-api"
      # Where the API listens inside the group's network namespace; the
      # sidecar forwards the mesh's traffic to it.
      port = "9001"

      connect {
        sidecar_service {}

        # Merged over the injected proxy task's defaults (250 MHz, 128 MB).
        sidecar_task {
          resources {
            cpu    = 200
            memory = 96
          }
        }
      }
    }

    task "api" {
      driver = "docker"

      config {
        image = "hashicorpdev/counter-api:v3"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }

  # The dashboard: published on port 9002 of its client, and calling the API
  # through the upstream its sidecar binds on 127.0.0.1:8080.
  group "dashboard" {
    network {
      mode = "bridge"

      port "http" {
        static = 9002
        to     = 9002
      }
    }

    service {
      name = "count-dashboard"
      port = "9002"

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

      # Nomad sets NOMAD_UPSTREAM_ADDR_count_api to 127.0.0.1:8080.
      env {
        COUNTING_SERVICE_URL = "http://${NOMAD_UPSTREAM_ADDR_count_api}"
      }

      config {
        image = "hashicorpdev/counter-dashboard:v3"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
