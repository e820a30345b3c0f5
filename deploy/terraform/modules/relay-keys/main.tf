data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  tags = merge({ "app" = "mcast-relay" }, var.tags)

  # A replica keeps the primary's name and random suffix, in its own region.
  replica_arns = {
    for region, _ in var.replica_regions : region => {
      for feed, s in aws_secretsmanager_secret.key :
      feed => replace(s.arn, ":secretsmanager:${data.aws_region.current.name}:", ":secretsmanager:${region}:")
    }
  }

  with_roles_anywhere = var.datacenter_ca_pem != null
}

# One secret per feed. Terraform creates the container and its replicas, never
# the value: the key is set out of band (docs/DEPLOY.md, Keys), so it is not in
# the Terraform state. SecretString = the text of the feed's key file: the
# current key, optionally the next one, one ID:SECRET per line ('#' comments).
resource "aws_secretsmanager_secret" "key" {
  for_each                = toset(var.feeds)
  name                    = "${var.name}/${each.value}"
  description             = "mcast-relay feed ${each.value}: key file text (current key, then optionally the next). Set with: aws secretsmanager put-secret-value --secret-id ... --secret-string \"$(mcast-relay keygen)\""
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  dynamic "replica" {
    for_each = var.replica_regions
    content {
      region     = replica.key
      kms_key_id = replica.value
    }
  }

  tags = merge(local.tags, { Feed = each.value })
}

# --- The datacenter host: IAM Roles Anywhere, no long-lived AWS keys ----------
#
# The ingress host proves itself with an X.509 certificate from the
# datacenter's CA (the trust anchor) and gets a role that may read exactly the
# feed keys, nothing else. deploy/systemd/mcast-relay-key-sync fetches them.

resource "aws_rolesanywhere_trust_anchor" "datacenter" {
  count   = local.with_roles_anywhere ? 1 : 0
  name    = "${var.name}-datacenter"
  enabled = true

  source {
    source_type = "CERTIFICATE_BUNDLE"
    source_data {
      x509_certificate_data = var.datacenter_ca_pem
    }
  }

  tags = local.tags
}

resource "aws_iam_role" "key_reader" {
  count = local.with_roles_anywhere ? 1 : 0
  name  = "${var.name}-key-reader"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rolesanywhere.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
      Condition = {
        ArnEquals = { "aws:SourceArn" = aws_rolesanywhere_trust_anchor.datacenter[0].arn }
        # Only the ingress hosts' certificates, by subject CN.
        StringEquals = { "aws:PrincipalTag/x509Subject/CN" = var.datacenter_host_cns }
      }
    }]
  })
  max_session_duration = 3600
  tags                 = local.tags
}

resource "aws_iam_role_policy" "key_reader" {
  count = local.with_roles_anywhere ? 1 : 0
  name  = "read-feed-keys"
  role  = aws_iam_role.key_reader[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = [for s in aws_secretsmanager_secret.key : s.arn]
      }],
      var.kms_key_arn == null ? [] : [{
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [var.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${data.aws_region.current.name}.amazonaws.com" } }
      }],
    )
  })
}

resource "aws_rolesanywhere_profile" "datacenter" {
  count            = local.with_roles_anywhere ? 1 : 0
  name             = "${var.name}-datacenter"
  enabled          = true
  role_arns        = [aws_iam_role.key_reader[0].arn]
  duration_seconds = 3600
  tags             = local.tags
}
