output "vpc_attachment_id" {
  description = "The customer VPC's attachment to the shared gateway: send it to the relay operator, who accepts it."
  value       = aws_ec2_transit_gateway_vpc_attachment.receiver.id
}

output "security_group_id" {
  description = "Security group for receiver instances (IGMP and the feed's UDP)."
  value       = aws_security_group.receiver.id
}

output "launch_template_id" {
  description = "Launch template for receivers with IGMPv2 forced, or null."
  value       = var.create_launch_template ? aws_launch_template.receiver[0].id : null
}

output "vpc_cidrs" {
  description = "This VPC's CIDRs: send them to the relay operator with vpc_attachment_id (they must not overlap the relay's)."
  value       = local.vpc_cidrs
}

output "associated_subnet_ids" {
  description = "Subnets associated with the multicast domain (none until attachment_accepted)."
  value       = sort(keys(aws_ec2_transit_gateway_multicast_domain_association.receiver))
}
