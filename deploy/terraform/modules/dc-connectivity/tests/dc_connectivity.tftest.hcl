# Plan-only tests. The aliased provider needs its own mock, or the real
# provider would start and look for credentials. Each gateway, attachment and
# route table has an id of its own.

mock_provider "aws" {
  override_during = plan
}

mock_provider "aws" {
  alias           = "peer"
  override_during = plan
}

override_resource {
  target          = aws_ec2_transit_gateway.infra
  override_during = plan
  values = {
    id              = "tgw-0infra00000000000"
    arn             = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0infra00000000000"
    amazon_side_asn = 64601
  }
}

override_resource {
  target          = aws_ec2_transit_gateway_vpc_attachment.relay
  override_during = plan
  values          = { id = "tgw-attach-0vpc00000000000000" }
}

override_resource {
  target          = aws_ec2_transit_gateway_route_table.infra
  override_during = plan
  values          = { id = "tgw-rtb-0infra0000000000" }
}

override_resource {
  target          = aws_ec2_transit_gateway_peering_attachment.peer
  override_during = plan
  values          = { id = "tgw-attach-0peer000000000000" }
}

override_resource {
  target          = aws_ec2_transit_gateway_peering_attachment_accepter.peer
  override_during = plan
  values          = { transit_gateway_attachment_id = "tgw-attach-0peer000000000000" }
}

variables {
  vpc_id              = "vpc-0123456789abcdef0"
  subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  amazon_side_asn     = 64601
  datacenter_cidrs    = ["192.0.2.0/28", "198.51.100.0/28"]
  vpc_route_table_ids = ["rtb-0aaaaaaaaaaaaaaaa", "rtb-0bbbbbbbbbbbbbbbb"]
}

run "london_direct_connect_on_its_own_gateway" {
  command = plan

  variables {
    relay_vpc_cidr      = "10.20.0.0/16"
    dx_gateway_id       = "5f1c2a3b-0000-4000-8000-000000000001"
    dx_gateway_asn      = 64512
    dx_allowed_prefixes = ["10.20.0.0/16", "10.30.0.0/16"]
  }

  assert {
    condition     = aws_ec2_transit_gateway.infra.multicast_support == "disable" && aws_ec2_transit_gateway.infra.amazon_side_asn == 64601
    error_message = "The infra gateway carries no multicast and has its own ASN."
  }
  assert {
    condition     = aws_ec2_transit_gateway.infra.default_route_table_association == "disable" && aws_ec2_transit_gateway.infra.default_route_table_propagation == "disable" && aws_ec2_transit_gateway.infra.auto_accept_shared_attachments == "disable"
    error_message = "The infra gateway accepts no shared attachments and routes only through the infra table."
  }
  assert {
    condition     = aws_dx_gateway_association.dc[0].associated_gateway_id == "tgw-0infra00000000000" && aws_dx_gateway_association.dc[0].dx_gateway_id == "5f1c2a3b-0000-4000-8000-000000000001"
    error_message = "Direct Connect must be associated with this module's infra gateway."
  }
  assert {
    condition     = aws_dx_gateway_association.dc[0].allowed_prefixes == toset(["10.20.0.0/16", "10.30.0.0/16"])
    error_message = "London must advertise both relay VPCs to the datacenter."
  }
  assert {
    condition     = aws_ec2_transit_gateway_vpc_attachment.relay.transit_gateway_id == "tgw-0infra00000000000" && aws_ec2_transit_gateway_vpc_attachment.relay.vpc_id == "vpc-0123456789abcdef0" && aws_ec2_transit_gateway_vpc_attachment.relay.subnet_ids == toset(var.subnet_ids)
    error_message = "The relay VPC must attach to the infra gateway in its subnets."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route_table.infra.transit_gateway_id == "tgw-0infra00000000000"
    error_message = "The infra route table belongs to the infra gateway."
  }
  assert {
    # The DX attachment's id is read once the association exists (apply time).
    condition     = aws_ec2_transit_gateway_route_table_association.dx[0].transit_gateway_route_table_id == "tgw-rtb-0infra0000000000" && aws_ec2_transit_gateway_route_table_propagation.dx[0].transit_gateway_route_table_id == "tgw-rtb-0infra0000000000"
    error_message = "The DX attachment must be associated with and propagate into the infra table."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route_table_association.relay_vpc.transit_gateway_attachment_id == "tgw-attach-0vpc00000000000000" && aws_ec2_transit_gateway_route_table_association.relay_vpc.transit_gateway_route_table_id == "tgw-rtb-0infra0000000000"
    error_message = "The relay VPC attachment must use the infra table."
  }
  assert {
    condition     = length(aws_route.vpc_to_datacenter) == 4 && alltrue([for r in aws_route.vpc_to_datacenter : r.transit_gateway_id == "tgw-0infra00000000000"])
    error_message = "Each relay VPC route table must route each datacenter CIDR to the infra gateway."
  }
  assert {
    condition     = length(aws_ec2_transit_gateway_peering_attachment.peer) == 0 && length(aws_ec2_transit_gateway_route.to_peer) == 0
    error_message = "No peering without var.peer."
  }
}

run "rejects_the_direct_connect_gateways_asn" {
  command = plan

  variables {
    relay_vpc_cidr = "10.20.0.0/16"
    dx_gateway_id  = "5f1c2a3b-0000-4000-8000-000000000001"
    dx_gateway_asn = 64601
  }

  expect_failures = [aws_ec2_transit_gateway.infra]
}

run "direct_connect_needs_its_asn" {
  command = plan

  variables {
    relay_vpc_cidr = "10.20.0.0/16"
    dx_gateway_id  = "5f1c2a3b-0000-4000-8000-000000000001"
  }

  expect_failures = [var.dx_gateway_asn]
}

run "rejects_a_public_asn" {
  command = plan

  variables {
    relay_vpc_cidr  = "10.20.0.0/16"
    amazon_side_asn = 16509
  }

  expect_failures = [var.amazon_side_asn]
}

run "tokyo_peers_with_london" {
  command = plan

  variables {
    relay_vpc_cidr  = "10.30.0.0/16"
    amazon_side_asn = 64611
    peer = {
      transit_gateway_id = "tgw-0london0infra00000"
      region             = "eu-west-2"
      route_table_id     = "tgw-rtb-0london000000000"
      amazon_side_asn    = 64601
    }
  }

  assert {
    condition     = length(aws_dx_gateway_association.dc) == 0
    error_message = "Tokyo has no Direct Connect association of its own here."
  }
  assert {
    condition     = aws_ec2_transit_gateway_peering_attachment.peer[0].transit_gateway_id == "tgw-0infra00000000000" && aws_ec2_transit_gateway_peering_attachment.peer[0].peer_region == "eu-west-2" && aws_ec2_transit_gateway_peering_attachment.peer[0].peer_transit_gateway_id == "tgw-0london0infra00000"
    error_message = "Tokyo's infra gateway must request peering with London's."
  }
  assert {
    condition     = aws_ec2_transit_gateway_peering_attachment_accepter.peer[0].transit_gateway_attachment_id == "tgw-attach-0peer000000000000"
    error_message = "The peering must be accepted on the other side."
  }
  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_route.to_peer)) == toset(["192.0.2.0/28", "198.51.100.0/28"]) && alltrue([for r in aws_ec2_transit_gateway_route.to_peer : r.transit_gateway_attachment_id == "tgw-attach-0peer000000000000" && r.transit_gateway_route_table_id == "tgw-rtb-0infra0000000000"])
    error_message = "Routes to the datacenter must go through the peering."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route.from_peer[0].destination_cidr_block == "10.30.0.0/16" && aws_ec2_transit_gateway_route.from_peer[0].transit_gateway_route_table_id == "tgw-rtb-0london000000000" && aws_ec2_transit_gateway_route.from_peer[0].transit_gateway_attachment_id == "tgw-attach-0peer000000000000"
    error_message = "London's table must route Tokyo's relay VPC back through the peering."
  }
  assert {
    condition     = aws_ec2_transit_gateway_route_table_association.peer_remote[0].transit_gateway_route_table_id == "tgw-rtb-0london000000000" && aws_ec2_transit_gateway_route_table_association.peer_local[0].transit_gateway_route_table_id == "tgw-rtb-0infra0000000000"
    error_message = "The peering attachment must be associated with both infra tables."
  }
}

run "rejects_a_peer_with_the_same_asn" {
  command = plan

  variables {
    relay_vpc_cidr = "10.30.0.0/16"
    peer = {
      transit_gateway_id = "tgw-0london0infra00000"
      region             = "eu-west-2"
      route_table_id     = "tgw-rtb-0london000000000"
      amazon_side_asn    = 64601
    }
  }

  expect_failures = [aws_ec2_transit_gateway.infra]
}
