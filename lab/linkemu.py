#!/usr/bin/env python3
"""A packet-level WAN link emulator between two TUN devices.

This kernel has no sch_netem, so delay, loss, reordering and cuts are made in
user space. The lab routes one link through a middle namespace that holds two
TUN devices: everything the kernel routes into TUN `a` is read here, held for
the configured delay (or dropped, or held longer so later packets overtake
it), then written into TUN `b`, and the other way round. A packet written into
a TUN is received by the middle namespace's kernel, which routes it on to the
far side. Standard library only.

Settings come from the command line and can be changed while it runs by
rewriting the control file (`key=value` lines; `lab/link` does that):

    delay_ms=115      one-way delay, each direction
    jitter_ms=0       uniform extra delay 0..jitter (reorders when > spacing)
    loss=1            percent of packets dropped, each direction
    reorder=1         percent of packets held back reorder_ms longer
    reorder_ms=3      how long a reordered packet is held back
    cut=1             drop everything (a silent blackhole, both ways)

Every half second it writes counters (JSON) to the stats file.
"""

import argparse
import errno
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

KEYS = {
    "delay_ms": float,
    "jitter_ms": float,
    "loss": float,
    "reorder": float,
    "reorder_ms": float,
    "cut": int,
}


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def read_ctl(path, cfg):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return cfg
    new = dict(cfg)
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or "=" not in line:
            continue
        k, v = (x.strip() for x in line.split("=", 1))
        if k in KEYS:
            try:
                new[k] = KEYS[k](v)
            except ValueError:
                print(f"linkemu: ignoring {line!r}", file=sys.stderr)
    return new


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="TUN facing one side")
    p.add_argument("--b", required=True, help="TUN facing the other side")
    p.add_argument("--ctl", help="control file, re-read when it changes")
    p.add_argument("--stats", help="counters written here (JSON) every 0.5 s")
    p.add_argument("--seed", type=int, default=None)
    for k, t in KEYS.items():
        p.add_argument("--" + k.replace("_", "-"), type=t, default=3 if k == "reorder_ms" else 0)
    args = p.parse_args()
    cfg = {k: getattr(args, k) for k in KEYS}
    rng = random.Random(args.seed)

    fa, fb = open_tun(args.a), open_tun(args.b)
    out = {fa: fb, fb: fa}
    name = {fa: "a_to_b", fb: "b_to_a"}
    stats = {
        d: {"in": 0, "out": 0, "lost": 0, "cut": 0, "held_back": 0, "bytes": 0, "write_errors": 0}
        for d in name.values()
    }
    heap = []  # (release time, counter, destination fd, packet)
    counter = 0
    ctl_mtime = None
    next_ctl = next_stats = 0.0
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)

    def write_stats():
        if not args.stats:
            return
        tmp = args.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "config": cfg, "queued": len(heap), **stats}, f)
        os.replace(tmp, args.stats)

    write_stats()
    while running:
        now = time.monotonic()
        if args.ctl and now >= next_ctl:
            next_ctl = now + 0.05
            try:
                m = os.stat(args.ctl).st_mtime_ns
            except FileNotFoundError:
                m = None
            if m != ctl_mtime:
                ctl_mtime = m
                cfg = read_ctl(args.ctl, cfg)
                print(f"linkemu {args.a}<->{args.b}: {cfg}", file=sys.stderr, flush=True)
                write_stats()
        if now >= next_stats:
            next_stats = now + 0.5
            write_stats()
        # Release what is due.
        while heap and heap[0][0] <= now:
            _, _, dst, pkt = heapq.heappop(heap)
            d = name[out[dst]]
            try:
                os.write(dst, pkt)
                stats[d]["out"] += 1
                stats[d]["bytes"] += len(pkt)
            except OSError:
                stats[d]["write_errors"] += 1
        timeout = 0.05
        if heap:
            timeout = max(0.0, min(timeout, heap[0][0] - now))
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for src in ready:
            d = name[src]
            for _ in range(256):
                try:
                    pkt = os.read(src, 65536)
                except BlockingIOError:
                    break
                except OSError as e:
                    if e.errno in (errno.EAGAIN, errno.EINTR):
                        break
                    raise
                s = stats[d]
                s["in"] += 1
                if cfg["cut"]:
                    s["cut"] += 1
                    continue
                if cfg["loss"] > 0 and rng.random() * 100 < cfg["loss"]:
                    s["lost"] += 1
                    continue
                t = now + cfg["delay_ms"] / 1e3
                if cfg["jitter_ms"] > 0:
                    t += rng.random() * cfg["jitter_ms"] / 1e3
                if cfg["reorder"] > 0 and rng.random() * 100 < cfg["reorder"]:
                    t += cfg["reorder_ms"] / 1e3
                    s["held_back"] += 1
                counter += 1
                heapq.heappush(heap, (t, counter, out[src], pkt))
    write_stats()


if __name__ == "__main__":
    main()
