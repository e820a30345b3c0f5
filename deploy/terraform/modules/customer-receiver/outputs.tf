output "vpc_attachment_id" {
  description = "The customer VPC's attachment to the shared gateway."
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
