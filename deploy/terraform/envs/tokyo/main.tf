# Tokyo has its own relays and multicast domain; only unicast crosses the
# peering to London (multicast never does).

module "domain" {
  source = "../../modules/multicast-domain"

  name                 = var.name
  vpc_id               = var.vpc_id
  subnet_ids           = var.subnet_ids
  customer_account_ids = var.customer_account_ids
  amazon_side_asn      = 64513 # peered gateways need different ASNs
}

module "dc" {
  source = "../../modules/dc-connectivity"
  providers = {
    aws      = aws
    aws.peer = aws.london
  }

  name                    = var.name
  transit_gateway_id      = module.domain.transit_gateway_id
  relay_vpc_attachment_id = module.domain.relay_vpc_attachment_id
  relay_vpc_cidr          = var.vpc_cidr
  vpc_route_table_ids     = var.vpc_route_table_ids
  datacenter_cidrs        = var.datacenter_cidrs

  peer = {
    transit_gateway_id = var.london_transit_gateway_id
    region             = var.london_region
    route_table_id     = var.london_route_table_id
  }
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
