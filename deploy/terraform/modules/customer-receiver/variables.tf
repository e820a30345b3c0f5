variable "name" {
  description = "Name prefix for the customer's resources."
  type        = string
  default     = "mcast-receiver"
}

variable "resource_share_arn" {
  description = "ARN of the RAM share sent by the relay operator (their resource_share_arn output)."
  type        = string
}

variable "accept_share" {
  description = "Accept the RAM invitation. Set false when both accounts are in one AWS Organization with RAM sharing enabled (nothing to accept then)."
  type        = bool
  default     = true
}

variable "transit_gateway_id" {
  description = "ID of the shared multicast Transit Gateway (from the relay operator)."
  type        = string
}

variable "multicast_domain_id" {
  description = "ID of the shared multicast domain (from the relay operator)."
  type        = string
}

variable "vpc_id" {
  description = "The customer's VPC that receives the multicast."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets attached to the gateway and associated with the multicast domain; receivers run in these."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "relay_source_cidrs" {
  description = "Where the multicast comes from: the relay VPC's CIDR (the relay tasks are the senders). The UDP rule cannot use a security group as source."
  type        = list(string)

  validation {
    condition     = length(var.relay_source_cidrs) > 0 && alltrue([for c in var.relay_source_cidrs : can(cidrhost(c, 0))])
    error_message = "relay_source_cidrs must be a non-empty list of IPv4 CIDRs."
  }
  validation {
    # A VPC is /16 to /28: anything wider is not the relay's range, and would
    # let other customers' datagrams through.
    condition     = alltrue([for c in var.relay_source_cidrs : can(cidrhost(c, 0)) && tonumber(split("/", c)[1]) >= 16 && tonumber(split("/", c)[1]) <= 28])
    error_message = "relay_source_cidrs must be the relay VPC's CIDRs (/16 to /28), never a wider range such as 0.0.0.0/0 or 10.0.0.0/8."
  }
}

variable "attachment_accepted" {
  description = "Set true once the relay operator has accepted vpc_attachment_id (they send word); the subnets are then associated with the multicast domain. The first apply, with false, creates the attachment for them to accept."
  type        = bool
  default     = false
}

variable "feed_groups" {
  description = "Multicast group CIDRs of the feed (the groups receivers join)."
  type        = list(string)
  default     = ["239.111.111.0/24"]

  validation {
    condition     = length(var.feed_groups) > 0 && alltrue([for g in var.feed_groups : can(cidrhost(g, 0)) && tonumber(split(".", g)[0]) >= 224 && tonumber(split(".", g)[0]) <= 239])
    error_message = "feed_groups must be IPv4 multicast CIDRs (224.0.0.0/4)."
  }
}

variable "feed_ports" {
  description = "UDP ports of the feed. Deribit production: 6100 (incremental) and 6101 (snapshot); test feed: 6200 and 6201."
  type        = list(number)
  default     = [6100, 6101]

  validation {
    condition     = length(var.feed_ports) > 0 && alltrue([for p in var.feed_ports : p > 0 && p < 65536])
    error_message = "feed_ports must be UDP ports 1-65535."
  }
}

variable "create_launch_template" {
  description = "Create a launch template for receiver instances (IGMPv2 forced in user data, this security group attached)."
  type        = bool
  default     = true
}

variable "instance_type" {
  description = "Instance type in the launch template. Must be a Nitro x86_64 type (same rule as relay-service): c5 c5a c5ad c5d c5n c6a c6i c6id c6in c7a c7i c7i-flex m5 m5a m5ad m5d m5dn m5n m5zn m6a m6i m6id m6idn m6in m7a m7i m7i-flex r5 r5a r5ad r5b r5d r5dn r5n r6a r6i r6id r6idn r6in r7a r7i r7iz t3 t3a z1d."
  type        = string
  default     = "c6in.large"

  validation {
    condition = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.instance_type)) && contains([
      "c5", "c5a", "c5ad", "c5d", "c5n", "c6a", "c6i", "c6id", "c6in", "c7a", "c7i", "c7i-flex",
      "m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m5zn", "m6a", "m6i", "m6id", "m6idn", "m6in", "m7a", "m7i", "m7i-flex",
      "r5", "r5a", "r5ad", "r5b", "r5d", "r5dn", "r5n", "r6a", "r6i", "r6id", "r6idn", "r6in", "r7a", "r7i", "r7iz",
      "t3", "t3a", "z1d",
    ], split(".", var.instance_type)[0])
    error_message = "instance_type must be a Nitro x86_64 type (e.g. c6in.large); t2.*, m4.*, c4.* and other Xen types are rejected."
  }
}

variable "ami_id" {
  description = "AMI for receivers. Null uses the latest Amazon Linux 2023 x86_64 from SSM."
  type        = string
  default     = null
}

variable "extra_security_group_ids" {
  description = "More security groups for receiver instances (SSH/SSM, the customer's own application)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
