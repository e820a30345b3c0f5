terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
      # aws.peer is the region at the other end of the peering (the accepter).
      configuration_aliases = [aws.peer]
    }
  }
}
