# rest-proxy: the only Discord HTTP client; workers, the scheduler and the dashboard send their
# Discord requests here (the service aegis-rest-proxy, port "http").
#
# Two allocations share every rate limit through Redis, so a rolling update (one at a time) or a
# lost node never leaves the workers without a proxy, and never lets the two together exceed
# Discord's limits.
#
# The token comes from the Nomad variable nomad/jobs/aegis-rest-proxy (key discord_token):
#   nomad var put nomad/jobs/aegis-rest-proxy discord_token=...
# It is written to a file in the task's secrets directory; when the variable changes (a rotated
# token), Nomad rewrites the file and sends SIGHUP, and rest-proxy reads it again without a
# restart (it also forgets the 401 it may have seen for the old token).
variable "binary_url" {
  type        = string
  description = "Where the task fetches the rest-proxy binary (cargo build --release -p aegis-rest-proxy)"
}

variable "redis_url" {
  type    = string
  default = "redis://redis.service.consul:6379"
}

variable "global_limit" {
  type        = number
  default     = 50
  description = "Requests per second per token; raise only after Discord raised the bot's limit"
}

job "aegis-rest-proxy" {
  type = "service"

  group "proxy" {
    count = 2

    update {
      max_parallel      = 1
      canary            = 0
      min_healthy_time  = "10s"
      healthy_deadline  = "2m"
      progress_deadline = "5m"
      auto_revert       = true
    }

    restart {
      attempts = 10
      interval = "30m"
      delay    = "5s"
      mode     = "delay"
    }

    network {
      port "http" {}
      port "ops" {}
    }

    # What the workers address (AEGIS_REST_URL=http://<this service>).
    service {
      name     = "aegis-rest-proxy"
      port     = "http"
      provider = "nomad"

      check {
        name     = "alive"
        type     = "http"
        port     = "ops"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }

      # Not ready while Redis is unreachable (it then limits in memory, at 1/fallback_share of
      # every limit per instance).
      check {
        name      = "ready"
        type      = "http"
        port      = "ops"
        path      = "/readyz"
        interval  = "10s"
        timeout   = "2s"
        on_update = "ignore_warnings"
      }
    }

    service {
      name     = "aegis-rest-proxy-ops"
      port     = "ops"
      provider = "nomad"
      tags     = ["metrics"]
    }

    task "rest-proxy" {
      driver = "exec"

      artifact {
        source      = var.binary_url
        destination = "local/"
      }

      config {
        command = "local/rest-proxy"
      }

      # SIGTERM: stop accepting, let requests in flight finish (up to 10 s).
      kill_signal  = "SIGTERM"
      kill_timeout = "15s"

      template {
        destination   = "secrets/discord_token"
        perms         = "0400"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/aegis-rest-proxy" }}{{ .discord_token }}{{ end }}
        EOT
      }

      env {
        DISCORD_TOKEN_FILE               = "${NOMAD_SECRETS_DIR}/discord_token"
        AEGIS_REST_ADDR                  = "0.0.0.0:${NOMAD_PORT_http}"
        AEGIS_REST_OPS_ADDR              = "0.0.0.0:${NOMAD_PORT_ops}"
        AEGIS_REST_REDIS_URL             = var.redis_url
        AEGIS_REST_GLOBAL_LIMIT          = var.global_limit
        # Two allocations: while Redis is down, each takes half of every limit.
        AEGIS_REST_FALLBACK_SHARE        = "2"
        AEGIS_REST_INVALID_REQUEST_LIMIT = "8000"
        RUST_LOG                         = "info"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
