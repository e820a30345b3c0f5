# Wiring of the London root, planned against a mocked provider.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

variables {
  vpc_id               = "vpc-0123456789abcdef0"
  vpc_cidr             = "10.20.0.0/16"
  subnet_ids           = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  vpc_route_table_ids  = ["rtb-0aaaaaaaaaaaaaaaa"]
  datacenter_cidrs     = ["192.0.2.0/28"]
  dx_gateway_id        = "5f1c2a3b-0000-4000-8000-000000000001"
  tokyo_vpc_cidr       = "10.30.0.0/16"
  image_tag            = "0.1.0"
  customer_account_ids = ["222222222222"]
}

run "london_wiring" {
  command = plan

  assert {
    condition     = module.relay.feed_ports == { dev = 6666, prod = 6667 }
    error_message = "London must serve dev on 6666 and prod on 6667."
  }
  assert {
    condition     = tolist(module.domain.customer_account_ids) == tolist(["222222222222"])
    error_message = "The share must be granted to exactly the listed customer."
  }
  assert {
    condition     = module.dc.peering_attachment_id == null
    error_message = "London requests no peering (Tokyo does)."
  }
}
