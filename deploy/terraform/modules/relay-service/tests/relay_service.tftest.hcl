# Plan-only tests with a mocked AWS provider: no credentials, no network.
# override_during = plan makes mocked computed values (ARNs, URLs) known at plan.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_region" {
    defaults = { name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_ssm_parameter" {
    defaults = { insecure_value = "ami-0123456789abcdef0", value = "ami-0123456789abcdef0" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:eu-west-2:111111111111:repository/mcast-relay"
      repository_url = "111111111111.dkr.ecr.eu-west-2.amazonaws.com/mcast-relay"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-2:111111111111:loadbalancer/net/mcast-relay/0123456789abcdef"
      arn_suffix = "net/mcast-relay/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/tf-x/0123456789abcdef"
      arn_suffix = "targetgroup/tf-x/0123456789abcdef"
    }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0123456789abcdef0" }
  }
}

variables {
  vpc_id           = "vpc-0123456789abcdef0"
  vpc_cidr         = "10.20.0.0/16"
  subnet_ids       = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"]
  datacenter_cidrs = ["192.0.2.0/28", "198.51.100.0/28"]
  image_tag        = "0.1.0"
  key_secret_arns = {
    prod = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-AbCdEf"
  }
}

run "nlb_listeners_and_http_health_checks" {
  command = plan

  assert {
    condition     = aws_lb.relay.load_balancer_type == "network" && aws_lb.relay.internal == true
    error_message = "The load balancer must be an internal NLB."
  }
  assert {
    condition     = aws_lb.relay.enable_cross_zone_load_balancing == true
    error_message = "Cross-zone load balancing must be on."
  }
  assert {
    condition     = aws_lb_listener.feed["dev"].port == 6666 && aws_lb_listener.feed["prod"].port == 6667
    error_message = "Listeners must be 6666 (dev) and 6667 (prod)."
  }
  assert {
    condition     = toset([for l in aws_lb_listener.feed : l.port]) == toset([6666, 6667]) && alltrue([for l in aws_lb_listener.feed : l.protocol == "TCP"])
    error_message = "Exactly two TCP listeners, 6666 and 6667."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.target_type == "ip" && tg.protocol == "TCP"])
    error_message = "Target groups must be TCP with target_type ip (awsvpc tasks)."
  }
  assert {
    condition     = alltrue([for tg in aws_lb_target_group.feed : tg.health_check[0].protocol == "HTTP" && tg.health_check[0].path == "/healthz" && tg.health_check[0].port == "9180"])
    error_message = "Health checks must be HTTP GET /healthz on port 9180, never TCP."
  }
  assert {
    condition     = aws_lb_target_group.feed["dev"].port == 6666 && aws_lb_target_group.feed["prod"].port == 6667
    error_message = "Target group ports must match the feed ports."
  }
}

run "task_definition_awsvpc_on_ec2" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.relay.network_mode == "awsvpc"
    error_message = "The task must use awsvpc networking."
  }
  assert {
    condition     = aws_ecs_task_definition.relay.requires_compatibilities == toset(["EC2"])
    error_message = "The task must require EC2 (Fargate has no multicast)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].healthCheck.command == ["CMD", "/usr/local/bin/mcast-relay", "health-probe"]
    error_message = "The container health check must run mcast-relay health-probe."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].logConfiguration.logDriver == "awslogs" && jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].logConfiguration.options["awslogs-group"] == "/ecs/mcast-relay"
    error_message = "Logs must go to the module's CloudWatch log group through awslogs (EMF needs it)."
  }
  assert {
    condition     = aws_cloudwatch_log_group.relay.retention_in_days == 30
    error_message = "The log group must have a retention."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].image == "111111111111.dkr.ecr.eu-west-2.amazonaws.com/mcast-relay:0.1.0"
    error_message = "The image must come from the module's ECR repository with image_tag."
  }
  assert {
    condition = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command == [
      "egress", "--listen", "dev=0.0.0.0:6666", "--listen", "prod=0.0.0.0:6667", "--iface", "eth0",
      "--allow", "239.111.111.0/24", "--ttl", "32", "--http", "0.0.0.0:9180", "--log-format", "json",
    ]
    error_message = "Unexpected egress command line: ${jsonencode(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command)}"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].secrets == [{ name = "MCAST_RELAY_KEY_PROD", valueFrom = "arn:aws:secretsmanager:eu-west-2:111111111111:secret:mcast-relay/prod-AbCdEf" }]
    error_message = "The prod key must be injected from Secrets Manager as MCAST_RELAY_KEY_PROD."
  }
  assert {
    condition     = aws_ecs_service.relay.deployment_minimum_healthy_percent == 100 && aws_ecs_service.relay.deployment_maximum_percent == 200
    error_message = "Rolling deploys must keep 100% healthy."
  }
  assert {
    condition     = length(aws_ecs_service.relay.load_balancer) == 2
    error_message = "The service must register in both feed target groups."
  }
}

run "user_data_forces_igmpv2_and_joins_cluster" {
  command = plan

  assert {
    condition     = strcontains(base64decode(aws_launch_template.ecs.user_data), "net.ipv4.conf.all.force_igmp_version=2")
    error_message = "User data must force IGMPv2 (all)."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.ecs.user_data), "net.ipv4.conf.default.force_igmp_version=2")
    error_message = "User data must force IGMPv2 (default, inherited by task namespaces)."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.ecs.user_data), "/etc/sysctl.d/")
    error_message = "The IGMPv2 setting must persist across reboots (sysctl.d)."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.ecs.user_data), "ECS_CLUSTER=mcast-relay") && strcontains(base64decode(aws_launch_template.ecs.user_data), "/etc/ecs/ecs.config")
    error_message = "User data must write ECS_CLUSTER to /etc/ecs/ecs.config."
  }
  assert {
    condition     = aws_launch_template.ecs.instance_type == "c6in.large"
    error_message = "Default instance type should be c6in.large."
  }
  assert {
    condition     = aws_ecs_capacity_provider.ec2.auto_scaling_group_provider[0].managed_scaling[0].status == "ENABLED"
    error_message = "The capacity provider must manage scaling."
  }
}

run "security_groups_scope" {
  command = plan

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.nlb_feed) == 4
    error_message = "Feed ports open to exactly 2 feeds x 2 datacenter CIDRs."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.nlb_feed : contains(["192.0.2.0/28", "198.51.100.0/28"], r.cidr_ipv4) && contains([6666, 6667], r.from_port) && r.from_port == r.to_port])
    error_message = "Feed ports may be open to the datacenter CIDRs only."
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.task_feed : r.referenced_security_group_id == aws_security_group.nlb.id && r.cidr_ipv4 == null])
    error_message = "Tasks accept feed traffic from the NLB only."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_health.cidr_ipv4 == "10.20.0.0/16" && aws_vpc_security_group_ingress_rule.task_health.from_port == 9180
    error_message = "The health port must be open inside the VPC CIDR only."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.task_igmp_query.ip_protocol == "2" && aws_vpc_security_group_ingress_rule.task_igmp_query.cidr_ipv4 == "0.0.0.0/32"
    error_message = "IGMP queries (protocol 2) from 0.0.0.0/32 must be allowed in."
  }
  assert {
    condition     = contains(keys(aws_vpc_security_group_egress_rule.task_igmp), "224.0.0.2/32") && aws_vpc_security_group_egress_rule.task_igmp["224.0.0.2/32"].ip_protocol == "2"
    error_message = "IGMP out to 224.0.0.2/32 must be allowed."
  }
  assert {
    condition     = keys(aws_vpc_security_group_egress_rule.task_multicast) == ["239.111.111.0/24"] && aws_vpc_security_group_egress_rule.task_multicast["239.111.111.0/24"].ip_protocol == "udp"
    error_message = "UDP out must go to the allowed groups only."
  }
}

run "group_map_destinations_are_allowed_out" {
  command = plan

  variables {
    group_map = ["239.111.111.0/24=239.200.0.0/24"]
  }

  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.task_multicast)) == toset(["239.111.111.0/24", "239.200.0.0/24"])
    error_message = "Mapped destinations must be allowed out."
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.relay.container_definitions)[0].command, "239.111.111.0/24=239.200.0.0/24")
    error_message = "The map must reach the egress command line."
  }
}

run "alarms_in_both_directions" {
  command = plan

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.traffic)) == toset(["dev-PacketsIn", "dev-PacketsOut", "prod-PacketsIn", "prod-PacketsOut"])
    error_message = "Each feed needs a PacketsIn and a PacketsOut alarm."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.traffic : a.namespace == "McastRelay" && a.dimensions["Role"] == "egress" && contains(["dev", "prod"], a.dimensions["Feed"]) && length(a.dimensions) == 2])
    error_message = "Traffic alarms must use namespace McastRelay with dimensions Feed and Role."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.traffic : a.treat_missing_data == "breaching" && a.comparison_operator == "LessThanThreshold"])
    error_message = "Silence must alarm: missing data is breaching."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.traffic["prod-PacketsOut"].metric_name == "PacketsOut" && aws_cloudwatch_metric_alarm.traffic["prod-PacketsIn"].metric_name == "PacketsIn"
    error_message = "Alarm metric names must be PacketsIn / PacketsOut."
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.unhealthy_targets : a.metric_name == "UnHealthyHostCount" && a.namespace == "AWS/NetworkELB"]) && length(aws_cloudwatch_metric_alarm.unhealthy_targets) == 2
    error_message = "Each target group needs an UnHealthyHostCount alarm."
  }
  assert {
    condition     = alltrue([for a in concat(values(aws_cloudwatch_metric_alarm.traffic), values(aws_cloudwatch_metric_alarm.unhealthy_targets)) : a.alarm_actions == toset(["arn:aws:sns:eu-west-2:111111111111:mcast-relay-alarms"])])
    error_message = "Every alarm must notify the SNS topic."
  }
}

run "ecr_scans_and_expires" {
  command = plan

  assert {
    condition     = aws_ecr_repository.relay.image_scanning_configuration[0].scan_on_push == true
    error_message = "ECR must scan on push."
  }
  assert {
    condition     = length(jsondecode(aws_ecr_lifecycle_policy.relay.policy).rules) == 2
    error_message = "ECR needs a lifecycle policy."
  }
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

run "rejects_c4_large" {
  command = plan
  variables {
    instance_type = "c4.large"
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
