# Plan-only tests with a mocked AWS provider: no credentials, no network.
# Each secret gets its own ARN, so a policy that named the wrong one fails.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_rolesanywhere_trust_anchor" {
    defaults = { arn = "arn:aws:rolesanywhere:eu-west-2:111111111111:trust-anchor/0a1b2c3d-0000-4000-8000-00000000anch" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mcast-relay-key-reader", id = "mcast-relay-key-reader" }
  }
}

override_resource {
  target          = aws_secretsmanager_secret.key["prod"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01" }
}

override_resource {
  target          = aws_secretsmanager_secret.key["dev"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002" }
}

variables {
  feeds           = ["dev", "prod"]
  replica_regions = { "ap-northeast-1" = "arn:aws:kms:ap-northeast-1:111111111111:key/0000tokyo" }
}

run "one_secret_per_feed_replicated_no_value" {
  command = plan

  assert {
    condition     = toset(keys(aws_secretsmanager_secret.key)) == toset(["dev", "prod"]) && aws_secretsmanager_secret.key["prod"].name == "mcast-relay/prod"
    error_message = "One secret per feed, named <name>/<feed>."
  }
  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.key : length(s.replica) == 1 && one(s.replica).region == "ap-northeast-1" && one(s.replica).kms_key_id == "arn:aws:kms:ap-northeast-1:111111111111:key/0000tokyo"])
    error_message = "Every key secret must be replicated to Tokyo under Tokyo's KMS key."
  }
  assert {
    condition     = output.secret_arns == { dev = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002", prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01" }
    error_message = "secret_arns must map each feed to its own secret."
  }
  assert {
    condition     = output.replica_secret_arns["ap-northeast-1"]["prod"] == "arn:aws:secretsmanager:ap-northeast-1:111111111111:secret:mcast-relay/prod-PrOd01"
    error_message = "The replica's ARN is the primary's in the replica region: ${jsonencode(output.replica_secret_arns)}"
  }
  assert {
    condition     = length(aws_iam_role.key_reader) == 0 && output.trust_anchor_arn == null
    error_message = "No Roles Anywhere without a datacenter CA."
  }
}

run "datacenter_host_reads_exactly_the_feed_keys" {
  command = plan

  variables {
    datacenter_ca_pem   = "-----BEGIN CERTIFICATE-----\nMIIBdatacenterCA\n-----END CERTIFICATE-----\n"
    datacenter_host_cns = ["ingress-ld4-a.example.internal"]
    kms_key_arn         = "arn:aws:kms:eu-west-2:111111111111:key/0000london"
  }

  assert {
    condition     = one(one(aws_rolesanywhere_trust_anchor.datacenter[0].source).source_data).x509_certificate_data == var.datacenter_ca_pem
    error_message = "The trust anchor must be the datacenter CA."
  }
  assert {
    condition     = jsondecode(aws_iam_role.key_reader[0].assume_role_policy).Statement[0].Condition.ArnEquals["aws:SourceArn"] == "arn:aws:rolesanywhere:eu-west-2:111111111111:trust-anchor/0a1b2c3d-0000-4000-8000-00000000anch"
    error_message = "Only sessions through the datacenter trust anchor may assume the role."
  }
  assert {
    condition     = jsondecode(aws_iam_role.key_reader[0].assume_role_policy).Statement[0].Condition.StringEquals["aws:PrincipalTag/x509Subject/CN"] == ["ingress-ld4-a.example.internal"]
    error_message = "Only the named ingress hosts' certificates may assume the role."
  }
  assert {
    condition     = toset(jsondecode(aws_iam_role_policy.key_reader[0].policy).Statement[0].Resource) == toset(["arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-DeV002", "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-PrOd01"]) && jsondecode(aws_iam_role_policy.key_reader[0].policy).Statement[0].Action == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    error_message = "The host may read the feed keys and nothing else."
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.key_reader[0].policy).Statement[1].Resource == ["arn:aws:kms:eu-west-2:111111111111:key/0000london"]
    error_message = "With a customer-managed key, the host may decrypt with it (through Secrets Manager)."
  }
  assert {
    condition     = aws_rolesanywhere_profile.datacenter[0].role_arns == toset(["arn:aws:iam::111111111111:role/mcast-relay-key-reader"])
    error_message = "The profile must hand out the key reader role."
  }
}

run "a_trust_anchor_needs_named_hosts" {
  command = plan

  variables {
    datacenter_ca_pem = "-----BEGIN CERTIFICATE-----\nMIIBdatacenterCA\n-----END CERTIFICATE-----\n"
  }

  expect_failures = [var.datacenter_host_cns]
}

run "rejects_immediate_deletion" {
  command = plan

  variables {
    recovery_window_in_days = 0
  }

  expect_failures = [var.recovery_window_in_days]
}
