variable "region" {
  description = "Region of the feed: eu-west-2 (London) or ap-northeast-1 (Tokyo)."
  type        = string
  default     = "eu-west-2"
}

variable "resource_share_arn" {
  description = "RAM share ARN sent by the relay operator."
  type        = string
}

variable "accept_share" {
  description = "Accept the RAM invitation. false when your account and the operator's are in one AWS Organization with RAM sharing on (nothing to accept then)."
  type        = bool
  default     = true
}

variable "attachment_accepted" {
  description = "false for the first apply (it creates the VPC attachment the operator must accept); true once the operator says it is accepted."
  type        = bool
  default     = false
}

variable "transit_gateway_id" {
  description = "Shared multicast Transit Gateway ID sent by the relay operator (their multicast_transit_gateway_id)."
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

variable "feed_groups" {
  description = "Multicast group CIDRs of the feed, sent by the operator (Deribit in AWS: 239.111.111.0/24)."
  type        = list(string)
  default     = ["239.111.111.0/24"]
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

variable "ami_id" {
  description = "AMI for receivers; null uses the latest Amazon Linux 2023 x86_64 (glibc 2.34, which the mcast-relay binary supports)."
  type        = string
  default     = null
}
