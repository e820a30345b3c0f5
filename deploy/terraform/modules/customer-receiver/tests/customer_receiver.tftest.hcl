# Plan-only tests with a mocked AWS provider: no credentials, no network.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block_associations = [{ association_id = "vpc-cidr-assoc-0a", cidr_block = "10.50.0.0/16", state = "associated" }] }
  }
}

override_resource {
  target          = aws_ec2_transit_gateway_vpc_attachment.receiver
  override_during = plan
  values          = { id = "tgw-attach-0customer0000000" }
}

override_resource {
  target          = aws_security_group.receiver
  override_during = plan
  values          = { id = "sg-0customer000000000" }
}

variables {
  resource_share_arn  = "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
  transit_gateway_id  = "tgw-0mcast00000000000"
  multicast_domain_id = "tgw-mcast-domain-0domain0000000000"
  vpc_id              = "vpc-0customer0000000"
  subnet_ids          = ["subnet-0c1111111111111", "subnet-0c2222222222222"]
  relay_source_cidrs  = ["10.20.0.0/16"]
}

run "first_apply_attaches_and_waits_for_the_operator" {
  command = plan

  assert {
    condition     = length(aws_ram_resource_share_accepter.mcast) == 1 && aws_ram_resource_share_accepter.mcast[0].share_arn == "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    error_message = "The RAM share must be accepted."
  }
  assert {
    condition     = aws_ec2_transit_gateway_vpc_attachment.receiver.transit_gateway_id == "tgw-0mcast00000000000" && aws_ec2_transit_gateway_vpc_attachment.receiver.vpc_id == "vpc-0customer0000000"
    error_message = "The customer VPC must attach to the shared multicast gateway."
  }
  assert {
    condition     = length(aws_ec2_transit_gateway_multicast_domain_association.receiver) == 0
    error_message = "No subnet association before the operator has accepted the attachment."
  }
  assert {
    condition     = output.vpc_cidrs == ["10.50.0.0/16"] && output.vpc_attachment_id == "tgw-attach-0customer0000000"
    error_message = "The module must report what the operator needs: the attachment and the VPC's CIDRs."
  }
}

run "after_acceptance_every_subnet_is_associated" {
  command = plan

  variables {
    attachment_accepted = true
  }

  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_multicast_domain_association.receiver)) == toset(var.subnet_ids) && alltrue([for k, a in aws_ec2_transit_gateway_multicast_domain_association.receiver : a.subnet_id == k && a.transit_gateway_multicast_domain_id == "tgw-mcast-domain-0domain0000000000" && a.transit_gateway_attachment_id == "tgw-attach-0customer0000000"])
    error_message = "Every receiver subnet must be associated with the shared domain through this attachment."
  }
}

run "security_group_takes_the_feed_from_the_relay_only" {
  command = plan

  assert {
    condition     = aws_vpc_security_group_ingress_rule.igmp_query.security_group_id == "sg-0customer000000000" && aws_vpc_security_group_ingress_rule.igmp_query.ip_protocol == "2" && aws_vpc_security_group_ingress_rule.igmp_query.cidr_ipv4 == "0.0.0.0/32"
    error_message = "IGMP (protocol 2) queries from 0.0.0.0/32 must be allowed in."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.feed : r.from_port]) == toset([6100, 6101]) && alltrue([for r in aws_vpc_security_group_ingress_rule.feed : r.security_group_id == "sg-0customer000000000" && r.ip_protocol == "udp" && r.cidr_ipv4 == "10.20.0.0/16" && r.from_port == r.to_port])
    error_message = "UDP 6100 and 6101 only from the relay's range: another customer's datagrams to a feed group are dropped."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.feed) == 2
    error_message = "No other feed rule."
  }
  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.igmp)) == toset(["224.0.0.2/32", "239.111.111.0/24"]) && alltrue([for r in aws_vpc_security_group_egress_rule.igmp : r.ip_protocol == "2" && r.security_group_id == "sg-0customer000000000"])
    error_message = "Out: IGMP only (reports and leaves); no UDP to the feed groups."
  }
}

run "test_feed_ports_and_groups" {
  command = plan

  variables {
    feed_ports  = [6200, 6201]
    feed_groups = ["239.111.112.0/24"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.feed : r.from_port]) == toset([6200, 6201]) && contains(keys(aws_vpc_security_group_egress_rule.igmp), "239.111.112.0/24")
    error_message = "Ports and groups must follow the variables."
  }
}

run "refuses_a_vpc_overlapping_the_relay" {
  command = plan

  override_data {
    target          = data.aws_vpc.receiver
    override_during = plan
    values          = { cidr_block_associations = [{ association_id = "vpc-cidr-assoc-0a", cidr_block = "10.50.0.0/16", state = "associated" }, { association_id = "vpc-cidr-assoc-0b", cidr_block = "10.20.64.0/18", state = "associated" }] }
  }

  expect_failures = [aws_ec2_transit_gateway_vpc_attachment.receiver]
}

run "refuses_an_open_relay_source" {
  command = plan

  variables {
    relay_source_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.relay_source_cidrs]
}

run "launch_template_forces_igmpv2" {
  command = plan

  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.receiver[0].user_data)) : trimspace(l)], "net.ipv4.conf.all.force_igmp_version=2") && contains([for l in split("\n", base64decode(aws_launch_template.receiver[0].user_data)) : trimspace(l)], "net.ipv4.conf.default.force_igmp_version=2") && contains([for l in split("\n", base64decode(aws_launch_template.receiver[0].user_data)) : trimspace(l)], "sysctl -p /etc/sysctl.d/90-mcast-receiver.conf")
    error_message = "Receiver user data must force IGMPv2 (whole lines) and apply it."
  }
  assert {
    condition     = aws_launch_template.receiver[0].vpc_security_group_ids == toset(["sg-0customer000000000"])
    error_message = "Receivers must get the multicast security group."
  }
}

run "organization_share_needs_no_accepter" {
  command = plan

  variables {
    accept_share = false
  }

  assert {
    condition     = length(aws_ram_resource_share_accepter.mcast) == 0
    error_message = "No accepter when accept_share is false."
  }
}

run "rejects_non_nitro_receiver" {
  command = plan

  variables {
    instance_type = "t2.micro"
  }

  expect_failures = [var.instance_type]
}
