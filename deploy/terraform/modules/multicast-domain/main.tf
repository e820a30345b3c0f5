locals {
  tags = merge({ "app" = "mcast-relay" }, var.tags)

  # One principal association per account, however many names share it.
  customer_accounts = toset([for c in values(var.customers) : c.account_id])

  # Every attachment the operator has approved: attachment id => customer.
  accepted = merge([
    for name, c in var.customers : {
      for id, cidrs in c.attachments : id => { customer = name, account_id = c.account_id, vpc_cidrs = cidrs }
    }
  ]...)

  # IPv4 CIDRs as [first, last] address numbers, to test overlaps.
  relay_range = [
    for c in [var.relay_vpc_cidr] : [
      sum([for i, o in split(".", cidrhost(c, 0)) : tonumber(o) * pow(256, 3 - i)]),
      sum([for i, o in split(".", cidrhost(c, 0)) : tonumber(o) * pow(256, 3 - i)]) + pow(2, 32 - tonumber(split("/", c)[1])) - 1,
    ]
  ][0]
  overlapping = {
    for id, a in local.accepted : id => [
      for c in a.vpc_cidrs : c
      if sum([for i, o in split(".", cidrhost(c, 0)) : tonumber(o) * pow(256, 3 - i)]) <= local.relay_range[1] &&
      local.relay_range[0] <= sum([for i, o in split(".", cidrhost(c, 0)) : tonumber(o) * pow(256, 3 - i)]) + pow(2, 32 - tonumber(split("/", c)[1])) - 1
    ]
  }

  receivers = sum(concat([0], [for c in values(var.customers) : c.receivers]))
}

# The multicast gateway: it carries only the feed's multicast to customers.
# It is never attached to Direct Connect or peered (that is dc-connectivity's
# own gateway), and it has no route tables that customers could use: default
# association and propagation are off.
resource "aws_ec2_transit_gateway" "mcast" {
  description       = "${var.name} multicast (shared with customers)"
  amazon_side_asn   = var.amazon_side_asn
  multicast_support = "enable"
  # The operator approves each customer VPC attachment (aws_ec2_transit_gateway_vpc_attachment_accepter below).
  auto_accept_shared_attachments  = "disable"
  default_route_table_association = "disable"
  default_route_table_propagation = "disable"
  dns_support                     = "enable"
  tags                            = merge(local.tags, { Name = "${var.name}-mcast" })
}

# IGMPv2 on and static sources off: receivers join with IGMPv2 and any ENI in
# an associated subnet may send, so ephemeral task ENIs need no registration.
# Shared associations are auto-accepted, but only an attachment the operator
# accepted can be associated at all.
resource "aws_ec2_transit_gateway_multicast_domain" "mcast" {
  transit_gateway_id              = aws_ec2_transit_gateway.mcast.id
  igmpv2_support                  = "enable"
  static_sources_support          = "disable"
  auto_accept_shared_associations = "enable"
  tags                            = merge(local.tags, { Name = "${var.name}-domain" })
}

resource "aws_ec2_transit_gateway_vpc_attachment" "relay" {
  transit_gateway_id                              = aws_ec2_transit_gateway.mcast.id
  vpc_id                                          = var.vpc_id
  subnet_ids                                      = var.subnet_ids
  transit_gateway_default_route_table_association = false
  transit_gateway_default_route_table_propagation = false
  tags                                            = merge(local.tags, { Name = "${var.name}-relay-vpc-mcast" })
}

resource "aws_ec2_transit_gateway_multicast_domain_association" "relay" {
  for_each                            = toset(var.subnet_ids)
  transit_gateway_attachment_id       = aws_ec2_transit_gateway_vpc_attachment.relay.id
  transit_gateway_multicast_domain_id = aws_ec2_transit_gateway_multicast_domain.mcast.id
  subnet_id                           = each.value
}

# One share holds both the gateway and the domain; its principals are exactly
# the customers' accounts.
resource "aws_ram_resource_share" "mcast" {
  name                      = "${var.name}-multicast"
  allow_external_principals = true
  tags                      = local.tags
}

resource "aws_ram_resource_association" "transit_gateway" {
  resource_share_arn = aws_ram_resource_share.mcast.arn
  resource_arn       = aws_ec2_transit_gateway.mcast.arn
}

resource "aws_ram_resource_association" "multicast_domain" {
  resource_share_arn = aws_ram_resource_share.mcast.arn
  resource_arn       = aws_ec2_transit_gateway_multicast_domain.mcast.arn
}

resource "aws_ram_principal_association" "customer" {
  for_each           = local.customer_accounts
  resource_share_arn = aws_ram_resource_share.mcast.arn
  principal          = each.value

  lifecycle {
    precondition {
      condition     = local.receivers <= var.members_per_group
      error_message = "The customers declare ${local.receivers} receivers in all; a Transit Gateway multicast group takes at most ${var.members_per_group} members (not adjustable). Serve the rest on a fanout copy of the groups (relay-service group_fanout)."
    }
  }
}

# --- Customer VPC attachments, approved one by one ---------------------------
#
# The operator accepts an attachment only after checking the customer's VPC
# CIDRs: a customer whose addresses overlap the relay VPC could send datagrams
# into a feed group that every other customer's security group (feed UDP only
# from the relay CIDR) would let through. Removing an attachment from
# var.customers deletes it: the customer is cut off at once.

data "aws_ec2_transit_gateway_vpc_attachment" "customer" {
  for_each = local.accepted
  id       = each.key
}

resource "aws_ec2_transit_gateway_vpc_attachment_accepter" "customer" {
  for_each                                        = local.accepted
  transit_gateway_attachment_id                   = each.key
  transit_gateway_default_route_table_association = false
  transit_gateway_default_route_table_propagation = false
  tags                                            = merge(local.tags, { Name = "${var.name}-customer-${each.value.customer}", Customer = each.value.customer })

  lifecycle {
    precondition {
      condition     = data.aws_ec2_transit_gateway_vpc_attachment.customer[each.key].vpc_owner_id == each.value.account_id
      error_message = "Attachment ${each.key} belongs to account ${data.aws_ec2_transit_gateway_vpc_attachment.customer[each.key].vpc_owner_id}, not to customer ${each.value.customer}'s ${each.value.account_id}."
    }
    precondition {
      condition     = data.aws_ec2_transit_gateway_vpc_attachment.customer[each.key].transit_gateway_id == aws_ec2_transit_gateway.mcast.id
      error_message = "Attachment ${each.key} is not on this multicast gateway."
    }
    precondition {
      condition     = length(local.overlapping[each.key]) == 0
      error_message = "Customer ${each.value.customer}'s VPC CIDRs ${join(", ", local.overlapping[each.key])} overlap the relay VPC ${var.relay_vpc_cidr}: its instances could send into the feed groups with addresses other customers accept as the relay's. Refused."
    }
  }
}

# A route table associated with no attachment, so it routes nothing: accepted
# customer attachments propagate into it, which makes each customer VPC's real
# CIDRs visible to the operator (the check below compares them with the relay's).
resource "aws_ec2_transit_gateway_route_table" "audit" {
  transit_gateway_id = aws_ec2_transit_gateway.mcast.id
  tags               = merge(local.tags, { Name = "${var.name}-customer-cidrs-audit" })
}

resource "aws_ec2_transit_gateway_route_table_propagation" "audit" {
  for_each                       = aws_ec2_transit_gateway_vpc_attachment_accepter.customer
  transit_gateway_attachment_id  = each.value.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.audit.id
}

# Read once the propagations exist (at the first apply after an acceptance,
# then at every plan): a customer VPC whose real CIDRs overlap the relay's
# stops every plan until its attachment is removed from var.customers.
data "aws_ec2_transit_gateway_route_table_routes" "customers" {
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.audit.id
  filter {
    name   = "type"
    values = ["propagated"]
  }
  depends_on = [aws_ec2_transit_gateway_route_table_propagation.audit]
}

locals {
  propagated_overlaps = [
    for r in data.aws_ec2_transit_gateway_route_table_routes.customers.routes : r.destination_cidr_block
    if sum([for i, o in split(".", cidrhost(r.destination_cidr_block, 0)) : tonumber(o) * pow(256, 3 - i)]) <= local.relay_range[1] &&
    local.relay_range[0] <= sum([for i, o in split(".", cidrhost(r.destination_cidr_block, 0)) : tonumber(o) * pow(256, 3 - i)]) + pow(2, 32 - tonumber(split("/", r.destination_cidr_block)[1])) - 1
  ]
}

resource "terraform_data" "customer_cidr_audit" {
  input = sort([for r in data.aws_ec2_transit_gateway_route_table_routes.customers.routes : r.destination_cidr_block])

  lifecycle {
    precondition {
      condition     = length(local.propagated_overlaps) == 0
      error_message = "A customer VPC propagates ${join(", ", local.propagated_overlaps)}, which overlaps the relay VPC ${var.relay_vpc_cidr}: its instances could send into the feed groups as the relay. Remove that customer's attachment from var.customers now (docs/DEPLOY.md, Onboard a customer)."
    }
  }
}
