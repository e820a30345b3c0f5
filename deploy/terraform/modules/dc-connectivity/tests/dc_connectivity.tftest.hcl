# Plan-only tests. The aliased provider needs its own mock, or the real
# provider would start and look for credentials.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_ec2_transit_gateway_route_table" {
    defaults = { id = "tgw-rtb-0aaaaaaaaaaaaaaaa" }
  }
  mock_resource "aws_ec2_transit_gateway_peering_attachment" {
    defaults = { id = "tgw-attach-0peer000000000000" }
  }
}

mock_provider "aws" {
  alias           = "peer"
  override_during = plan

  mock_resource "aws_ec2_transit_gateway_peering_attachment_accepter" {
    defaults = { transit_gateway_attachment_id = "tgw-attach-0peer000000000000" }
  }
}

variables {
  transit_gateway_id      = "tgw-0aaaaaaaaaaaaaaaa"
  relay_vpc_attachment_id = "tgw-attach-0vpc00000000000000"
  datacenter_cidrs        = ["192.0.2.0/28", "198.51.100.0/28"]
  vpc_route_table_ids     = ["rtb-0aaaaaaaaaaaaaaaa", "rtb-0bbbbbbbbbbbbbbbb"]
}

run "london_direct_connect" {
  command = plan

  variables {
    relay_vpc_cidr      = "10.20.0.0/16"
    dx_gateway_id       = "5f1c2a3b-0000-4000-8000-000000000001"
    dx_allowed_prefixes = ["10.20.0.0/16", "10.30.0.0/16"]
  }

  assert {
    condition     = length(aws_dx_gateway_association.dc) == 1 && aws_dx_gateway_association.dc[0].associated_gateway_id == "tgw-0aaaaaaaaaaaaaaaa"
    error_message = "The gateway must be associated with the Direct Connect gateway."
  }
  assert {
    condition     = aws_dx_gateway_association.dc[0].allowed_prefixes == toset(["10.20.0.0/16", "10.30.0.0/16"])
    error_message = "London must advertise both relay VPCs to the datacenter."
  }
  assert {
    # The attachment id is read after the association exists (apply time).
    condition     = length(aws_ec2_transit_gateway_route_table_association.dx) == 1 && aws_ec2_transit_gateway_route_table_association.dx[0].transit_gateway_route_table_id == "tgw-rtb-0aaaaaaaaaaaaaaaa" && aws_ec2_transit_gateway_route_table_propagation.dx[0].transit_gateway_route_table_id == "tgw-rtb-0aaaaaaaaaaaaaaaa"
    error_message = "The DX attachment must be associated with and propagate into the infra table."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route_table_association.relay_vpc.transit_gateway_attachment_id == "tgw-attach-0vpc00000000000000"
    error_message = "The relay VPC must use the infra table."
  }
  assert {
    condition     = length(aws_route.vpc_to_datacenter) == 4 && alltrue([for r in aws_route.vpc_to_datacenter : r.transit_gateway_id == "tgw-0aaaaaaaaaaaaaaaa"])
    error_message = "Each relay VPC route table must route each datacenter CIDR to the gateway."
  }
  assert {
    condition     = length(aws_ec2_transit_gateway_peering_attachment.peer) == 0 && length(aws_ec2_transit_gateway_route.to_peer) == 0
    error_message = "No peering without var.peer."
  }
}

run "tokyo_peers_with_london" {
  command = plan

  variables {
    relay_vpc_cidr = "10.30.0.0/16"
    peer = {
      transit_gateway_id = "tgw-0london0000000000"
      region             = "eu-west-2"
      route_table_id     = "tgw-rtb-0london000000000"
    }
  }

  assert {
    condition     = length(aws_dx_gateway_association.dc) == 0
    error_message = "Tokyo has no Direct Connect association of its own here."
  }
  assert {
    condition     = aws_ec2_transit_gateway_peering_attachment.peer[0].peer_region == "eu-west-2" && aws_ec2_transit_gateway_peering_attachment.peer[0].peer_transit_gateway_id == "tgw-0london0000000000"
    error_message = "Tokyo must request peering with London's gateway."
  }
  assert {
    condition     = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id == aws_ec2_transit_gateway_peering_attachment.peer[0].id
    error_message = "The peering must be accepted on the other side."
  }
  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_route.to_peer)) == toset(["192.0.2.0/28", "198.51.100.0/28"]) && alltrue([for r in aws_ec2_transit_gateway_route.to_peer : r.transit_gateway_attachment_id == "tgw-attach-0peer000000000000" && r.transit_gateway_route_table_id == "tgw-rtb-0aaaaaaaaaaaaaaaa"])
    error_message = "Routes to the datacenter must go through the peering."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route.from_peer[0].destination_cidr_block == "10.30.0.0/16" && aws_ec2_transit_gateway_route.from_peer[0].transit_gateway_route_table_id == "tgw-rtb-0london000000000"
    error_message = "London's table must route Tokyo's relay VPC back through the peering."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route_table_association.peer_remote[0].transit_gateway_route_table_id == "tgw-rtb-0london000000000"
    error_message = "The peering attachment must be associated with London's infra table."
  }
}
