variable "region" {
  description = "AWS region of the Tokyo relays."
  type        = string
  default     = "ap-northeast-1"
}

variable "london_region" {
  description = "Region of the London deployment (peer of the Transit Gateway peering)."
  type        = string
  default     = "eu-west-2"
}

variable "london_transit_gateway_id" {
  description = "London's multicast Transit Gateway (London output transit_gateway_id)."
  type        = string
}

variable "london_route_table_id" {
  description = "London's infra route table (London output infra_route_table_id)."
  type        = string
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "mcast-relay"
}

variable "vpc_id" {
  description = "Existing relay VPC in Tokyo."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the Tokyo relay VPC; routed back from London through the peering and advertised to the datacenter by London."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the relay VPC, one per availability zone."
  type        = list(string)
}

variable "vpc_route_table_ids" {
  description = "Route tables of those subnets (they get routes to the datacenter through the Tokyo gateway and the peering)."
  type        = list(string)
}

variable "datacenter_cidrs" {
  description = "Source ranges of the datacenter ingress relays (reached through London)."
  type        = list(string)
}

variable "image_tag" {
  description = "Image tag in the Tokyo ECR repository to run (see docs/DEPLOY.md, Build and push)."
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
  description = "Accounts allowed to receive Tokyo's multicast (one RAM principal association each)."
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
