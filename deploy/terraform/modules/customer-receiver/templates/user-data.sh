#!/bin/bash
# Receiver bootstrap: Transit Gateway multicast membership is IGMPv2 only,
# and Linux defaults to IGMPv3. Persist it for every interface.
set -euo pipefail
cat > /etc/sysctl.d/90-mcast-receiver.conf <<'SYSCTL'
net.ipv4.conf.all.force_igmp_version=2
net.ipv4.conf.default.force_igmp_version=2
net.core.rmem_max=33554432
SYSCTL
sysctl -p /etc/sysctl.d/90-mcast-receiver.conf
