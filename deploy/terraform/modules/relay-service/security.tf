locals {
  # One rule per (feed, datacenter CIDR).
  feed_sources = {
    for pair in setproduct(keys(var.feeds), var.datacenter_cidrs) :
    "${pair[0]}/${pair[1]}" => { port = var.feeds[pair[0]], cidr = pair[1] }
  }
}

# --- NLB: the feed ports, from the datacenter only ---------------------------

resource "aws_security_group" "nlb" {
  name_prefix = "${var.name}-nlb-"
  description = "mcast-relay NLB: feed ports from the datacenter only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-nlb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nlb_feed" {
  for_each          = local.feed_sources
  security_group_id = aws_security_group.nlb.id
  description       = "feed ${split("/", each.key)[0]} from the datacenter"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks" {
  for_each          = toset([for p in concat(values(var.feeds), [var.health_port]) : tostring(p)])
  security_group_id = aws_security_group.nlb.id
  description       = "to relay tasks (feed and health check)"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = var.vpc_cidr
}

# --- Tasks: feed ports from the NLB, health inside the VPC, multicast out ----

resource "aws_security_group" "task" {
  name_prefix = "${var.name}-task-"
  description = "mcast-relay tasks: feed from the NLB, health in VPC, multicast out"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-task" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "task_feed" {
  for_each                     = var.feeds
  security_group_id            = aws_security_group.task.id
  description                  = "feed ${each.key} from the NLB"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_ingress_rule" "task_health" {
  security_group_id = aws_security_group.task.id
  description       = "health, metrics and status from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.health_port
  to_port           = var.health_port
  cidr_ipv4         = var.vpc_cidr
}

# Transit Gateway IGMP general queries arrive from 0.0.0.0.
resource "aws_vpc_security_group_ingress_rule" "task_igmp_query" {
  security_group_id = aws_security_group.task.id
  description       = "IGMP queries from the Transit Gateway"
  ip_protocol       = "2"
  cidr_ipv4         = "0.0.0.0/32"
}

resource "aws_vpc_security_group_egress_rule" "task_igmp" {
  for_each          = toset(concat(["224.0.0.2/32"], local.emit_groups))
  security_group_id = aws_security_group.task.id
  description       = "IGMP reports and leaves"
  ip_protocol       = "2"
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "task_multicast" {
  for_each          = toset(local.emit_groups)
  security_group_id = aws_security_group.task.id
  description       = "market data to the multicast groups"
  ip_protocol       = "udp"
  from_port         = 0
  to_port           = 65535
  cidr_ipv4         = each.value
}

# --- Container instances: only outbound HTTPS (ECS, ECR, CloudWatch, SSM) ---

resource "aws_security_group" "instance" {
  name_prefix = "${var.name}-instance-"
  description = "mcast-relay container instances: outbound HTTPS only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-instance" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "instance_https" {
  security_group_id = aws_security_group.instance.id
  description       = "ECS, ECR, CloudWatch Logs, Secrets Manager, SSM"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
