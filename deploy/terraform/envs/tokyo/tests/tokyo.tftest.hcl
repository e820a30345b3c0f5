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
  mock_resource "aws_ec2_transit_gateway_peering_attachment" {
    defaults = { id = "tgw-attach-0peer000000000000" }
  }
}

mock_provider "aws" {
  alias           = "london"
  override_during = plan
}

variables {
  london_transit_gateway_id = "tgw-0london0000000000"
  london_route_table_id     = "tgw-rtb-0london000000000"
  vpc_id                    = "vpc-0tokyo00000000000"
  vpc_cidr                  = "10.30.0.0/16"
  subnet_ids                = ["subnet-0t1111111111111", "subnet-0t2222222222222"]
  vpc_route_table_ids       = ["rtb-0t1111111111111"]
  datacenter_cidrs          = ["192.0.2.0/28"]
  image_tag                 = "0.1.0"
}

run "tokyo_wiring" {
  command = plan

  assert {
    condition     = module.relay.feed_ports == { dev = 6666, prod = 6667 }
    error_message = "Tokyo must serve dev on 6666 and prod on 6667."
  }
  assert {
    condition     = module.dc.peering_attachment_id == "tgw-attach-0peer000000000000"
    error_message = "Tokyo must request the peering with London."
  }
  assert {
    condition     = length(module.domain.customer_account_ids) == 0
    error_message = "No customer is granted unless listed."
  }
}
