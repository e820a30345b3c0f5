terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

# The customer's own account, in the region of the feed they receive.
provider "aws" {
  region = var.region
}
