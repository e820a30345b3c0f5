locals {
  tags      = merge({ "app" = "mcast-relay" }, var.tags)
  with_dx   = var.dx_gateway_id != null
  with_peer = var.peer != null
}

# The infra gateway: unicast only, between the datacenter (Direct Connect),
# the other region (peering) and the relay VPC's NLB. It is never shared: the
# customers' gateway is multicast-domain's, which has no path to any of this.
resource "aws_ec2_transit_gateway" "infra" {
  description                     = "${var.name} infra (Direct Connect, peering; never shared)"
  amazon_side_asn                 = var.amazon_side_asn
  multicast_support               = "disable"
  auto_accept_shared_attachments  = "disable"
  default_route_table_association = "disable"
  default_route_table_propagation = "disable"
  dns_support                     = "enable"
  tags                            = merge(local.tags, { Name = "${var.name}-infra" })

  lifecycle {
    precondition {
      condition     = !local.with_dx || var.amazon_side_asn != var.dx_gateway_asn
      error_message = "amazon_side_asn ${var.amazon_side_asn} equals the Direct Connect gateway's ASN: the association would fail. Give them different private ASNs."
    }
    precondition {
      condition     = !local.with_peer || try(var.peer.amazon_side_asn != var.amazon_side_asn, false)
      error_message = "The peer gateway's ASN must differ from this one's (peer.amazon_side_asn)."
    }
  }
}

# The relay VPC reaches the datacenter through this gateway (the NLB's replies);
# the same subnets as the multicast attachment.
resource "aws_ec2_transit_gateway_vpc_attachment" "relay" {
  transit_gateway_id                              = aws_ec2_transit_gateway.infra.id
  vpc_id                                          = var.vpc_id
  subnet_ids                                      = var.subnet_ids
  transit_gateway_default_route_table_association = false
  transit_gateway_default_route_table_propagation = false
  tags                                            = merge(local.tags, { Name = "${var.name}-relay-vpc-infra" })
}

# Default route tables are off, so unicast runs only through this table: relay
# VPC, Direct Connect and peering.
resource "aws_ec2_transit_gateway_route_table" "infra" {
  transit_gateway_id = aws_ec2_transit_gateway.infra.id
  tags               = merge(local.tags, { Name = "${var.name}-infra" })
}

resource "aws_ec2_transit_gateway_route_table_association" "relay_vpc" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.relay.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

resource "aws_ec2_transit_gateway_route_table_propagation" "relay_vpc" {
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_vpc_attachment.relay.id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

# Replies from the NLB to the datacenter leave the relay VPC through the gateway.
resource "aws_route" "vpc_to_datacenter" {
  for_each = {
    for pair in setproduct(var.vpc_route_table_ids, var.datacenter_cidrs) :
    "${pair[0]}/${pair[1]}" => { route_table_id = pair[0], cidr = pair[1] }
  }
  route_table_id         = each.value.route_table_id
  destination_cidr_block = each.value.cidr
  transit_gateway_id     = aws_ec2_transit_gateway.infra.id

  depends_on = [aws_ec2_transit_gateway_vpc_attachment.relay]
}

# --- Direct Connect ---------------------------------------------------------

resource "aws_dx_gateway_association" "dc" {
  count                 = local.with_dx ? 1 : 0
  dx_gateway_id         = var.dx_gateway_id
  associated_gateway_id = aws_ec2_transit_gateway.infra.id
  allowed_prefixes      = length(var.dx_allowed_prefixes) > 0 ? var.dx_allowed_prefixes : [var.relay_vpc_cidr]
}

# The association resource does not export the attachment it creates.
data "aws_ec2_transit_gateway_dx_gateway_attachment" "dc" {
  count              = local.with_dx ? 1 : 0
  transit_gateway_id = aws_ec2_transit_gateway.infra.id
  dx_gateway_id      = var.dx_gateway_id
  depends_on         = [aws_dx_gateway_association.dc]
}

resource "aws_ec2_transit_gateway_route_table_association" "dx" {
  count                          = local.with_dx ? 1 : 0
  transit_gateway_attachment_id  = data.aws_ec2_transit_gateway_dx_gateway_attachment.dc[0].id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

# Datacenter prefixes learned over BGP land in the infra table.
resource "aws_ec2_transit_gateway_route_table_propagation" "dx" {
  count                          = local.with_dx ? 1 : 0
  transit_gateway_attachment_id  = data.aws_ec2_transit_gateway_dx_gateway_attachment.dc[0].id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

# --- Peering to the other region (unicast only: multicast never crosses it) --

resource "aws_ec2_transit_gateway_peering_attachment" "peer" {
  count                   = local.with_peer ? 1 : 0
  transit_gateway_id      = aws_ec2_transit_gateway.infra.id
  peer_transit_gateway_id = var.peer.transit_gateway_id
  peer_region             = var.peer.region
  peer_account_id         = var.peer.account_id
  tags                    = merge(local.tags, { Name = "${var.name}-peering" })
}

resource "aws_ec2_transit_gateway_peering_attachment_accepter" "peer" {
  provider                      = aws.peer
  count                         = local.with_peer ? 1 : 0
  transit_gateway_attachment_id = aws_ec2_transit_gateway_peering_attachment.peer[0].id
  tags                          = merge(local.tags, { Name = "${var.name}-peering" })
}

resource "aws_ec2_transit_gateway_route_table_association" "peer_local" {
  count                          = local.with_peer ? 1 : 0
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

resource "aws_ec2_transit_gateway_route_table_association" "peer_remote" {
  provider                       = aws.peer
  count                          = local.with_peer ? 1 : 0
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id
  transit_gateway_route_table_id = var.peer.route_table_id
}

# Peering attachments do not propagate routes: both directions are static.
resource "aws_ec2_transit_gateway_route" "to_peer" {
  for_each                       = local.with_peer ? toset(var.datacenter_cidrs) : toset([])
  destination_cidr_block         = each.value
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id
  transit_gateway_route_table_id = aws_ec2_transit_gateway_route_table.infra.id
}

resource "aws_ec2_transit_gateway_route" "from_peer" {
  provider                       = aws.peer
  count                          = local.with_peer ? 1 : 0
  destination_cidr_block         = var.relay_vpc_cidr
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id
  transit_gateway_route_table_id = var.peer.route_table_id
}
