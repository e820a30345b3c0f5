output "route_table_id" {
  description = "The infra route table (relay VPC, Direct Connect, peering). Tokyo's peer.route_table_id is London's value."
  value       = aws_ec2_transit_gateway_route_table.infra.id
}

output "dx_attachment_id" {
  description = "Transit Gateway attachment of the Direct Connect gateway, or null."
  value       = local.with_dx ? data.aws_ec2_transit_gateway_dx_gateway_attachment.dc[0].id : null
}

output "peering_attachment_id" {
  description = "Peering attachment to the other region, or null."
  value       = local.with_peer ? aws_ec2_transit_gateway_peering_attachment.peer[0].id : null
}
