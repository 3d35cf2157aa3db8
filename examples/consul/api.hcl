service {
  name = "api"
  id   = "api-1"
  port = 9090
  meta = { version = "v1" }

  connect {
    sidecar_service {}
  }
}
