# The Rigging control plane as a Nomad job.
#
# `rig up` runs Pilot (xDS for the proxies, fed by Consul's catalog, where Nomad
# registers every `connect` sidecar) and Citadel (the certificate authority,
# which trusts Nomad's workload identities through Nomad's JWKS) in one process.
# One instance: Citadel's roots and keys live in one host volume.
#
# The proxies that `rig nomad inject` adds reach Pilot and Citadel on the
# client's own address (`${attr.unique.network.ip-address}`, ports 15010 and
# 15012), so on a cluster of several clients either pass --pilot and --citadel
# to `rig nomad inject|plan|run`, or run this job where the apps run. See
# README.md.

variable "rig_path" {
  description = "Where the rig binary is installed on the Nomad client."
  type        = string
  default     = "/usr/local/bin/rig"
}

variable "consul_addr" {
  description = "Consul's HTTP API, where Nomad registers connect services and their sidecars."
  type        = string
  default     = "http://127.0.0.1:8500"
}

variable "nomad_addr" {
  description = "Nomad's HTTP API, serving the JWKS of workload identities."
  type        = string
  default     = "http://127.0.0.1:4646"
}

variable "nomad_issuer" {
  description = "The iss of Nomad's workload identities: the servers' oidc_issuer setting."
  type        = string
  default     = "http://127.0.0.1:4646"
}

variable "audience" {
  description = "The aud the proxies' identities carry for Citadel (rig nomad inject --audience)."
  type        = string
  default     = "rigging-citadel"
}

job "rigging" {
  type = "service"

  group "control-plane" {
    # Citadel's state is one folder: two instances would be two certificate
    # authorities.
    count = 1

    # Declared in the client's configuration (see README.md):
    #   host_volume "rigging-citadel" { path = "/opt/rigging/citadel" }
    volume "citadel" {
      type      = "host"
      source    = "rigging-citadel"
      read_only = false
    }

    network {
      port "xds" {
        static = 15010
      }
      port "citadel" {
        static = 15012
      }
      port "debug" {
        static = 15014
      }
    }

    service {
      name     = "rigging-pilot"
      provider = "nomad"
      port     = "xds"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "rigging-citadel"
      provider = "nomad"
      port     = "citadel"

      check {
        type     = "tcp"
        interval = "10s"
        timeout  = "2s"
      }
    }

    service {
      name     = "rigging-pilot-debug"
      provider = "nomad"
      port     = "debug"

      check {
        type     = "http"
        path     = "/ready"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "rig" {
      driver = "exec"

      config {
        command = var.rig_path
        args = [
          "up",
          "--xds-addr", "${NOMAD_ADDR_xds}",
          "--citadel-addr", "${NOMAD_ADDR_citadel}",
          "--debug-addr", "${NOMAD_ADDR_debug}",
          "--citadel-state", "/var/lib/rigging/citadel",
          "--consul", var.consul_addr,
          "--nomad-jwks", "${var.nomad_addr}/.well-known/jwks.json",
          "--nomad-issuer", var.nomad_issuer,
          "--nomad-audience", var.audience,
          "--log-format", "json",
        ]
      }

      volume_mount {
        volume      = "citadel"
        destination = "/var/lib/rigging/citadel"
      }

      # Consul's ACL token, if Consul has ACLs: service:read and node:read.
      # template {
      #   data        = "CONSUL_HTTP_TOKEN={{ with nomadVar \"nomad/jobs/rigging\" }}{{ .consul_token }}{{ end }}"
      #   destination = "${NOMAD_SECRETS_DIR}/consul.env"
      #   env         = true
      # }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
