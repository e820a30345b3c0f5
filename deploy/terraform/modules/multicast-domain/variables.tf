variable "name" {
  description = "Name prefix for the Transit Gateway, the multicast domain and the RAM share."
  type        = string
  default     = "mcast-relay"
}

variable "vpc_id" {
  description = "ID of the relay VPC, attached to the new Transit Gateway."
  type        = string
}

variable "subnet_ids" {
  description = "Relay subnets (where the relay tasks' ENIs live), attached and associated with the multicast domain. Any ENI in them may send: static sources are off."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "customer_account_ids" {
  description = "AWS account ids allowed to receive: each gets exactly one RAM principal association to the share of the gateway and the domain. Removing an id revokes the share."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.customer_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "customer_account_ids must be 12-digit AWS account ids (as strings, keep leading zeros)."
  }
}

variable "amazon_side_asn" {
  description = "Private ASN of the Transit Gateway (BGP towards the Direct Connect gateway). Must differ from the DX gateway's ASN and from the peer region's gateway."
  type        = number
  default     = 64512
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
