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
