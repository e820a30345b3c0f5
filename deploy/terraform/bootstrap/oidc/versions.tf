terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Applied once per account by an administrator, before any workspace or
  # workflow can assume a role: local state, or -backend-config into the same
  # S3 bucket as the regions (backend.hcl.example).
  backend "s3" {}
}

# IAM is global; the region only says where the API calls go.
provider "aws" {
  region = var.region

  default_tags {
    tags = { app = "mcast-relay", env = "bootstrap" }
  }
}
