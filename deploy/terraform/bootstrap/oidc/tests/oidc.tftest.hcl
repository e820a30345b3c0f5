# The trust policies, planned against a mocked provider: each Terraform Cloud
# role accepts exactly one organization/project/workspace/phase, the GitHub
# roles exactly the repository's v* tags (release) or its default branch
# (drift), and the permissions stay on their side of plan and apply.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111111111111:oidc-provider/mock" }
  }
  # The documents' inputs are what the runs check; the JSON only has to be JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_iam_openid_connect_provider" {
    defaults = { arn = "arn:aws:iam::111111111111:oidc-provider/existing" }
  }
}

variables {
  tfc_organization  = "example-org"
  apply_policy_arns = ["arn:aws:iam::aws:policy/AdministratorAccess"]
  github_repository = "example-org/mcast-relay"
  state_bucket      = "example-terraform-state"
}

run "tfc_and_github_trust" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.tfc)) == toset(["mcast-relay-london/plan", "mcast-relay-london/apply", "mcast-relay-tokyo/plan", "mcast-relay-tokyo/apply"])
    error_message = "One plan role and one apply role per workspace."
  }
  assert {
    condition     = aws_iam_openid_connect_provider.tfc[0].url == "https://app.terraform.io" && aws_iam_openid_connect_provider.tfc[0].client_id_list == toset(["aws.workload.identity"])
    error_message = "Terraform Cloud's provider: its host, audience aws.workload.identity."
  }
  assert {
    condition = alltrue([for k, r in local.tfc_roles : anytrue([
      for c in data.aws_iam_policy_document.tfc_trust[k].statement[0].condition :
      c.test == "StringEquals" && c.variable == "app.terraform.io:sub" && c.values == tolist(["organization:example-org:project:mcast-relay:workspace:${r.workspace}:run_phase:${r.phase}"])
    ])])
    error_message = "Each Terraform Cloud role must trust exactly its workspace and run phase (StringEquals, no wildcard)."
  }
  assert {
    condition = alltrue([for k, r in local.tfc_roles : anytrue([
      for c in data.aws_iam_policy_document.tfc_trust[k].statement[0].condition :
      c.test == "StringEquals" && c.variable == "app.terraform.io:aud" && c.values == tolist(["aws.workload.identity"])
    ])])
    error_message = "Each Terraform Cloud role must check the token's audience."
  }
  assert {
    condition     = toset([for k, a in aws_iam_role_policy_attachment.tfc : "${a.role}=${a.policy_arn}"]) == toset(["mcast-relay-tfc-mcast-relay-london-plan=arn:aws:iam::aws:policy/ReadOnlyAccess", "mcast-relay-tfc-mcast-relay-tokyo-plan=arn:aws:iam::aws:policy/ReadOnlyAccess", "mcast-relay-tfc-mcast-relay-london-apply=arn:aws:iam::aws:policy/AdministratorAccess", "mcast-relay-tfc-mcast-relay-tokyo-apply=arn:aws:iam::aws:policy/AdministratorAccess"])
    error_message = "Plan roles read only; only apply roles get apply_policy_arns."
  }
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.github_trust["release"].statement[0].condition :
      c.test == "StringLike" && c.variable == "token.actions.githubusercontent.com:sub" && c.values == tolist(["repo:example-org/mcast-relay:ref:refs/tags/v*"])
    ])
    error_message = "The release role trusts the repository's v* tags only."
  }
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.github_trust["drift"].statement[0].condition :
      c.test == "StringEquals" && c.variable == "token.actions.githubusercontent.com:sub" && c.values == tolist(["repo:example-org/mcast-relay:ref:refs/heads/main"])
    ])
    error_message = "The drift role trusts the default branch only."
  }
  assert {
    condition     = alltrue([for k in ["release", "drift"] : anytrue([for c in data.aws_iam_policy_document.github_trust[k].statement[0].condition : c.variable == "token.actions.githubusercontent.com:aud" && c.values == tolist(["sts.amazonaws.com"])])])
    error_message = "Both GitHub roles check the audience sts.amazonaws.com."
  }
  assert {
    condition     = local.ecr_repository_arns == ["arn:aws:ecr:eu-west-2:111111111111:repository/mcast-relay", "arn:aws:ecr:ap-northeast-1:111111111111:repository/mcast-relay"]
    error_message = "The release pushes to the relay's two ECR repositories only."
  }
  assert {
    condition     = [for s in data.aws_iam_policy_document.ecr_push.statement : s.resources if s.sid == "Push"][0] == toset(local.ecr_repository_arns)
    error_message = "Push actions are scoped to those repositories."
  }
  assert {
    condition     = length(aws_iam_role_policy.github_drift_state) == 1 && [for s in data.aws_iam_policy_document.state_read[0].statement : s.resources][1] == toset(["arn:aws:s3:::example-terraform-state/mcast-relay/*"])
    error_message = "The drift role reads the regions' state objects only."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.state_read[0].statement : alltrue([for a in s.actions : contains(["s3:ListBucket", "s3:GetObject"], a)])])
    error_message = "The drift role never writes the state (nor its lock file)."
  }
}

run "s3_route_only_has_no_terraform_cloud_trust" {
  command = plan

  variables {
    tfc_organization = null
  }

  assert {
    condition     = length(aws_iam_role.tfc) == 0 && length(aws_iam_openid_connect_provider.tfc) == 0 && output.tfc_role_arns == {}
    error_message = "Without tfc_organization no Terraform Cloud provider or role."
  }
  assert {
    condition     = length(aws_iam_role.github_release) == 1 && length(aws_iam_role.github_drift) == 1
    error_message = "The GitHub roles do not depend on Terraform Cloud."
  }
}

run "existing_providers_are_looked_up" {
  command = plan

  variables {
    create_tfc_oidc_provider    = false
    create_github_oidc_provider = false
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.tfc) == 0 && length(aws_iam_openid_connect_provider.github) == 0
    error_message = "An account's existing providers must not be created again."
  }
  assert {
    condition     = local.tfc_provider_arn == "arn:aws:iam::111111111111:oidc-provider/existing" && local.github_provider_arn == "arn:aws:iam::111111111111:oidc-provider/existing"
    error_message = "The roles must trust the existing providers."
  }
}

run "a_customer_account_trusts_only_its_workspace" {
  command = plan

  variables {
    tfc_workspaces    = ["mcast-relay-customer"]
    github_repository = null
    state_bucket      = null
  }

  assert {
    condition     = toset(keys(aws_iam_role.tfc)) == toset(["mcast-relay-customer/plan", "mcast-relay-customer/apply"]) && length(aws_iam_role.github_release) == 0 && length(aws_iam_openid_connect_provider.github) == 0
    error_message = "A customer's account: its own workspace's roles, no GitHub trust."
  }
}

run "rejects_a_repository_that_is_not_owner_slash_name" {
  command = plan

  variables {
    github_repository = "mcast-relay"
  }

  expect_failures = [var.github_repository]
}
