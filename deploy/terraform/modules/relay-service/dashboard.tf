# One row per feed: what the egress tasks took in and emitted, what they lost
# or dropped, reconnects, the datacenter senders of the task carrying the
# feed, and the NLB's healthy targets; then the multicast
# gateway's own counters for the relay attachment.
locals {
  region = data.aws_region.current.name
  feed_rows = flatten([
    for i, f in sort(keys(var.feeds)) : [
      {
        type = "metric", x = 0, y = i * 6, width = 8, height = 6
        properties = {
          title  = "${f}: packets in / out (egress, all tasks)"
          region = local.region, view = "timeSeries", stat = "Sum", period = 60
          metrics = [
            ["McastRelay", "PacketsIn", "Feed", f, "Role", "egress"],
            ["McastRelay", "PacketsOut", "Feed", f, "Role", "egress"],
          ]
        }
      },
      {
        type = "metric", x = 8, y = i * 6, width = 8, height = 6
        properties = {
          title  = "${f}: gaps, drops, reconnects"
          region = local.region, view = "timeSeries", stat = "Sum", period = 60
          metrics = [
            ["McastRelay", "Gaps", "Feed", f, "Role", "egress"],
            ["McastRelay", "Drops", "Feed", f, "Role", "egress"],
            ["McastRelay", "Reconnects", "Feed", f, "Role", "egress"],
          ]
        }
      },
      {
        type = "metric", x = 16, y = i * 6, width = 4, height = 6
        properties = {
          title  = "${f}: datacenter senders (expected ${local.senders[f]})"
          region = local.region, view = "timeSeries", period = 60
          metrics = [
            ["McastRelay", "Senders", "Feed", f, "Role", "egress", { stat = "Maximum", label = "senders (task carrying the feed)" }],
          ]
          annotations = { horizontal = [{ label = "expected", value = local.senders[f] }] }
          yAxis       = { left = { min = 0 } }
        }
      },
      {
        type = "metric", x = 20, y = i * 6, width = 4, height = 6
        properties = {
          title  = "${f}: NLB targets"
          region = local.region, view = "timeSeries", period = 60
          metrics = [
            ["AWS/NetworkELB", "HealthyHostCount", "LoadBalancer", aws_lb.relay.arn_suffix, "TargetGroup", aws_lb_target_group.feed[f].arn_suffix, { stat = "Minimum" }],
            ["AWS/NetworkELB", "UnHealthyHostCount", "LoadBalancer", aws_lb.relay.arn_suffix, "TargetGroup", aws_lb_target_group.feed[f].arn_suffix, { stat = "Maximum" }],
          ]
        }
      },
    ]
  ])
  tgw_row = var.watch_multicast_attachment ? [{
    type = "metric", x = 0, y = length(var.feeds) * 6, width = 24, height = 6
    properties = {
      title  = "Multicast Transit Gateway: relay attachment"
      region = local.region, view = "timeSeries", stat = "Sum", period = 60
      metrics = [
        ["AWS/TransitGateway", "PacketsIn", "TransitGatewayAttachment", var.multicast_attachment_id],
        ["AWS/TransitGateway", "PacketsOut", "TransitGatewayAttachment", var.multicast_attachment_id],
        ["AWS/TransitGateway", "PacketDropCountNoRoute", "TransitGatewayAttachment", var.multicast_attachment_id],
      ]
    }
  }] : []
}

resource "aws_cloudwatch_dashboard" "relay" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = concat(local.feed_rows, local.tgw_row) })
}
