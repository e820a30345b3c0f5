variable "name" {
  description = "Name prefix for the route table and attachments."
  type        = string
  default     = "mcast-relay"
}

variable "transit_gateway_id" {
  description = "This region's multicast Transit Gateway (output of multicast-domain). It also carries the unicast TCP from the datacenter."
  type        = string
}

variable "relay_vpc_attachment_id" {
  description = "Attachment of the relay VPC to that gateway (output of multicast-domain)."
  type        = string
}

variable "relay_vpc_cidr" {
  description = "CIDR of this region's relay VPC."
  type        = string

  validation {
    condition     = can(cidrhost(var.relay_vpc_cidr, 0))
    error_message = "relay_vpc_cidr must be an IPv4 CIDR."
  }
}

variable "datacenter_cidrs" {
  description = "Source ranges of the datacenter ingress relays. The relay VPC routes them to the gateway; with a peer they are routed through the peering."
  type        = list(string)

  validation {
    condition     = length(var.datacenter_cidrs) > 0 && alltrue([for c in var.datacenter_cidrs : can(cidrhost(c, 0))])
    error_message = "datacenter_cidrs must be a non-empty list of IPv4 CIDRs."
  }
}

variable "vpc_route_table_ids" {
  description = "Route tables of the relay VPC's subnets; each gets a route to every datacenter CIDR through the gateway (NLB replies travel it)."
  type        = list(string)
  default     = []
}

variable "dx_gateway_id" {
  description = "Direct Connect gateway to associate with the Transit Gateway (same account). Null when this region is reached only through peering (Tokyo)."
  type        = string
  default     = null
}

variable "dx_allowed_prefixes" {
  description = "Prefixes advertised to the datacenter over Direct Connect. Include every region's relay VPC CIDR reached through this gateway (London: London and Tokyo). Empty means relay_vpc_cidr only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.dx_allowed_prefixes : can(cidrhost(c, 0))])
    error_message = "dx_allowed_prefixes must be IPv4 CIDRs."
  }
}

variable "peer" {
  description = <<-EOT
    Transit Gateway peering to another region, requested from this one and accepted there through provider aws.peer. Null for none (London; Tokyo peers with London).
    transit_gateway_id: the peer's gateway. region: its region. account_id: its account (null = this one).
    route_table_id: the peer's route table from its dc-connectivity (route_table_id output).
    The datacenter CIDRs are routed through the peering; the peer routes relay_vpc_cidr back.
  EOT
  type = object({
    transit_gateway_id = string
    region             = string
    account_id         = optional(string)
    route_table_id     = string
  })
  default = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
