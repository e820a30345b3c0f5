# Tests with a mocked AWS provider: no credentials, no network. Every resource
# the assertions compare has an id of its own, and revocation is tested as a
# change against state left by an earlier (mocked) apply.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_ram_resource_share" {
    defaults = { arn = "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" }
  }
  mock_data "aws_ec2_transit_gateway_route_table_routes" {
    defaults = { routes = [] }
  }
}

override_resource {
  target          = aws_ec2_transit_gateway.mcast
  override_during = plan
  values = {
    id  = "tgw-0mcast00000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0mcast00000000000"
  }
}

override_resource {
  target          = aws_ec2_transit_gateway_multicast_domain.mcast
  override_during = plan
  values = {
    id  = "tgw-mcast-domain-0domain0000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0domain0000000000"
  }
}

override_resource {
  target          = aws_ec2_transit_gateway_vpc_attachment.relay
  override_during = plan
  values          = { id = "tgw-attach-0relay000000000000" }
}

override_resource {
  target          = aws_ec2_transit_gateway_route_table.audit
  override_during = plan
  values          = { id = "tgw-rtb-0audit00000000000" }
}

override_data {
  target          = data.aws_ec2_transit_gateway_vpc_attachment.customer["tgw-attach-0aaaaaaaaaaaaaaa1"]
  override_during = plan
  values          = { vpc_owner_id = "222222222222", transit_gateway_id = "tgw-0mcast00000000000" }
}

override_data {
  target          = data.aws_ec2_transit_gateway_vpc_attachment.customer["tgw-attach-0bbbbbbbbbbbbbbb2"]
  override_during = plan
  values          = { vpc_owner_id = "333333333333", transit_gateway_id = "tgw-0mcast00000000000" }
}

override_resource {
  target          = aws_ec2_transit_gateway_vpc_attachment_accepter.customer["tgw-attach-0aaaaaaaaaaaaaaa1"]
  override_during = plan
  values          = { id = "tgw-attach-0aaaaaaaaaaaaaaa1" }
}

override_resource {
  target          = aws_ec2_transit_gateway_vpc_attachment_accepter.customer["tgw-attach-0bbbbbbbbbbbbbbb2"]
  override_during = plan
  values          = { id = "tgw-attach-0bbbbbbbbbbbbbbb2" }
}

variables {
  vpc_id          = "vpc-0123456789abcdef0"
  relay_vpc_cidr  = "10.20.0.0/16"
  subnet_ids      = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  amazon_side_asn = 64602
  customers = {
    acme = { account_id = "222222222222", receivers = 40, attachments = { "tgw-attach-0aaaaaaaaaaaaaaa1" = ["10.50.0.0/16"] } }
    beta = { account_id = "333333333333", receivers = 10, attachments = { "tgw-attach-0bbbbbbbbbbbbbbb2" = ["172.16.0.0/20", "172.16.64.0/20"] } }
  }
}

run "gateway_and_domain_flags" {
  command = plan

  assert {
    condition     = aws_ec2_transit_gateway.mcast.multicast_support == "enable" && aws_ec2_transit_gateway.mcast.amazon_side_asn == 64602
    error_message = "The gateway must have multicast support and the given ASN."
  }
  assert {
    condition     = aws_ec2_transit_gateway_multicast_domain.mcast.igmpv2_support == "enable" && aws_ec2_transit_gateway_multicast_domain.mcast.static_sources_support == "disable"
    error_message = "IGMPv2 on, static sources off (they cannot coexist; task ENIs are ephemeral)."
  }
  assert {
    condition     = aws_ec2_transit_gateway.mcast.auto_accept_shared_attachments == "disable"
    error_message = "Customer attachments must wait for the operator's acceptance."
  }
  assert {
    condition     = aws_ec2_transit_gateway_multicast_domain.mcast.auto_accept_shared_associations == "enable"
    error_message = "Associations of accepted attachments are auto-accepted (there is no resource to accept them)."
  }
  assert {
    condition     = aws_ec2_transit_gateway.mcast.default_route_table_association == "disable" && aws_ec2_transit_gateway.mcast.default_route_table_propagation == "disable"
    error_message = "Customer attachments must get no unicast routes."
  }
  assert {
    condition     = aws_ec2_transit_gateway_vpc_attachment.relay.transit_gateway_id == "tgw-0mcast00000000000"
    error_message = "The relay VPC must attach to the multicast gateway."
  }
  assert {
    condition = (toset(keys(aws_ec2_transit_gateway_multicast_domain_association.relay)) == toset(["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]) &&
    alltrue([for k, a in aws_ec2_transit_gateway_multicast_domain_association.relay : a.subnet_id == k && a.transit_gateway_attachment_id == "tgw-attach-0relay000000000000" && a.transit_gateway_multicast_domain_id == "tgw-mcast-domain-0domain0000000000"]))
    error_message = "Every relay subnet must be associated with this domain through the relay attachment."
  }
}

run "one_share_of_exactly_the_gateway_and_domain" {
  command = plan

  assert {
    condition     = output.shared_resource_arns == tolist(["arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0domain0000000000", "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0mcast00000000000"])
    error_message = "The share must hold the multicast gateway and its domain, nothing else: ${jsonencode(output.shared_resource_arns)}"
  }
  assert {
    condition     = aws_ram_resource_association.transit_gateway.resource_share_arn == "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" && aws_ram_resource_association.multicast_domain.resource_share_arn == "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    error_message = "Gateway and domain must be in the one share."
  }
}

run "rejects_a_customer_vpc_overlapping_the_relay" {
  command = plan

  variables {
    customers = {
      acme = { account_id = "222222222222", attachments = { "tgw-attach-0aaaaaaaaaaaaaaa1" = ["10.20.128.0/24"] } }
    }
  }

  expect_failures = [aws_ec2_transit_gateway_vpc_attachment_accepter.customer]
}

run "rejects_a_wider_customer_vpc_containing_the_relay" {
  command = plan

  variables {
    customers = {
      acme = { account_id = "222222222222", attachments = { "tgw-attach-0aaaaaaaaaaaaaaa1" = ["10.0.0.0/8"] } }
    }
  }

  expect_failures = [aws_ec2_transit_gateway_vpc_attachment_accepter.customer]
}

run "an_adjacent_customer_vpc_is_fine" {
  command = plan

  variables {
    customers = {
      acme = { account_id = "222222222222", attachments = { "tgw-attach-0aaaaaaaaaaaaaaa1" = ["10.21.0.0/16", "10.19.255.0/24"] } }
    }
  }

  assert {
    condition     = keys(aws_ec2_transit_gateway_vpc_attachment_accepter.customer) == ["tgw-attach-0aaaaaaaaaaaaaaa1"]
    error_message = "10.21.0.0/16 and 10.19.255.0/24 do not overlap 10.20.0.0/16."
  }
}

run "rejects_an_attachment_of_another_account" {
  command = plan

  variables {
    customers = {
      acme = { account_id = "222222222222", attachments = { "tgw-attach-0bbbbbbbbbbbbbbb2" = ["172.16.0.0/20"] } }
    }
  }

  expect_failures = [aws_ec2_transit_gateway_vpc_attachment_accepter.customer]
}

run "rejects_more_receivers_than_a_group_takes" {
  command = plan

  variables {
    customers = {
      acme = { account_id = "222222222222", receivers = 60 }
      beta = { account_id = "333333333333", receivers = 41 }
    }
  }

  expect_failures = [aws_ram_principal_association.customer]
}

run "no_customers_no_principals" {
  command = plan

  variables {
    customers = {}
  }

  assert {
    condition     = length(aws_ram_principal_association.customer) == 0 && length(aws_ec2_transit_gateway_vpc_attachment_accepter.customer) == 0
    error_message = "No customers listed must mean no principals and no accepted attachments."
  }
}

run "rejects_malformed_account_id" {
  command = plan

  variables {
    customers = { acme = { account_id = "22222222222" } }
  }

  expect_failures = [var.customers]
}

