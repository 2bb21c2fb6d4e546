# gateway-proxy: holds the bot's shard WebSockets and publishes events into NATS JetStream.
#
# One allocation per shard range. For a bot that outgrows one process, copy the group with another
# AEGIS_GATEWAY_SHARD_RANGE (e.g. 0-15 and 16-31) and the same AEGIS_GATEWAY_SHARDS: the Redis
# identify queue keeps max_concurrency across groups.
#
# The token comes from the Nomad variable nomad/jobs/aegis-gateway-proxy (key discord_token):
#   nomad var put nomad/jobs/aegis-gateway-proxy discord_token=...
variable "binary_url" {
  type        = string
  description = "Where the task fetches the gateway-proxy binary (cargo build --release -p aegis-gateway-proxy)"
}

variable "nats_url" {
  type    = string
  default = "nats://nats.service.consul:4222"
}

variable "redis_url" {
  type    = string
  default = "redis://redis.service.consul:6379"
}

job "aegis-gateway-proxy" {
  type = "service"

  group "shards-all" {
    count = 1

    # Never two copies of the same shard range at once: a rolling update stops the old one first
    # (it stores its sessions), then the new one resumes them.
    update {
      max_parallel      = 1
      canary            = 0
      min_healthy_time  = "10s"
      healthy_deadline  = "10m"
      progress_deadline = "15m"
      auto_revert       = true
    }

    restart {
      attempts = 10
      interval = "30m"
      delay    = "15s"
      mode     = "delay"
    }

    network {
      port "ops" {}
    }

    service {
      name     = "aegis-gateway-proxy"
      port     = "ops"
      provider = "nomad"

      check {
        name     = "alive"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }

      # Ready once every owned shard is READY or RESUMED; a cold start of many shards takes
      # ceil(shards / max_concurrency) x 5 s, hence the long deadline above.
      check {
        name     = "ready"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "2s"
        on_update = "ignore_warnings"
      }
    }

    task "gateway-proxy" {
      driver = "exec"

      artifact {
        source      = var.binary_url
        destination = "local/"
      }

      config {
        command = "local/gateway-proxy"
      }

      # SIGTERM: close every socket with 4000 (resumable) and store each session.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      template {
        destination = "secrets/discord.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/aegis-gateway-proxy" }}DISCORD_TOKEN={{ .discord_token }}{{ end }}
        EOT
      }

      env {
        AEGIS_GATEWAY_OPS_ADDR      = "0.0.0.0:${NOMAD_PORT_ops}"
        AEGIS_GATEWAY_SHARDS        = "auto"
        AEGIS_GATEWAY_SHARD_RANGE   = "all"
        AEGIS_GATEWAY_IDENTIFY_QUEUE = "redis"
        AEGIS_NATS_URL              = var.nats_url
        AEGIS_REDIS_URL             = var.redis_url
        AEGIS_DUPLICATE_WINDOW      = "2m"
        RUST_LOG                    = "info"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
