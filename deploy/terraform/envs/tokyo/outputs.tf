output "nlb_dns_name" {
  description = "Tokyo NLB: the datacenter ingress's --dest host (ports 6666 dev, 6667 prod)."
  value       = module.relay.nlb_dns_name
}

output "ecr_repository_url" {
  description = "Tokyo ECR repository."
  value       = module.relay.ecr_repository_url
}

output "transit_gateway_id" {
  description = "Tokyo multicast Transit Gateway: customers' transit_gateway_id."
  value       = module.domain.transit_gateway_id
}

output "infra_route_table_id" {
  description = "Tokyo infra route table."
  value       = module.dc.route_table_id
}

output "peering_attachment_id" {
  description = "Tokyo-London Transit Gateway peering attachment."
  value       = module.dc.peering_attachment_id
}

output "multicast_domain_id" {
  description = "Tokyo multicast domain: customers' multicast_domain_id."
  value       = module.domain.multicast_domain_id
}

output "resource_share_arn" {
  description = "RAM share to give to customers."
  value       = module.domain.resource_share_arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.relay.alarm_topic_arn
}
