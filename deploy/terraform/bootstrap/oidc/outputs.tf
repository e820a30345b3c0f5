output "tfc_role_arns" {
  description = "Workspace => { plan, apply } role ARNs: the workspace's TFC_AWS_PLAN_ROLE_ARN and TFC_AWS_APPLY_ROLE_ARN (docs/DEPLOY.md, Terraform Cloud)."
  value = {
    for ws in var.tfc_workspaces : ws => {
      plan  = aws_iam_role.tfc["${ws}/plan"].arn
      apply = aws_iam_role.tfc["${ws}/apply"].arn
    } if local.tfc_enabled
  }
}

output "tfc_subjects" {
  description = "Role => the one token subject its trust policy accepts."
  value       = { for k, r in local.tfc_roles : k => r.subject }
}

output "github_release_role_arn" {
  description = "The release workflow's AWS_RELEASE_ROLE_ARN (repository variable)."
  value       = one(aws_iam_role.github_release[*].arn)
}

output "github_drift_role_arn" {
  description = "The drift workflow's AWS_DRIFT_ROLE_ARN (repository variable)."
  value       = one(aws_iam_role.github_drift[*].arn)
}

output "github_subjects" {
  description = "What the GitHub roles trust: the release role tags v*, the drift role the default branch."
  value       = local.github_enabled ? { release = local.github_release_subject, drift = local.github_drift_subject } : {}
}
