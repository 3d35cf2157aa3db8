# The demo's traffic rules: Consul config entries, exactly as `consul config write`
# or a Consul agent's `config_entries` would take them. `rig demo` writes this file
# next to the registry and `rig up --config-entries` watches it: edit the weights
# while the demo runs and the proxies follow within a second.

config_entries {
  # routers and splitters need an L7 protocol, which Consul takes from service-defaults
  bootstrap {
    Kind     = "service-defaults"
    Name     = "api"
    Protocol = "http"
  }

  # api's instances split into two subsets by their registry metadata
  bootstrap {
    Kind = "service-resolver"
    Name = "api"
    DefaultSubset = "v1"
    Subsets = {
      v1 = { Filter = "Service.Meta.version == v1" }
      v2 = { Filter = "Service.Meta.version == v2" }
    }
    # when v1 has no healthy instance, its traffic goes to v2
    Failover = {
      v1 = { ServiceSubset = "v2" }
    }
    ConnectTimeout = "2s"
  }

  # a canary: 90 % of api's traffic to v1, 10 % to v2
  bootstrap {
    Kind = "service-splitter"
    Name = "api"
    Splits = [
      { Weight = 90, ServiceSubset = "v1" },
      { Weight = 10, ServiceSubset = "v2", RequestHeaders { Set { x-canary = "split" } } },
    ]
  }

  # testers reach v2 on demand; slow calls are retried once
  bootstrap {
    Kind = "service-router"
    Name = "api"
    Routes = [
      {
        Match { HTTP { Header = [{ Name = "x-canary", Exact = "true" }] } }
        Destination { ServiceSubset = "v2" }
      },
      {
        Match { HTTP { PathPrefix = "/status/" } }
        Destination {
          NumRetries         = 2
          RetryOnStatusCodes = [503]
          RequestTimeout     = "5s"
        }
      },
    ]
  }
}
