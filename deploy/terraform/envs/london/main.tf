module "domain" {
  source = "../../modules/multicast-domain"

  name                 = var.name
  vpc_id               = var.vpc_id
  subnet_ids           = var.subnet_ids
  customer_account_ids = var.customer_account_ids
  amazon_side_asn      = 64512
}

module "dc" {
  source = "../../modules/dc-connectivity"
  # London peers with no one; Tokyo requests the peering and London accepts it
  # from Tokyo's configuration. aws.peer is unused here.
  providers = {
    aws      = aws
    aws.peer = aws
  }

  name                    = var.name
  transit_gateway_id      = module.domain.transit_gateway_id
  relay_vpc_attachment_id = module.domain.relay_vpc_attachment_id
  relay_vpc_cidr          = var.vpc_cidr
  vpc_route_table_ids     = var.vpc_route_table_ids
  datacenter_cidrs        = var.datacenter_cidrs
  dx_gateway_id           = var.dx_gateway_id
  dx_allowed_prefixes     = [var.vpc_cidr, var.tokyo_vpc_cidr]
}

module "relay" {
  source = "../../modules/relay-service"

  name             = var.name
  vpc_id           = var.vpc_id
  vpc_cidr         = var.vpc_cidr
  subnet_ids       = var.subnet_ids
  datacenter_cidrs = var.datacenter_cidrs
  image_tag        = var.image_tag
  key_secret_arns  = var.key_secret_arns
  instance_type    = var.instance_type
  allowed_groups   = var.allowed_groups
  alarm_emails     = var.alarm_emails
}
