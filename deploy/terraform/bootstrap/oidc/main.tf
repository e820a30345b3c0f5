# The AWS side of keyless CI: OIDC identity providers for Terraform Cloud and
# GitHub Actions, and roles whose trust policies name exactly who may assume
# them. Nothing here stores a key.
#
#   Terraform Cloud, per workspace: a plan role (run_phase plan: every plan,
#   including the speculative plans of pull requests) and an apply role
#   (run_phase apply only: a confirmed apply). A pull request's plan can
#   therefore never write.
#   GitHub Actions: a release role (tags v* only) that may push to the relay's
#   ECR repositories, and a drift role (the default branch only) that may read.
#
# The Terraform Cloud side (organization, workspaces, variable sets, run
# triggers) is set up as docs/DEPLOY.md describes: the hashicorp/tfe provider
# is not in the provider mirror the checks run with, so it is not written as
# Terraform here.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  tfc_enabled    = var.tfc_organization != null
  github_enabled = var.github_repository != null

  tfc_provider_arn = !local.tfc_enabled ? null : (
    var.create_tfc_oidc_provider ? aws_iam_openid_connect_provider.tfc[0].arn : data.aws_iam_openid_connect_provider.tfc[0].arn
  )
  github_provider_arn = !local.github_enabled ? null : (
    var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  )

  # workspace/phase => the token subject Terraform Cloud signs for it.
  tfc_roles = !local.tfc_enabled ? {} : merge([
    for ws in var.tfc_workspaces : {
      for phase in ["plan", "apply"] : "${ws}/${phase}" => {
        workspace = ws
        phase     = phase
        subject   = "organization:${var.tfc_organization}:project:${var.tfc_project}:workspace:${ws}:run_phase:${phase}"
        policies  = phase == "plan" ? var.plan_policy_arns : var.apply_policy_arns
      }
    }
  ]...)
  tfc_role_policies = merge([
    for k, r in local.tfc_roles : { for p in r.policies : "${k}|${p}" => { role = k, policy = p } }
  ]...)

  github_release_subject = "repo:${coalesce(var.github_repository, "-")}:ref:refs/tags/v*"
  github_drift_subject   = "repo:${coalesce(var.github_repository, "-")}:ref:refs/heads/${var.github_default_branch}"

  ecr_repository_arns = [
    for r in var.ecr_regions : "arn:${data.aws_partition.current.partition}:ecr:${r}:${data.aws_caller_identity.current.account_id}:repository/${var.name}"
  ]
}

# --- Terraform Cloud ----------------------------------------------------------

resource "aws_iam_openid_connect_provider" "tfc" {
  count          = local.tfc_enabled && var.create_tfc_oidc_provider ? 1 : 0
  url            = "https://${var.tfc_hostname}"
  client_id_list = [var.tfc_audience]
}

data "aws_iam_openid_connect_provider" "tfc" {
  count = local.tfc_enabled && !var.create_tfc_oidc_provider ? 1 : 0
  url   = "https://${var.tfc_hostname}"
}

data "aws_iam_policy_document" "tfc_trust" {
  for_each = local.tfc_roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.tfc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.tfc_hostname}:aud"
      values   = [var.tfc_audience]
    }
    # StringEquals, not StringLike: exactly this organization, project,
    # workspace and phase.
    condition {
      test     = "StringEquals"
      variable = "${var.tfc_hostname}:sub"
      values   = [each.value.subject]
    }
  }
}

resource "aws_iam_role" "tfc" {
  for_each             = local.tfc_roles
  name                 = "${var.name}-tfc-${each.value.workspace}-${each.value.phase}"
  description          = "Terraform Cloud ${var.tfc_organization}/${each.value.workspace}, ${each.value.phase} phase"
  assume_role_policy   = data.aws_iam_policy_document.tfc_trust[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "tfc" {
  for_each   = local.tfc_role_policies
  role       = aws_iam_role.tfc[each.value.role].name
  policy_arn = each.value.policy
}

# --- GitHub Actions -------------------------------------------------------------

resource "aws_iam_openid_connect_provider" "github" {
  count          = local.github_enabled && var.create_github_oidc_provider ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && !var.create_github_oidc_provider ? 1 : 0
  url   = "https://token.actions.githubusercontent.com"
}

data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_enabled ? {
    release = { test = "StringLike", subject = local.github_release_subject }
    drift   = { test = "StringEquals", subject = local.github_drift_subject }
  } : {}

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = each.value.test
      variable = "token.actions.githubusercontent.com:sub"
      values   = [each.value.subject]
    }
  }
}

# The release workflow: push the image to the relay's ECR repositories, and
# nothing else (tags are immutable there, so it cannot overwrite one).
resource "aws_iam_role" "github_release" {
  count                = local.github_enabled ? 1 : 0
  name                 = "${var.name}-github-release"
  description          = "GitHub Actions ${var.github_repository}, tags v*: push the image to ECR"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["release"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid       = "Login"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "Push"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = local.ecr_repository_arns
  }
}

resource "aws_iam_role_policy" "github_release" {
  count  = local.github_enabled ? 1 : 0
  name   = "ecr-push"
  role   = aws_iam_role.github_release[0].id
  policy = data.aws_iam_policy_document.ecr_push.json
}

# The scheduled drift plan (S3 route): read the account, and the regions'
# state objects. -lock=false, so it never writes the lock file.
resource "aws_iam_role" "github_drift" {
  count                = local.github_enabled ? 1 : 0
  name                 = "${var.name}-github-drift"
  description          = "GitHub Actions ${var.github_repository}, ${var.github_default_branch}: read-only drift plan"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["drift"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "github_drift" {
  for_each   = local.github_enabled ? toset(var.plan_policy_arns) : toset([])
  role       = aws_iam_role.github_drift[0].name
  policy_arn = each.value
}

data "aws_iam_policy_document" "state_read" {
  count = var.state_bucket == null ? 0 : 1
  # Not limited by prefix: the S3 backend's init lists the workspaces under
  # env:/ as well as reading the state object.
  statement {
    actions   = ["s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}"]
  }
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}/${var.state_key_prefix}*"]
  }
}

resource "aws_iam_role_policy" "github_drift_state" {
  count  = local.github_enabled && var.state_bucket != null ? 1 : 0
  name   = "terraform-state-read"
  role   = aws_iam_role.github_drift[0].id
  policy = data.aws_iam_policy_document.state_read[0].json
}
