data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  image = var.image != null ? var.image : "${aws_ecr_repository.relay.repository_url}:${var.image_tag}"

  # Where the egress sends: the right-hand sides of --map and --fanout (without
  # a :PORT), which must lie inside the allow list, and the allow list itself.
  rewrite_targets = distinct([for m in concat(var.group_map, var.group_fanout) : split(":", split("=", m)[1])[0]])
  emit_groups     = distinct(var.allowed_groups)

  # [first, last] address numbers of a CIDR, for containment tests.
  ranges = {
    for c in distinct(concat(var.allowed_groups, local.rewrite_targets)) : c => [
      sum([for i, o in split(".", cidrhost(strcontains(c, "/") ? c : "${c}/32", 0)) : tonumber(o) * pow(256, 3 - i)]),
      sum([for i, o in split(".", cidrhost(strcontains(c, "/") ? c : "${c}/32", 0)) : tonumber(o) * pow(256, 3 - i)]) + pow(2, 32 - tonumber(strcontains(c, "/") ? split("/", c)[1] : "32")) - 1,
    ]
  }
  outside_allow = [
    for t in local.rewrite_targets : t
    if !anytrue([for g in var.allowed_groups : local.ranges[g][0] <= local.ranges[t][0] && local.ranges[t][1] <= local.ranges[g][1]])
  ]

  alarm_feeds = var.alarm_feeds == null ? keys(var.feeds) : var.alarm_feeds

  tags = merge({ "app" = "mcast-relay" }, var.tags)
}

resource "aws_ecr_repository" "relay" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "relay" {
  repository = aws_ecr_repository.relay.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.ecr_keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

# Customers may pull the image to take the mcast-relay binary for their receivers.
resource "aws_ecr_repository_policy" "customer_pull" {
  count      = length(var.ecr_pull_account_ids) > 0 ? 1 : 0
  repository = aws_ecr_repository.relay.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CustomersPull"
      Effect    = "Allow"
      Principal = { AWS = [for a in sort(var.ecr_pull_account_ids) : "arn:${data.aws_partition.current.partition}:iam::${a}:root"] }
      Action    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    }]
  })
}

resource "aws_cloudwatch_log_group" "relay" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_sns_topic" "alarms" {
  # Not encrypted with alias/aws/sns: CloudWatch alarms cannot publish to a
  # topic under the AWS managed key. Alarm payloads hold no secrets.
  name = "${var.name}-alarms"
  tags = merge(local.tags, { Notify = "page" })
}

# Alarms that can wait for working hours (the dev feed's, by default).
resource "aws_sns_topic" "tickets" {
  name = "${var.name}-alarms-ticket"
  tags = merge(local.tags, { Notify = "ticket" })
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "ticket_email" {
  for_each  = toset(var.ticket_emails)
  topic_arn = aws_sns_topic.tickets.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- IAM -------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  name = "${var.name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Only the feeds' key secrets; the task role itself gets none.
resource "aws_iam_role_policy" "execution_secrets" {
  name = "read-relay-keys"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = sort(values(var.key_secret_arns))
      }],
      length(var.secrets_kms_key_arns) == 0 ? [] : [{
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = var.secrets_kms_key_arns
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.amazonaws.com" } }
      }],
    )
  })
}

# The relay itself calls no AWS API (metrics leave as EMF on stdout), so the
# task role has no policy.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = aws_iam_role.execution.assume_role_policy
  tags               = local.tags
}

resource "aws_iam_role" "instance" {
  name = "${var.name}-instance"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "instance" {
  for_each = toset([
    "service-role/AmazonEC2ContainerServiceforEC2Role",
    "AmazonSSMManagedInstanceCore",
  ])
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-instance"
  role = aws_iam_role.instance.name
  tags = local.tags
}
