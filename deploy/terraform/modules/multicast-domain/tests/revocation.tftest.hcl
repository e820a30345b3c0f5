# Revocation as a change: a mocked apply grants two customers, then plans
# against that state remove one. The mock makes up computed values at apply
# only (no override_during = plan), so the plan after it sees the state's ids.

mock_provider "aws" {
  mock_resource "aws_ram_resource_share" {
    defaults = { arn = "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" }
  }
  mock_data "aws_ec2_transit_gateway_route_table_routes" {
    defaults = { routes = [] }
  }
}

override_resource {
  target = aws_ec2_transit_gateway.mcast
  values = {
    id  = "tgw-0mcast00000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0mcast00000000000"
  }
}

override_resource {
  target = aws_ec2_transit_gateway_multicast_domain.mcast
  values = {
    id  = "tgw-mcast-domain-0domain0000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0domain0000000000"
  }
}

override_resource {
  target = aws_ec2_transit_gateway_vpc_attachment.relay
  values = { id = "tgw-attach-0relay000000000000" }
}

override_resource {
  target = aws_ec2_transit_gateway_route_table.audit
  values = { id = "tgw-rtb-0audit00000000000" }
}

override_data {
  target = data.aws_ec2_transit_gateway_vpc_attachment.customer["tgw-attach-0aaaaaaaaaaaaaaa1"]
  values = { vpc_owner_id = "222222222222", transit_gateway_id = "tgw-0mcast00000000000" }
}

override_data {
  target = data.aws_ec2_transit_gateway_vpc_attachment.customer["tgw-attach-0bbbbbbbbbbbbbbb2"]
  values = { vpc_owner_id = "333333333333", transit_gateway_id = "tgw-0mcast00000000000" }
}

override_resource {
  target = aws_ec2_transit_gateway_vpc_attachment_accepter.customer["tgw-attach-0aaaaaaaaaaaaaaa1"]
  values = { id = "tgw-attach-0aaaaaaaaaaaaaaa1" }
}

override_resource {
  target = aws_ec2_transit_gateway_vpc_attachment_accepter.customer["tgw-attach-0bbbbbbbbbbbbbbb2"]
  values = { id = "tgw-attach-0bbbbbbbbbbbbbbb2" }
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

# A real (mocked) apply, so that the next run plans against this state.
run "grant_two_customers" {
  command = apply

  assert {
    condition     = toset(keys(aws_ram_principal_association.customer)) == toset(["222222222222", "333333333333"]) && alltrue([for k, a in aws_ram_principal_association.customer : a.principal == k])
    error_message = "One principal association per customer account, keyed by it."
  }
  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_vpc_attachment_accepter.customer)) == toset(["tgw-attach-0aaaaaaaaaaaaaaa1", "tgw-attach-0bbbbbbbbbbbbbbb2"]) && alltrue([for k, a in aws_ec2_transit_gateway_vpc_attachment_accepter.customer : a.transit_gateway_attachment_id == k && a.transit_gateway_default_route_table_association == false && a.transit_gateway_default_route_table_propagation == false])
    error_message = "Each listed attachment is accepted, with no default route table."
  }
  assert {
    condition     = toset([for p in aws_ec2_transit_gateway_route_table_propagation.audit : p.transit_gateway_attachment_id]) == toset(["tgw-attach-0aaaaaaaaaaaaaaa1", "tgw-attach-0bbbbbbbbbbbbbbb2"]) && alltrue([for p in aws_ec2_transit_gateway_route_table_propagation.audit : p.transit_gateway_route_table_id == "tgw-rtb-0audit00000000000"])
    error_message = "Accepted attachments propagate their CIDRs into the audit table."
  }
  assert {
    condition     = length(distinct(values(output.principal_association_ids))) == 2
    error_message = "The two associations must be distinct resources."
  }
}

# After the apply above nothing in the audit path changes, so the routes are
# read at plan: a propagated CIDR inside the relay VPC stops the plan.
run "audit_refuses_a_propagated_cidr_overlapping_the_relay" {
  command = plan

  override_data {
    target          = data.aws_ec2_transit_gateway_route_table_routes.customers
    override_during = plan
    values          = { routes = [{ destination_cidr_block = "172.16.0.0/20", type = "propagated" }, { destination_cidr_block = "10.20.4.0/22", type = "propagated" }] }
  }

  expect_failures = [terraform_data.customer_cidr_audit]
}

run "removing_a_customer_revokes_it_and_keeps_the_other" {
  command = plan

  variables {
    customers = {
      beta = { account_id = "333333333333", receivers = 10, attachments = { "tgw-attach-0bbbbbbbbbbbbbbb2" = ["172.16.0.0/20", "172.16.64.0/20"] } }
    }
  }

  assert {
    condition     = keys(aws_ram_principal_association.customer) == ["333333333333"] && keys(aws_ec2_transit_gateway_vpc_attachment_accepter.customer) == ["tgw-attach-0bbbbbbbbbbbbbbb2"]
    error_message = "acme's principal association and attachment must go (destroying the accepter deletes the attachment)."
  }
  assert {
    condition     = aws_ram_principal_association.customer["333333333333"].id == run.grant_two_customers.principal_association_ids["333333333333"]
    error_message = "beta's association must be kept as it is, not replaced."
  }
}

