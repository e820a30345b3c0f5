# Tokyo has its own relays, multicast gateway and domain; only unicast crosses
# the peering between the two regions' infra gateways (multicast never does).
# The feed keys are London's secrets' replicas (London output tokyo_key_secret_arns).
# What comes from London: london_state.tf.

module "domain" {
  source = "../../modules/multicast-domain"

  name            = var.name
  vpc_id          = var.vpc_id
  relay_vpc_cidr  = var.vpc_cidr
  subnet_ids      = var.subnet_ids
  customers       = var.customers
  amazon_side_asn = var.multicast_gateway_asn
}

module "dc" {
  source = "../../modules/dc-connectivity"
  providers = {
    aws      = aws
    aws.peer = aws.london
  }

  name                = var.name
  vpc_id              = var.vpc_id
  subnet_ids          = var.subnet_ids
  amazon_side_asn     = var.infra_gateway_asn
  relay_vpc_cidr      = var.vpc_cidr
  vpc_route_table_ids = var.vpc_route_table_ids
  datacenter_cidrs    = var.datacenter_cidrs

  peer = {
    transit_gateway_id = local.london.transit_gateway_id
    region             = var.london_region
    route_table_id     = local.london.route_table_id
    amazon_side_asn    = local.london.gateway_asn
  }
}

module "relay" {
  source = "../../modules/relay-service"

  name                             = var.name
  vpc_id                           = var.vpc_id
  vpc_cidr                         = var.vpc_cidr
  subnet_ids                       = var.subnet_ids
  datacenter_cidrs                 = var.datacenter_cidrs
  feeds                            = var.feeds
  image_tag                        = var.image_tag
  key_secret_arns                  = local.london.key_secret_arns
  secrets_kms_key_arns             = compact([var.secrets_kms_key_arn])
  instance_type                    = var.instance_type
  ami_id                           = var.ami_id
  instance_min_size                = var.instance_min_size
  instance_max_size                = var.instance_max_size
  task_count                       = var.task_count
  allowed_groups                   = var.allowed_groups
  group_map                        = var.group_map
  group_fanout                     = var.group_fanout
  health_check_interval            = var.health_check_interval
  health_check_unhealthy_threshold = var.health_check_unhealthy_threshold
  feed_peak_rates                  = var.feed_peak_rates
  ingress_windows                  = var.ingress_windows
  senders                          = var.senders
  merge                            = var.merge
  alarm_feeds                      = var.alarm_feeds
  alarm_policies                   = var.alarm_policies
  alarm_emails                     = var.alarm_emails
  ticket_emails                    = var.ticket_emails
  watch_multicast_attachment       = true
  multicast_attachment_id          = module.domain.relay_vpc_attachment_id
  ecr_pull_account_ids             = sort(distinct([for c in values(var.customers) : c.account_id]))
  deletion_protection              = var.deletion_protection
}
