locals {
  container_name = "mcast-relay"

  # Expected datacenter senders and the merge, per feed (variables.tf says
  # why deribit is the default, and why all feeds share one --merge).
  senders = { for f in keys(var.feeds) : f => lookup(var.senders, f, 2) }
  merge   = { for f in keys(var.feeds) : f => lookup(var.merge, f, "deribit") }

  # The egress's state file (--state-dir): a directory of the container
  # instance, made by the user data for uid 65532 and bind-mounted, so a
  # container that ECS restarts in place (restartPolicy) resumes every sender
  # exactly and emits nothing twice. A task on another host starts afresh.
  state_dir = "/var/lib/mcast-relay"
  # Set by the user data of instances that have the directory; tasks are
  # placed only there (an older instance would give the task a root-owned
  # directory, and the egress would stop at once: Permission denied).
  host_attribute = { name = "mcast-relay.state-dir", value = "v1" }

  command = concat(
    ["egress"],
    flatten([for feed, port in var.feeds : ["--listen", "${feed}=0.0.0.0:${port}"]]),
    ["--iface", var.iface],
    flatten([for g in var.allowed_groups : ["--allow", g]]),
    flatten([for m in var.group_map : ["--map", m]]),
    flatten([for m in var.group_fanout : ["--fanout", m]]),
    ["--merge", one(distinct(values(local.merge))), "--state-dir", local.state_dir],
    ["--ttl", tostring(var.ttl), "--http", "0.0.0.0:${var.health_port}", "--log-format", "json"],
  )

  # Every feed's key (the variable's validation makes it every feed); read by
  # ECS when a task starts, so a changed key takes a new deployment.
  secrets = [for feed in sort(keys(var.feeds)) : { name = "MCAST_RELAY_KEY_${upper(feed)}", valueFrom = var.key_secret_arns[feed] }]

  health_url = "http://127.0.0.1:${var.health_port}/healthz"

  container = {
    name                   = local.container_name
    image                  = local.image
    essential              = true
    command                = local.command
    readonlyRootFilesystem = true
    stopTimeout            = 10
    # The image's non-root user, stated here too so that no image can turn it
    # into root; joining groups and binding ports above 1024 need no capability.
    user       = "65532:65532"
    privileged = false
    linuxParameters = {
      capabilities       = { add = [], drop = ["ALL"] }
      initProcessEnabled = false
    }

    # The only writable path: the state directory (the root stays read-only).
    mountPoints = [{ sourceVolume = "state", containerPath = local.state_dir, readOnly = false }]

    # A container that exits is restarted in the same task, on the same host,
    # with its state file: ECS restarts at most once a minute, and a container
    # that cannot run for a minute is not restarted (the task is replaced, and
    # a version that never runs rolls back by the circuit breaker).
    restartPolicy = { enabled = true, restartAttemptPeriod = 60 }

    portMappings = concat(
      [for feed, port in var.feeds : { name = feed, containerPort = port, protocol = "tcp" }],
      [{ name = "health", containerPort = var.health_port, protocol = "tcp" }],
    )

    secrets = local.secrets

    # The runtime image has no shell or curl: the binary probes itself, on
    # the port --http serves (a probe of another port would kill every task).
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/mcast-relay", "health-probe", "--url", local.health_url]
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = 15
    }

    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

    # The link's receive buffer must hold twice the bandwidth-delay product
    # (DEPLOY.md section 5): a namespaced sysctl, which awsvpc tasks may set.
    systemControls = [{ namespace = "net.ipv4.tcp_rmem", value = "4096 131072 ${var.tcp_rmem_max}" }]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = aws_cloudwatch_log_group.relay.name
        "awslogs-region"        = data.aws_region.current.name
        "awslogs-stream-prefix" = "relay"
        # A slow CloudWatch must never block stdout and so the data path.
        "mode"            = "non-blocking"
        "max-buffer-size" = "4m"
      }
    }
  }
}

resource "aws_ecs_task_definition" "relay" {
  family                   = var.name
  network_mode             = "awsvpc"
  requires_compatibilities = ["EC2"]
  cpu                      = tostring(var.task_cpu)
  memory                   = tostring(var.task_memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name      = "state"
    host_path = local.state_dir
  }

  placement_constraints {
    type       = "memberOf"
    expression = "attribute:${local.host_attribute.name} == ${local.host_attribute.value}"
  }

  lifecycle {
    precondition {
      condition     = length(local.outside_allow) == 0
      error_message = "group_map / group_fanout send to ${join(", ", local.outside_allow)}, outside allowed_groups: the egress would drop those datagrams. Add the destinations to allowed_groups."
    }
  }

  tags = local.tags
}

resource "aws_ecs_service" "relay" {
  name            = var.name
  cluster         = aws_ecs_cluster.relay.id
  task_definition = aws_ecs_task_definition.relay.arn
  desired_count   = var.task_count

  # Rolling deploy that never drops below the running count: new tasks become
  # healthy before old ones drain. The ingress reconnects and replays.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.ec2.name
    weight            = 1
  }

  # The same subnets as the multicast domain's associations (env roots pass
  # both the same list; their tests compare the two).
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.feeds
    content {
      target_group_arn = aws_lb_target_group.feed[load_balancer.key].arn
      container_name   = local.container_name
      container_port   = load_balancer.value
    }
  }

  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }

  depends_on = [aws_lb_listener.feed, aws_ecs_cluster_capacity_providers.relay]

  tags = local.tags
}
