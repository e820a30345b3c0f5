# Names, addresses and settings of the lab; sourced by lab/up, lab/down, lab/link.
# Everything is named after the prefix (first argument or $LAB_PREFIX, default
# "mcl"), so several labs and leftovers of a failed run never clash.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=${LAB_PREFIX:-mcl}
if [ $# -gt 0 ] && [[ $1 != -* ]] && [[ $1 != *=* ]] && ! [[ $1 =~ ^(ldn|tyo)2?$ ]]; then
    P=$1
    shift
fi
if ! [[ $P =~ ^[A-Za-z0-9_]{1,24}$ ]]; then
    echo "lab: prefix must be 1-24 of [A-Za-z0-9_], not '$P'" >&2
    exit 2
fi
ARGS=("$@")
RUN=${LAB_RUN_ROOT:-/tmp/mcast-lab}/$P

# Namespaces: the datacenter, the two WAN links (the emulator sits in them),
# the two egress hosts, the two VPCs (a bridge each: the multicast domain),
# London's customers A (joined) and B (not joined), Tokyo's T, and a stranger
# inside the London VPC.
NS_DC=$P-dc
NS_WL=$P-wl
NS_WT=$P-wt
NS_LDN=$P-ldn
NS_TYO=$P-tyo
NS_VL=$P-vl
NS_VT=$P-vt
NS_CA=$P-ca
NS_CB=$P-cb
NS_CT=$P-ct
NS_X=$P-x
ALL_NS=("$NS_DC" "$NS_WL" "$NS_WT" "$NS_LDN" "$NS_TYO" "$NS_VL" "$NS_VT" "$NS_CA" "$NS_CB" "$NS_CT" "$NS_X")
# With two datacenter hosts (lab/up --two-dc, or LAB_TWO_DC=1): the exchange
# LAN both hosts join (a bridge; the publisher sits on it), the second host,
# and its own two WAN links.
NS_EX=$P-ex
NS_DC2=$P-dc2
NS_WL2=$P-wl2
NS_WT2=$P-wt2
TWO_DC_NS=("$NS_EX" "$NS_DC2" "$NS_WL2" "$NS_WT2")
TWO_DC=${LAB_TWO_DC:-0}

# Addresses (all private, all inside the namespaces).
DC_FEED=10.200.0.1       # dc feed0: the exchange LAN the publisher sends on
DC_WL=10.200.1.1         # dc wl0   <-> 10.200.1.2 wl d0   (/30)
WL_DC=10.200.1.2
WL_LDN=10.200.1.5        # wl l0    <-> 10.200.1.6 ldn wan0 (/30)
LDN_WAN=10.200.1.6
DC_WT=10.200.2.1         # dc wt0   <-> 10.200.2.2 wt d0   (/30)
WT_DC=10.200.2.2
WT_TYO=10.200.2.5        # wt l0    <-> 10.200.2.6 tyo wan0 (/30)
TYO_WAN=10.200.2.6
# Two datacenter hosts only:
EX_PUB=10.200.0.100      # ex br0: the exchange LAN's publisher (10.200.0.0/24)
DC2_FEED=10.200.0.2      # dc2 feed0 on the exchange LAN (dc keeps 10.200.0.1)
DC2_WL=10.200.3.1        # dc2 wl0  <-> 10.200.3.2 wl2 d0   (/30)
WL2_DC=10.200.3.2
WL2_LDN=10.200.3.5       # wl2 l0   <-> 10.200.3.6 ldn wan1 (/30)
LDN_WAN2=10.200.3.6
DC2_WT=10.200.4.1        # dc2 wt0  <-> 10.200.4.2 wt2 d0   (/30)
WT2_DC=10.200.4.2
WT2_TYO=10.200.4.5       # wt2 l0   <-> 10.200.4.6 tyo wan1 (/30)
TYO_WAN2=10.200.4.6
LDN_VPC=10.201.1.1       # London VPC 10.201.1.0/24: egress vpc0
CA_ADDR=10.201.1.11
CB_ADDR=10.201.1.12
X_ADDR=10.201.1.66
TYO_VPC=10.202.1.1       # Tokyo VPC 10.202.1.0/24: egress vpc0
CT_ADDR=10.202.1.11

# One-way delays of the two WAN links. LD4 to eu-west-2 over Direct Connect is
# about a millisecond; London to Tokyo is ~230 ms round trip on the AWS
# backbone, so 115 ms each way.
LDN_DELAY_MS=${LAB_LDN_DELAY_MS:-1}
TYO_DELAY_MS=${LAB_TYO_DELAY_MS:-115}
# dc2's links: a little longer, so the two paths can be told apart.
LDN2_DELAY_MS=${LAB_LDN2_DELAY_MS:-2}
TYO2_DELAY_MS=${LAB_TYO2_DELAY_MS:-117}

# The TCP buffer maxima (bytes) of the hosts at the ends of the WAN links (dc,
# dc2, ldn, tyo), for the kernel's autotuning: net.ipv4.tcp_wmem and tcp_rmem
# are per namespace. One connection carries at most its send buffer per round
# trip; Tokyo at 20k/s of 1,400 B over 230 ms holds ~6.6 MB in flight, and
# Linux counts each segment's overhead against the buffer too, so twice that
# and some: 32 MiB. 0 leaves whatever the host has (a new namespace copies
# the host's values).
TCP_BUF_MAX=${LAB_TCP_BUF_MAX:-33554432}

# The VPC bridges' IGMP querier: a general query every 120 s, as the Transit
# Gateway sends (in centiseconds; the IGMP scenario shortens it to see a refresh).
QUERY_INTERVAL_CS=${LAB_QUERY_INTERVAL_CS:-12000}

# The IGMP version customers force (sysctl force_igmp_version); 0 = kernel default (v3).
CUSTOMER_IGMP=${LAB_CUSTOMER_IGMP:-2}

# The feed the relays carry when started by `lab/up --relays`.
FEED=prod
FEED_PORT=6667
FEED_GROUPS=${LAB_GROUPS:-239.201.0.1:6100,239.201.0.2:6101}
ALLOW=239.201.0.0/16

lab_bin() {
    local root
    root=$(cd "$LAB_DIR/.." && pwd)
    if [ -n "${MCAST_RELAY_BIN:-}" ]; then
        echo "$MCAST_RELAY_BIN"
    elif [ -x "$root/target/release/mcast-relay" ]; then
        echo "$root/target/release/mcast-relay"
    else
        echo "$root/target/debug/mcast-relay"
    fi
}

lab_namespaces() {
    # Every namespace of this prefix, including ones a failed run left behind.
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${P}-(dc|wl|wt|ldn|tyo|vl|vt|ca|cb|ct|x|ex|dc2|wl2|wt2)\$" || true
}
