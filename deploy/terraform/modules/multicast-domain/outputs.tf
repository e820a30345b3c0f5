output "transit_gateway_id" {
  description = "ID of the multicast Transit Gateway (customers attach to it; it carries no unicast)."
  value       = aws_ec2_transit_gateway.mcast.id
}

output "transit_gateway_arn" {
  description = "ARN of the multicast Transit Gateway (the only gateway in the RAM share)."
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
  description = "Attachment of the relay VPC to the multicast gateway (the TGW metrics of the feed leaving the relays)."
  value       = aws_ec2_transit_gateway_vpc_attachment.relay.id
}

output "associated_subnet_ids" {
  description = "Relay subnets associated with the multicast domain."
  value       = sort(keys(aws_ec2_transit_gateway_multicast_domain_association.relay))
}

output "resource_share_arn" {
  description = "ARN of the RAM share: give it to customers (input of customer-receiver)."
  value       = aws_ram_resource_share.mcast.arn
}

output "shared_resource_arns" {
  description = "What the RAM share holds: the multicast gateway and its domain, nothing else."
  value       = sort([aws_ram_resource_association.transit_gateway.resource_arn, aws_ram_resource_association.multicast_domain.resource_arn])
}

output "customer_account_ids" {
  description = "Accounts the share is granted to."
  value       = sort(keys(aws_ram_principal_association.customer))
}

output "accepted_attachment_ids" {
  description = "Customer VPC attachments accepted by the operator."
  value       = sort(keys(aws_ec2_transit_gateway_vpc_attachment_accepter.customer))
}

output "audit_route_table_id" {
  description = "Route table (associated with nothing) where accepted customer attachments propagate their VPC CIDRs, for the overlap audit."
  value       = aws_ec2_transit_gateway_route_table.audit.id
}

output "principal_association_ids" {
  description = "Account => id of its RAM principal association (tests compare them across plans)."
  value       = { for k, a in aws_ram_principal_association.customer : k => a.id }
}
