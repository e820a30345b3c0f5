# Wiring of the Tokyo root. Its aliased provider (aws.london) has its own
# mock, or the real provider would start and look for credentials.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "ap-northeast-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ec2_transit_gateway_route_table_routes" {
    defaults = { routes = [] }
  }
}

mock_provider "aws" {
  alias           = "london"
  override_during = plan
}

override_resource {
  target          = module.dc.aws_ec2_transit_gateway.infra
  override_during = plan
  values = {
    id              = "tgw-0tokyo0infra00000"
    arn             = "arn:aws:ec2:ap-northeast-1:111111111111:transit-gateway/tgw-0tokyo0infra00000"
    amazon_side_asn = 64611
  }
}

override_resource {
  target          = module.domain.aws_ec2_transit_gateway.mcast
  override_during = plan
  values = {
    id  = "tgw-0tokyo0mcast00000"
    arn = "arn:aws:ec2:ap-northeast-1:111111111111:transit-gateway/tgw-0tokyo0mcast00000"
  }
}

override_resource {
  target          = module.dc.aws_ec2_transit_gateway_peering_attachment.peer[0]
  override_during = plan
  values          = { id = "tgw-attach-0peer000000000000" }
}

override_resource {
  target          = module.domain.aws_ec2_transit_gateway_multicast_domain.mcast
  override_during = plan
  values = {
    id  = "tgw-mcast-domain-0tokyo00000000000"
    arn = "arn:aws:ec2:ap-northeast-1:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0tokyo00000000000"
  }
}

variables {
  london_transit_gateway_id = "tgw-0london0infra00000"
  london_route_table_id     = "tgw-rtb-0london000000000"
  london_gateway_asn        = 64601
  key_secret_arns = {
    dev  = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/dev-DeV002"
    prod = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-PrOd01"
  }
  vpc_id              = "vpc-0tokyo00000000000"
  vpc_cidr            = "10.30.0.0/16"
  subnet_ids          = ["subnet-0t1111111111111", "subnet-0t2222222222222"]
  vpc_route_table_ids = ["rtb-0t1111111111111"]
  datacenter_cidrs    = ["192.0.2.0/28"]
  image_tag           = "0.1.0-0123456789ab"
  ami_id              = "ami-0fedcba9876543210"
}

run "tokyo_wiring" {
  command = plan

  assert {
    condition     = module.relay.feed_ports == { dev = 6666, prod = 6667 }
    error_message = "Tokyo must serve dev on 6666 and prod on 6667."
  }
  assert {
    condition     = module.dc.peering == { transit_gateway_id = "tgw-0tokyo0infra00000", peer_transit_gateway_id = "tgw-0london0infra00000" }
    error_message = "The peering joins the two infra gateways, never a multicast one."
  }
  assert {
    condition     = !contains(module.domain.shared_resource_arns, module.dc.transit_gateway_arn)
    error_message = "Tokyo's infra gateway must never be in the customers' share."
  }
  assert {
    condition     = module.relay.task_subnet_ids == module.domain.associated_subnet_ids
    error_message = "The relay tasks must run in exactly the subnets associated with the multicast domain."
  }
  assert {
    condition     = module.relay.container_secrets == { MCAST_RELAY_KEY_DEV = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/dev-DeV002", MCAST_RELAY_KEY_PROD = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-PrOd01" }
    error_message = "Tokyo's tasks read the Tokyo replicas of the keys."
  }
  assert {
    condition     = length(module.domain.customer_account_ids) == 0
    error_message = "No customer is granted unless listed."
  }
}

run "rejects_londons_asn" {
  command = plan

  variables {
    infra_gateway_asn = 64601
  }

  expect_failures = [var.infra_gateway_asn]
}

run "rejects_londons_key_arns" {
  command = plan

  variables {
    key_secret_arns = {
      dev  = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002"
      prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01"
    }
  }

  expect_failures = [var.key_secret_arns]
}

run "redundancy_settings_reach_the_relay" {
  command = plan

  variables {
    senders = { prod = 2, dev = 1 }
    alarm_policies = {
      prod = { notify = "page", silence_minutes = 3, gaps_per_minute = 0, drops_per_minute = 0, senders_minutes = 20 }
    }
  }

  assert {
    condition     = module.relay.redundancy.senders == { dev = 1, prod = 2 } && module.relay.redundancy.merge == { dev = "deribit", prod = "deribit" } && module.relay.redundancy.senders_alarm == tolist(["mcast-relay-prod-senders"])
    error_message = "Tokyo's senders and merge must reach its relay: ${jsonencode(module.relay.redundancy)}"
  }
  assert {
    condition     = strcontains(join(" ", module.relay.egress_command), "--merge deribit --state-dir /var/lib/mcast-relay")
    error_message = "Tokyo's egress must merge and keep its state like London's."
  }
}

# The Terraform Cloud route: London's outputs read from its state (mocked
# here), not copied into variables.
run "reads_london_from_its_state" {
  command = plan

  variables {
    london_transit_gateway_id = null
    london_route_table_id     = null
    london_gateway_asn        = null
    key_secret_arns           = null
    london_state = {
      backend = "remote"
      config  = { organization = "example-org", workspaces = { name = "mcast-relay-london" } }
    }
  }

  override_data {
    target = data.terraform_remote_state.london[0]
    values = {
      outputs = {
        infra_transit_gateway_id = "tgw-0fromlondonstate00"
        infra_route_table_id     = "tgw-rtb-0fromlondonstate0"
        infra_gateway_asn        = 64601
        tokyo_key_secret_arns = {
          dev  = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/dev-StAtE2"
          prod = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-StAtE1"
        }
      }
    }
  }

  assert {
    condition     = module.dc.peering.peer_transit_gateway_id == "tgw-0fromlondonstate00"
    error_message = "The peering must go to the infra gateway in London's state."
  }
  assert {
    condition     = module.relay.container_secrets == { MCAST_RELAY_KEY_DEV = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/dev-StAtE2", MCAST_RELAY_KEY_PROD = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-StAtE1" }
    error_message = "Tokyo's tasks read the replicas named in London's state."
  }
}

run "refuses_london_state_and_variables_together" {
  command = plan

  variables {
    london_state = {
      backend = "remote"
      config  = { organization = "example-org", workspaces = { name = "mcast-relay-london" } }
    }
  }

  override_data {
    target = data.terraform_remote_state.london[0]
    values = { outputs = {} }
  }

  expect_failures = [var.london_state]
}

run "refuses_neither_london_state_nor_variables" {
  command = plan

  variables {
    london_route_table_id = null
  }

  expect_failures = [var.london_state]
}

run "refuses_londons_key_arns_from_its_state" {
  command = plan

  variables {
    london_transit_gateway_id = null
    london_route_table_id     = null
    london_gateway_asn        = null
    key_secret_arns           = null
    london_state = {
      backend = "remote"
      config  = { organization = "example-org", workspaces = { name = "mcast-relay-london" } }
    }
  }

  override_data {
    target = data.terraform_remote_state.london[0]
    values = {
      outputs = {
        infra_transit_gateway_id = "tgw-0fromlondonstate00"
        infra_route_table_id     = "tgw-rtb-0fromlondonstate0"
        infra_gateway_asn        = 64601
        tokyo_key_secret_arns = {
          dev  = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002"
          prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01"
        }
      }
    }
  }

  expect_failures = [data.terraform_remote_state.london]
}
