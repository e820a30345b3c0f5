terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Partial configuration: terraform init -backend-config=backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { app = "mcast-relay", env = "tokyo" }
  }
}

# London, where the peering requested from here is accepted and routed back.
provider "aws" {
  alias  = "london"
  region = var.london_region

  default_tags {
    tags = { app = "mcast-relay", env = "tokyo" }
  }
}
