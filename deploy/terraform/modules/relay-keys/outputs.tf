output "secret_arns" {
  description = "Feed => ARN of its key secret in this region (relay-service key_secret_arns)."
  value       = { for f, s in aws_secretsmanager_secret.key : f => s.arn }
}

output "replica_secret_arns" {
  description = "Region => feed => ARN of the replica there (Tokyo's key_secret_arns)."
  value       = local.replica_arns
}

output "trust_anchor_arn" {
  description = "IAM Roles Anywhere trust anchor of the datacenter CA, or null."
  value       = local.with_roles_anywhere ? aws_rolesanywhere_trust_anchor.datacenter[0].arn : null
}

output "profile_arn" {
  description = "IAM Roles Anywhere profile for the ingress hosts, or null."
  value       = local.with_roles_anywhere ? aws_rolesanywhere_profile.datacenter[0].arn : null
}

output "key_reader_role_arn" {
  description = "Role the ingress hosts assume to read the keys, or null."
  value       = local.with_roles_anywhere ? aws_iam_role.key_reader[0].arn : null
}

output "kms_key_id" {
  description = "KMS key of the secrets in this region (null: aws/secretsmanager)."
  value       = var.kms_key_arn
}
