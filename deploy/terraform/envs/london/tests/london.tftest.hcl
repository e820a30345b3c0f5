# Wiring of the London root, planned against a mocked provider. The two
# gateways, the secrets and the share have ids of their own, so a root that
# shared the Direct Connect gateway, or gave a feed another's key, fails.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ec2_transit_gateway_route_table_routes" {
    defaults = { routes = [] }
  }
}

override_resource {
  target          = module.domain.aws_ec2_transit_gateway.mcast
  override_during = plan
  values = {
    id  = "tgw-0mcast00000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0mcast00000000000"
  }
}

override_resource {
  target          = module.dc.aws_ec2_transit_gateway.infra
  override_during = plan
  values = {
    id              = "tgw-0infra00000000000"
    arn             = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0infra00000000000"
    amazon_side_asn = 64601
  }
}

override_resource {
  target          = module.domain.aws_ec2_transit_gateway_multicast_domain.mcast
  override_during = plan
  values = {
    id  = "tgw-mcast-domain-0domain0000000000"
    arn = "arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0domain0000000000"
  }
}

override_resource {
  target          = module.domain.aws_ec2_transit_gateway_vpc_attachment.relay
  override_during = plan
  values          = { id = "tgw-attach-0mcastrelay0000000" }
}

override_resource {
  target          = module.keys.aws_secretsmanager_secret.key["prod"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01" }
}

override_resource {
  target          = module.keys.aws_secretsmanager_secret.key["dev"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002" }
}

variables {
  vpc_id              = "vpc-0123456789abcdef0"
  vpc_cidr            = "10.20.0.0/16"
  subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  vpc_route_table_ids = ["rtb-0aaaaaaaaaaaaaaaa"]
  datacenter_cidrs    = ["192.0.2.0/28", "192.0.2.16/28"]
  dx_gateway_id       = "5f1c2a3b-0000-4000-8000-000000000001"
  dx_gateway_asn      = 64512
  tokyo_vpc_cidr      = "10.30.0.0/16"
  image_tag           = "0.1.0-0123456789ab"
  ami_id              = "ami-0123456789abcdef0"
  customers           = { acme = { account_id = "222222222222", receivers = 4 } }
}

run "london_wiring" {
  command = plan

  assert {
    condition     = module.relay.feed_ports == { dev = 6666, prod = 6667 }
    error_message = "London must serve dev on 6666 and prod on 6667."
  }
  assert {
    condition     = module.domain.customer_account_ids == tolist(["222222222222"])
    error_message = "The share must be granted to exactly the listed customer."
  }
  assert {
    condition     = module.relay.task_subnet_ids == module.domain.associated_subnet_ids && module.domain.associated_subnet_ids == sort(var.subnet_ids)
    error_message = "The relay tasks must run in exactly the subnets associated with the multicast domain."
  }
  assert {
    condition     = module.domain.shared_resource_arns == tolist(["arn:aws:ec2:eu-west-2:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0domain0000000000", "arn:aws:ec2:eu-west-2:111111111111:transit-gateway/tgw-0mcast00000000000"])
    error_message = "The RAM share holds the multicast gateway and domain only."
  }
  assert {
    condition     = !contains(module.domain.shared_resource_arns, module.dc.transit_gateway_arn) && module.dc.transit_gateway_id != module.domain.transit_gateway_id
    error_message = "The Direct Connect gateway must never be in the customers' share."
  }
  assert {
    condition     = module.dc.dx_association.gateway_id == "tgw-0infra00000000000"
    error_message = "Direct Connect must attach to the infra gateway, not the multicast one."
  }
  assert {
    condition     = module.dc.dx_association.allowed_prefixes == tolist(["10.20.0.0/16", "10.30.0.0/16"])
    error_message = "London advertises both relay VPCs to the datacenter."
  }
  assert {
    condition = module.relay.container_secrets == {
      MCAST_RELAY_KEY_DEV  = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002"
      MCAST_RELAY_KEY_PROD = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01"
    }
    error_message = "Every feed is keyed from its own secret, created here."
  }
  assert {
    condition     = output.tokyo_key_secret_arns["prod"] == "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-PrOd01"
    error_message = "Tokyo's key ARNs are the replicas'."
  }
  assert {
    condition     = module.relay.gateway_alarm_dimensions["TransitGatewayAttachment"] == "tgw-attach-0mcastrelay0000000"
    error_message = "The gateway alarm watches the relay's multicast attachment."
  }
  assert {
    condition     = module.dc.peering_attachment_id == null
    error_message = "London requests no peering (Tokyo does)."
  }
  assert {
    condition     = module.relay.redundancy == { senders = { dev = 2, prod = 2 }, merge = { dev = "deribit", prod = "deribit" }, senders_alarm = tolist(["mcast-relay-dev-senders", "mcast-relay-prod-senders"]) }
    error_message = "By default both feeds expect the two LD4 hosts, merged as Deribit, each with a Senders alarm: ${jsonencode(module.relay.redundancy)}"
  }
}

run "operator_settings_reach_the_modules" {
  command = plan

  variables {
    task_count          = 3
    instance_min_size   = 3
    instance_max_size   = 6
    alarm_feeds         = ["prod"]
    allowed_groups      = ["239.111.111.0/24", "239.111.112.0/24"]
    group_fanout        = ["239.111.111.0/24=239.111.112.0/24"]
    deletion_protection = false
    secrets_kms_key_arn = "arn:aws:kms:eu-west-2:111111111111:key/0000london"
    senders             = { prod = 3, dev = 1 }
    merge               = { prod = "hash", dev = "hash" }
  }

  assert {
    condition     = module.relay.scaling == { task_count = 3, min = 3, max = 6 }
    error_message = "task_count and the ASG sizes must reach the service."
  }
  assert {
    condition     = module.relay.silence_alarm_names == tolist(["mcast-relay-prod-no-PacketsIn", "mcast-relay-prod-no-PacketsOut"])
    error_message = "alarm_feeds must reach the alarms."
  }
  assert {
    condition     = strcontains(join(" ", module.relay.egress_command), "--fanout 239.111.111.0/24=239.111.112.0/24")
    error_message = "group_fanout must reach the egress."
  }
  assert {
    condition     = module.relay.settings.deletion_protection == false && module.keys.kms_key_id == "arn:aws:kms:eu-west-2:111111111111:key/0000london"
    error_message = "deletion_protection and the KMS key must reach the modules."
  }
  assert {
    condition     = module.relay.settings.secrets_kms_keys == tolist(["arn:aws:kms:eu-west-2:111111111111:key/0000london"])
    error_message = "The execution role may decrypt with the secrets' KMS key."
  }
  assert {
    condition     = module.relay.redundancy.senders == { dev = 1, prod = 3 } && module.relay.redundancy.senders_alarm == tolist(["mcast-relay-prod-senders"]) && strcontains(join(" ", module.relay.egress_command), "--merge hash")
    error_message = "senders and merge must reach the relay: ${jsonencode(module.relay.redundancy)}"
  }
}

run "rejects_the_direct_connect_gateways_asn" {
  command = plan

  variables {
    infra_gateway_asn = 64512
  }

  expect_failures = [var.infra_gateway_asn]
}

run "rejects_equal_gateway_asns" {
  command = plan

  variables {
    multicast_gateway_asn = 64601
  }

  expect_failures = [var.infra_gateway_asn]
}
