module "receiver" {
  source = "../../modules/customer-receiver"

  resource_share_arn  = var.resource_share_arn
  accept_share        = var.accept_share
  transit_gateway_id  = var.transit_gateway_id
  multicast_domain_id = var.multicast_domain_id
  relay_source_cidrs  = var.relay_source_cidrs
  vpc_id              = var.vpc_id
  subnet_ids          = var.subnet_ids
  attachment_accepted = var.attachment_accepted
  feed_groups         = var.feed_groups
  feed_ports          = var.feed_ports
  instance_type       = var.instance_type
  ami_id              = var.ami_id
}

output "vpc_attachment_id" {
  description = "Send to the relay operator: they accept this attachment, then set attachment_accepted = true and apply again."
  value       = module.receiver.vpc_attachment_id
}

output "vpc_cidrs" {
  description = "Send to the relay operator with the attachment id (they check it does not overlap the relay's)."
  value       = module.receiver.vpc_cidrs
}

output "launch_template_id" {
  description = "Start receivers from this template (IGMPv2 forced, multicast security group attached)."
  value       = module.receiver.launch_template_id
}

output "security_group_id" {
  description = "Security group allowing IGMP and the feed's UDP from the relay only."
  value       = module.receiver.security_group_id
}
