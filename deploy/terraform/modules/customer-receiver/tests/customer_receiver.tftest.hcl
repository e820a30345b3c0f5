# Plan-only tests with a mocked AWS provider: no credentials, no network.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
  }
  mock_resource "aws_ec2_transit_gateway_vpc_attachment" {
    defaults = { id = "tgw-attach-0customer0000000" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0customer000000000" }
  }
}

variables {
  resource_share_arn  = "arn:aws:ram:eu-west-2:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
  transit_gateway_id  = "tgw-0123456789abcdef0"
  multicast_domain_id = "tgw-mcast-domain-0123456789abcdef0"
  vpc_id              = "vpc-0customer0000000"
  subnet_ids          = ["subnet-0c1111111111111", "subnet-0c2222222222222"]
  relay_source_cidrs  = ["10.20.0.0/16"]
}

run "accepts_share_attaches_and_associates" {
  command = plan

  assert {
    condition     = length(aws_ram_resource_share_accepter.mcast) == 1 && aws_ram_resource_share_accepter.mcast[0].share_arn == var.resource_share_arn
    error_message = "The RAM share must be accepted."
  }
  assert {
    condition     = aws_ec2_transit_gateway_vpc_attachment.receiver.transit_gateway_id == "tgw-0123456789abcdef0"
    error_message = "The customer VPC must attach to the shared gateway."
  }
  assert {
    condition     = toset(keys(aws_ec2_transit_gateway_multicast_domain_association.receiver)) == toset(var.subnet_ids) && alltrue([for a in aws_ec2_transit_gateway_multicast_domain_association.receiver : a.transit_gateway_multicast_domain_id == "tgw-mcast-domain-0123456789abcdef0" && a.transit_gateway_attachment_id == "tgw-attach-0customer0000000"])
    error_message = "Every receiver subnet must be associated with the shared domain."
  }
}

run "security_group_igmp_and_feed_udp" {
  command = plan

  assert {
    condition     = aws_vpc_security_group_ingress_rule.igmp_query.ip_protocol == "2" && aws_vpc_security_group_ingress_rule.igmp_query.cidr_ipv4 == "0.0.0.0/32"
    error_message = "IGMP (protocol 2) queries from 0.0.0.0/32 must be allowed in."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.feed : r.from_port]) == toset([6100, 6101]) && alltrue([for r in aws_vpc_security_group_ingress_rule.feed : r.ip_protocol == "udp" && r.cidr_ipv4 == "10.20.0.0/16" && r.from_port == r.to_port])
    error_message = "UDP 6100 and 6101 must be allowed from the relay VPC only."
  }
  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.igmp)) == toset(["224.0.0.2/32", "239.111.111.0/24"]) && alltrue([for r in aws_vpc_security_group_egress_rule.igmp : r.ip_protocol == "2"])
    error_message = "IGMP out to 224.0.0.2/32 and to the groups must be allowed."
  }
}

run "test_feed_ports" {
  command = plan

  variables {
    feed_ports = [6200, 6201]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.feed : r.from_port]) == toset([6200, 6201])
    error_message = "The feed ports must follow var.feed_ports."
  }
}

run "launch_template_forces_igmpv2" {
  command = plan

  assert {
    condition     = strcontains(base64decode(aws_launch_template.receiver[0].user_data), "net.ipv4.conf.all.force_igmp_version=2") && strcontains(base64decode(aws_launch_template.receiver[0].user_data), "net.ipv4.conf.default.force_igmp_version=2")
    error_message = "Receiver user data must force IGMPv2."
  }
  assert {
    condition     = contains(aws_launch_template.receiver[0].vpc_security_group_ids, "sg-0customer000000000")
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
