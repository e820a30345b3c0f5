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
  description = "Port of the relay's HTTP server (/healthz, /readyz, /metrics, /status): the egress's --http, the NLB's HTTP health check and the container health check (health-probe --url) all use it."
  type        = number
  default     = 9180

  validation {
    condition     = var.health_port > 1024 && var.health_port < 65536 && floor(var.health_port) == var.health_port
    error_message = "health_port must be 1025-65535 (the task runs without capabilities)."
  }
}

variable "health_check_interval" {
  description = "Seconds between NLB health checks (HTTP GET /healthz). 5 or 10: the failover arithmetic (docs/DEPLOY.md, Replay window) sizes the ingress window for at most 10."
  type        = number
  default     = 10

  validation {
    condition     = contains([5, 10], var.health_check_interval)
    error_message = "health_check_interval must be 5 or 10 seconds (longer makes a failover outlast the replay window)."
  }
}

variable "health_check_unhealthy_threshold" {
  description = "Failed NLB health checks before a target is unhealthy (2 or 3)."
  type        = number
  default     = 2

  validation {
    condition     = contains([2, 3], var.health_check_unhealthy_threshold)
    error_message = "health_check_unhealthy_threshold must be 2 or 3."
  }
}

variable "health_check_timeout" {
  description = "Seconds the NLB waits for /healthz (2-6, and less than the interval)."
  type        = number
  default     = 6

  validation {
    condition     = var.health_check_timeout >= 2 && var.health_check_timeout <= 6 && var.health_check_timeout < var.health_check_interval
    error_message = "health_check_timeout must be 2-6 seconds and less than health_check_interval."
  }
}

variable "deregistration_delay" {
  description = "Seconds a draining task keeps its ingress connection before the NLB cuts it (rolling deploys). The old task still emits meanwhile, so it costs no window."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay >= 5 && var.deregistration_delay <= 120
    error_message = "deregistration_delay must be 5-120 seconds."
  }
}

variable "feed_peak_rates" {
  description = "Each feed's peak rate into the ingress: datagrams per second and their mean size (UDP payload bytes). Sizes the replay window the ingress needs to ride out a failover (docs/DEPLOY.md, Replay window). Feeds not listed use the prod figure."
  type = map(object({
    datagrams_per_second = number
    mean_datagram_bytes  = number
  }))
  default = {
    prod = { datagrams_per_second = 50000, mean_datagram_bytes = 160 }
    dev  = { datagrams_per_second = 5000, mean_datagram_bytes = 160 }
  }

  validation {
    condition     = alltrue([for r in values(var.feed_peak_rates) : r.datagrams_per_second > 0 && r.mean_datagram_bytes >= 20 && r.mean_datagram_bytes <= 8472])
    error_message = "Peak rates must be positive, with a mean datagram of 20-8472 bytes (8472 + 28 = the Transit Gateway MTU, 8500)."
  }
  validation {
    # Quota: 1 Gbps per multicast flow (source, group). A feed is spread over
    # its groups, but a feed over 1 Gbps in all is already past what one
    # egress task and one Transit Gateway flow can carry.
    condition     = alltrue([for r in values(var.feed_peak_rates) : r.datagrams_per_second * (r.mean_datagram_bytes + 28) * 8 <= 1000000000])
    error_message = "A feed's peak rate exceeds 1 Gbps (IP and UDP headers included): the Transit Gateway carries at most 1 Gbps per flow."
  }
}

variable "ingress_windows" {
  description = "The replay window each feed's datacenter ingress runs with (ingress.toml window_bytes / window_secs). Feeds not listed are taken to run with the relay's default (default_ingress_window). Planning fails if a window cannot cover the worst failover this configuration allows at the feed's peak rate."
  type = map(object({
    bytes = number
    secs  = number
  }))
  default = {}
}

variable "default_ingress_window" {
  description = "The relay's default replay window (mcast-relay ingress --window-bytes / --window-secs defaults)."
  type = object({
    bytes = number
    secs  = number
  })
  default = {
    bytes = 805306368 # 768 MiB
    secs  = 60
  }
}

variable "senders" {
  description = "Datacenter senders expected per feed: ingress hosts (or exchange lines) that each send the whole feed to this region, merged by the egress (merge). Feeds not listed expect 2: one host on each of Deribit's LD4 cross-connects, primary and secondary. 1-8 (an egress feed takes at most 8). The Senders alarm opens a ticket when the task carrying a feed has had fewer for senders_minutes (alarm_policies)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for f, n in var.senders : contains(keys(var.feeds), f) && n >= 1 && n <= 8 && floor(n) == n])
    error_message = "senders: each entry must name a feed of var.feeds and expect a whole number of senders from 1 to 8 (the egress takes at most 8 per feed)."
  }
}

variable "merge" {
  description = "How the egress merges each feed's senders (--merge): deribit (Deribit legacy multicast: channel and sequence number in the frame header), starbase, testhdr (mcast-relay publish), hash (by content, for feeds without numbers) or none (one sender at a time; a newcomer takes over). Feeds not listed: deribit, also with a single sender (docs/DEPLOY.md, Redundant layout, says why). One egress process serves every feed with one --merge, so all feeds must agree; none is refused for a feed that expects two or more senders (they would take the feed from each other, each replaying its window)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for f, m in var.merge : contains(keys(var.feeds), f) && contains(["deribit", "starbase", "testhdr", "hash", "none"], m)])
    error_message = "merge: each entry must name a feed of var.feeds and be one of deribit, starbase, testhdr, hash, none."
  }
  validation {
    condition     = length(distinct([for f in keys(var.feeds) : lookup(var.merge, f, "deribit")])) == 1
    error_message = "merge: every feed of one egress must use the same format: the egress command line takes one --merge for all its feeds (a per-feed --merge FEED=FORMAT does not exist yet)."
  }
  validation {
    condition     = alltrue([for f in keys(var.feeds) : lookup(var.merge, f, "deribit") != "none" || lookup(var.senders, f, 2) < 2])
    error_message = "merge: a feed that expects two or more senders cannot use none: without a merge each sender takes the feed from the other and replays its window (duplicates, every group out of order). Use deribit (or the feed's format), or set senders to 1."
  }
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
  description = "Optional group rewriting for the egress (--map FROM=TO): the datagrams go to TO instead of FROM, e.g. [\"239.111.111.0/24=239.200.0.0/24\"]. Every TO must lie inside allowed_groups (the egress drops the rest); security group rules cover them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.group_map : length(split("=", m)) == 2 && can(cidrhost(strcontains(split(":", split("=", m)[1])[0], "/") ? split(":", split("=", m)[1])[0] : "${split(":", split("=", m)[1])[0]}/32", 0))])
    error_message = "Each group_map entry must be FROM=TO with a group or CIDR (optionally :PORT) on both sides."
  }
}

variable "group_fanout" {
  description = "Extra copies for the egress (--fanout FROM=TO): FROM's datagrams are emitted to FROM and also to TO, e.g. [\"239.111.111.0/24=239.111.112.0/24\"]. The way past the 100-members-per-group quota: customers beyond it join the copy. Every TO must lie inside allowed_groups."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.group_fanout : length(split("=", m)) == 2 && can(cidrhost(strcontains(split(":", split("=", m)[1])[0], "/") ? split(":", split("=", m)[1])[0] : "${split(":", split("=", m)[1])[0]}/32", 0))])
    error_message = "Each group_fanout entry must be FROM=TO with a group or CIDR (optionally :PORT) on both sides."
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
  description = "Tag of the image in this module's ECR repository: VERSION-REV as pushed by docs/DEPLOY.md (e.g. 0.1.0-0123456789ab); tags are immutable."
  type        = string
  default     = null

  validation {
    condition     = var.image != null || var.image_tag != null
    error_message = "Set image_tag (an image pushed to this module's ECR repository) or image."
  }
  validation {
    condition     = var.image_tag == null || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.]+)?-[0-9a-f]{12}$", var.image_tag))
    error_message = "image_tag must be what docs/DEPLOY.md pushes: <Cargo version>-<12-digit git revision>, e.g. 0.1.0-0123456789ab."
  }
}

variable "key_secret_arns" {
  description = "Every feed's key: feed name => Secrets Manager secret ARN (module relay-keys), injected as MCAST_RELAY_KEY_<FEED>. The secret's value is the feed's key file text: the current key, and during a rotation the next one, one ID:SECRET per line. Required for every feed: the relay refuses to run a feed without a key."
  type        = map(string)

  validation {
    condition     = toset(keys(var.key_secret_arns)) == toset(keys(var.feeds))
    error_message = "key_secret_arns must name exactly the feeds of var.feeds: every feed needs its own key, and a key for no feed is a mistake."
  }
  validation {
    condition     = alltrue([for a in values(var.key_secret_arns) : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", a))])
    error_message = "key_secret_arns values must be Secrets Manager secret ARNs."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the key secrets in this region (the execution role gets kms:Decrypt on them, through Secrets Manager only). Empty when the secrets use the AWS managed key."
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
  description = "AMI of the container instances, pinned: an ECS-optimized Amazon Linux 2023 x86_64 image id (find the current one with: aws ssm get-parameter --name /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id --query Parameter.Value --output text). Changing it rolls the instances (instance refresh, new ones first)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8}([0-9a-f]{9})?$", var.ami_id))
    error_message = "ami_id must be an AMI id such as ami-0123456789abcdef0."
  }
}

variable "instance_min_size" {
  description = "Minimum number of container instances."
  type        = number
  default     = 2
}

variable "instance_max_size" {
  description = "Maximum number of container instances: room for a rolling deploy at maximumPercent 200 and an instance refresh that launches before it terminates."
  type        = number
  default     = 4

  validation {
    condition     = var.instance_max_size >= var.instance_min_size && var.instance_max_size >= 2
    error_message = "instance_max_size must be at least instance_min_size and at least 2."
  }
}

variable "task_count" {
  description = "Number of relay tasks. The NLB gives each ingress connection to one of them, chosen per connection: the task that holds a feed's senders emits it (the Transit Gateway quota of one source per group wants one such task), the others are hot standbys in other zones. Two datacenter senders can land on two different tasks: docs/DEPLOY.md, Redundant layout, says what that costs and how the Senders alarm shows it. Each task takes one ENI."
  type        = number
  default     = 2

  validation {
    condition     = var.task_count >= 2 && var.task_count <= 10
    error_message = "task_count must be 2-10: at least one standby in another zone."
  }
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

variable "tcp_rmem_max" {
  description = "The task's net.ipv4.tcp_rmem maximum, bytes: at least twice the link's peak bandwidth-delay product (`mcast-relay doctor --role egress --rtt ... --peak-rate ...` computes it). 32 MiB carries London to Tokyo (230 ms) at 20k/s of 1,400 B."
  type        = number
  default     = 33554432

  validation {
    condition     = var.tcp_rmem_max >= 131072 && var.tcp_rmem_max <= 1073741824 && floor(var.tcp_rmem_max) == var.tcp_rmem_max
    error_message = "tcp_rmem_max must be a whole number of bytes from 131072 (the default buffer) to 1 GiB."
  }
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

  validation {
    condition     = var.alarm_feeds == null || alltrue([for f in coalesce(var.alarm_feeds, []) : contains(keys(var.feeds), f)])
    error_message = "alarm_feeds must name feeds of var.feeds."
  }
}

variable "alarm_policies" {
  description = <<-EOT
    How each feed's alarms behave. notify: "page" (topic <name>-alarms, for on-call) or "ticket" (topic <name>-alarms-ticket, read in working hours).
    silence_minutes: minutes without packets before no-PacketsIn/no-PacketsOut fire.
    gaps_per_minute / drops_per_minute: Gaps (sequence numbers the egress saw missing) and Drops (datagrams the egress could not emit) above which the alarm fires, for gap_minutes consecutive minutes.
    senders_minutes: minutes the task carrying the feed may have fewer datacenter senders than expected (senders) before the Senders alarm opens a ticket; it never pages, whatever notify says.
    Feeds not listed use the prod policy.
  EOT
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

  validation {
    condition     = contains(keys(var.alarm_policies), "prod") && alltrue([for p in values(var.alarm_policies) : contains(["page", "ticket"], p.notify) && p.silence_minutes >= 1 && p.gap_minutes >= 1 && p.senders_minutes >= 1 && p.gaps_per_minute >= 0 && p.drops_per_minute >= 0])
    error_message = "alarm_policies needs a prod entry (the default policy); notify is page or ticket; minutes at least 1; thresholds 0 or more."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the paging topic (each must confirm the subscription)."
  type        = list(string)
  default     = []
}

variable "ticket_emails" {
  description = "E-mail addresses subscribed to the non-paging topic (alarms of feeds whose policy is ticket)."
  type        = list(string)
  default     = []
}

variable "watch_multicast_attachment" {
  description = "Alarm and graph the multicast Transit Gateway's own counters for multicast_attachment_id (a separate flag because that id is only known after the first apply)."
  type        = bool
  default     = false
}

variable "multicast_attachment_id" {
  description = "The relay VPC's attachment to the multicast Transit Gateway (multicast-domain relay_vpc_attachment_id), watched when watch_multicast_attachment is true."
  type        = string
  default     = null

  validation {
    condition     = !var.watch_multicast_attachment || var.multicast_attachment_id != null
    error_message = "watch_multicast_attachment needs multicast_attachment_id."
  }
}

variable "ecr_pull_account_ids" {
  description = "Accounts (customers) allowed to pull the image from this region's ECR repository, to take the mcast-relay binary for their receivers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ecr_pull_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "ecr_pull_account_ids must be 12-digit account ids."
  }
}

variable "ecr_keep_images" {
  description = "How many images the ECR lifecycle policy keeps; older ones expire. Untagged images expire after 7 days."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "NLB deletion protection (on unless you mean to destroy the region)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
