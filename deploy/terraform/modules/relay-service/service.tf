locals {
  container_name = "mcast-relay"

  command = concat(
    ["egress"],
    flatten([for feed, port in var.feeds : ["--listen", "${feed}=0.0.0.0:${port}"]]),
    ["--iface", var.iface],
    flatten([for g in var.allowed_groups : ["--allow", g]]),
    flatten([for m in var.group_map : ["--map", m]]),
    ["--ttl", tostring(var.ttl), "--http", "0.0.0.0:${var.health_port}", "--log-format", "json"],
  )

  secrets = concat(
    var.default_key_secret_arn == null ? [] : [{ name = "MCAST_RELAY_KEY", valueFrom = var.default_key_secret_arn }],
    [for feed, arn in var.key_secret_arns : { name = "MCAST_RELAY_KEY_${upper(feed)}", valueFrom = arn }],
  )

  container = {
    name                   = local.container_name
    image                  = local.image
    essential              = true
    command                = local.command
    readonlyRootFilesystem = true
    stopTimeout            = 10

    portMappings = concat(
      [for feed, port in var.feeds : { name = feed, containerPort = port, protocol = "tcp" }],
      [{ name = "health", containerPort = var.health_port, protocol = "tcp" }],
    )

    secrets = local.secrets

    # The runtime image has no shell or curl: the binary probes itself.
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/mcast-relay", "health-probe"]
      interval    = 10
      timeout     = 5
      retries     = 3
      startPeriod = 15
    }

    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]

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
