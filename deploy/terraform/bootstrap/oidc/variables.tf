variable "region" {
  description = "Region for the IAM API calls (IAM is global)."
  type        = string
  default     = "eu-west-2"
}

variable "name" {
  description = "Name prefix of the roles (and the ECR repositories' name: relay-service names them var.name)."
  type        = string
  default     = "mcast-relay"
}

# --- Terraform Cloud (HCP Terraform) dynamic provider credentials -----------

variable "tfc_hostname" {
  description = "Terraform Cloud host (Terraform Enterprise: your own), the OIDC issuer of its workload identity tokens."
  type        = string
  default     = "app.terraform.io"
}

variable "tfc_audience" {
  description = "Audience of the workload identity tokens (TFC_AWS_WORKLOAD_IDENTITY_AUDIENCE; Terraform Cloud's default)."
  type        = string
  default     = "aws.workload.identity"
}

variable "tfc_organization" {
  description = "Terraform Cloud organization whose workspaces may assume the roles. Null: no Terraform Cloud trust (S3 route only)."
  type        = string
  default     = null

  validation {
    condition     = var.tfc_organization == null || can(regex("^[A-Za-z0-9_-]+$", var.tfc_organization))
    error_message = "tfc_organization: letters, digits, - and _ only."
  }
}

variable "tfc_project" {
  description = "Terraform Cloud project holding the workspaces (part of the token's subject)."
  type        = string
  default     = "mcast-relay"
}

variable "tfc_workspaces" {
  description = "Workspace names in this account (the operator's: mcast-relay-london and mcast-relay-tokyo; a customer's account: its own, e.g. mcast-relay-customer). Each gets a plan role and an apply role."
  type        = list(string)
  default     = ["mcast-relay-london", "mcast-relay-tokyo"]
}

variable "create_tfc_oidc_provider" {
  description = "Create the IAM OIDC provider for tfc_hostname; false when the account already has one (it is then looked up)."
  type        = bool
  default     = true
}

variable "plan_policy_arns" {
  description = "Managed policies of the plan roles (speculative plans on pull requests, and every run's plan phase): read only."
  type        = list(string)
  default     = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
}

variable "apply_policy_arns" {
  description = "Managed policies of the apply roles (a confirmed apply on the main branch). The relay stack creates IAM roles, so it needs IAM write; scope this down to your organization's deployment policy where you have one."
  type        = list(string)
}

# --- GitHub Actions ------------------------------------------------------------

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may assume the release and drift roles. Null: no GitHub trust."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name."
  }
}

variable "github_default_branch" {
  description = "Branch the scheduled drift plan runs on (a schedule always runs on the default branch)."
  type        = string
  default     = "main"
}

variable "create_github_oidc_provider" {
  description = "Create the IAM OIDC provider token.actions.githubusercontent.com; false when the account already has one (it is then looked up)."
  type        = bool
  default     = true
}

variable "ecr_regions" {
  description = "Regions of the ECR repositories the release pushes to (London and Tokyo)."
  type        = list(string)
  default     = ["eu-west-2", "ap-northeast-1"]
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state (the S3 route): the drift role may read the regions' state objects under state_key_prefix. Null: no state access (the Terraform Cloud route)."
  type        = string
  default     = null
}

variable "state_key_prefix" {
  description = "Key prefix of the regions' state objects in state_bucket (backend.hcl.example: mcast-relay/london.tfstate, mcast-relay/tokyo.tfstate)."
  type        = string
  default     = "mcast-relay/"
}
