resource "aws_lb" "relay" {
  name                             = var.name
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = local.tags
}

resource "aws_lb_target_group" "feed" {
  for_each    = var.feeds
  port        = each.value
  protocol    = "TCP"
  target_type = "ip" # awsvpc tasks register by ENI address
  vpc_id      = var.vpc_id

  # A draining task's connection is cut after the delay so the ingress
  # reconnects (and replays) to a healthy task instead of riding a stopping one.
  deregistration_delay   = var.deregistration_delay
  connection_termination = true

  # A target that turns unhealthy loses its connection at once, so the
  # ingress reconnects to a healthy one instead of streaming into it.
  target_health_state {
    enable_unhealthy_connection_termination = true
  }

  # HTTP, not TCP: TCP checks turned targets unhealthy after ~30 minutes in the
  # published design; an HTTP endpoint fixed it.
  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = tostring(var.health_port)
    path                = "/healthz"
    matcher             = "200"
    interval            = var.health_check_interval
    timeout             = var.health_check_timeout
    healthy_threshold   = 2
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }

  tags = merge(local.tags, { Name = "${var.name}-${each.key}", Feed = each.key })

  lifecycle {
    create_before_destroy = true

    # The ingress must hold what arrives while this feed fails over (see failover.tf).
    precondition {
      condition     = local.window_short[each.key] == ""
      error_message = "Feed ${each.key}: ${local.window_short[each.key]}"
    }
  }
}

resource "aws_lb_listener" "feed" {
  for_each          = var.feeds
  load_balancer_arn = aws_lb.relay.arn
  port              = each.value
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.feed[each.key].arn
  }

  tags = local.tags
}
