"""Markdown tables, the issue's ratios and hand-made SVG plots from the
results bench/run collects (also usable on a saved JSON: bench/run --render)."""

import html
import math
import os
import shlex

MIB = 1 << 20
TITLES = {
    "direct": "direct kernel path (no relay)",
    "relay": "mcast-relay",
    "relay-tls": "mcast-relay, TLS",
    "socat": "socat pair",
    "socat-tuned": "socat pair, TCP_NODELAY + 4 MiB rcvbuf",
    "udp-over-tcp": "udp-over-tcp",
}
PEERS = ["socat", "socat-tuned", "udp-over-tcp"]
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
            "relay-tls": "openssl"}.get(path)
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
        sat = run["saturation"]
        cells = [TITLES[path], zero_loss_text(run),
                 k(sat["delivered"]) + (f" (offered {k(sat['offered'])}, loss {pct(sat['loss'])})")]
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
    wb = results["window_bytes"]
    b_in = wb + 8 * MIB + 16 * MIB
    b_eg = 8 * MIB + 4 * MIB + 16 * MIB
    peak_in = max((r.get("peak_rss", {}).get("ingress", 0) for r in results["runs"]
                   if r["path"].startswith("relay") and "error" not in r), default=0)
    peak_eg = max((r.get("peak_rss", {}).get("egress", 0) for r in results["runs"]
                   if r["path"].startswith("relay") and "error" not in r), default=0)
    if peak_in:
        rows.append(("ingress peak RSS, all trials, vs window + 8 MiB rcvbuf + 16 MiB",
                     f"{peak_in / MIB:.1f} / {b_in / MIB:.0f} MiB", f"{peak_in / b_in:.2f}x", "≤ 1x",
                     "**met**" if peak_in <= b_in else "**missed**"))
        rows.append(("egress peak RSS, all trials, vs 8 MiB sndbuf + 4 MiB read buffer + 16 MiB",
                     f"{peak_eg / MIB:.1f} / {b_eg / MIB:.0f} MiB", f"{peak_eg / b_eg:.2f}x", "≤ 1x",
                     "**met**" if peak_eg <= b_eg else "**missed**"))
    st = results.get("stall")
    if st and "error" not in st:
        h = max(st["hwm"]["ingress"], (st.get("hwm_after_resume") or {}).get("ingress", 0))
        rows.append((f"ingress peak RSS with one of two destinations stalled ({st['secs']:.0f} s at "
                     f"{k(st['rate'])}/s, {st['size']} B)",
                     f"{h / MIB:.1f} / {st['budget_ingress'] / MIB:.0f} MiB",
                     f"{h / st['budget_ingress']:.2f}x", "≤ 1x",
                     "**met**" if h <= st["budget_ingress"] else "**missed**"))
    elif st:
        rows.append(("stalled destination trial", "failed: " + md_escape(st["error"]), "", "", ""))
    out = ["| target | measured | ratio | target ratio | verdict |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def where_lost(results):
    """Kernel drop counters: which socket overflowed in the trials that lost."""
    lines = []
    for run in results["runs"]:
        if "error" in run:
            continue
        trials = run["zero_loss"]["trials"] + run["saturation"]["trials"] + \
            [t for v in run["latency"].values() for t in v["trials"]]
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
        body.append(f'<text x="{left - 8}" y="{y + bar + 3}" text-anchor="end">{esc(TITLES[p])}</text>')
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
        body.append(f'<text x="{left - 8}" y="{y + 2 * bar}" text-anchor="end">{esc(TITLES[p])}</text>')
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
    rates_svg = os.path.join(img_dir, "perf-rates.svg")
    lat_svg = os.path.join(img_dir, "perf-latency.svg")
    with open(rates_svg, "w") as f:
        f.write(svg_rates(results))
    with open(lat_svg, "w") as f:
        f.write(svg_latency(results))
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(out_path)))  # noqa: E731
    m = results["machine"]
    M = results["modes"]
    mode_text = {"full": "full", "quick": "quick (one trial per point, coarser search)",
                 "smoke": "smoke (seconds-long check of the harness; the figures mean little)"}[results["mode"]]
    medians = "medians of 3 trials" if M["reps"] >= 3 else f"{M['reps']} trial(s) per point, no medians"
    o = []
    o.append("# Performance\n")
    o.append("<!-- Written by bench/run; edit bench/report.py, not this file. -->\n")
    if results.get("label"):
        o.append(f"> **{results['label']}**\n")
    o.append("mcast-relay against the direct kernel path and the tools people use today "
             "(a socat pair, udp-over-tcp), measured side by side on the loopback by one command. "
             "Targets and method: issue 7.\n")
    o.append("## Run\n")
    o.append("| | |\n|---|---|")
    o.append(f"| command | `{md_escape(shlex.join(repro_argv(results['argv'])))}` (as root) |")
    o.append(f"| mode | {mode_text}; {medians} for the saturation rate and the latencies |")
    o.append(f"| date | {m['date']} |")
    o.append(f"| machine | {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']} |")
    o.append(f"| load average at start / end | {fmt_load(m['loadavg'])} / {fmt_load(m.get('loadavg_end'))} |")
    o.append(f"| mcast-relay | {m['relay_version']}, git {m['git']}, cargo profile {results['profile']} |")
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
    o.append("## The issue's targets (160 B)\n")
    o.append(targets(results) + "\n")
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
  `--tls-ca --tls-server-name localhost`). *socat pair*: `socat -u
  UDP4-RECV:PA,ip-add-membership=A:127.0.0.1 TCP4:127.0.0.1:T` and `socat -u
  TCP4-LISTEN:T UDP4-DATAGRAM:B:PB`; the tuned variant adds `nodelay` on both TCP
  ends and `rcvbuf=4194304` on the UDP socket (`SO_RCVBUF`, so capped by
  `net.core.rmem_max`, shown above; socat 1.7 applies no `SO_RCVBUFFORCE` there). *udp-over-tcp*
  (`cargo install udp-over-tcp --locked --root bench/.tools`, one binary, both
  directions): `--tcp-listen T --udp-bind A:PA` and `--tcp-connect T
  --udp-sendto B:PB`; it joins no group, so a socket of the harness keeps A
  joined on `lo`. The peers use another port for B than for A: their first hop
  binds `0.0.0.0:PA` or `A:PA` and would otherwise also read B.
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
  socats, both udp-over-tcp processes; not the publisher or the receiver) from
  `/proc/PID/stat` over a trial, per million datagrams' worth of payload
  delivered (so socat is not charged for the boundaries it merged), at
  {cpu_at}/s offered.
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


def summary(results):
    """Plain text for the terminal."""
    lines = []
    rates = lat_rates(results)
    for s in results["sizes"]:
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
            lines.append(f"  {TITLES[p]:40} zero-loss {zero_loss_text(run):>10}  "
                         f"saturation {k(run['saturation']['delivered']):>6}  {lat}{cpu}")
    return "\n".join(lines)
