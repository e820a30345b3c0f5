variable "name" {
  description = "Name prefix: the secrets are <name>/<feed>."
  type        = string
  default     = "mcast-relay"
}

variable "feeds" {
  description = "Feed names (relay-service's var.feeds keys); one key secret each."
  type        = list(string)

  validation {
    condition     = length(var.feeds) > 0 && alltrue([for f in var.feeds : can(regex("^[a-z][a-z0-9_]*$", f))])
    error_message = "Feed names must match ^[a-z][a-z0-9_]*$."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the secrets in this region; null uses aws/secretsmanager."
  type        = string
  default     = null
}

variable "replica_regions" {
  description = "Regions to replicate every key to => the KMS key ARN there (null for aws/secretsmanager). London replicates to Tokyo."
  type        = map(string)
  default     = {}
}

variable "recovery_window_in_days" {
  description = "Days a deleted key secret can still be restored (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30
    error_message = "recovery_window_in_days must be 7-30 (0 would delete a key at once)."
  }
}

variable "datacenter_ca_pem" {
  description = "PEM of the CA that issues the datacenter ingress hosts' certificates: the IAM Roles Anywhere trust anchor. Null creates no Roles Anywhere resources (keys then reach the host some other way)."
  type        = string
  default     = null

  validation {
    condition     = var.datacenter_ca_pem == null || can(regex("-----BEGIN CERTIFICATE-----", var.datacenter_ca_pem))
    error_message = "datacenter_ca_pem must be a PEM certificate."
  }
}

variable "datacenter_host_cns" {
  description = "Subject CNs of the ingress hosts' certificates allowed to read the keys."
  type        = list(string)
  default     = []

  validation {
    condition     = var.datacenter_ca_pem == null || length(var.datacenter_host_cns) > 0
    error_message = "With a trust anchor, name the hosts' certificate CNs (datacenter_host_cns): an empty list would let any certificate of the CA read the keys."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
