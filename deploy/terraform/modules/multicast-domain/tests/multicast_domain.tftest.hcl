# Plan-only tests with a mocked AWS provider: no credentials, no network.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_ec2_transit_gateway" {
    defaults = {
      id  = "tgw-0123456789abcdef0"
      arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0123456789abcdef0"
    }
  }
  mock_resource "aws_ec2_transit_gateway_multicast_domain" {
    defaults = {
      id  = "tgw-mcast-domain-0123456789abcdef0"
      arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0123456789abcdef0"
    }
  }
  mock_resource "aws_ec2_transit_gateway_vpc_attachment" {
    defaults = { id = "tgw-attach-0123456789abcdef0" }
  }
  mock_resource "aws_ram_resource_share" {
    defaults = { arn = "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" }
  }
}

variables {
  vpc_id               = "vpc-0123456789abcdef0"
  subnet_ids           = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  customer_account_ids = ["222222222222", "333333333333"]
}

run "domain_flags" {
  command = plan

  assert {
    condition     = aws_ec2_transit_gateway.mcast.multicast_support == "enable"
    error_message = "The gateway must have multicast support."
  }
  assert {
    condition     = aws_ec2_transit_gateway_multicast_domain.mcast.igmpv2_support == "enable"
    error_message = "IGMPv2 must be enabled on the domain."
  }
  assert {
    condition     = aws_ec2_transit_gateway_multicast_domain.mcast.static_sources_support == "disable"
    error_message = "Static sources must be off (it cannot coexist with IGMPv2, and task ENIs are ephemeral)."
  }
  assert {
    condition     = aws_ec2_transit_gateway_multicast_domain.mcast.auto_accept_shared_associations == "enable"
    error_message = "Shared associations must be auto-accepted."
  }
  assert {
    condition     = aws_ec2_transit_gateway.mcast.default_route_table_association == "disable" && aws_ec2_transit_gateway.mcast.default_route_table_propagation == "disable"
    error_message = "Customer attachments must get no unicast routes by default."
  }
  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_multicast_domain_association.relay)) == toset(var.subnet_ids)
    error_message = "Every relay subnet must be associated with the domain."
  }
}

run "one_share_of_gateway_and_domain" {
  command = plan

  assert {
    condition     = aws_ram_resource_association.transit_gateway.resource_arn == "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0123456789abcdef0"
    error_message = "The share must hold the gateway."
  }
  assert {
    condition     = aws_ram_resource_association.multicast_domain.resource_arn == "arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0123456789abcdef0"
    error_message = "The share must hold the multicast domain."
  }
  assert {
    condition     = aws_ram_resource_association.transit_gateway.resource_share_arn == aws_ram_resource_share.mcast.arn && aws_ram_resource_association.multicast_domain.resource_share_arn == aws_ram_resource_share.mcast.arn
    error_message = "Gateway and domain must be in the same, single share."
  }
}

run "one_principal_per_allowed_account" {
  command = plan

  assert {
    condition     = length(aws_ram_principal_association.customer) == 2
    error_message = "Exactly one principal association per allowed account."
  }
  assert {
    condition     = toset(keys(aws_ram_principal_association.customer)) == toset(["222222222222", "333333333333"])
    error_message = "Principal associations must be keyed by the allowed accounts."
  }
  assert {
    condition     = alltrue([for k, a in aws_ram_principal_association.customer : a.principal == k && a.resource_share_arn == aws_ram_resource_share.mcast.arn])
    error_message = "Each association must grant its own account on the share."
  }
  assert {
    condition     = !contains([for a in aws_ram_principal_association.customer : a.principal], "444444444444")
    error_message = "An account not in the list must not be granted."
  }
}

run "no_accounts_no_principals" {
  command = plan

  variables {
    customer_account_ids = []
  }

  assert {
    condition     = length(aws_ram_principal_association.customer) == 0
    error_message = "No accounts listed must mean no principal associations."
  }
}

run "removing_an_account_revokes_it" {
  command = plan

  variables {
    customer_account_ids = ["333333333333"]
  }

  assert {
    condition     = keys(aws_ram_principal_association.customer) == ["333333333333"]
    error_message = "Only the remaining account may keep a principal association."
  }
}

run "rejects_malformed_account_id" {
  command = plan

  variables {
    customer_account_ids = ["22222222222", "o-exampleorg1"]
  }

  expect_failures = [var.customer_account_ids]
}
