variable "region" {
  description = "AWS region of the London relays."
  type        = string
  default     = "eu-west-2"
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "mcast-relay"
}

variable "vpc_id" {
  description = "Existing relay VPC in London."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the London relay VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the relay VPC, one per availability zone."
  type        = list(string)
}

variable "vpc_route_table_ids" {
  description = "Route tables of those subnets (they get routes to the datacenter through the gateway)."
  type        = list(string)
}

variable "datacenter_cidrs" {
  description = "Source ranges of the datacenter ingress relays (LD4)."
  type        = list(string)
}

variable "dx_gateway_id" {
  description = "Direct Connect gateway that reaches the datacenter."
  type        = string
}

variable "tokyo_vpc_cidr" {
  description = "CIDR of the Tokyo relay VPC; advertised to the datacenter over Direct Connect (Tokyo is reached through London's peering)."
  type        = string
}

variable "image_tag" {
  description = "Image tag in the London ECR repository to run (see docs/DEPLOY.md, Build and push)."
  type        = string
}

variable "key_secret_arns" {
  description = "Feed name => Secrets Manager ARN of that feed's key (MCAST_RELAY_KEY_<FEED>)."
  type        = map(string)
  default     = {}
}

variable "instance_type" {
  description = "Nitro instance type of the container instances."
  type        = string
  default     = "c6in.large"
}

variable "customer_account_ids" {
  description = "Accounts allowed to receive London's multicast (one RAM principal association each)."
  type        = set(string)
  default     = []
}

variable "allowed_groups" {
  description = "Multicast group CIDRs the egress may emit to."
  type        = list(string)
  default     = ["239.111.111.0/24"]
}

variable "alarm_emails" {
  description = "E-mail addresses for the alarm topic."
  type        = list(string)
  default     = []
}
