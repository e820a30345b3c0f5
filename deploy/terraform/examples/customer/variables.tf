variable "region" {
  description = "Region of the feed: eu-west-2 (London) or ap-northeast-1 (Tokyo)."
  type        = string
  default     = "eu-west-2"
}

variable "resource_share_arn" {
  description = "RAM share ARN sent by the relay operator."
  type        = string
}

variable "transit_gateway_id" {
  description = "Shared multicast Transit Gateway ID sent by the relay operator."
  type        = string
}

variable "multicast_domain_id" {
  description = "Shared multicast domain ID sent by the relay operator."
  type        = string
}

variable "relay_source_cidrs" {
  description = "Relay VPC CIDR(s) sent by the relay operator (the multicast's source addresses)."
  type        = list(string)
}

variable "vpc_id" {
  description = "Your VPC that receives the feed."
  type        = string
}

variable "subnet_ids" {
  description = "Your subnets to attach and associate (receivers run here)."
  type        = list(string)
}

variable "feed_ports" {
  description = "UDP ports of the feed: 6100/6101 production, 6200/6201 test."
  type        = list(number)
  default     = [6100, 6101]
}

variable "instance_type" {
  description = "Nitro instance type for receivers."
  type        = string
  default     = "c6in.large"
}
