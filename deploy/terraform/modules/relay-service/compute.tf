resource "aws_ecs_cluster" "relay" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_launch_template" "ecs" {
  name_prefix = "${var.name}-"
  # Pinned (var.ami_id): a plan never changes because AWS published an AMI.
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instance.id]
  update_default_version = true

  user_data = base64encode(templatefile("${path.module}/templates/user-data.sh.tftpl", {
    cluster_name    = aws_ecs_cluster.relay.name
    state_dir       = local.state_dir
    attribute_name  = local.host_attribute.name
    attribute_value = local.host_attribute.value
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  # IMDSv2 only; tasks are kept away from it by ECS_AWSVPC_BLOCK_IMDS.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-ecs" })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "ecs" {
  name_prefix           = "${var.name}-"
  vpc_zone_identifier   = var.subnet_ids
  min_size              = var.instance_min_size
  max_size              = var.instance_max_size
  health_check_type     = "EC2"
  protect_from_scale_in = false

  launch_template {
    id      = aws_launch_template.ecs.id
    version = aws_launch_template.ecs.latest_version
  }

  # A new launch template version (AMI, instance type, user data) replaces the
  # running instances: new ones first (max 200 %), never below the current
  # count; ECS managed draining moves the tasks before an old one goes.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = 120
      auto_rollback          = true
    }
  }

  tag {
    key                 = "AmazonECSManaged"
    value               = "true"
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # ECS managed scaling owns the desired capacity.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_ecs_capacity_provider" "ec2" {
  name = "${var.name}-ec2"

  auto_scaling_group_provider {
    auto_scaling_group_arn         = aws_autoscaling_group.ecs.arn
    managed_termination_protection = "DISABLED"
    # Drain tasks off an instance before the ASG removes it.
    managed_draining = "ENABLED"

    managed_scaling {
      status          = "ENABLED"
      target_capacity = 100
    }
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "relay" {
  cluster_name       = aws_ecs_cluster.relay.name
  capacity_providers = [aws_ecs_capacity_provider.ec2.name]

  default_capacity_provider_strategy {
    capacity_provider = aws_ecs_capacity_provider.ec2.name
    weight            = 1
  }
}
