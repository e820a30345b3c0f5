# Tokyo's allow-list as code review, as London's: customers.auto.tfvars, as
# committed, is applied (mocked), then one account is added and removed again.
# Each change must plan exactly one RAM principal association more or fewer, and keep the
# others as they are (not replaced). The baseline is whatever the file holds,
# so the test stays true as customers come and go.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "ap-northeast-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ec2_transit_gateway_route_table_routes" {
    defaults = { routes = [] }
  }
  # A mocked apply makes up computed values, and the provider still checks
  # that what is passed as an ARN looks like one.
  mock_resource "aws_ec2_transit_gateway" {
    defaults = { arn = "arn:aws:ec2:ap-northeast-1:111111111111:transit-gateway/tgw-0mock000000000000" }
  }
  mock_resource "aws_ec2_transit_gateway_multicast_domain" {
    defaults = { arn = "arn:aws:ec2:ap-northeast-1:111111111111:transit-gateway-multicast-domain/tgw-mcast-domain-0mock0000000000" }
  }
  mock_resource "aws_ram_resource_share" {
    defaults = { arn = "arn:aws:ram:ap-northeast-1:111111111111:resource-share/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/mock-MoCk01" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:ap-northeast-1:111111111111:mcast-relay-mock" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:loadbalancer/net/mcast-relay/0123456789abcdef" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:targetgroup/mcast-relay/0123456789abcdef" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mcast-relay-mock" }
  }
  mock_resource "aws_launch_template" {
    defaults = { id = "lt-0123456789abcdef0" }
  }
  mock_resource "aws_autoscaling_group" {
    defaults = { arn = "arn:aws:autoscaling:ap-northeast-1:111111111111:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/mcast-relay" }
  }
  mock_resource "aws_iam_instance_profile" {
    defaults = { arn = "arn:aws:iam::111111111111:instance-profile/mcast-relay" }
  }
}

# London's side of the peering (its accepter and routes back).
mock_provider "aws" {
  alias = "london"
}

# Everything but customers: the customers come from customers.auto.tfvars.
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

run "as_committed" {
  command = apply

  assert {
    condition     = toset(keys(output.customer_principal_associations)) == toset([for c in values(var.customers) : c.account_id])
    error_message = "The share must be granted to exactly the accounts in customers.auto.tfvars."
  }
}

run "adding_one_account_plans_one_more_association" {
  command = plan

  variables {
    customers = merge(var.customers, { zz_allow_list_test = { account_id = "999999999999" } })
  }

  assert {
    condition     = length(output.customer_principal_associations) == length(run.as_committed.customer_principal_associations) + 1
    error_message = "One account more must plan exactly one RAM principal association more."
  }
  assert {
    condition     = setsubtract(keys(output.customer_principal_associations), keys(run.as_committed.customer_principal_associations)) == toset(["999999999999"])
    error_message = "The association added must be the new account's."
  }
  assert {
    condition     = alltrue([for a, id in run.as_committed.customer_principal_associations : output.customer_principal_associations[a] == id])
    error_message = "The existing customers' associations must be kept as they are, not replaced."
  }
}

run "with_the_account_added" {
  command = apply

  variables {
    customers = merge(var.customers, { zz_allow_list_test = { account_id = "999999999999" } })
  }
}

run "removing_one_account_plans_one_fewer_association" {
  command = plan

  assert {
    condition     = length(output.customer_principal_associations) == length(run.with_the_account_added.customer_principal_associations) - 1
    error_message = "One account fewer must plan exactly one RAM principal association fewer."
  }
  assert {
    condition     = setsubtract(keys(run.with_the_account_added.customer_principal_associations), keys(output.customer_principal_associations)) == toset(["999999999999"])
    error_message = "The association removed must be the removed account's."
  }
  assert {
    condition     = alltrue([for a, id in output.customer_principal_associations : run.with_the_account_added.customer_principal_associations[a] == id])
    error_message = "The remaining customers' associations must be kept as they are, not replaced."
  }
}
