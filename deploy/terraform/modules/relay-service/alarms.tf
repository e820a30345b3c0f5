locals {
  traffic_alarms = {
    for pair in setproduct(local.alarm_feeds, ["PacketsIn", "PacketsOut"]) :
    "${pair[0]}-${pair[1]}" => { feed = pair[0], metric = pair[1] }
  }
}

# EMF metrics from the egress, summed over all tasks (the standby emits zeros).
# Missing data is breaching: a dead relay prints no EMF lines at all.
resource "aws_cloudwatch_metric_alarm" "traffic" {
  for_each            = local.traffic_alarms
  alarm_name          = "${var.name}-${each.value.feed}-no-${each.value.metric}"
  alarm_description   = "No ${each.value.metric} on feed ${each.value.feed} (egress) for ${var.alarm_evaluation_periods} minutes. See docs/DEPLOY.md, Alarms."
  namespace           = "McastRelay"
  metric_name         = each.value.metric
  dimensions          = { Feed = each.value.feed, Role = "egress" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
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
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
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
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = local.tags
}
