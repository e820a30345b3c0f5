output "nlb_dns_name" {
  description = "Tokyo NLB: the datacenter ingress's dests host (ports 6666 dev, 6667 prod)."
  value       = module.relay.nlb_dns_name
}

output "ecr_repository_url" {
  description = "Tokyo ECR repository."
  value       = module.relay.ecr_repository_url
}

output "infra_transit_gateway_id" {
  description = "Tokyo's infra gateway (peered with London's; never shared)."
  value       = module.dc.transit_gateway_id
}

output "infra_route_table_id" {
  description = "Tokyo infra route table."
  value       = module.dc.route_table_id
}

output "peering_attachment_id" {
  description = "Tokyo-London peering attachment (between the infra gateways)."
  value       = module.dc.peering_attachment_id
}

output "multicast_transit_gateway_id" {
  description = "Tokyo multicast gateway: customers' transit_gateway_id."
  value       = module.domain.transit_gateway_id
}

output "multicast_domain_id" {
  description = "Tokyo multicast domain: customers' multicast_domain_id."
  value       = module.domain.multicast_domain_id
}

output "resource_share_arn" {
  description = "RAM share to give to customers."
  value       = module.domain.resource_share_arn
}

output "required_ingress_window" {
  description = "Feed => the smallest window the datacenter ingress may run with."
  value       = module.relay.required_ingress_window
}

output "alarm_topic_arn" {
  description = "SNS topic of the paging alarms."
  value       = module.relay.alarm_topic_arn
}

output "ticket_topic_arn" {
  description = "SNS topic of the non-paging alarms."
  value       = module.relay.ticket_topic_arn
}

output "relay_source_cidrs" {
  description = "Customers' relay_source_cidrs."
  value       = [var.vpc_cidr]
}

output "customer_principal_associations" {
  description = "Customer account => its RAM principal association: the allow-list (customers.auto.tfvars) as granted."
  value       = module.domain.principal_association_ids
}
