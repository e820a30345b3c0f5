variable "name" {
  description = "Name prefix for the Transit Gateway, the multicast domain and the RAM share."
  type        = string
  default     = "mcast-relay"
}

variable "vpc_id" {
  description = "ID of the relay VPC, attached to the multicast Transit Gateway."
  type        = string
}

variable "relay_vpc_cidr" {
  description = "CIDR of the relay VPC: the multicast's source range. Customer VPCs may not overlap it."
  type        = string

  validation {
    condition     = can(cidrhost(var.relay_vpc_cidr, 0))
    error_message = "relay_vpc_cidr must be an IPv4 CIDR."
  }
}

variable "subnet_ids" {
  description = "Relay subnets (where the relay tasks' ENIs live), attached and associated with the multicast domain. Any ENI in them may send: static sources are off. Must be the subnets the relay-service tasks use."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "amazon_side_asn" {
  description = "Private ASN of the multicast Transit Gateway. It speaks BGP to no one, but keep it distinct from the Direct Connect gateway's and the infra gateways' ASNs so that no one attaches the wrong gateway by its number."
  type        = number

  validation {
    condition     = (var.amazon_side_asn >= 64512 && var.amazon_side_asn <= 65534) || (var.amazon_side_asn >= 4200000000 && var.amazon_side_asn <= 4294967294)
    error_message = "amazon_side_asn must be a private ASN: 64512-65534 or 4200000000-4294967294."
  }
}

variable "customers" {
  description = <<-EOT
    Customers allowed to receive, by a name of your choice:
    account_id: their 12-digit AWS account (one RAM principal association per account; removing it revokes the share).
    receivers: how many receiver instances (ENIs) they join to each feed group; all customers together may not exceed members_per_group.
    attachments: their VPC attachments that you accept, attachment id => that VPC's CIDRs (the customer module's vpc_cidrs output). None overlapping the relay VPC. Removing one deletes the attachment.
  EOT
  type = map(object({
    account_id  = string
    receivers   = optional(number, 1)
    attachments = optional(map(list(string)), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for c in values(var.customers) : can(regex("^[0-9]{12}$", c.account_id))])
    error_message = "Each customer's account_id must be a 12-digit AWS account id (as a string, keep leading zeros)."
  }
  validation {
    condition     = alltrue([for c in values(var.customers) : c.receivers >= 0 && floor(c.receivers) == c.receivers])
    error_message = "receivers must be a whole number, 0 or more."
  }
  validation {
    condition     = alltrue(flatten([for c in values(var.customers) : [for id, cidrs in c.attachments : can(regex("^tgw-attach-[0-9a-f]{8,17}$", id)) && length(cidrs) > 0 && alltrue([for x in cidrs : can(cidrhost(x, 0))])]]))
    error_message = "attachments must map tgw-attach-... ids to non-empty lists of the customer VPC's IPv4 CIDRs."
  }
  validation {
    condition     = length(flatten([for c in values(var.customers) : keys(c.attachments)])) == length(distinct(flatten([for c in values(var.customers) : keys(c.attachments)])))
    error_message = "An attachment may be listed under one customer only."
  }
}

variable "members_per_group" {
  description = "Transit Gateway quota: members of one multicast group (100, not adjustable). The customers' receivers together must fit."
  type        = number
  default     = 100
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
