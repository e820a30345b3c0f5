//! The lab: the whole design in network namespaces (`lab/up`, `lab/down`), and
//! the fault scenarios of docs/RELIABILITY.md, each printing its figures.
//!
//! dc (publisher + ingress) reaches the London egress through a ~1 ms WAN link
//! and the Tokyo egress through a 115 ms one, both made by `lab/linkemu.py`
//! (this kernel has no netem); each egress emits into its VPC, a bridge with
//! IGMP snooping and an IGMPv2 querier, where customers A (joined), B (not
//! joined; in s9 joined behind a security-group filter) and T (Tokyo, joined)
//! force IGMPv2.
//!
//! Scenarios 10-13 build the lab with two datacenter hosts (`lab/up --two-dc`):
//! the publisher on an exchange LAN that dc and dc2 both join, dc2 with its own
//! links to London (2 ms) and Tokyo (117 ms), an ingress on each host
//! (`--sender dc-a`, `dc-b`) and egresses that merge them (`--merge testhdr`).
//!
//! Root only (CI runs as root): without it each test prints `SKIPPED` and
//! passes, except under CI (`MCAST_RELAY_CI`), where it fails. The scenarios run one at a time (a lock in `harness.rs`): they
//! share two cores and measure time. Each builds its own lab under a unique
//! prefix and tears it down on the way out, failed or not.
//!
//! `harness.rs` holds what the scenarios share; each `sN_*.rs` holds one
//! scenario's test and what only it uses.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod s10_dc_host_killed;
mod s11_dc_link_cut;
mod s12_loss_on_both_paths;
mod s13_merged_against_each_path;
mod s14_long_path;
mod s1_happy_path;
mod s2_igmp;
mod s3_egress_restart;
mod s4_link_cut;
mod s5_tokyo_stall;
mod s6_loss_and_reordering;
mod s7_stranger;
mod s8_deribit_capture;
mod s9_customer_sends_to_feed_group;
