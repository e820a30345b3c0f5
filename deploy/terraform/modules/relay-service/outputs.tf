output "nlb_dns_name" {
  description = "DNS name of the internal NLB: the --dest host of the datacenter ingress."
  value       = aws_lb.relay.dns_name
}

output "nlb_arn" {
  description = "ARN of the NLB."
  value       = aws_lb.relay.arn
}

output "feed_ports" {
  description = "Feed name => NLB port."
  value       = { for k, l in aws_lb_listener.feed : k => l.port }
}

output "ecr_repository_url" {
  description = "ECR repository to push the image to."
  value       = aws_ecr_repository.relay.repository_url
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.relay.name
}

output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.relay.name
}

output "task_security_group_id" {
  description = "Security group of the relay tasks (multicast senders)."
  value       = aws_security_group.task.id
}

output "log_group_name" {
  description = "CloudWatch log group with the relay logs and EMF lines."
  value       = aws_cloudwatch_log_group.relay.name
}

output "alarm_topic_arn" {
  description = "SNS topic that receives every alarm."
  value       = aws_sns_topic.alarms.arn
}

output "ticket_topic_arn" {
  description = "SNS topic of the alarms that do not page (feeds whose policy is ticket)."
  value       = aws_sns_topic.tickets.arn
}

output "task_subnet_ids" {
  description = "Subnets the relay tasks (the multicast senders) run in: must equal the multicast domain's relay associations."
  value       = sort(tolist(aws_ecs_service.relay.network_configuration[0].subnets))
}

output "worst_failover_seconds" {
  description = "Longest a feed can be without an egress when the task carrying it dies (failover.tf, docs/DEPLOY.md Replay window)."
  value       = local.worst_failover_seconds
}

output "required_ingress_window" {
  description = "Feed => the smallest replay window (bytes, secs) the datacenter ingress needs to cover that failover at the feed's peak rate."
  value       = local.required_window
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the feeds."
  value       = aws_cloudwatch_dashboard.relay.dashboard_name
}

output "egress_command" {
  description = "The egress command line of the task."
  value       = local.command
}

output "container_secrets" {
  description = "Environment variable => secret ARN the task is given (one per feed)."
  value       = { for x in local.secrets : x.name => x.valueFrom }
}

output "scaling" {
  description = "Task count and the Auto Scaling group's bounds."
  value       = { task_count = aws_ecs_service.relay.desired_count, min = aws_autoscaling_group.ecs.min_size, max = aws_autoscaling_group.ecs.max_size }
}

output "silence_alarm_names" {
  description = "The no-packets alarms."
  value       = sort([for a in aws_cloudwatch_metric_alarm.traffic : a.alarm_name])
}

output "gateway_alarm_dimensions" {
  description = "Dimensions of the alarm on the multicast gateway's PacketsIn, or null."
  value       = var.watch_multicast_attachment ? aws_cloudwatch_metric_alarm.tgw_packets_in[0].dimensions : null
}

output "settings" {
  description = "Settings the env roots pass through (for their tests): NLB deletion protection, KMS keys the execution role may use."
  value = {
    deletion_protection = aws_lb.relay.enable_deletion_protection
    secrets_kms_keys    = var.secrets_kms_key_arns
  }
}

output "redundancy" {
  description = "Per feed: the datacenter senders expected (senders), the egress's merge, and the Senders alarms (they open tickets)."
  value = {
    senders       = local.senders
    merge         = local.merge
    senders_alarm = sort([for a in aws_cloudwatch_metric_alarm.senders : a.alarm_name])
  }
}
