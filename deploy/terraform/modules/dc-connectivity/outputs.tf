output "transit_gateway_id" {
  description = "This region's infra Transit Gateway (Direct Connect, peering). Never shared; Tokyo's london_transit_gateway_id is London's value."
  value       = aws_ec2_transit_gateway.infra.id
}

output "transit_gateway_arn" {
  description = "ARN of the infra Transit Gateway (it must never appear in a RAM share)."
  value       = aws_ec2_transit_gateway.infra.arn
}

output "amazon_side_asn" {
  description = "ASN of the infra gateway (Tokyo's peer.amazon_side_asn is London's value)."
  value       = aws_ec2_transit_gateway.infra.amazon_side_asn
}

output "relay_vpc_attachment_id" {
  description = "Attachment of the relay VPC to the infra gateway."
  value       = aws_ec2_transit_gateway_vpc_attachment.relay.id
}

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

output "dx_association" {
  description = "The Direct Connect gateway association: the gateway it attaches and the prefixes it advertises, or null."
  value       = local.with_dx ? { gateway_id = aws_dx_gateway_association.dc[0].associated_gateway_id, allowed_prefixes = sort(tolist(aws_dx_gateway_association.dc[0].allowed_prefixes)) } : null
}

output "peering" {
  description = "The peering attachment's two gateways, or null."
  value       = local.with_peer ? { transit_gateway_id = aws_ec2_transit_gateway_peering_attachment.peer[0].transit_gateway_id, peer_transit_gateway_id = aws_ec2_transit_gateway_peering_attachment.peer[0].peer_transit_gateway_id } : null
}
