variable "name" {
  description = "Name prefix for every resource (cluster, service, NLB, ECR repository, log group, alarms)."
  type        = string
  default     = "mcast-relay"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters of lower-case letters, digits and '-', starting with a letter (the NLB name is limited to 32)."
  }
}

variable "vpc_id" {
  description = "ID of the relay VPC (the one attached to the multicast Transit Gateway)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the relay VPC. The health port is opened to this range only (NLB health checks come from inside it)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR such as 10.20.0.0/16."
  }
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone, for the NLB, the container instances and the task ENIs. They must also be associated with the multicast domain (module multicast-domain), or nothing emitted reaches customers."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give at least two subnets in different availability zones so that one zone can fail."
  }
}

variable "datacenter_cidrs" {
  description = "Source ranges of the datacenter ingress relays (reached over Direct Connect). The feed ports are opened to these ranges only."
  type        = list(string)

  validation {
    condition     = length(var.datacenter_cidrs) > 0 && alltrue([for c in var.datacenter_cidrs : can(cidrhost(c, 0)) && !startswith(c, "0.0.0.0/")])
    error_message = "datacenter_cidrs must be a non-empty list of IPv4 CIDRs, and never 0.0.0.0/0."
  }
}

variable "feeds" {
  description = "Feeds the egress serves: feed name => TCP port on the NLB and in the container. The names are the EMF Feed dimension and the suffix of MCAST_RELAY_KEY_<FEED>."
  type        = map(number)
  default = {
    dev  = 6666
    prod = 6667
  }

  validation {
    condition     = length(var.feeds) > 0 && alltrue([for k, v in var.feeds : can(regex("^[a-z][a-z0-9_]*$", k)) && v > 1024 && v < 65536])
    error_message = "Feed names must match ^[a-z][a-z0-9_]*$ (they become environment variable names) and ports must be 1025-65535."
  }
}

variable "health_port" {
  description = "Port of the relay's HTTP server (/healthz, /readyz, /metrics, /status). NLB health checks use HTTP GET /healthz on it."
  type        = number
  default     = 9180
}

variable "allowed_groups" {
  description = "Multicast group CIDRs the egress may emit to (its --allow list)."
  type        = list(string)
  default     = ["239.111.111.0/24"]

  validation {
    condition     = length(var.allowed_groups) > 0 && alltrue([for g in var.allowed_groups : can(cidrhost(g, 0)) && tonumber(split(".", g)[0]) >= 224 && tonumber(split(".", g)[0]) <= 239])
    error_message = "allowed_groups must be non-empty IPv4 multicast CIDRs (224.0.0.0/4)."
  }
}

variable "group_map" {
  description = "Optional group remapping for the egress (--map FROM=TO), e.g. [\"239.111.111.0/24=239.200.0.0/24\"]. Security group rules cover the mapped destinations."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.group_map : length(split("=", m)) == 2 && can(cidrhost(split("=", m)[1], 0))])
    error_message = "Each group_map entry must be FROM=TO with CIDRs on both sides."
  }
}

variable "ttl" {
  description = "Multicast TTL the egress sets on emitted datagrams (--ttl). TTL 1 never leaves the subnet."
  type        = number
  default     = 32
}

variable "iface" {
  description = "Interface the egress emits on inside the task (--iface). With awsvpc the task ENI is eth0."
  type        = string
  default     = "eth0"
}

variable "image" {
  description = "Full image reference to run. Leave null to use this module's ECR repository with image_tag."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository (tags are immutable; use the release version or git revision)."
  type        = string
  default     = null

  validation {
    condition     = var.image != null || var.image_tag != null
    error_message = "Set image_tag (an image pushed to this module's ECR repository) or image."
  }
}

variable "key_secret_arns" {
  description = "Per-feed key: feed name => Secrets Manager secret ARN, injected as MCAST_RELAY_KEY_<FEED>. The secret's value is the key (64 hex digits), or two keys separated by a comma during a rotation."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.key_secret_arns) : contains(keys(var.feeds), k)])
    error_message = "Every key of key_secret_arns must be a feed name from var.feeds."
  }
}

variable "default_key_secret_arn" {
  description = "Secrets Manager secret ARN injected as MCAST_RELAY_KEY, used by every feed without its own entry in key_secret_arns. Null for none (a feed with no key at all runs unauthenticated)."
  type        = string
  default     = null
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the key secrets (the execution role gets kms:Decrypt on them). Empty when the secrets use the AWS managed key."
  type        = list(string)
  default     = []
}

variable "instance_type" {
  description = "EC2 instance type of the container instances. Must be a Nitro x86_64 type: non-Nitro instances cannot send multicast through a Transit Gateway. Allowed families: c5 c5a c5ad c5d c5n c6a c6i c6id c6in c7a c7i c7i-flex m5 m5a m5ad m5d m5dn m5n m5zn m6a m6i m6id m6idn m6in m7a m7i m7i-flex r5 r5a r5ad r5b r5d r5dn r5n r6a r6i r6id r6idn r6in r7a r7i r7iz t3 t3a z1d."
  type        = string
  default     = "c6in.large"

  # Nitro rule: the family (text before the dot) must be one of the x86_64 Nitro
  # families below. Xen-based families (t2, m4, c4, r4, i3, x1, d2, ...) are
  # rejected. Graviton families are Nitro too but need an arm64 AMI and image.
  validation {
    condition = can(regex("^[a-z0-9-]+\\.[a-z0-9]+$", var.instance_type)) && contains([
      "c5", "c5a", "c5ad", "c5d", "c5n", "c6a", "c6i", "c6id", "c6in", "c7a", "c7i", "c7i-flex",
      "m5", "m5a", "m5ad", "m5d", "m5dn", "m5n", "m5zn", "m6a", "m6i", "m6id", "m6idn", "m6in", "m7a", "m7i", "m7i-flex",
      "r5", "r5a", "r5ad", "r5b", "r5d", "r5dn", "r5n", "r6a", "r6i", "r6id", "r6idn", "r6in", "r7a", "r7i", "r7iz",
      "t3", "t3a", "z1d",
    ], split(".", var.instance_type)[0])
    error_message = "instance_type must be a Nitro x86_64 type (e.g. c6in.large, m6i.large); non-Nitro instances such as t2.*, m4.*, c4.* cannot send multicast."
  }
}

variable "ami_id" {
  description = "AMI for the container instances. Null uses the current ECS-optimized Amazon Linux 2023 x86_64 AMI from SSM."
  type        = string
  default     = null
}

variable "instance_min_size" {
  description = "Minimum number of container instances."
  type        = number
  default     = 2
}

variable "instance_max_size" {
  description = "Maximum number of container instances (room for a rolling deploy at maximumPercent 200)."
  type        = number
  default     = 4
}

variable "task_count" {
  description = "Number of relay tasks. One carries each feed at a time (the ingress keeps one connection per destination); the others are hot standbys in other zones."
  type        = number
  default     = 2
}

variable "task_cpu" {
  description = "CPU units for the task (1024 = one vCPU)."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Memory for the task, MiB."
  type        = number
  default     = 1024
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group that holds the relay's logs and EMF lines."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "alarm_feeds" {
  description = "Feeds whose silence raises the no-packets alarms. Null means every feed in var.feeds."
  type        = list(string)
  default     = null
}

variable "alarm_evaluation_periods" {
  description = "Consecutive 60-second periods without packets before a no-packets alarm fires."
  type        = number
  default     = 3
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "ecr_keep_images" {
  description = "How many images the ECR lifecycle policy keeps; older ones expire. Untagged images expire after 7 days."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Turn on NLB deletion protection."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
