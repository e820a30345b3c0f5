locals {
  tags = merge({ "app" = "mcast-relay" }, var.tags)
}

# A gateway of its own for multicast. Default route table association and
# propagation are off: customer VPCs attached through the share get no unicast
# route to the relay VPC or the datacenter, only multicast.
resource "aws_ec2_transit_gateway" "mcast" {
  description                     = "${var.name} multicast"
  amazon_side_asn                 = var.amazon_side_asn
  multicast_support               = "enable"
  auto_accept_shared_attachments  = "enable"
  default_route_table_association = "disable"
  default_route_table_propagation = "disable"
  dns_support                     = "enable"
  tags                            = merge(local.tags, { Name = "${var.name}-mcast" })
}

# IGMPv2 on and static sources off: receivers join with IGMPv2 and any ENI in
# an associated subnet may send, so ephemeral task ENIs need no registration.
# Shared associations are auto-accepted: there is no resource to accept them.
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
  tags                                            = merge(local.tags, { Name = "${var.name}-relay-vpc" })
}

resource "aws_ec2_transit_gateway_multicast_domain_association" "relay" {
  for_each                            = toset(var.subnet_ids)
  transit_gateway_attachment_id       = aws_ec2_transit_gateway_vpc_attachment.relay.id
  transit_gateway_multicast_domain_id = aws_ec2_transit_gateway_multicast_domain.mcast.id
  subnet_id                           = each.value
}

# One share holds both the gateway and the domain; its principals are exactly
# var.customer_account_ids.
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
  for_each           = var.customer_account_ids
  resource_share_arn = aws_ram_resource_share.mcast.arn
  principal          = each.value
}
