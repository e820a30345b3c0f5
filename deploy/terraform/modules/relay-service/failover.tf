# How long one feed can go without an egress when the task carrying it dies,
# and what the datacenter ingress must hold meanwhile (its replay window).
# docs/DEPLOY.md, "Replay window", walks through the same numbers.
#
# The worst case is a task that dies without closing its connection (instance
# or zone lost) while the NLB still counts it healthy:
#
#   1. the ingress notices the silence: the protocol's dead-peer timeout
#      (2.5 s, src/wire/session.rs DEAD_AFTER);
#   2. the NLB keeps sending new connections to the dead target until it has
#      failed `unhealthy_threshold` checks: at worst interval x threshold +
#      timeout after the failure;
#   3. the NLB starts routing around it: AWS publishes no figure; we allow
#      nlb_reaction_seconds;
#   4. the ingress's attempt that was in flight to the dead target times out
#      (connect timeout 3 s, src/ingress.rs CONNECT_TIMEOUT), then it waits its
#      backoff, capped at 5 s (src/net/link.rs), and connects to a healthy task;
#   5. the handshake: a few round trips, at most 1 s even to Tokyo (230 ms RTT).
#
# Everything the feed sent in that time is replayed from the window, so the
# window must be at least that old (secs) and that large (bytes) at peak.
locals {
  dead_peer_seconds    = 2.5
  nlb_reaction_seconds = 10
  connect_timeout      = 3
  backoff_cap          = 5
  handshake_seconds    = 1
  # Bytes the window spends per datagram beyond its payload: the v1 data frame
  # header is 33 bytes; the rest is room for v2's per-record authentication.
  frame_overhead_bytes = 64

  nlb_detection_seconds = var.health_check_interval * var.health_check_unhealthy_threshold + var.health_check_timeout
  worst_failover_seconds = (local.dead_peer_seconds + local.nlb_detection_seconds + local.nlb_reaction_seconds +
  local.connect_timeout + local.backoff_cap + local.handshake_seconds)

  peak = { for f in keys(var.feeds) : f => lookup(var.feed_peak_rates, f, var.feed_peak_rates["prod"]) }
  required_window = {
    for f, r in local.peak : f => {
      secs  = ceil(local.worst_failover_seconds)
      bytes = ceil(r.datagrams_per_second * (r.mean_datagram_bytes + local.frame_overhead_bytes) * local.worst_failover_seconds)
    }
  }
  window = { for f in keys(var.feeds) : f => lookup(var.ingress_windows, f, var.default_ingress_window) }
  window_short = {
    for f, w in local.window : f => (
      w.secs < local.required_window[f].secs ? "the ingress window holds ${w.secs} s, but a failover can take ${local.worst_failover_seconds} s (health checks ${var.health_check_interval} s x ${var.health_check_unhealthy_threshold} + ${var.health_check_timeout} s timeout, see failover.tf): set window_secs to at least ${local.required_window[f].secs} in ingress.toml and ingress_windows." :
      w.bytes < local.required_window[f].bytes ? "the ingress window holds ${w.bytes} bytes, but ${local.worst_failover_seconds} s at the peak of ${local.peak[f].datagrams_per_second} datagrams/s x (${local.peak[f].mean_datagram_bytes} + ${local.frame_overhead_bytes}) bytes needs ${local.required_window[f].bytes}: set window_bytes to at least that in ingress.toml and ingress_windows." :
      ""
    )
  }
}
