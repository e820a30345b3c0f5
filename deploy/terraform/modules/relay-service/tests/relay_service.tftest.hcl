# Plan-only tests with a mocked AWS provider: no credentials, no network.
# override_during = plan makes mocked computed values (ARNs, URLs) known at
# plan. Security groups, topics and target groups each get their own id, so a
# rule that references the wrong one fails.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-2:111111111111:repository/mcast-relay"
      repository_url = "111111111111.dkr.ecr.eu-west-2.amazonaws.com/mcast-relay"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-2:111111111111:loadbalancer/net/mcast-relay/0123456789abcdef"
      arn_suffix = "net/mcast-relay/0123456789abcdef"
    }
  }
}

override_resource {
  target          = aws_security_group.nlb
  override_during = plan
  values          = { id = "sg-0nlb0000000000000" }
}

override_resource {
  target          = aws_security_group.task
  override_during = plan
  values          = { id = "sg-0task000000000000" }
}

override_resource {
  target          = aws_security_group.instance
  override_during = plan
  values          = { id = "sg-0instance00000000" }
}

override_resource {
  target          = aws_sns_topic.alarms
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms" }
}

override_resource {
  target          = aws_sns_topic.tickets
  override_during = plan
  values          = { arn = "arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms-ticket" }
}

override_resource {
  target          = aws_lb_target_group.feed["prod"]
  override_during = plan
  values = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-prod/00000000000000a1"
    arn_suffix = "targetgroup/tf-prod/00000000000000a1"
  }
}

override_resource {
  target          = aws_lb_target_group.feed["dev"]
  override_during = plan
  values = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-dev/00000000000000d2"
    arn_suffix = "targetgroup/tf-dev/00000000000000d2"
  }
}

variables {
  vpc_id           = "vpc-0123456789abcdef0"
  vpc_cidr         = "10.20.0.0/16"
  subnet_ids       = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  datacenter_cidrs = ["192.0.2.0/28", "198.51.100.0/28"]
  image_tag        = "0.1.0-0123456789ab"
  ami_id           = "ami-0123456789abcdef0"
  key_secret_arns = {
    prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-AbCdEf"
    dev  = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-GhIjKl"
  }
}

run "nlb_listeners_and_http_health_checks" {
  command = plan

  assert {
    condition     = aws_lb.relay.load_balancer_type == "network" && aws_lb.relay.internal == true && aws_lb.relay.enable_cross_zone_load_balancing == true
    error_message = "The load balancer must be an internal, cross-zone NLB."
  }
  assert {
    condition     = aws_lb.relay.security_groups == toset(["sg-0nlb0000000000000"])
    error_message = "The NLB must use its own security group."
  }
  assert {
    condition     = aws_lb_listener.feed["dev"].port == 6666 && aws_lb_listener.feed["prod"].port == 6667 && length(aws_lb_listener.feed) == 2 && alltrue([for l in aws_lb_listener.feed : l.protocol == "TCP"])
    error_message = "Exactly two TCP listeners: 6666 (dev) and 6667 (prod)."
  }
  assert {
    condition     = one(aws_lb_listener.feed["prod"].default_action).target_group_arn == "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-prod/00000000000000a1" && one(aws_lb_listener.feed["dev"].default_action).target_group_arn == "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-dev/00000000000000d2"
    error_message = "Each listener must forward to its own feed's target group."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.target_type == "ip" && tg.protocol == "TCP" && tg.health_check[0].protocol == "HTTP" && tg.health_check[0].path == "/healthz" && tg.health_check[0].port == "9180" && tg.health_check[0].matcher == "200"])
    error_message = "Target groups: ip targets, HTTP GET /healthz on 9180, never a TCP health check."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.health_check[0].interval == 10 && tg.health_check[0].unhealthy_threshold == 2 && tg.health_check[0].timeout == 6])
    error_message = "Default health checks: every 10 s, unhealthy after 2, 6 s timeout (failover.tf's arithmetic)."
  }
}

run "draining_and_deregistration" {
  command = plan

  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.deregistration_delay == "30" && tg.connection_termination == true])
    error_message = "A draining task keeps its connection 30 s, then the NLB closes it so the ingress reconnects."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : one(tg.target_health_state).enable_unhealthy_connection_termination == true])
    error_message = "An unhealthy target's connection must be closed at once."
  }
  assert {
    condition     = aws_ecs_capacity_provider.ec2.auto_scaling_group_provider[0].managed_draining == "ENABLED" && aws_ecs_capacity_provider.ec2.auto_scaling_group_provider[0].managed_termination_protection == "DISABLED"
    error_message = "ECS must drain tasks off an instance before the ASG removes it."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].stopTimeout == 10 && aws_ecs_service.relay.deployment_minimum_healthy_percent == 100 && aws_ecs_service.relay.deployment_maximum_percent == 200
    error_message = "Rolling deploys keep 100% healthy; a stopping task gets 10 s to flush and leave its groups."
  }
  assert {
    condition     = one(aws_ecs_service.relay.deployment_circuit_breaker).enable && one(aws_ecs_service.relay.deployment_circuit_breaker).rollback
    error_message = "A version whose tasks never become healthy must roll back."
  }
  assert {
    condition     = toset([for lb in aws_ecs_service.relay.load_balancer : lb.target_group_arn]) == toset(["arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-prod/00000000000000a1", "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-dev/00000000000000d2"]) && alltrue([for lb in aws_ecs_service.relay.load_balancer : lb.container_port == (strcontains(lb.target_group_arn, "tf-prod") ? 6667 : 6666)])
    error_message = "The service registers each feed's port in that feed's target group."
  }
}

run "task_definition_hardened_and_keyed" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.relay.network_mode == "awsvpc" && aws_ecs_task_definition.relay.requires_compatibilities == toset(["EC2"])
    error_message = "awsvpc on EC2 (Fargate has no multicast)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].user == "65532:65532" && jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].privileged == false
    error_message = "The container runs as the non-root user 65532, unprivileged."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"] && length(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].linuxParameters.capabilities.add) == 0
    error_message = "The container drops every capability and adds none."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].systemControls == [{ namespace = "net.ipv4.tcp_rmem", value = "4096 131072 33554432" }]
    error_message = "The task raises its tcp_rmem maximum to 32 MiB, for the long path's bandwidth-delay product."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "Read-only root filesystem."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/mcast-relay", "health-probe", "--url", "http://127.0.0.1:9180/healthz"]
    error_message = "The container health check must probe the port --http serves."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].image == "111111111111.dkr.ecr.eu-west-2.amazonaws.com/mcast-relay:0.1.0-0123456789ab"
    error_message = "The image must come from the module's ECR repository with image_tag."
  }
  assert {
    condition = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command == [
      "egress", "--listen", "dev=0.0.0.0:6666", "--listen", "prod=0.0.0.0:6667", "--iface", "eth0",
      "--allow", "239.111.111.0/24", "--merge", "deribit", "--state-dir", "/var/lib/mcast-relay",
      "--ttl", "32", "--http", "0.0.0.0:9180", "--log-format", "json",
    ]
    error_message = "Unexpected egress command line: ${jsonencode(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command)}"
  }
  assert {
    condition = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].secrets == [
      { name = "MCAST_RELAY_KEY_DEV", valueFrom = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/dev-GhIjKl" },
      { name = "MCAST_RELAY_KEY_PROD", valueFrom = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-AbCdEf" },
    ]
    error_message = "Every feed's key must be injected from its own secret, and nothing else."
  }
  assert {
    condition     = toset(jsondecode(aws_iam_role_policy.execution_secrets.policy).Statement[0].Resource) == toset(values(var.key_secret_arns)) && length(jsondecode(aws_iam_role_policy.execution_secrets.policy).Statement) == 1
    error_message = "The execution role may read exactly the feed keys."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].logConfiguration.logDriver == "awslogs" && jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].logConfiguration.options["awslogs-group"] == "/ecs/mcast-relay" && jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].logConfiguration.options["mode"] == "non-blocking"
    error_message = "Logs go to the module's log group through awslogs, non-blocking (EMF needs it)."
  }
  assert {
    condition     = aws_ecs_service.relay.network_configuration[0].security_groups == toset(["sg-0task000000000000"]) && output.task_subnet_ids == sort(var.subnet_ids)
    error_message = "Tasks run in the relay subnets with the task security group."
  }
}

run "state_dir_survives_a_container_restart_on_its_host" {
  command = plan

  # The egress keeps its state in a directory of the host, bind-mounted; the
  # container is restarted in place by ECS; the root stays read-only and the
  # user 65532, which owns the directory (made by the user data).
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].mountPoints == [{ sourceVolume = "state", containerPath = "/var/lib/mcast-relay", readOnly = false }]
    error_message = "The state directory must be mounted read-write at /var/lib/mcast-relay, and nothing else."
  }
  assert {
    condition     = one(aws_ecs_task_definition.relay.volume).name == "state" && one(aws_ecs_task_definition.relay.volume).host_path == "/var/lib/mcast-relay" && length(one(aws_ecs_task_definition.relay.volume).docker_volume_configuration) == 0
    error_message = "The state volume must be the host's /var/lib/mcast-relay (a bind mount, which outlives the container)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].restartPolicy == { enabled = true, restartAttemptPeriod = 60 }
    error_message = "ECS must restart the container in place (same task, same host, same state file), at most once a minute."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].readonlyRootFilesystem == true && jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].user == "65532:65532"
    error_message = "The state directory must not cost the read-only root or the non-root user."
  }
  assert {
    condition     = element(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command, index(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command, "--state-dir") + 1) == jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].mountPoints[0].containerPath
    error_message = "--state-dir must be the mounted directory."
  }
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "install -d -o 65532 -g 65532 -m 0700 /var/lib/mcast-relay")
    error_message = "User data must make the state directory, owned by the task's user 65532 (a root-owned one stops the egress: Permission denied)."
  }
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "ECS_INSTANCE_ATTRIBUTES={\"mcast-relay.state-dir\":\"v1\"}") && one(aws_ecs_task_definition.relay.placement_constraints).type == "memberOf" && one(aws_ecs_task_definition.relay.placement_constraints).expression == "attribute:mcast-relay.state-dir == v1"
    error_message = "Tasks must be placed only on instances whose user data made the directory (the attribute it sets)."
  }
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "ExecStart=/usr/bin/find /var/lib/mcast-relay -maxdepth 1 -type f -name *.state -mmin +5 -delete") && contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "systemctl enable --now mcast-relay-state-clean.timer") && contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "OnUnitActiveSec=1min")
    error_message = "State files no task wrote for 5 minutes must be removed every minute (a later task would count what others emitted since as gaps)."
  }
}

run "merge_defaults_to_deribit_for_two_senders" {
  command = plan

  assert {
    condition     = output.redundancy.senders == { dev = 2, prod = 2 } && output.redundancy.merge == { dev = "deribit", prod = "deribit" }
    error_message = "By default every feed expects 2 senders (primary and secondary LD4) and is merged as Deribit legacy: ${jsonencode(output.redundancy)}"
  }
  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), " --merge deribit ")
    error_message = "The merge must reach the egress's command line."
  }
}

run "another_merge_reaches_the_command_line" {
  command = plan

  variables {
    merge = { prod = "starbase", dev = "starbase" }
  }

  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), " --merge starbase ") && !strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), "deribit")
    error_message = "merge must set --merge."
  }
}

run "one_sender_without_a_merge_is_accepted" {
  command = plan

  variables {
    senders = { prod = 1, dev = 1 }
    merge   = { prod = "none", dev = "none" }
  }

  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), " --merge none ") && length(aws_cloudwatch_metric_alarm.senders) == 0
    error_message = "One sender each may run without a merge, and then has no Senders alarm (there is no redundancy to lose)."
  }
}

run "two_senders_without_a_merge_are_refused" {
  command = plan

  variables {
    merge = { prod = "none", dev = "none" }
  }

  expect_failures = [var.merge]
}

run "feeds_with_different_merges_are_refused" {
  command = plan

  variables {
    merge = { prod = "deribit", dev = "hash" }
  }

  expect_failures = [var.merge]
}

run "an_unknown_merge_is_refused" {
  command = plan

  variables {
    merge = { prod = "sbe", dev = "sbe" }
  }

  expect_failures = [var.merge]
}

run "more_than_eight_senders_are_refused" {
  command = plan

  variables {
    senders = { prod = 9 }
  }

  expect_failures = [var.senders]
}

run "no_sender_is_refused" {
  command = plan

  variables {
    senders = { prod = 0 }
  }

  expect_failures = [var.senders]
}

run "senders_of_an_unknown_feed_are_refused" {
  command = plan

  variables {
    senders = { test = 2 }
  }

  expect_failures = [var.senders]
}

run "senders_alarm_per_feed_opens_a_ticket" {
  command = plan

  variables {
    senders = { prod = 3, dev = 2 }
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.senders)) == toset(["dev", "prod"]) && alltrue([for f, a in aws_cloudwatch_metric_alarm.senders : a.alarm_name == "mcast-relay-${f}-senders" && a.namespace == "McastRelay" && a.metric_name == "Senders" && a.dimensions == tomap({ Feed = f, Role = "egress" })])
    error_message = "One Senders alarm per redundant feed, on McastRelay Senders with Feed and Role = egress."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.senders["prod"].threshold == 3 && aws_cloudwatch_metric_alarm.senders["dev"].threshold == 2 && alltrue([for a in aws_cloudwatch_metric_alarm.senders : a.comparison_operator == "LessThanThreshold" && a.period == 60 && a.evaluation_periods == 10])
    error_message = "Below the feed's expected senders for 10 minutes (the default senders_minutes)."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.senders : a.statistic == "Maximum" && a.treat_missing_data == "notBreaching"])
    error_message = "Maximum over the tasks (the standby prints 0 senders, so a Minimum would always be 0); a silent relay is the silence alarms' business."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.senders : a.alarm_actions == toset(["arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms-ticket"]) && a.ok_actions == toset(["arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms-ticket"])])
    error_message = "A lost sender opens a ticket, never a page, even for prod (customers still get the feed)."
  }
  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.senders["prod"].alarm_description, "one failure") && strcontains(aws_cloudwatch_metric_alarm.senders["prod"].alarm_description, "fewer than 3")
    error_message = "The description must say the feed is one failure from an outage: ${aws_cloudwatch_metric_alarm.senders["prod"].alarm_description}"
  }
  assert {
    condition = alltrue([
      for f, n in { dev = 2, prod = 3 } :
      anytrue([for w in jsondecode(aws_cloudwatch_dashboard.relay.dashboard_body).widgets : contains([for x in w.properties.metrics : length(x) >= 7 ? jsonencode(x) : ""], jsonencode(["McastRelay", "Senders", "Feed", f, "Role", "egress", { stat = "Maximum", label = "senders (task carrying the feed)" }])) && try(w.properties.annotations.horizontal[0].value, -1) == n])
    ])
    error_message = "The dashboard must show each feed's senders (Maximum over the tasks) against the expected number."
  }
}

run "senders_minutes_and_a_single_sender_feed" {
  command = plan

  variables {
    senders = { dev = 1 }
    alarm_policies = {
      prod = { notify = "page", silence_minutes = 3, gaps_per_minute = 0, drops_per_minute = 0, senders_minutes = 30 }
    }
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.senders) == ["prod"] && aws_cloudwatch_metric_alarm.senders["prod"].evaluation_periods == 30
    error_message = "A one-sender feed has no Senders alarm; senders_minutes sets how long the others wait."
  }
}

run "a_feed_without_a_key_is_refused" {
  command = plan

  variables {
    key_secret_arns = { prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-AbCdEf" }
  }

  expect_failures = [var.key_secret_arns]
}

run "a_key_for_no_feed_is_refused" {
  command = plan

  variables {
    feeds = { prod = 6667 }
  }

  expect_failures = [var.key_secret_arns]
}

run "another_health_port_moves_every_check" {
  command = plan

  variables {
    health_port = 9280
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/mcast-relay", "health-probe", "--url", "http://127.0.0.1:9280/healthz"]
    error_message = "The container health check must follow health_port."
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command, "0.0.0.0:9280") && contains([for p in jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].portMappings : p.containerPort], 9280)
    error_message = "The egress must serve HTTP on health_port."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.health_check[0].port == "9280"])
    error_message = "The NLB must check health_port."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_health.from_port == 9280 && contains(keys(aws_vpc_security_group_egress_rule.nlb_to_tasks), "9280")
    error_message = "The security groups must open health_port."
  }
}

run "ami_pinned_and_instances_refreshed" {
  command = plan

  assert {
    condition     = aws_launch_template.ecs.image_id == "ami-0123456789abcdef0"
    error_message = "The launch template must use the pinned AMI."
  }
  assert {
    condition     = one(aws_autoscaling_group.ecs.instance_refresh).strategy == "Rolling" && one(one(aws_autoscaling_group.ecs.instance_refresh).preferences).min_healthy_percentage == 100 && one(one(aws_autoscaling_group.ecs.instance_refresh).preferences).max_healthy_percentage == 200
    error_message = "A new launch template version must roll the instances, new ones first, never below the running count."
  }
  assert {
    condition     = aws_launch_template.ecs.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 only."
  }
}

run "user_data_forces_igmpv2_and_joins_cluster" {
  command = plan

  # Whole lines, not substrings: a commented-out setting must not pass.
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "net.ipv4.conf.all.force_igmp_version=2") && contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "net.ipv4.conf.default.force_igmp_version=2")
    error_message = "User data must force IGMPv2 for all and default (task namespaces inherit default)."
  }
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "cat > /etc/sysctl.d/90-mcast-relay.conf <<'SYSCTL'") && contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "sysctl -p /etc/sysctl.d/90-mcast-relay.conf")
    error_message = "The settings must be written to sysctl.d (they survive reboots) and applied."
  }
  assert {
    condition     = contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "ECS_CLUSTER=mcast-relay") && contains([for l in split("\n", base64decode(aws_launch_template.ecs.user_data)) : trimspace(l)], "cat >> /etc/ecs/ecs.config <<ECS")
    error_message = "User data must write ECS_CLUSTER to /etc/ecs/ecs.config."
  }
}

run "security_groups_reference_each_other" {
  command = plan

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.nlb_feed) == 4 && alltrue([for r in aws_vpc_security_group_ingress_rule.nlb_feed : r.security_group_id == "sg-0nlb0000000000000" && contains(["192.0.2.0/28", "198.51.100.0/28"], r.cidr_ipv4) && contains([6666, 6667], r.from_port) && r.from_port == r.to_port])
    error_message = "On the NLB group, feed ports open to the datacenter CIDRs only (2 feeds x 2 CIDRs)."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.task_feed) == 2 && alltrue([for r in aws_vpc_security_group_ingress_rule.task_feed : r.security_group_id == "sg-0task000000000000" && r.referenced_security_group_id == "sg-0nlb0000000000000" && r.cidr_ipv4 == null])
    error_message = "On the task group, feed ports from the NLB's group only."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_health.security_group_id == "sg-0task000000000000" && aws_vpc_security_group_ingress_rule.task_health.cidr_ipv4 == "10.20.0.0/16" && aws_vpc_security_group_ingress_rule.task_health.from_port == 9180
    error_message = "The health port is open inside the VPC CIDR only."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_igmp_query.security_group_id == "sg-0task000000000000" && aws_vpc_security_group_ingress_rule.task_igmp_query.ip_protocol == "2" && aws_vpc_security_group_ingress_rule.task_igmp_query.cidr_ipv4 == "0.0.0.0/32"
    error_message = "IGMP queries (protocol 2) from 0.0.0.0/32 in."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.task_igmp["224.0.0.2/32"].ip_protocol == "2" && keys(aws_vpc_security_group_egress_rule.task_multicast) == ["239.111.111.0/24"] && alltrue([for r in aws_vpc_security_group_egress_rule.task_multicast : r.security_group_id == "sg-0task000000000000" && r.ip_protocol == "udp"])
    error_message = "Out: IGMP to 224.0.0.2/32, UDP to the allowed groups only."
  }
  assert {
    condition     = aws_launch_template.ecs.vpc_security_group_ids == toset(["sg-0instance00000000"]) && aws_vpc_security_group_egress_rule.instance_https.security_group_id == "sg-0instance00000000"
    error_message = "Container instances get their own group (HTTPS out only)."
  }
}

run "fanout_and_map_reach_the_command_line" {
  command = plan

  variables {
    allowed_groups = ["239.111.111.0/24", "239.111.112.0/24"]
    group_fanout   = ["239.111.111.0/24=239.111.112.0/24"]
    group_map      = ["239.111.111.9=239.111.112.9:6109"]
  }

  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), "--fanout 239.111.111.0/24=239.111.112.0/24") && strcontains(join(" ", jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command), "--map 239.111.111.9=239.111.112.9:6109")
    error_message = "group_fanout and group_map must reach the egress."
  }
  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.task_multicast)) == toset(["239.111.111.0/24", "239.111.112.0/24"])
    error_message = "UDP out must cover the copy's groups."
  }
}

run "a_fanout_outside_the_allow_list_is_refused" {
  command = plan

  variables {
    group_fanout = ["239.111.111.0/24=239.200.0.0/24"]
  }

  expect_failures = [aws_ecs_task_definition.relay]
}

run "window_arithmetic_at_the_defaults" {
  command = plan

  assert {
    condition     = output.worst_failover_seconds == 47.5
    error_message = "2.5 + (10 x 2 + 6) + 10 + 3 + 5 + 1 = 47.5 s, got ${output.worst_failover_seconds}."
  }
  assert {
    condition     = output.required_ingress_window["prod"] == { secs = 48, bytes = 532000000 }
    error_message = "50,000/s x (160 + 64) B x 47.5 s = 532,000,000 B: ${jsonencode(output.required_ingress_window)}"
  }
}

run "the_old_default_window_cannot_cover_a_failover" {
  command = plan

  variables {
    default_ingress_window = { bytes = 67108864, secs = 30 }
  }

  expect_failures = [aws_lb_target_group.feed]
}

run "the_slowest_health_checks_allowed_still_fit_the_default_window" {
  command = plan

  variables {
    health_check_unhealthy_threshold = 3
  }

  assert {
    condition     = output.worst_failover_seconds == 57.5 && output.required_ingress_window["prod"].secs <= 60 && output.required_ingress_window["prod"].bytes <= 805306368
    error_message = "At 10 s x 3 + 6 s the failover is 57.5 s, within 60 s and 768 MiB: ${jsonencode(output.required_ingress_window)}"
  }
}

run "a_faster_feed_needs_a_bigger_window" {
  command = plan

  variables {
    feed_peak_rates = { prod = { datagrams_per_second = 100000, mean_datagram_bytes = 160 } }
  }

  expect_failures = [aws_lb_target_group.feed]
}

run "rejects_slower_health_checks" {
  command = plan

  variables {
    health_check_interval = 30
  }

  expect_failures = [var.health_check_interval]
}

run "alarms_per_feed_with_their_own_policy" {
  command = plan

  variables {
    watch_multicast_attachment = true
    multicast_attachment_id    = "tgw-attach-0relay000000000000"
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.traffic)) == toset(["dev-PacketsIn", "dev-PacketsOut", "prod-PacketsIn", "prod-PacketsOut"]) && alltrue([for a in aws_cloudwatch_metric_alarm.traffic : a.namespace == "McastRelay" && a.dimensions == tomap({ Feed = split("-", a.alarm_name)[2], Role = "egress" }) && a.treat_missing_data == "breaching"])
    error_message = "PacketsIn and PacketsOut silence alarms per feed (McastRelay, Feed and Role), missing data breaching."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.loss)) == toset(["dev-Gaps", "dev-Drops", "prod-Gaps", "prod-Drops"]) && alltrue([for k, a in aws_cloudwatch_metric_alarm.loss : a.metric_name == split("-", k)[1] && a.dimensions["Feed"] == split("-", k)[0] && a.comparison_operator == "GreaterThanThreshold"])
    error_message = "Gaps and Drops alarms per feed."
  }
  assert {
    condition     = alltrue([for k, a in merge(aws_cloudwatch_metric_alarm.traffic, aws_cloudwatch_metric_alarm.loss) : startswith(k, "prod-") ? a.alarm_actions == toset(["arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms"]) : a.alarm_actions == toset(["arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms-ticket"])])
    error_message = "prod alarms page; dev alarms go to the ticket topic."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.traffic["prod-PacketsIn"].evaluation_periods == 3 && aws_cloudwatch_metric_alarm.traffic["dev-PacketsIn"].evaluation_periods == 60 && aws_cloudwatch_metric_alarm.loss["prod-Gaps"].threshold == 0 && aws_cloudwatch_metric_alarm.loss["dev-Gaps"].threshold == 100
    error_message = "A quiet dev feed waits an hour; prod alarms after 3 minutes and on any gap."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.unhealthy_targets["prod"].dimensions == tomap({ LoadBalancer = "net/mcast-relay/0123456789abcdef", TargetGroup = "targetgroup/tf-prod/00000000000000a1" }) && aws_cloudwatch_metric_alarm.no_healthy_targets["dev"].dimensions["TargetGroup"] == "targetgroup/tf-dev/00000000000000d2"
    error_message = "Target health alarms must watch their own feed's target group."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.tgw_packets_in[0].namespace == "AWS/TransitGateway" && aws_cloudwatch_metric_alarm.tgw_packets_in[0].dimensions == tomap({ TransitGatewayAttachment = "tgw-attach-0relay000000000000" })
    error_message = "The multicast gateway's own PacketsIn from the relay attachment must alarm."
  }
  assert {
    condition = alltrue(flatten([
      for f in ["dev", "prod"] : [
        for m in ["PacketsIn", "PacketsOut", "Gaps", "Drops", "Reconnects"] :
        anytrue([for w in jsondecode(aws_cloudwatch_dashboard.relay.dashboard_body).widgets : contains([for x in w.properties.metrics : length(x) >= 6 ? jsonencode(slice(x, 0, 6)) : ""], jsonencode(["McastRelay", m, "Feed", f, "Role", "egress"]))])
      ]
    ]))
    error_message = "The dashboard must show, per feed, packets in and out, gaps, drops and reconnects."
  }
  assert {
    condition     = length([for w in jsondecode(aws_cloudwatch_dashboard.relay.dashboard_body).widgets : w if anytrue([for x in w.properties.metrics : x[1] == "HealthyHostCount"])]) == 2
    error_message = "The dashboard must show each feed's healthy targets."
  }
}

run "alarm_feeds_limits_the_silence_alarms" {
  command = plan

  variables {
    alarm_feeds = ["prod"]
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.traffic)) == toset(["prod-PacketsIn", "prod-PacketsOut"])
    error_message = "Only the listed feeds get silence alarms."
  }
}

run "customers_may_pull_the_image" {
  command = plan

  variables {
    ecr_pull_account_ids = ["222222222222"]
  }

  assert {
    condition     = jsondecode(aws_ecr_repository_policy.customer_pull[0].policy).Statement[0].Principal.AWS == ["arn:aws:iam::222222222222:root"] && !contains(jsondecode(aws_ecr_repository_policy.customer_pull[0].policy).Statement[0].Action, "ecr:PutImage")
    error_message = "Customers may pull, never push."
  }
}

run "ecr_scans_and_expires" {
  command = plan

  assert {
    condition     = aws_ecr_repository.relay.image_scanning_configuration[0].scan_on_push == true && aws_ecr_repository.relay.image_tag_mutability == "IMMUTABLE" && length(jsondecode(aws_ecr_lifecycle_policy.relay.policy).rules) == 2
    error_message = "ECR: immutable tags, scan on push, lifecycle policy."
  }
}

run "rejects_an_image_tag_that_was_never_pushed" {
  command = plan
  variables {
    image_tag = "0.1.0"
  }
  expect_failures = [var.image_tag]
}

run "accepts_nitro_c5n" {
  command = plan
  variables {
    instance_type = "c5n.xlarge"
  }
  assert {
    condition     = aws_launch_template.ecs.instance_type == "c5n.xlarge"
    error_message = "c5n is Nitro and must be accepted."
  }
}

run "rejects_t2_micro" {
  command = plan
  variables {
    instance_type = "t2.micro"
  }
  expect_failures = [var.instance_type]
}

run "rejects_m4_large" {
  command = plan
  variables {
    instance_type = "m4.large"
  }
  expect_failures = [var.instance_type]
}

run "rejects_open_datacenter_cidr" {
  command = plan
  variables {
    datacenter_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [var.datacenter_cidrs]
}
