# What Tokyo needs from London: its infra gateway, route table and ASN for the
# peering, and the Tokyo replicas of the feed keys. Either passed as variables
# (copied from London's outputs: the S3 route in docs/DEPLOY.md), or read from
# London's state with london_state (the Terraform Cloud route, where a London
# apply queues this plan through a run trigger and the plan reads the outputs
# London just wrote).

variable "london_state" {
  description = "London's state to read its outputs from, in place of london_transit_gateway_id, london_route_table_id, london_gateway_asn and key_secret_arns: { backend, config } of a terraform_remote_state (Terraform Cloud: backend = \"remote\", config = { organization = \"...\", workspaces = { name = \"mcast-relay-london\" } }). Null: the variables."
  type = object({
    backend = string
    config  = any
  })
  default = null

  validation {
    condition     = (var.london_state == null) == (var.london_transit_gateway_id != null && var.london_route_table_id != null && var.london_gateway_asn != null && var.key_secret_arns != null)
    error_message = "Give either london_state, or all of london_transit_gateway_id, london_route_table_id, london_gateway_asn and key_secret_arns (London's outputs), not both and not neither."
  }
}

data "terraform_remote_state" "london" {
  count   = var.london_state == null ? 0 : 1
  backend = var.london_state.backend
  config  = var.london_state.config

  lifecycle {
    postcondition {
      condition     = alltrue([for o in ["infra_transit_gateway_id", "infra_route_table_id", "infra_gateway_asn", "tokyo_key_secret_arns"] : contains(keys(self.outputs), o)])
      error_message = "London's state has no infra_transit_gateway_id, infra_route_table_id, infra_gateway_asn or tokyo_key_secret_arns output: apply London first (envs/london)."
    }
    postcondition {
      condition     = alltrue([for a in values(try(self.outputs.tokyo_key_secret_arns, {})) : can(regex("^arn:aws[a-z-]*:secretsmanager:ap-northeast-1:", a))])
      error_message = "London's tokyo_key_secret_arns must be the Tokyo replicas (arn:aws:secretsmanager:ap-northeast-1:...)."
    }
  }
}

locals {
  london = var.london_state == null ? {
    transit_gateway_id = var.london_transit_gateway_id
    route_table_id     = var.london_route_table_id
    gateway_asn        = var.london_gateway_asn
    key_secret_arns    = var.key_secret_arns
    } : {
    transit_gateway_id = data.terraform_remote_state.london[0].outputs.infra_transit_gateway_id
    route_table_id     = data.terraform_remote_state.london[0].outputs.infra_route_table_id
    gateway_asn        = data.terraform_remote_state.london[0].outputs.infra_gateway_asn
    key_secret_arns    = data.terraform_remote_state.london[0].outputs.tokyo_key_secret_arns
  }
}
