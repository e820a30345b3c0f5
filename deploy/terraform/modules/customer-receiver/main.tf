data "aws_vpc" "receiver" {
  id = var.vpc_id
}

locals {
  tags = merge({ "app" = "mcast-receiver" }, var.tags)

  vpc_cidrs = [for a in data.aws_vpc.receiver.cidr_block_associations : a.cidr_block]

  # [first, last] address numbers, to refuse a VPC that overlaps the relay's.
  first = { for c in concat(local.vpc_cidrs, var.relay_source_cidrs) : c => sum([for i, o in split(".", cidrhost(c, 0)) : tonumber(o) * pow(256, 3 - i)]) }
  last  = { for c in concat(local.vpc_cidrs, var.relay_source_cidrs) : c => local.first[c] + pow(2, 32 - tonumber(split("/", c)[1])) - 1 }
  overlaps = flatten([
    for v in local.vpc_cidrs : [
      for r in var.relay_source_cidrs : "${v} overlaps ${r}" if local.first[v] <= local.last[r] && local.first[r] <= local.last[v]
    ]
  ])

  udp_sources = {
    for pair in setproduct(var.relay_source_cidrs, var.feed_ports) :
    "${pair[0]}:${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }
}

resource "aws_ram_resource_share_accepter" "mcast" {
  count     = var.accept_share ? 1 : 0
  share_arn = var.resource_share_arn
}

# The relay operator accepts this attachment by hand (it waits in
# pendingAcceptance until then): send them vpc_attachment_id and vpc_cidrs.
resource "aws_ec2_transit_gateway_vpc_attachment" "receiver" {
  transit_gateway_id = var.transit_gateway_id
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  tags               = merge(local.tags, { Name = "${var.name}-mcast" })

  # The gateway is visible only once the share is accepted.
  depends_on = [aws_ram_resource_share_accepter.mcast]

  lifecycle {
    # If this VPC overlapped the relay's source range, its own instances
    # could send into the feed groups with addresses that pass every
    # customer's "feed UDP from the relay" rule; the operator refuses such a
    # VPC, and so does this module.
    precondition {
      condition     = length(local.overlaps) == 0
      error_message = "This VPC's CIDRs overlap the relay's source range (${join("; ", local.overlaps)}): use a VPC whose addresses do not overlap relay_source_cidrs."
    }
  }
}

# Only once the operator has accepted the attachment (attachment_accepted);
# then auto-accepted by the owner's domain (auto_accept_shared_associations).
resource "aws_ec2_transit_gateway_multicast_domain_association" "receiver" {
  for_each                            = var.attachment_accepted ? toset(var.subnet_ids) : toset([])
  transit_gateway_attachment_id       = aws_ec2_transit_gateway_vpc_attachment.receiver.id
  transit_gateway_multicast_domain_id = var.multicast_domain_id
  subnet_id                           = each.value
}

resource "aws_security_group" "receiver" {
  name_prefix = "${var.name}-"
  description = "Multicast receivers: IGMP and the feed's UDP"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true
  }
}

# The source rules are what keeps another customer's datagrams out: the
# multicast domain lets any associated ENI send to a group (IGMPv2, no static
# sources), so a receiver accepts the feed's UDP from the relay's range only.
# No other ingress rule of this group (or of extra_security_group_ids) should
# admit UDP to the feed ports from anywhere else.

# The Transit Gateway sends IGMPv2 general queries from 0.0.0.0.
resource "aws_vpc_security_group_ingress_rule" "igmp_query" {
  security_group_id = aws_security_group.receiver.id
  description       = "IGMP queries from the Transit Gateway"
  ip_protocol       = "2"
  cidr_ipv4         = "0.0.0.0/32"
}

resource "aws_vpc_security_group_ingress_rule" "feed" {
  for_each          = local.udp_sources
  security_group_id = aws_security_group.receiver.id
  description       = "market data UDP from the relay"
  ip_protocol       = "udp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

# Membership reports go to the group, leaves to 224.0.0.2.
resource "aws_vpc_security_group_egress_rule" "igmp" {
  for_each          = toset(concat(["224.0.0.2/32"], var.feed_groups))
  security_group_id = aws_security_group.receiver.id
  description       = "IGMP reports and leaves"
  ip_protocol       = "2"
  cidr_ipv4         = each.value
}

data "aws_ssm_parameter" "al2023" {
  count = var.create_launch_template && var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

resource "aws_launch_template" "receiver" {
  count                  = var.create_launch_template ? 1 : 0
  name_prefix            = "${var.name}-"
  image_id               = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
  instance_type          = var.instance_type
  vpc_security_group_ids = concat([aws_security_group.receiver.id], var.extra_security_group_ids)
  update_default_version = true
  user_data              = base64encode(file("${path.module}/templates/user-data.sh"))

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }

  tags = local.tags
}
