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
  description = "London's infra gateway (London output infra_transit_gateway_id). Never the multicast one. Null with london_state."
  type        = string
  default     = null
}

variable "london_route_table_id" {
  description = "London's infra route table (London output infra_route_table_id). Null with london_state."
  type        = string
  default     = null
}

variable "london_gateway_asn" {
  description = "ASN of London's infra gateway (London output infra_gateway_asn). Null with london_state (the peering then checks the ASNs differ)."
  type        = number
  default     = null
}

variable "infra_gateway_asn" {
  description = "Private ASN of Tokyo's infra Transit Gateway (peered with London's): must differ from London's."
  type        = number
  default     = 64611

  validation {
    condition     = var.infra_gateway_asn != var.london_gateway_asn && var.infra_gateway_asn != var.multicast_gateway_asn
    error_message = "infra_gateway_asn must differ from london_gateway_asn (peered gateways need distinct ASNs) and from multicast_gateway_asn."
  }
}

variable "multicast_gateway_asn" {
  description = "Private ASN of Tokyo's multicast Transit Gateway (no BGP, but kept distinct)."
  type        = number
  default     = 64612

  validation {
    condition     = var.multicast_gateway_asn != var.london_gateway_asn
    error_message = "multicast_gateway_asn must differ from london_gateway_asn."
  }
}

variable "key_secret_arns" {
  description = "Feed => ARN of the key secret's replica in Tokyo (London output tokyo_key_secret_arns). Null with london_state."
  type        = map(string)
  default     = null

  validation {
    condition     = alltrue([for a in values(coalesce(var.key_secret_arns, {})) : can(regex("^arn:aws[a-z-]*:secretsmanager:ap-northeast-1:", a))])
    error_message = "key_secret_arns must be the Tokyo replicas (arn:aws:secretsmanager:ap-northeast-1:...): London output tokyo_key_secret_arns."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key (Tokyo) of the key secrets' replicas (London's tokyo_secrets_kms_key_arn); null for aws/secretsmanager."
  type        = string
  default     = null
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
  description = "CIDR of the Tokyo relay VPC: the multicast's source range (customers' VPCs may not overlap it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the relay VPC, one per availability zone: the NLB, the tasks, and both gateways' attachments (the multicast domain associates exactly these)."
  type        = list(string)
}

variable "vpc_route_table_ids" {
  description = "Route tables of those subnets (they get routes to the datacenter through the infra gateway)."
  type        = list(string)
}

variable "datacenter_cidrs" {
  description = "Source ranges of the datacenter ingress hosts (LD4, reached through London), the primary and any secondary: the only sources the feed ports accept."
  type        = list(string)
}

variable "feeds" {
  description = "Feed name => NLB and container port: dev on 6666, prod on 6667."
  type        = map(number)
  default     = { dev = 6666, prod = 6667 }
}

variable "image_tag" {
  description = "Image tag in the Tokyo ECR repository: <version>-<12-digit git revision>, as pushed (docs/DEPLOY.md, Build and push)."
  type        = string
}

variable "ami_id" {
  description = "Pinned ECS-optimized Amazon Linux 2023 x86_64 AMI of Tokyo's container instances (docs/DEPLOY.md, step 2); changing it rolls the instances."
  type        = string
}

variable "instance_type" {
  description = "Nitro instance type of the container instances."
  type        = string
  default     = "c6in.large"
}

variable "instance_min_size" {
  description = "Minimum container instances."
  type        = number
  default     = 2
}

variable "instance_max_size" {
  description = "Maximum container instances (rolling deploys and instance refreshes start new ones first)."
  type        = number
  default     = 4
}

variable "task_count" {
  description = "Relay tasks (one carries each feed, the others stand by)."
  type        = number
  default     = 2
}

variable "customers" {
  description = "Customers allowed to receive Tokyo's multicast: name => { account_id, receivers, attachments = { tgw-attach-... = [their VPC CIDRs] } } (module multicast-domain)."
  type = map(object({
    account_id  = string
    receivers   = optional(number, 1)
    attachments = optional(map(list(string)), {})
  }))
  default = {}
}

variable "allowed_groups" {
  description = "Multicast group CIDRs the egress may emit to (--allow)."
  type        = list(string)
  default     = ["239.111.111.0/24"]
}

variable "group_map" {
  description = "Egress --map FROM=TO rules (rewrite a group to another)."
  type        = list(string)
  default     = []
}

variable "group_fanout" {
  description = "Egress --fanout FROM=TO rules (an extra copy of a group, e.g. for customers past 100 members)."
  type        = list(string)
  default     = []
}

variable "health_check_interval" {
  description = "NLB health check interval, 5 or 10 s."
  type        = number
  default     = 10
}

variable "health_check_unhealthy_threshold" {
  description = "NLB failed checks before a task is unhealthy, 2 or 3."
  type        = number
  default     = 2
}

variable "feed_peak_rates" {
  description = "Feed => { datagrams_per_second, mean_datagram_bytes } at peak: sizes the ingress window check."
  type = map(object({
    datagrams_per_second = number
    mean_datagram_bytes  = number
  }))
  default = {
    prod = { datagrams_per_second = 50000, mean_datagram_bytes = 160 }
    dev  = { datagrams_per_second = 5000, mean_datagram_bytes = 160 }
  }
}

variable "ingress_windows" {
  description = "Feed => { bytes, secs }: the window the datacenter ingress runs with, when not the relay's default."
  type = map(object({
    bytes = number
    secs  = number
  }))
  default = {}
}

variable "senders" {
  description = "Feed => datacenter senders expected (module relay-service senders; feeds not listed: 2, the primary and secondary LD4 hosts)."
  type        = map(number)
  default     = {}
}

variable "merge" {
  description = "Feed => the egress's --merge (module relay-service merge; feeds not listed: deribit). All feeds must agree."
  type        = map(string)
  default     = {}
}

variable "alarm_feeds" {
  description = "Feeds whose silence alarms (null: all)."
  type        = list(string)
  default     = null
}

variable "alarm_policies" {
  description = "Feed => alarm policy (module relay-service alarm_policies); prod pages, dev opens tickets; the Senders alarm always opens a ticket, after senders_minutes."
  type = map(object({
    notify           = string
    silence_minutes  = number
    gaps_per_minute  = number
    drops_per_minute = number
    gap_minutes      = optional(number, 2)
    senders_minutes  = optional(number, 10)
  }))
  default = {
    prod = { notify = "page", silence_minutes = 3, gaps_per_minute = 0, drops_per_minute = 0 }
    dev  = { notify = "ticket", silence_minutes = 60, gaps_per_minute = 100, drops_per_minute = 100, gap_minutes = 10 }
  }
}

variable "alarm_emails" {
  description = "E-mail addresses for the paging alarm topic."
  type        = list(string)
  default     = []
}

variable "ticket_emails" {
  description = "E-mail addresses for the non-paging alarm topic."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "NLB deletion protection."
  type        = bool
  default     = true
}

