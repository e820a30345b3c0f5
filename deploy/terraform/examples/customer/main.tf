module "receiver" {
  source = "../../modules/customer-receiver"

  resource_share_arn  = var.resource_share_arn
  transit_gateway_id  = var.transit_gateway_id
  multicast_domain_id = var.multicast_domain_id
  relay_source_cidrs  = var.relay_source_cidrs
  vpc_id              = var.vpc_id
  subnet_ids          = var.subnet_ids
  feed_ports          = var.feed_ports
  instance_type       = var.instance_type
}

output "launch_template_id" {
  description = "Start receivers from this template (IGMPv2 forced, multicast security group attached)."
  value       = module.receiver.launch_template_id
}

output "security_group_id" {
  description = "Security group allowing IGMP and the feed's UDP."
  value       = module.receiver.security_group_id
}
