output "nlb_dns_name" {
  description = "London NLB: the datacenter ingress's dests host (ports 6666 dev, 6667 prod)."
  value       = module.relay.nlb_dns_name
}

output "ecr_repository_url" {
  description = "London ECR repository."
  value       = module.relay.ecr_repository_url
}

output "infra_transit_gateway_id" {
  description = "London's infra gateway (Direct Connect, peering; never shared): Tokyo's london_transit_gateway_id."
  value       = module.dc.transit_gateway_id
}

output "infra_gateway_asn" {
  description = "London infra gateway's ASN: Tokyo's london_gateway_asn."
  value       = module.dc.amazon_side_asn
}

output "infra_route_table_id" {
  description = "London infra route table: Tokyo's london_route_table_id."
  value       = module.dc.route_table_id
}

output "multicast_transit_gateway_id" {
  description = "London multicast gateway: customers' transit_gateway_id."
  value       = module.domain.transit_gateway_id
}

output "multicast_domain_id" {
  description = "London multicast domain: customers' multicast_domain_id."
  value       = module.domain.multicast_domain_id
}

output "resource_share_arn" {
  description = "RAM share to give to customers."
  value       = module.domain.resource_share_arn
}

output "key_secret_arns" {
  description = "Feed => London key secret ARN (put the key into each: docs/DEPLOY.md, Keys)."
  value       = module.keys.secret_arns
}

output "tokyo_key_secret_arns" {
  description = "Feed => the replica's ARN in Tokyo: Tokyo's key_secret_arns."
  value       = module.keys.replica_secret_arns[var.tokyo_region]
}

output "key_sync" {
  description = "What the datacenter key sync needs (deploy/systemd/key-sync.env): the Roles Anywhere ARNs and the secrets."
  value = {
    region           = var.region
    trust_anchor_arn = module.keys.trust_anchor_arn
    profile_arn      = module.keys.profile_arn
    role_arn         = module.keys.key_reader_role_arn
    secret_arns      = module.keys.secret_arns
  }
}

output "required_ingress_window" {
  description = "Feed => the smallest window the datacenter ingress may run with (ingress.toml window_bytes, window_secs)."
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
