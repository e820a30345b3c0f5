variable "name" {
  description = "Name prefix for the route table and attachments."
  type        = string
  default     = "mcast-relay"
}

variable "vpc_id" {
  description = "ID of the relay VPC, attached to this region's infra gateway (unicast to and from the NLB)."
  type        = string
}

variable "subnet_ids" {
  description = "Relay subnets for the infra gateway's VPC attachment: one per availability zone, the subnets of the NLB."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "Give at least one subnet."
  }
}

variable "amazon_side_asn" {
  description = "Private ASN of this region's infra Transit Gateway. It must differ from the Direct Connect gateway's ASN (or the association fails) and from the peer region's gateway."
  type        = number

  validation {
    condition     = (var.amazon_side_asn >= 64512 && var.amazon_side_asn <= 65534) || (var.amazon_side_asn >= 4200000000 && var.amazon_side_asn <= 4294967294)
    error_message = "amazon_side_asn must be a private ASN: 64512-65534 or 4200000000-4294967294."
  }
}

variable "dx_gateway_asn" {
  description = "Amazon-side ASN of the Direct Connect gateway (aws directconnect describe-direct-connect-gateways). Required with dx_gateway_id; must differ from amazon_side_asn."
  type        = number
  default     = null

  validation {
    condition     = var.dx_gateway_asn == null ? true : ((var.dx_gateway_asn >= 64512 && var.dx_gateway_asn <= 65534) || (var.dx_gateway_asn >= 4200000000 && var.dx_gateway_asn <= 4294967294))
    error_message = "dx_gateway_asn must be a private ASN: 64512-65534 or 4200000000-4294967294."
  }
  validation {
    condition     = (var.dx_gateway_id == null) == (var.dx_gateway_asn == null)
    error_message = "Give dx_gateway_asn exactly when dx_gateway_id is set (the ASNs are checked to differ)."
  }
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
    amazon_side_asn: the peer gateway's ASN, which must differ from this one's.
    The datacenter CIDRs are routed through the peering; the peer routes relay_vpc_cidr back.
  EOT
  type = object({
    transit_gateway_id = string
    region             = string
    account_id         = optional(string)
    route_table_id     = string
    amazon_side_asn    = number
  })
  default = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
