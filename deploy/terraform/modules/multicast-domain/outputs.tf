output "transit_gateway_id" {
  description = "ID of the multicast Transit Gateway (customers attach to it)."
  value       = aws_ec2_transit_gateway.mcast.id
}

output "transit_gateway_arn" {
  description = "ARN of the multicast Transit Gateway."
  value       = aws_ec2_transit_gateway.mcast.arn
}

output "multicast_domain_id" {
  description = "ID of the multicast domain (customers associate their subnets with it)."
  value       = aws_ec2_transit_gateway_multicast_domain.mcast.id
}

output "multicast_domain_arn" {
  description = "ARN of the multicast domain."
  value       = aws_ec2_transit_gateway_multicast_domain.mcast.arn
}

output "relay_vpc_attachment_id" {
  description = "Attachment of the relay VPC to the gateway."
  value       = aws_ec2_transit_gateway_vpc_attachment.relay.id
}

output "resource_share_arn" {
  description = "ARN of the RAM share: give it to customers (input of customer-receiver)."
  value       = aws_ram_resource_share.mcast.arn
}

output "customer_account_ids" {
  description = "Accounts the share is granted to."
  value       = sort(keys(aws_ram_principal_association.customer))
}
