locals {
  policy = { for f in keys(var.feeds) : f => lookup(var.alarm_policies, f, var.alarm_policies["prod"]) }
  topic  = { for f, p in local.policy : f => p.notify == "page" ? aws_sns_topic.alarms.arn : aws_sns_topic.tickets.arn }

  traffic_alarms = {
    for pair in setproduct(local.alarm_feeds, ["PacketsIn", "PacketsOut"]) :
    "${pair[0]}-${pair[1]}" => { feed = pair[0], metric = pair[1] }
  }
  # Loss the egress saw (Gaps: sequence numbers missing from the ingress's
  # stream, i.e. the window did not cover an outage) and loss it caused
  # (Drops: datagrams it could not emit: outside --allow, too big, send errors).
  loss_alarms = {
    for pair in setproduct(keys(var.feeds), ["Gaps", "Drops"]) :
    "${pair[0]}-${pair[1]}" => {
      feed      = pair[0]
      metric    = pair[1]
      threshold = pair[1] == "Gaps" ? local.policy[pair[0]].gaps_per_minute : local.policy[pair[0]].drops_per_minute
    }
  }
}

# EMF metrics from the egress, summed over all tasks (the standby emits zeros).
# Missing data is breaching: a dead relay prints no EMF lines at all.
resource "aws_cloudwatch_metric_alarm" "traffic" {
  for_each            = local.traffic_alarms
  alarm_name          = "${var.name}-${each.value.feed}-no-${each.value.metric}"
  alarm_description   = "No ${each.value.metric} on feed ${each.value.feed} (egress) for ${local.policy[each.value.feed].silence_minutes} minutes. Policy: ${local.policy[each.value.feed].notify}. See docs/DEPLOY.md, Alarms."
  namespace           = "McastRelay"
  metric_name         = each.value.metric
  dimensions          = { Feed = each.value.feed, Role = "egress" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = local.policy[each.value.feed].silence_minutes
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [local.topic[each.value.feed]]
  ok_actions          = [local.topic[each.value.feed]]
  tags                = merge(local.tags, { Feed = each.value.feed })
}

# Missing data is not loss: no EMF line means no Gaps to report (the silence
# alarms above catch a relay that prints nothing).
resource "aws_cloudwatch_metric_alarm" "loss" {
  for_each            = local.loss_alarms
  alarm_name          = "${var.name}-${each.value.feed}-${lower(each.value.metric)}"
  alarm_description   = "${each.value.metric} on feed ${each.value.feed} (egress) above ${each.value.threshold} a minute for ${local.policy[each.value.feed].gap_minutes} minutes. Policy: ${local.policy[each.value.feed].notify}. See docs/DEPLOY.md, Alarms."
  namespace           = "McastRelay"
  metric_name         = each.value.metric
  dimensions          = { Feed = each.value.feed, Role = "egress" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = local.policy[each.value.feed].gap_minutes
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic[each.value.feed]]
  ok_actions          = [local.topic[each.value.feed]]
  tags                = merge(local.tags, { Feed = each.value.feed })
}

# Redundancy lost: the task carrying the feed has fewer datacenter senders
# than expected (EMF Senders, a reading of the links connected when the line
# was printed). Customers still get the feed, so this never pages, whatever
# the feed's policy (dev never pages either way). Maximum over the tasks:
# the standby task prints Senders = 0 every minute, so a Minimum would
# always be 0. The maximum is the senders of the task that has the most, so
# it also fires when the senders sit on two different tasks (each task emits
# the feed: customers get it twice). Missing data is not breaching: a relay
# that prints nothing is the silence alarms' business.
resource "aws_cloudwatch_metric_alarm" "senders" {
  for_each            = { for f, n in local.senders : f => n if n >= 2 }
  alarm_name          = "${var.name}-${each.key}-senders"
  alarm_description   = "Feed ${each.key}: the egress task carrying it has had fewer than ${each.value} datacenter senders for ${local.policy[each.key].senders_minutes} minutes. Customers still get the feed, but it is one failure (a host, a line, a path) from an outage; or the senders are on two different tasks and customers get it twice. Ticket, never a page. See docs/DEPLOY.md, Alarms and Redundant layout."
  namespace           = "McastRelay"
  metric_name         = "Senders"
  dimensions          = { Feed = each.key, Role = "egress" }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = local.policy[each.key].senders_minutes
  threshold           = each.value
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.tickets.arn]
  ok_actions          = [aws_sns_topic.tickets.arn]
  tags                = merge(local.tags, { Feed = each.key })
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each            = var.feeds
  alarm_name          = "${var.name}-${each.key}-unhealthy-targets"
  alarm_description   = "A relay task fails the NLB health check (GET /healthz) for feed ${each.key}. See docs/DEPLOY.md, Alarms."
  namespace           = "AWS/NetworkELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.relay.arn_suffix, TargetGroup = aws_lb_target_group.feed[each.key].arn_suffix }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic[each.key]]
  ok_actions          = [local.topic[each.key]]
  tags                = merge(local.tags, { Feed = each.key })
}

# Zero unhealthy can also mean zero targets; this one catches that.
resource "aws_cloudwatch_metric_alarm" "no_healthy_targets" {
  for_each            = var.feeds
  alarm_name          = "${var.name}-${each.key}-no-healthy-targets"
  alarm_description   = "No healthy relay task behind the NLB for feed ${each.key}. See docs/DEPLOY.md, Alarms."
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = aws_lb.relay.arn_suffix, TargetGroup = aws_lb_target_group.feed[each.key].arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [local.topic[each.key]]
  ok_actions          = [local.topic[each.key]]
  tags                = merge(local.tags, { Feed = each.key })
}

# The Transit Gateway's own view: packets it received from the relay VPC's
# attachment (AWS/TransitGateway, per attachment). The relays can count
# PacketsOut while the gateway gets nothing (a security group, a NACL, a subnet
# not associated with the domain): this fires then. All feeds share the
# attachment, so it pages.
resource "aws_cloudwatch_metric_alarm" "tgw_packets_in" {
  count               = var.watch_multicast_attachment ? 1 : 0
  alarm_name          = "${var.name}-tgw-no-packets-from-relays"
  alarm_description   = "The multicast Transit Gateway received no packets from the relay VPC attachment for ${var.alarm_policies["prod"].silence_minutes} minutes. See docs/DEPLOY.md, Alarms."
  namespace           = "AWS/TransitGateway"
  metric_name         = "PacketsIn"
  dimensions          = { TransitGatewayAttachment = var.multicast_attachment_id }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.alarm_policies["prod"].silence_minutes
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}
