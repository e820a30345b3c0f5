"""Markdown tables, the issue's ratios and hand-made SVG plots from the
results bench/run collects (also usable on a saved JSON: bench/run --render)."""

import html
import math
import os
import random
import shlex
import statistics

MIB = 1 << 20
TITLES = {
    "direct": "direct kernel path (no relay)",
    "relay": "mcast-relay",
    "relay-lowlat": "mcast-relay, --cpu-dma-latency-us 0",
    "relay-spin": "mcast-relay, egress --spin",
    "relay-tls": "mcast-relay, TLS",
    "relay-clear": "mcast-relay, --no-encrypt",
    "relay-v1": "mcast-relay v1 (d709db5, no record authentication)",
    "socat": "socat pair",
    "socat-tuned": "socat pair, TCP_NODELAY + 4 MiB rcvbuf",
    "udp-over-tcp": "udp-over-tcp",
    "floor-c": "floor: the least relay in C (bench/floor.c)",
}
# Where the plots' label column (290 px) is too narrow for the full title.
SVG_TITLES = {"relay-v1": "mcast-relay v1 (d709db5)"}
PEERS = ["socat", "socat-tuned", "udp-over-tcp"]
AUTH_TARGET = 1.10  # issue 11: at most 10% more CPU per datagram than without record authentication
AUTH_RATE = 100_000  # ... at 100k datagrams/s of 160 B
SIZE_TITLES = {"160": "160 B", "1400": "1,400 B", "mix": "Deribit capture's size mix"}


def k(v):
    if v is None:
        return "-"
    if v >= 10_000:
        return f"{v / 1000:,.0f}k"
    return f"{v / 1000:,.1f}k"


def us(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 10 else f"{v:.1f}"


def pct(x):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if x < 0.0001:
        return f"{x * 100:.4f}%"
    return f"{x * 100:.2f}%" if x < 0.1 else f"{x * 100:.0f}%"


# ---------------------------------------------------------------------------
# Figures with qualifiers: ("=", v), (">=", v) or ("<", v).

LIMITS = {"loss": "loss above", "backlog": "backlog above", "sender": "publisher-bound above",
          "ceiling": "search ceiling", None: "search stopped"}


def zero_loss(run):
    z = run.get("zero_loss")
    if not z:
        return None
    if z["rate"] is None:  # nothing passed (or was confirmed) down to z["upper"]
        return ("<", z.get("upper") or z["start"])
    if z.get("limit") in ("sender", "ceiling"):
        return (">=", z["rate"])
    return ("=", z["rate"])


def zero_loss_text(run, note=True):
    z = zero_loss(run)
    if z is None:
        return "-"
    q, v = z
    lim = run["zero_loss"].get("limit")
    n = f" ({LIMITS.get(lim, lim)})" if note else ""
    if q == "<":
        return f"< {k(v)}" + (f" ({lim})" if note and lim else "")
    if q == ">=":
        return f"≥ {k(v)}{n}"
    return f"{k(v)}{n}"


def ratio(a, b):
    """a/b with a qualifier from the operands' qualifiers; None if unknown."""
    if a is None or b is None or not b[1]:
        return None
    r = a[1] / b[1]
    up = a[0] == ">=" or b[0] == "<"
    down = a[0] == "<" or b[0] == ">="
    q = "~" if up and down else ">=" if up else "<=" if down else "="
    return (q, r)


def ratio_text(r):
    if r is None:
        return "-"
    q, v = r
    sym = {"=": "", ">=": "≥ ", "<=": "≤ ", "~": "~"}[q]
    return f"{sym}{v:.2f}x"


def verdict(r, target, higher_is_better=True):
    if r is None:
        return "not measured"
    q, v = r
    if q == "~":
        return "undetermined"
    meets = v >= target if higher_is_better else v <= target
    if meets:
        # A lower bound that meets, or an exact figure: met. An upper bound
        # that meets the "higher" target says nothing (and vice versa).
        if (higher_is_better and q == "<=") or (not higher_is_better and q == ">="):
            return "undetermined"
        return "**met**"
    if (higher_is_better and q == ">=") or (not higher_is_better and q == "<="):
        return "undetermined"
    return "**missed**"


def find(results, path, size):
    for r in results["runs"]:
        if r["path"] == path and r["size"] == size:
            return r
    return None


def not_installed(results, path):
    tool = {"socat": "socat", "socat-tuned": "socat", "udp-over-tcp": "udp-over-tcp",
            "relay-tls": "openssl", "relay-v1": "relay-v1",
            "floor-c": "floor-c"}.get(path)
    t = results.get("tools", {}).get(tool) if tool else None
    if t and not t.get("ok", True):
        return t.get("why") or "unavailable"
    return None


def lat_rates(results):
    return [str(r) for r in results["modes"]["lat_rates"]]


def rss_text(run):
    h = run.get("peak_rss") or {}
    if not h:
        return "-"
    return " + ".join(f"{v / MIB:.1f}" for v in h.values()) + f" ({'+'.join(h)})"


# ---------------------------------------------------------------------------

def size_table(results, size):
    rates = lat_rates(results)
    head = ["path", "zero-loss rate (pps)", "delivered at saturation (pps)"]
    for r in rates:
        head.append(f"p50 / p99 / p99.9 at {k(int(r))}/s (µs)")
    cpu_at = max(int(r) for r in rates)
    head += [f"CPU s per M datagrams (at {k(cpu_at)}/s)", "peak RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for path in results["paths"]:
        run = find(results, size, path) if False else find(results, path, size)
        why = not_installed(results, path)
        if run is None:
            continue
        if "error" in run:
            msg = f"not installed: {why}" if why else f"failed: {run['error']}"
            lines.append(f"| {TITLES[path]} | {md_escape(msg)} |" + " |" * (len(head) - 2))
            continue
        sat = run.get("saturation")
        cells = [TITLES[path], zero_loss_text(run),
                 k(sat["delivered"]) + (f" (offered {k(sat['offered'])}, loss {pct(sat['loss'])})")
                 if sat else "- (not measured in this mode)"]
        for r in rates:
            l = run["latency"].get(r)
            if not l:
                cells.append("-")
                continue
            c = f"{us(l['p50'])} / {us(l['p99'])} / {us(l['p999'])}"
            if l["loss"] >= results["loss_limit"]:
                c += f" (loss {pct(l['loss'])})"
            cells.append(c)
        cells.append("n/a (no relay)" if path == "direct" else
                     (f"{run['cpu_per_m']:.2f}" if run.get("cpu_per_m") is not None else "-"))
        cells.append("n/a" if path == "direct" else rss_text(run))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def targets(results):
    """The issue's ratios, at 160 B."""
    rows = []
    size = "160"
    direct = find(results, "direct", size)
    peers = [(p, find(results, p, size)) for p in PEERS]
    peers = [(p, r) for p, r in peers if r and "error" not in r]
    best_peer = None
    for p, r in peers:
        z = zero_loss(r)
        if z and (best_peer is None or z[1] > best_peer[1][1]):
            best_peer = (p, z)
    rate20 = "20000"
    for rp in ("relay", "relay-tls"):
        run = find(results, rp, size)
        if not run or "error" in run:
            continue
        z = zero_loss(run)
        if best_peer:
            r = ratio(z, best_peer[1])
            rows.append((f"{TITLES[rp]}: zero-loss rate vs the best peer ({TITLES[best_peer[0]]}, "
                         f"{zero_loss_text(find(results, best_peer[0], size))})",
                         f"{zero_loss_text(run)} / {k(best_peer[1][1])}", ratio_text(r), "≥ 2x",
                         verdict(r, 2.0)))
        if direct and "error" not in direct:
            r = ratio(z, zero_loss(direct))
            rows.append((f"{TITLES[rp]}: zero-loss rate vs the direct path",
                         f"{zero_loss_text(run)} / {zero_loss_text(direct)}", ratio_text(r), "≥ 0.5x",
                         verdict(r, 0.5)))
            a = run["latency"].get(rate20)
            b = direct["latency"].get(rate20)
            if a and b and b["p99"]:
                r = ("=", a["p99"] / b["p99"])
                rows.append((f"{TITLES[rp]}: p99 at 20k/s vs the direct path's p99",
                             f"{us(a['p99'])} / {us(b['p99'])} µs", ratio_text(r), "≤ 3x",
                             verdict(r, 3.0, higher_is_better=False)))
    for p, r in peers:
        run = find(results, "relay", size)
        if run and "error" not in run:
            rr = ratio(zero_loss(run), zero_loss(r))
            rows.append((f"mcast-relay vs {TITLES[p]}: zero-loss rate",
                         f"{zero_loss_text(run)} / {zero_loss_text(r)}", ratio_text(rr), "", ""))
    # Memory: every relay trial, and the stalled destination.
    for t, m, ratio_, v in memory_rows(results):
        rows.append((t, m, ratio_, "≤ 1x" if ratio_ else "", v))
    out = ["| target | measured | ratio | target ratio | verdict |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Issue 17: the hot path. Rows of (target, measured, target value, verdict).

I17_CPU = {"100000": 5.0, "20000": 15.0}  # µs of CPU per datagram (= CPU s per M), ingress + egress
I17_P50_100K = 150.0  # µs
I17_KEEPUP_P99 = 10_000.0  # µs
I17_SCALE = 1.2  # CPU per datagram at most 1.2x the single-group figure
SENDER_SHARE = 0.97  # the publisher offered at least this share of the rate, or the trial says nothing


def v_le(x, limit):
    if x is None:
        return "not measured"
    return "**met**" if x <= limit else "**missed**"


def memory_rows(results):
    """Issue 7's memory budgets (also issue 17's target 5): (target, measured, ratio, verdict)."""
    rows = []
    wb = results["window_bytes"]
    b_in = wb + 8 * MIB + 16 * MIB
    b_eg = 8 * MIB + 4 * MIB + 16 * MIB
    peak_in = max((r.get("peak_rss", {}).get("ingress", 0) for r in results["runs"]
                   if r["path"].startswith("relay") and "error" not in r), default=0)
    peak_eg = max((r.get("peak_rss", {}).get("egress", 0) for r in results["runs"]
                   if r["path"].startswith("relay") and "error" not in r), default=0)
    if peak_in:
        rows.append(("ingress peak RSS, all trials, vs window + 8 MiB rcvbuf + 16 MiB",
                     f"{peak_in / MIB:.1f} / {b_in / MIB:.0f} MiB", f"{peak_in / b_in:.2f}x",
                     "**met**" if peak_in <= b_in else "**missed**"))
        rows.append(("egress peak RSS, all trials, vs 8 MiB sndbuf + 4 MiB read buffer + 16 MiB",
                     f"{peak_eg / MIB:.1f} / {b_eg / MIB:.0f} MiB", f"{peak_eg / b_eg:.2f}x",
                     "**met**" if peak_eg <= b_eg else "**missed**"))
    st = results.get("stall")
    if st and "error" not in st:
        h = max(st["hwm"]["ingress"], (st.get("hwm_after_resume") or {}).get("ingress", 0))
        rows.append((f"ingress peak RSS with one of two destinations stalled ({st['secs']:.0f} s at "
                     f"{k(st['rate'])}/s, {st['size']} B)",
                     f"{h / MIB:.1f} / {st['budget_ingress'] / MIB:.0f} MiB",
                     f"{h / st['budget_ingress']:.2f}x",
                     "**met**" if h <= st["budget_ingress"] else "**missed**"))
    elif st:
        rows.append(("stalled destination trial", "failed: " + md_escape(st["error"]), "", ""))
    return rows


def sender_bound(l, rate):
    """The publisher offered under 97% of `rate` (median over the trials): the
    trials say nothing about that rate. None if it cannot tell."""
    offered = [t.get("offered") for t in (l or {}).get("trials", []) if t.get("offered") is not None]
    if not offered:
        return None
    med = statistics.median(offered)
    return f"undetermined (the publisher offered {med / rate * 100:.0f}% of {k(rate)}/s)" \
        if med < SENDER_SHARE * rate else None


def i17_rows(results):
    rows = []
    relay = find(results, "relay", "160")
    direct = find(results, "direct", "160")
    floor = find(results, "floor-c", "160")
    floor = floor if floor is not None and "error" not in floor else None
    ok = relay is not None and "error" not in relay
    for rate in ("100000", "20000"):
        l = relay["latency"].get(rate) if ok else None
        cpu = l.get("cpu_per_m") if l else None
        rows.append((f"1. CPU per datagram, ingress + egress, at {k(int(rate))}/s offered",
                     f"{cpu:.2f} µs" if cpu is not None else "-", f"≤ {I17_CPU[rate]:.0f} µs",
                     (cpu is not None and sender_bound(l, int(rate))) or v_le(cpu, I17_CPU[rate])))
        fl = floor["latency"].get(rate) if floor else None
        fcpu = fl.get("cpu_per_m") if fl else None
        if fcpu:
            rel = f"; mcast-relay {cpu / fcpu:.2f}x" if cpu is not None else ""
            rows.append((f"   for reference: {TITLES['floor-c']}, at {k(int(rate))}/s",
                         f"{fcpu:.2f} µs, p50 {us(fl['p50'])} µs{rel}", "no target", "-"))
    hot = results.get("hot") or {}
    ku = hot.get("keepup")
    kr = hot.get("keepup_rate", 180_000)
    if not ku:
        rows.append((f"2. keeps up at {k(kr)}/s (0 loss, p99 ≤ 10 ms)", "-", "0 lost, p99 ≤ 10 ms", "not measured"))
    elif "error" in ku:
        rows.append((f"2. keeps up at {k(kr)}/s (0 loss, p99 ≤ 10 ms)", "failed: " + md_escape(ku["error"]),
                     "0 lost, p99 ≤ 10 ms", "not measured"))
    else:
        n = len(ku["trials"])
        meas = (f"lost {ku['lost']:,.0f} ({pct(ku['loss'])}), p99 {us(ku['p99'])} µs, offered "
                f"{k(ku['offered'])}/s (median of {n})")
        if ku["offered"] < SENDER_SHARE * kr:
            v = f"undetermined (the publisher offered {ku['offered'] / kr * 100:.0f}% of {k(kr)}/s)"
        else:
            v = "**met**" if ku["lost"] == 0 and ku["p99"] <= I17_KEEPUP_P99 else "**missed**"
        rows.append((f"2. keeps up at {k(kr)}/s (0 loss, p99 ≤ 10 ms)", meas, "0 lost, p99 ≤ 10 ms", v))
    l = relay["latency"].get("100000") if ok else None
    rows.append(("3. p50 at 100k/s", f"{us(l['p50'])} µs" if l else "-", f"≤ {I17_P50_100K:.0f} µs",
                 (l and sender_bound(l, 100_000)) or v_le(l["p50"] if l else None, I17_P50_100K)))
    a = relay["latency"].get("20000") if ok else None
    b = direct["latency"].get("20000") if direct and "error" not in direct else None
    if a and b and b["p99"]:
        x = a["p99"] / b["p99"]
        rows.append(("3. p99 at 20k/s vs the direct path's p99", f"{us(a['p99'])} / {us(b['p99'])} µs = {x:.2f}x",
                     "≤ 3x", v_le(x, 3.0)))
    else:
        rows.append(("3. p99 at 20k/s vs the direct path's p99", "-", "≤ 3x", "not measured"))
    sc = hot.get("scale") or []
    base = next((r for r in sc if r["kind"] == "baseline"), None)
    bcpu = base.get("cpu_per_m") if base else None
    sr = hot.get("scale_rate")
    if not sc:
        rows.append(("4. scaling (500 groups, 4 destinations, 8 feeds) vs one group", "-", f"≤ {I17_SCALE}x",
                     "not measured"))
    for r in sc:
        # The --fanout trial has no target: it is in the scaling table only.
        if r["kind"] in ("baseline", "fanout"):
            continue
        what = f"4. scaling, {r['title']}: CPU per datagram" + (" per destination" if r["kind"] == "dests" else "") \
            + f" at {k(sr)}/s total vs one group"
        if "error" in r and r.get("cpu_per_m") is None:
            rows.append((what, "failed: " + md_escape(r["error"]), f"≤ {I17_SCALE}x", "not measured"))
            continue
        cpu = r.get("cpu_per_m")
        if cpu is None or not bcpu:
            rows.append((what, "-", f"≤ {I17_SCALE}x", "not measured"))
            continue
        x = cpu / bcpu
        note = f", loss {pct(r['loss'])}" if r["loss"] >= results["loss_limit"] else ""
        v = v_le(x, I17_SCALE)
        if r["loss"] >= results["loss_limit"]:
            # CPU per datagram delivered: what was lost (the receiver's socket
            # included) still cost the relay, so the figure is too high.
            v = f"undetermined (loss {pct(r['loss'])})"
        if r["offered"] < SENDER_SHARE * sr:
            v = f"undetermined (the publisher offered {r['offered'] / sr * 100:.0f}%)"
        rows.append((what, f"{cpu:.2f} / {bcpu:.2f} µs = {x:.2f}x{note}", f"≤ {I17_SCALE}x", v))
    for t, m, ratio_, v in memory_rows(results):
        rows.append(("5. " + t, m + (f" ({ratio_})" if ratio_ else ""), "≤ 1x", v))
    return rows


def i17_md(results):
    hot = results.get("hot") or {}
    o = ["## The issue's targets (issue 17)\n"]
    reps = results["modes"]["reps"]
    o.append("mcast-relay with authenticated records (a key file on both sides), 160 B. CPU: utime + stime "
             "of the relay processes from `/proc/PID/stat`, µs per datagram delivered (1 CPU s per M = 1 µs); "
             f"medians of {reps} trial(s). "
             + (f"Keep-up: {k(hot.get('keepup_rate'))}/s offered for {hot.get('secs', 0):g} s. "
                f"Scaling: every variant and the baseline (one group, one destination, one feed) at "
                f"{k(hot.get('scale_rate'))}/s offered in total, taking turns trial by trial; with several "
                "destinations (or copies by `--fanout`, a trial with no target) the CPU of the ingress and all "
                "egresses is divided by destinations × datagrams; "
                + ("past 20 groups on a port, each group has a receive socket of its own, bound to the group, "
                   "in the relay and in listen."
                   if hot.get("socket_per_group") else
                   f"groups are joined {hot.get('igmp_max_memberships') or '?'} per socket "
                   "(`net.ipv4.igmp_max_memberships` of the namespace).") if hot else
                "The keep-up and scaling trials are not in these results (a run without the `relay` "
                "path at 160 B, or from before they were added).")
             + "\n")
    o.append("| target | measured | target value | verdict |")
    o.append("|---|---|---|---|")
    for r in i17_rows(results):
        o.append("| " + " | ".join(r) + " |")
    sc = hot.get("scale") or []
    if sc:
        o.append("")
        o.append("| scaling trial | CPU µs per datagram (ingress / egresses) | loss | p50 / p99 µs | offered |")
        o.append("|---|---|---|---|---|")
        for r in sc:
            if r.get("cpu_per_m") is None:
                o.append(f"| {r['title']} | {md_escape(r.get('error', '-'))} | | | |")
                continue
            procs = r.get("cpu_per_m_proc") or {}
            ing = procs.get("ingress")
            eg = sum(v for n, v in procs.items() if n.startswith("egress") and v is not None)
            o.append(f"| {r['title']} | {r['cpu_per_m']:.2f} ({ing or 0:.2f} / {eg:.2f}) | {pct(r['loss'])} | "
                     f"{us(r['p50'])} / {us(r['p99'])} | {k(r['offered'])}/s |")
    return "\n".join(o) + "\n"


def i17_text(results):
    lines = ["== Issue 17 targets (mcast-relay, 160 B, authenticated records)"]
    for t, m, tv, v in i17_rows(results):
        lines.append(f"  {v.replace('**', ''):12} {t}: {m} (target {tv})")
    return "\n".join(lines)


def run_trials(run):
    """Every trial of a path and size (an --auth-cost run has only latency trials)."""
    return (run.get("zero_loss") or {}).get("trials", []) + (run.get("saturation") or {}).get("trials", []) + \
        [t for v in run.get("latency", {}).values() for t in v["trials"]]


def where_lost(results):
    """Kernel drop counters: which socket overflowed in the trials that lost."""
    lines = []
    for run in results["runs"]:
        if "error" in run:
            continue
        trials = run_trials(run)
        lost = sum(t["lost"] for t in trials)
        if not lost:
            continue
        first = sum(t["drops_in"] or 0 for t in trials)
        rx = sum(t["drops_rx"] or 0 for t in trials)
        merged = round(sum(t.get("merged", 0) for t in trials))
        backlog = sum(t.get("backlog_drops", 0) for t in trials)
        own = {}
        for t in trials:
            for key, v in (t.get("relay_drops") or {}).items():
                own[key] = own.get(key, 0) + v
        own_n = sum(own.values())
        rest = max(lost - first - rx - merged - backlog - own_n, 0)
        own_text = ", ".join(f"{key} {v:,}" for key, v in sorted(own.items())) or \
            ("0" if run["path"].startswith("relay") else "-")
        lines.append(f"| {TITLES[run['path']]} | {run['size']} | {sum(t['sent'] for t in trials):,} | "
                     f"{lost:,} | {'-' if run['path'] == 'direct' else f'{first:,}'} | {rx:,} | "
                     f"{merged:,} | {backlog:,} | {own_text} | {rest:,} |")
    if not lines:
        return ""
    return ("| path | size | sent, all trials | lost | dropped at the first hop's UDP socket | "
            "dropped at the receiver's socket | arrived merged into other datagrams | "
            "input backlog full (host-wide) | counted by mcast-relay (`drops_total`, role:reason) | "
            "not accounted |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines))


# ---------------------------------------------------------------------------
# Issue 11: the cost of authentication. "Off" is the previous release (v1, no
# record authentication): the product has no switch to turn it off.

AUTH_PATHS = ["relay-v1", "relay", "relay-clear"]
AUTH_PARTS = [("total", "ingress + egress"), ("ingress", "ingress"), ("egress", "egress")]


def auth_cost_shown(results):
    return any(p in results["paths"] for p in ("relay-v1", "relay-clear"))


def auth_figures(results, size="160"):
    """{path: dict(cpu_at, reps, parts={part: (median, lo, hi)}, loss, failed=[why], error)}
    from the CPU measurement (the highest latency rate, 100k/s) of each path."""
    out = {}
    for path in AUTH_PATHS:
        if path not in results["paths"]:
            continue
        run = find(results, path, size)
        if run is None:
            continue
        if "error" in run:
            why = not_installed(results, path)
            out[path] = dict(error=(f"not available: {why}" if why else f"failed: {run['error']}"))
            continue
        at = str(run.get("cpu_at") or max(int(r) for r in lat_rates(results)))
        l = run.get("latency", {}).get(at)
        if not l:
            out[path] = dict(error="not measured")
            continue
        ts = l["trials"]
        parts = {}
        for part, _ in AUTH_PARTS:
            xs = [t.get("cpu_per_m") if part == "total" else (t.get("cpu_per_m_proc") or {}).get(part)
                  for t in ts]
            xs = [x for x in xs if x is not None]
            med = l.get("cpu_per_m") if part == "total" else (l.get("cpu_per_m_proc") or {}).get(part)
            parts[part] = (med, min(xs), max(xs), xs) if med is not None and xs else None
        out[path] = dict(cpu_at=int(at), reps=len(ts), parts=parts, loss=l.get("loss"),
                         failed=[t["why"] for t in ts if not t.get("ok")])
    return out


def more_cpu(a, b):
    """a's CPU over b's, as a fraction more (0.05: 5% more), the ratio of the
    medians, with a 90% bootstrap interval (None with fewer than 3 trials a
    side): (x, lo, hi) or None if unknown. The seed is fixed, so rendering the
    same results again gives the same interval."""
    if not a or not b or a[0] is None or not b[0]:
        return None
    x = a[0] / b[0] - 1
    xa, xb = a[3], b[3]
    if len(xa) < 3 or len(xb) < 3:
        return (x, None, None)
    rnd = random.Random(11)
    boot = sorted(statistics.median(rnd.choices(xa, k=len(xa))) /
                  statistics.median(rnd.choices(xb, k=len(xb))) - 1 for _ in range(2000))
    return (x, boot[int(0.05 * len(boot))], boot[int(0.95 * len(boot)) - 1])


def plus_pct(x, interval=True):
    if x is None:
        return "-"
    v, lo, hi = x
    return f"{v * 100:+.1f}%" + (f" ({lo * 100:+.0f}% to {hi * 100:+.0f}%)" if interval and lo is not None else "")


def cpu_cell(v):
    if v is None:
        return "-"
    med, lo, hi, _ = v
    return f"{med:.2f}" + (f" ({lo:.2f}–{hi:.2f})" if hi > lo else "")


def auth_verdict(x, at):
    """Met or missed when the whole 90% interval is on one side of the target;
    else undetermined. Without an interval (fewer than 3 trials) the medians
    decide, and the verdict says so."""
    if x is None:
        return "not measured"
    if at != AUTH_RATE:
        return f"n/a (measured at {k(at)}/s, the target is at {k(AUTH_RATE)}/s)"
    t = AUTH_TARGET - 1 + 1e-9
    v, lo, hi = x
    if lo is None:
        return ("**met**" if v <= t else "**missed**") + " (too few trials for an interval)"
    if hi <= t:
        return "**met**"
    if lo > t:
        return "**missed**"
    return "undetermined (the interval spans the target)"


def reps_text(reps):
    if not reps:
        return ""
    if reps == [1]:
        return "; one trial per path"
    return f"; median of {'/'.join(map(str, reps))} trials per path, the range in parentheses"


def auth_common(results, fig):
    at = next((f["cpu_at"] for f in fig.values() if "cpu_at" in f), None)
    reps = sorted({f["reps"] for f in fig.values() if "reps" in f})
    v1 = results.get("v1") or {}
    return at, reps, v1.get("commit") or v1.get("ref") or "d709db5"


def load_note(results):
    """How busy the machine was with work other than the trials' own processes,
    over the trials of the cost of authentication (bench/run's `host` figures)."""
    shares, steal = [], []
    for path in AUTH_PATHS:
        run = find(results, path, "160")
        if not run or "error" in run:
            continue
        at = str(run.get("cpu_at", ""))
        for t in run.get("latency", {}).get(at, {}).get("trials", []):
            h = t.get("host")
            if h:
                shares.append(h["other_share"])
                steal.append(h.get("steal_share", 0))
    if not shares:
        return None
    shares.sort()
    med = shares[len(shares) // 2]
    note = (f"other processes used a median {med * 100:.0f}% (at most {shares[-1] * 100:.0f}%) of the "
            f"machine's CPUs during these trials")
    if max(steal) >= 0.01:
        note += f", steal time up to {max(steal) * 100:.0f}%"
    if shares[-1] > 0.10:
        note += "; such work changes how the relay batches, so its CPU per datagram"
    return note


def auth_cost_md(results):
    fig = auth_figures(results)
    at, reps, commit = auth_common(results, fig)
    m = results["machine"]
    o = ["## Cost of authentication (issue 11)\n"]
    o.append(f"CPU seconds (utime + stime of the relay processes, `/proc/PID/stat`) per million "
             f"datagrams of 160 B delivered, at {k(at) if at else '?'}/s offered" + reps_text(reps) + ". "
             f"Authentication \"off\" is the previous release, protocol v1 (git `{commit}`: HMAC "
             f"handshake, no record authentication), built from that commit by `bench/run`; the "
             f"product has no switch to turn record authentication off. \"On\" is this tree "
             f"(git {m['git']}): every TCP write one AES-256-GCM record, authenticated and encrypted; "
             f"`--no-encrypt` on the ingress leaves the body readable (still authenticated). Every path runs with a key file on both sides. "
             f"All figures come from this one run ({m['date']}, {m.get('nproc')} CPUs shared by the "
             f"publisher, the relay and the receiver); CPU per datagram varies by several percent "
             f"from trial to trial, so read the ranges"
             + (f" ({load_note(results)})" if load_note(results) else "") + ".\n")
    o.append("| path | " + " | ".join(f"CPU s per M datagrams, {t}" for _, t in AUTH_PARTS) + " | loss |")
    o.append("|---|" + "---|" * (len(AUTH_PARTS) + 1))
    for path, f in fig.items():
        if "error" in f:
            o.append(f"| {TITLES[path]} | {md_escape(f['error'])} |" + " |" * len(AUTH_PARTS))
            continue
        note = f" ({len(f['failed'])} of {f['reps']} trials: {', '.join(sorted(set(f['failed'])))})" \
            if f["failed"] else ""
        o.append(f"| {TITLES[path]} | " + " | ".join(cpu_cell(f["parts"].get(p)) for p, _ in AUTH_PARTS)
                 + f" | {pct(f['loss'])}{note} |")
    o.append("")
    base = fig.get("relay-v1")
    o.append("The ratios are of the medians, with a 90% bootstrap interval over the trials in "
             "parentheses; the verdict is met or missed only when the whole interval lies on one "
             "side of the target.\n")
    o.append("| more CPU per datagram than v1 | " + " | ".join(t for _, t in AUTH_PARTS) +
             " | target (issue 11) | verdict |")
    o.append("|---|" + "---|" * (len(AUTH_PARTS) + 2))
    for path, label, target in (("relay", "mcast-relay (authenticated records)", True),
                                ("relay-clear", "mcast-relay --no-encrypt (authenticated, readable)", False)):
        f = fig.get(path)
        if f is None:
            continue
        xs = {p: (more_cpu(f.get("parts", {}).get(p), base.get("parts", {}).get(p)) if base else None)
              for p, _ in AUTH_PARTS}
        o.append(f"| {label} | " + " | ".join(plus_pct(xs[p]) for p, _ in AUTH_PARTS) + " | "
                 + (f"≤ +{(AUTH_TARGET - 1) * 100:.0f}% (ingress + egress) | {auth_verdict(xs['total'], at)}"
                    if target else "none (readable records are optional) | -") + " |")
    return "\n".join(o) + "\n"


def auth_cost_text(results):
    fig = auth_figures(results)
    at, reps, commit = auth_common(results, fig)
    lines = [f"== Cost of authentication: CPU s per M datagrams, 160 B at {k(at) if at else '?'}/s, "
             f"median of {'/'.join(map(str, reps)) or '?'}; one run; off = v1 ({commit}, no record authentication)"]
    if load_note(results):
        lines.append(f"  ({load_note(results)})")
    base = fig.get("relay-v1")
    for path, f in fig.items():
        if "error" in f:
            lines.append(f"  {TITLES[path]:52} {f['error']}")
            continue
        parts = f["parts"]
        txt = f"  {TITLES[path]:52} total {cpu_cell(parts.get('total')):18} " \
              f"ingress {cpu_cell(parts.get('ingress')):18} egress {cpu_cell(parts.get('egress'))}"
        if path != "relay-v1" and base and "error" not in base:
            xs = {p: more_cpu(parts.get(p), base["parts"].get(p)) for p, _ in AUTH_PARTS}
            txt += (f"\n  {'':52} vs v1: total {plus_pct(xs['total'])}, ingress {plus_pct(xs['ingress'])}, "
                    f"egress {plus_pct(xs['egress'])}")
            if path == "relay":
                txt += f"; target <= +{(AUTH_TARGET - 1) * 100:.0f}%: " + auth_verdict(xs["total"], at).strip("*")
        if f["failed"]:
            txt += f"\n  {'':52} {len(f['failed'])} of {f['reps']} trials: {', '.join(sorted(set(f['failed'])))}"
        lines.append(txt)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# SVG

COLORS = {"zl": "#1f5fa8", "sat": "#9cc3ea", "p50": "#1f5fa8", "p99": "#5b9bd5", "p999": "#c6dbef"}


def svg_rates(results):
    sizes = results["sizes"]
    rows = []
    vmax = 1
    for s in sizes:
        for p in results["paths"]:
            run = find(results, p, s)
            if run is None:
                continue
            rows.append((s, p, run))
            if "error" not in run:
                z = zero_loss(run)
                vmax = max(vmax, run["saturation"]["delivered"], z[1] if z else 0)
    vmax = nice_ceiling(vmax)
    left, width, bar, gap, head = 290, 480, 9, 8, 24
    y = 40
    body = []
    cur = None
    for s, p, run in rows:
        if s != cur:
            cur = s
            y += 8
            body.append(f'<text x="10" y="{y + 12}" font-weight="bold">{esc(SIZE_TITLES.get(s, s))}</text>')
            y += head
        body.append(f'<text x="{left - 8}" y="{y + bar + 3}" text-anchor="end">{esc(SVG_TITLES.get(p, TITLES[p]))}</text>')
        if "error" in run:
            why = not_installed(results, p)
            msg = f"not installed: {why}" if why else f"failed: {run['error']}"
            body.append(f'<text x="{left + 4}" y="{y + bar + 3}" fill="#a00">{esc(msg[:80])}</text>')
        else:
            z = zero_loss(run)
            zv = z[1] if z and z[0] != "<" else 0  # "< 10k": no bar, only the label
            sv = run["saturation"]["delivered"]
            for i, (v, c, label) in enumerate(((zv, COLORS["zl"], zero_loss_text(run)),
                                               (sv, COLORS["sat"], k(sv)))):
                w = max(1, width * v / vmax)
                yy = y + i * (bar + 1)
                body.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar}" fill="{c}"/>')
                body.append(f'<text x="{left + w + 4:.1f}" y="{yy + bar - 1}" font-size="10">{esc(label)}</text>')
        y += 2 * bar + gap
    axis_y = y + 4
    ticks = []
    for i in range(6):
        v = vmax * i / 5
        x = left + width * i / 5
        ticks.append(f'<line x1="{x:.1f}" y1="40" x2="{x:.1f}" y2="{axis_y}" stroke="#ddd"/>')
        ticks.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" font-size="10">{k(v) if v else "0"}</text>')
    h = axis_y + 50
    legend = (f'<rect x="{left}" y="{axis_y + 24}" width="10" height="10" fill="{COLORS["zl"]}"/>'
              f'<text x="{left + 14}" y="{axis_y + 33}" font-size="11">highest rate with loss &lt; 0.01%, kept up</text>'
              f'<rect x="{left + 290}" y="{axis_y + 24}" width="10" height="10" fill="{COLORS["sat"]}"/>'
              f'<text x="{left + 304}" y="{axis_y + 33}" font-size="11">delivered at saturation</text>')
    return svg_doc(860, h, "Datagrams per second on the loopback (" + results["machine"]["date"] + ")",
                   ticks + body + [legend])


def svg_latency(results):
    rate = "20000"
    rows = []
    for s in results["sizes"]:
        for p in results["paths"]:
            run = find(results, p, s)
            if run is not None:
                rows.append((s, p, run))
    lo, hi = 1.0, 100_000.0
    for _, _, run in rows:
        l = run.get("latency", {}).get(rate)
        if l:
            hi = max(hi, l["p999"] or 1)
    hi = 10 ** math.ceil(math.log10(hi))
    left, width, bar, gap, head = 290, 480, 6, 8, 24

    def xs(v):
        v = min(max(v, lo), hi)
        return width * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    y = 40
    body, cur = [], None
    for s, p, run in rows:
        if s != cur:
            cur = s
            y += 8
            body.append(f'<text x="10" y="{y + 12}" font-weight="bold">{esc(SIZE_TITLES.get(s, s))}</text>')
            y += head
        body.append(f'<text x="{left - 8}" y="{y + 2 * bar}" text-anchor="end">{esc(SVG_TITLES.get(p, TITLES[p]))}</text>')
        l = run.get("latency", {}).get(rate) if "error" not in run else None
        if not l:
            body.append(f'<text x="{left + 4}" y="{y + 2 * bar}" fill="#a00">not measured</text>')
        else:
            for i, key in enumerate(("p50", "p99", "p999")):
                w = max(1, xs(l[key]))
                yy = y + i * (bar + 1)
                body.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar}" fill="{COLORS[key]}"/>')
                body.append(f'<text x="{left + w + 4:.1f}" y="{yy + bar}" font-size="9">{us(l[key])}</text>')
            if l["loss"] >= results["loss_limit"]:
                body.append(f'<text x="{left + width + 60}" y="{y + 2 * bar}" font-size="10" fill="#a00">'
                            f'loss {esc(pct(l["loss"]))}</text>')
        y += 3 * bar + gap
    axis_y = y + 4
    ticks = []
    d = 0
    while 10 ** d <= hi:
        v = 10 ** d
        x = left + xs(v)
        ticks.append(f'<line x1="{x:.1f}" y1="40" x2="{x:.1f}" y2="{axis_y}" stroke="#ddd"/>')
        label = f"{v:,} µs" if v < 1000 else f"{v / 1000:,.0f} ms"
        ticks.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" font-size="10">{label}</text>')
        d += 1
    legend = []
    for i, (key, name) in enumerate((("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))):
        legend.append(f'<rect x="{left + i * 90}" y="{axis_y + 24}" width="10" height="10" fill="{COLORS[key]}"/>'
                      f'<text x="{left + 14 + i * 90}" y="{axis_y + 33}" font-size="11">{name}</text>')
    return svg_doc(900, axis_y + 50, "One-way latency at 20k datagrams/s (µs), log scale (" +
                   results["machine"]["date"] + ")", ticks + body + legend)


def nice_ceiling(v):
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def esc(s):
    return html.escape(str(s), quote=True)


def svg_doc(w, h, title, parts):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'font-family="sans-serif" font-size="12">\n'
            f'<rect width="{w}" height="{h}" fill="white"/>\n'
            f'<text x="10" y="22" font-size="14" font-weight="bold">{esc(title)}</text>\n'
            + "\n".join(parts) + "\n</svg>\n")


# ---------------------------------------------------------------------------

def render(results, out_path, img_dir):
    only_auth = bool(results.get("auth_cost"))
    rates_svg = os.path.join(img_dir, "perf-rates.svg")
    lat_svg = os.path.join(img_dir, "perf-latency.svg")
    only_hot = bool(results.get("hot_path"))
    if not only_auth and not only_hot:  # --auth-cost / --hot-path runs have no rates to plot
        with open(rates_svg, "w") as f:
            f.write(svg_rates(results))
        with open(lat_svg, "w") as f:
            f.write(svg_latency(results))
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(out_path)))  # noqa: E731
    m = results["machine"]
    M = results["modes"]
    mode_text = {"full": "full", "quick": "quick (one trial per point, coarser search)",
                 "smoke": "smoke (seconds-long check of the harness; the figures mean little)"}[results["mode"]]
    medians = f"medians of {M['reps']} trials" if M["reps"] >= 2 else f"{M['reps']} trial(s) per point, no medians"
    o = []
    o.append("# Performance\n")
    o.append("<!-- Written by bench/run; edit bench/report.py, not this file. -->\n")
    if results.get("label"):
        o.append(f"> **{results['label']}**\n")
    if only_auth:
        o.append("Only the cost of authentication (`bench/run --auth-cost`): the CPU per datagram of "
                 "mcast-relay against its previous release, which had no record authentication. "
                 "Target: issue 11.\n")
    else:
        o.append("mcast-relay against the direct kernel path and the tools people use today "
                 "(a socat pair, udp-over-tcp), measured side by side on the loopback by one command. "
                 "Targets and method: issue 7.\n")
    o.append("## Run\n")
    o.append("| | |\n|---|---|")
    o.append(f"| command | `{md_escape(shlex.join(repro_argv(results['argv'])))}` (as root) |")
    if only_auth:
        o.append(f"| mode | {mode_text}, `--auth-cost`: only the CPU figure at {k(max(M['lat_rates']))}/s, "
                 f"trials of {M['secs']:.0f} s, the paths taking turns; {medians} |")
    else:
        o.append(f"| mode | {mode_text}; {medians} for the saturation rate and the latencies |")
    o.append(f"| date | {m['date']} |")
    o.append(f"| machine | {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']} |")
    o.append(f"| load average at start / end | {fmt_load(m['loadavg'])} / {fmt_load(m.get('loadavg_end'))} |")
    o.append(f"| mcast-relay | {m['relay_version']}, git {m['git']}, cargo profile {results['profile']} |")
    v1 = results.get("v1")
    if v1:
        o.append(f"| mcast-relay v1 (relay-v1) | " + (
            f"{v1.get('version', '?')}, built by bench/run from git {v1.get('commit', v1.get('ref'))}, "
            f"cargo profile {results['profile']}" if v1.get("ok") else f"not available: {md_escape(v1.get('why', '?'))}")
            + " |")
    kf = results.get("key_formats")
    if kf:
        o.append("| keys | a key file (`--key-file`) on both sides of every mcast-relay path; "
                 + "; ".join(f"{'this tree' if n == 'current' else n}: {md_escape(v)}" for n, v in kf.items()) + " |")
    tools = results.get("tools", {})
    for name in ("socat", "udp-over-tcp"):
        t = tools.get(name)
        if t:
            o.append(f"| {name} | " + (t.get("version", "?") if t.get("ok") else f"not installed: {t.get('why')}") + " |")
    o.append(f"| socket buffer caps | net.core.rmem_max {m.get('rmem_max')}, wmem_max {m.get('wmem_max')} |")
    if results.get("ingress_args") or results.get("egress_args"):
        o.append(f"| extra relay flags | ingress `{results.get('ingress_args') or '-'}`, "
                 f"egress `{results.get('egress_args') or '-'}` |")
    o.append(f"| ingress window | {results['window_bytes'] / MIB:.0f} MiB"
             + (" (set with --window-bytes)" if results.get("window_flag") else " (the default)") + " |")
    o.append(f"| took | {results.get('elapsed_s', 0) / 60:.1f} min |")
    o.append("")
    if only_auth:
        o.append(auth_cost_md(results))
    elif results.get("hot_path"):
        o.append(i17_md(results))
        for s in results["sizes"]:
            o.append(f"## {SIZE_TITLES.get(s, s)}\n")
            o.append(size_table(results, s) + "\n")
    else:
        o.append(i17_md(results))
        o.append("## The issue's targets (160 B)\n")
        o.append(targets(results) + "\n")
        if auth_cost_shown(results):
            o.append(auth_cost_md(results))
        o.append(f"![Rates]({rel(rates_svg)})\n")
        o.append(f"![Latency]({rel(lat_svg)})\n")
        for s in results["sizes"]:
            o.append(f"## {SIZE_TITLES.get(s, s)}\n")
            o.append(size_table(results, s) + "\n")
    wl = where_lost(results)
    if wl:
        o.append("## Where datagrams were lost\n")
        o.append("Summed over every trial of the path and size. Socket drops: the kernel's per-socket "
                 "counter (`/proc/net/udp`, drops column: the receive buffer was full). Merged: "
                 "payload that arrived inside another datagram (socat re-chunks the TCP stream), "
                 "counted from the bytes received. Backlog: `/proc/net/softnet_stat` (a CPU's input "
                 "queue was full before any socket saw the datagram); it is host-wide, so another "
                 "process's traffic could add to it. mcast-relay's own counters come from its "
                 "`/metrics` at the end of each trial (`behind`: the window evicted datagrams a "
                 "destination had not sent yet).\n")
        o.append(wl + "\n")
    st = results.get("stall")
    if st and "error" not in st:
        o.append("## A stalled destination\n")
        behind = st.get("behind_drops")
        o.append(f"One ingress with two `--dest`, the second egress `SIGSTOP`ped for the whole trial: "
                 f"{st['sent']:,} datagrams of {st['size']} B at {k(st['rate'])}/s for {st['secs']:.0f} s, "
                 f"enough to fill the {results['window_bytes'] / MIB:.0f} MiB window 1.5 times over. "
                 f"The live destination's receiver got {st['unique']:,} (loss {pct(st['loss'])}; kernel drops "
                 f"at the ingress's socket {st.get('drops_in', 0):,}, at the receiver's {st.get('drops_rx', 0):,}; "
                 f"p50/p99 {us(st['lat']['p50'])}/{us(st['lat']['p99'])} µs). 3 s after `SIGCONT` the ingress "
                 f"had counted {'?' if behind is None else f'{behind:,.0f}'} datagrams lost for the stalled "
                 f"destination (`drops_total{{reason=\"behind\"}}`)"
                 + (f"; {', '.join(st['died_after_resume'])} had exited" if st.get("died_after_resume") else "")
                 + ".\n")
        o.append("| process | peak RSS (VmHWM) at the end of the stall | after the resume | budget |")
        o.append("|---|---|---|---|")
        after = st.get("hwm_after_resume") or {}
        for n, v in st["hwm"].items():
            budget = st["budget_ingress"] if n == "ingress" else st["budget_egress"]
            a_ = after.get(n)
            o.append(f"| {n} | {v / MIB:.1f} MiB | {'-' if a_ is None else f'{a_ / MIB:.1f} MiB'} | "
                     f"{budget / MIB:.0f} MiB |")
        o.append("")
    elif st:
        o.append("## A stalled destination\n")
        o.append(f"The trial failed: {md_escape(st['error'])}\n")
    if results.get("notes"):
        o.append("## Notes on this run\n")
        o.append(results["notes"].strip() + "\n")
    if only_auth:
        o.append(AUTH_METHOD.format(secs=M["secs"], cpu_at=k(max(M["lat_rates"]))))
        return "\n".join(o)
    o.append(METHOD.format(secs=M["secs"], backlog_ms=M["secs"] * 0.05 * 1000, start=k(M["start"]), max=k(M["max_rate"]),
                           res=round((M["resolution"] - 1) * 100), confirm=M["confirm"] + 1,
                           rates=" and ".join(k(r) + "/s" for r in M["lat_rates"]),
                           cpu_at=k(max(M["lat_rates"]))))
    return "\n".join(o)


def repro_argv(argv):
    """The command without the options that only annotate the document."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
            continue
        if x in ("--label", "--notes"):
            skip = True
            continue
        if x.startswith(("--label=", "--notes=")):
            continue
        out.append(x)
    return out


def fmt_load(l):
    if not l:
        return "?"
    return " ".join(f"{x:.2f}" for x in l)


METHOD = """## Method

- **Isolation.** Every trial runs in a network namespace `bench/run` creates
  (only `lo`, up, with `224.0.0.0/4` routed to it) and removes at the end, also
  on errors and Ctrl-C: socat and udp-over-tcp do not set `IP_MULTICAST_IF`,
  and their multicast must not leave by a default route. Each trial starts the
  path afresh on fresh groups and ports, so nothing of one trial reaches the next.
- **Load and measurement** come from the project's own tools:
  `mcast-relay publish --rate R --duration S [--size N]` (test header: sequence
  number and send time; no `--size` is the Deribit capture's size mix) and
  `mcast-relay listen --format test --json --idle 1s` (distinct datagrams, gaps,
  one-way latency from the send time in the payload to when `listen` read the
  datagram, as an application sees it; every process shares the host clock). Loss = sent - distinct datagrams received.
- **Paths.** *direct*: publisher -> group A -> receiver on A. *mcast-relay*:
  publisher -> A -> `mcast-relay ingress` -> TCP 127.0.0.1 -> `mcast-relay
  egress --map A=B` -> receiver on B. *TLS*: the same with a CA and a server
  certificate made by `openssl` (egress `--tls-cert/--tls-key`, ingress
  `--tls-ca --tls-server-name localhost`). *--no-encrypt*: the same as
  mcast-relay with `--no-encrypt` on the ingress. *--cpu-dma-latency-us 0*:
  mcast-relay with that flag on both processes, which hold a CPU latency
  request while they run: idle cores poll instead of halting, for every
  process on the machine (publisher and receiver too); the setting for
  dedicated hosts, outside issue 17's targets. *egress --spin*: mcast-relay
  with the egress polling its sockets instead of sleeping (a core of its
  own, so its CPU per datagram is a core over the rate), the ingress as
  usual; also for dedicated hosts. *v1*: the previous release
  (git d709db5, protocol v1: HMAC handshake, no record authentication), built
  by `bench/run` from that commit into `bench/.tools/v1` and run with the same
  flags. Every mcast-relay path has a key file (`--key-file`) on both sides,
  as production does. *socat pair*: `socat -u
  UDP4-RECV:PA,ip-add-membership=A:127.0.0.1 TCP4:127.0.0.1:T` and `socat -u
  TCP4-LISTEN:T UDP4-DATAGRAM:B:PB`; the tuned variant adds `nodelay` on both TCP
  ends and `rcvbuf=4194304` on the UDP socket (`SO_RCVBUF`, so capped by
  `net.core.rmem_max`, shown above; socat 1.7 applies no `SO_RCVBUFFORCE` there). *udp-over-tcp*
  (`cargo install udp-over-tcp --locked --root bench/.tools`, one binary, both
  directions): `--tcp-listen T --udp-bind A:PA` and `--tcp-connect T
  --udp-sendto B:PB`; it joins no group, so a socket of the harness keeps A
  joined on `lo`. The peers use another port for B than for A: their first hop
  binds `0.0.0.0:PA` or `A:PA` and would otherwise also read B. *floor*:
  `bench/floor.c`, built by `bench/run` with `cc -O2`, two processes with
  mcast-relay's system calls and nothing else: `floor in` blocks in
  `recvmmsg` on A and writes what it read to TCP in one `write` (a 2-byte
  length per datagram, `TCP_NODELAY`); `floor out` blocks in `read` and sends
  each run of equal lengths as one `sendmmsg` message with UDP GSO to B. No
  authentication, no window, no event loop: what any relay of this shape pays
  on this machine, so what mcast-relay costs above it is its own.
- **Zero-loss rate**: the highest offered rate that passes: loss below 0.01%,
  the publisher really offered it (at least 97%; on 2 CPUs a busy relay can
  starve the publisher), and the path kept up: p99 one-way latency within 5%
  of the trial ({backlog_ms:.0f} ms). Without that last condition a relay with a
  big buffer passes any rate for as long as its buffer lasts (mcast-relay's
  64 MiB window holds over 300,000 datagrams of 160 B). Trials of {secs:.0f} s;
  doubling from {start}/s (ceiling {max}/s) until a rate fails (twice in a row
  outside smoke mode: one failure may be another process taking the CPUs),
  then geometric bisection to within {res}%, then the found rate must pass more
  than half of {confirm} trials (else 15% lower, again). The note says what failed above
  the rate: *loss*, *backlog* (latency grew), *publisher-bound* (the publisher
  could not offer more: a lower bound, marked ≥).
- **Saturation**: `--rate 0` (as fast as the publisher sends); delivered =
  distinct datagrams received / (first send to last arrival).
- **Latency**: p50, p99 and p99.9 at {rates}, each the median over the trials.
- **CPU**: utime + stime of the relay processes only (ingress + egress, both
  socats, both udp-over-tcp processes, both floor processes; not the publisher or
  the receiver) from `/proc/PID/stat` over a trial, per million datagrams' worth of payload
  delivered (so socat is not charged for the boundaries it merged), at
  {cpu_at}/s offered. Each process is also read on its own (the ingress and
  egress columns of the cost of authentication).
- **Memory**: `VmHWM` of each relay process (`/proc/PID/status`) at the end of
  each trial, the highest over all trials. The budget the issue sets is the
  configured buffers + 16 MiB: for the ingress its window (`--window-bytes`,
  64 MiB by default) and its 8 MiB receive buffer, for the egress its 8 MiB
  send buffer and its fixed 4 MiB read buffer. Socket buffers are kernel
  memory, not RSS, so the budget is generous.
- **What the latency includes.** The time from the publisher's clock reading
  to `listen` reading the datagram (`listen --kernel-time` measures to the
  kernel's receive timestamp instead; the benchmark does not use it). The
  direct path has one process wake-up in it (the receiver's); every relay path
  has three (its first process, its second, then the receiver), each of which
  can wait for a CPU held by another of the four busy processes.
- **Noise.** Publisher, receiver and relay share the machine's CPUs: on 2 CPUs
  a relay path runs four busy processes where the direct path runs two. The
  figures are for comparing paths measured in the same run, not absolutes.
"""


AUTH_METHOD = """## Method

- **Isolation.** Every trial runs in a network namespace `bench/run` creates
  (only `lo`, with `224.0.0.0/4` routed to it) and removes at the end, also on
  errors and Ctrl-C; each trial starts the path afresh on fresh groups and ports.
- **Load**: `mcast-relay publish --rate R --duration {secs:.0f}s --size 160` of this
  tree, received by `mcast-relay listen` (this tree) after the egress. The relay
  is this tree's binary, the same with `--no-encrypt` on the ingress, or the v1
  release's (git d709db5, built by `bench/run`), each with a key file on both sides.
- **CPU**: utime + stime of the ingress and of the egress from `/proc/PID/stat`
  over a trial, per million datagrams delivered, at {cpu_at}/s offered; the
  median over the trials of each path. The paths take turns trial by trial, each
  round starting with another path, so a change of the machine's load falls on
  all of them alike.
"""


def summary(results):
    """Plain text for the terminal."""
    lines = []
    rates = lat_rates(results)
    for s in ([] if results.get("auth_cost") else results["sizes"]):
        lines.append(f"== {SIZE_TITLES.get(s, s)}")
        for p in results["paths"]:
            run = find(results, p, s)
            if run is None:
                continue
            if "error" in run:
                why = not_installed(results, p)
                lines.append(f"  {TITLES[p]:40} " + (f"not installed: {why}" if why else f"failed: {run['error']}"))
                continue
            lat = "  ".join(
                f"@{k(int(r))}: {us(run['latency'][r]['p50'])}/{us(run['latency'][r]['p99'])}/"
                f"{us(run['latency'][r]['p999'])} us" for r in rates if r in run["latency"])
            cpu = f"  cpu {run['cpu_per_m']:.2f} s/M" if run.get("cpu_per_m") is not None else ""
            sat = run.get("saturation")
            lines.append(f"  {TITLES[p]:40} zero-loss {zero_loss_text(run):>10}  "
                         f"saturation {k(sat['delivered']) if sat else '-':>6}  {lat}{cpu}")
    if results.get("auth_cost") or auth_cost_shown(results):
        lines.append(auth_cost_text(results))
    if not results.get("auth_cost") and "160" in results.get("sizes", []):
        lines.append(i17_text(results))
    return "\n".join(lines)
