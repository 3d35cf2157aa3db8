job "multi-service" {
  datacenters = ["dc1"]

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "test" {
    network {
      mode = "bridge"

      port "connect-proxy-echo1" {
        to = -1
      }

      port "connect-proxy-echo2" {
        to = -1
      }
    }

    service {
      name = "echo1"
      port = "9001"

      connect {
        sidecar_service {}
      }
    }

    task "echo1" {
      driver = "docker"

      config {
        image = "hashicorp/http-echo"
        args  = ["-listen=:9001", "-text=echo1"]
      }
    }

    service {
      name = "echo2"
      port = "9002"

      connect {
        sidecar_service {}
      }
    }

    task "echo2" {
      driver = "docker"

      config {
        image = "hashicorp/http-echo"
        args  = ["-listen=:9002", "-text=echo2"]
      }
    }

    task "connect-proxy-echo1" {
      driver         = "exec"
      kind           = "connect-proxy:echo1"
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
          "_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-echo1-9001-sidecar-proxy",
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

    task "connect-proxy-echo2" {
      driver         = "exec"
      kind           = "connect-proxy:echo2"
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
          "_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-echo2-9002-sidecar-proxy",
          "--pilot",
          "http://${attr.unique.network.ip-address}:15010",
          "--admin",
          "127.0.0.2:19001",
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
