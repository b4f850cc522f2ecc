#!/usr/bin/env python3
"""`make bench`: l4log's throughput, host calls and memory against the floor and the raw channel.

Boots each runnable target once. In that boot a guest program writes, for each
write size, to /dev/l4log, to /dev/null (the system-call floor) and, on qemu, to
the raw host channel (`rep outsb` to the debug port from a privileged guest
program, in chunks of l4log's size), interleaved round by round so that every
ratio compares figures taken moments apart. On uml the raw channel is the host
write path measured from the host side: the same program, run natively next to
UML, writes the same chunks with write(2) into a FIFO drained to a file by the
same reader that drains UML's host log.

Prints a table, writes results.csv and throughput.svg, and prints their paths.
"""

import csv
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import guest  # noqa: E402  (scripts/guest.py)

TARGETS = ["qemu", "uml"] + (["l4linux"] if os.environ.get("L4LOG_L4_BOOT") else [])
SIZES = [1, 64, 488, 4096, 65536, 1 << 20]
# Bytes per host call: a page on QEMU's debug port and UML's host fd, one vcon write IPC on
# L4Linux (L4_VCON_WRITE_SIZE).
CHUNK = {"qemu": 4096, "uml": 4096, "l4linux": 488}
ROUNDS = 5
MIN_MS = 40
# The big write of the memory check; on L4Linux every byte crosses QEMU's emulated serial
# port (about 0.3 MB/s under TCG), so it is smaller there.
BIG_WRITE_MIB = {"qemu": 64, "uml": 64, "l4linux": 8}
# Guest memory may move this much during the big write without it counting as growth.
MEMORY_SLACK_KIB = 256
THROUGHPUT_TARGET = 0.9


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def compile_bench(out):
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(REPO / "bench/l4log-bench.c")], check=True)


def parse(lines):
    """The guest program's output: bench,... lines as row dicts, mem,... lines as a dict."""
    rows, mem = [], {}
    for line in lines:
        fields = line.strip().split(",")
        if fields[0] == "bench" and len(fields) == 7:
            path, size, rnd, writes, ns, calls = fields[1], *map(int, fields[2:])
            rows.append({"path": path, "size": size, "round": rnd, "writes": writes, "ns": ns,
                         "host_calls": calls})
        elif fields[0] == "mem" and len(fields) == 3:
            mem[fields[1]] = int(fields[2])
    return rows, mem


def sizes_args():
    return " ".join(str(s) for s in SIZES)


def boot_bench(target, extra):
    kernel_dir, module = guest.build_all(target)
    raw = {"qemu": f"--raw-port 0xe9 --chunk {CHUNK[target]}",
           "l4linux": f"--raw-fd 5 --chunk {CHUNK[target]}"}.get(target, "")
    cmd = (f"./l4log-bench --rounds {ROUNDS} --min-ms {MIN_MS} {raw} {sizes_args()} && "
           f"./l4log-bench --memory {BIG_WRITE_MIB[target]}")
    if target == "l4linux":
        # The console is the L4Re log the benchmark writes to: its results go to a file, shown
        # after the rounds; the tty passes bytes as they are (raw: no CR added to LF).
        cmd = (f"dmesg -n 1; stty -F /dev/ttyLv0 raw -echo; exec 5>/dev/ttyLv0; "
               f"( {cmd} ) >/tmp/bench.out 2>&1; status=$?; stty -F /dev/ttyLv0 sane; "
               f"cat /tmp/bench.out; exit $status")
    log(f"{target}: booting the benchmark (about a minute)")
    boot = guest.boot_guest(target, kernel_dir, module, "command", cmd, str(extra), quiet=True,
                            timeout=1800)
    if boot.status != 0:
        tail = boot.console.read_text(errors="replace")[-2000:]
        raise SystemExit(f"bench: {target}: the guest benchmark failed (status {boot.status}):\n{tail}")
    lines = boot.console.read_text(errors="replace").replace("\r", "").splitlines()
    received = boot.host_log.stat().st_size
    subprocess.run(["rm", "-rf", str(boot.run_dir)])
    return *parse(lines), received


def host_raw(tool, work):
    """The uml raw channel, measured on the host: write(2) per chunk into the same kind of sink
    as UML's host log, a FIFO that the runner's reader copies to a file."""
    fifo, capture = work / "raw.fifo", work / "raw-capture"
    os.mkfifo(fifo)
    reader = guest.HostLogReader(fifo, capture, display=False)
    reader.start()
    write_end = os.open(fifo, os.O_WRONLY)
    try:
        out = subprocess.run([str(tool), "--rounds", str(ROUNDS), "--min-ms", str(MIN_MS), "--chunk",
                              str(CHUNK["uml"]), "--raw-fd", str(write_end), "--no-device", *map(str, SIZES)],
                             pass_fds=(write_end,), check=True, capture_output=True, text=True).stdout
    finally:
        os.close(write_end)
        reader.finish()
    capture.unlink()
    return parse(out.splitlines())[0]


def per_round(rows, path, size):
    return {r["round"]: r for r in rows if r["path"] == path and r["size"] == size}


def throughput(r):
    return r["writes"] * r["size"] / r["ns"] * 1e9  # bytes per second


def summarize(target, rows):
    """One summary dict per size: medians, spreads and same-round ratios."""
    out = []
    for size in SIZES:
        dev, null, raw = (per_round(rows, p, size) for p in ("l4log", "null", "raw"))
        s = {"target": target, "size": size}
        for name, runs in (("l4log", dev), ("null", null), ("raw", raw)):
            tp = [throughput(r) for r in runs.values()]
            s[name] = (statistics.median(tp), min(tp), max(tp)) if tp else None
        s["us_per_write"] = statistics.median(r["ns"] / r["writes"] / 1000 for r in dev.values())
        s["calls_per_write"] = max(r["host_calls"] / r["writes"] for r in dev.values())
        s["calls_bound"] = math.ceil(size / CHUNK[target]) + 1
        s["vs_raw"] = ratio(dev, raw)
        s["vs_null"] = ratio(dev, null)
        out.append(s)
    return out


def ratio(a, b):
    """Median over rounds of throughput(a) / throughput(b), each pair from the same round."""
    pairs = [throughput(a[k]) / throughput(b[k]) for k in a if k in b]
    return statistics.median(pairs) if pairs else None


def fmt_tp(v):
    return "-" if v is None else f"{v[0] / 1e6:8.2f} ({v[1] / 1e6:.2f}-{v[2] / 1e6:.2f})"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.3f}"


def print_table(summaries):
    head = (f"{'target':6} {'size':>8}  {'l4log MB/s (min-max)':>26} {'null MB/s (min-max)':>28} "
            f"{'raw MB/s (min-max)':>26} {'l4log/raw':>9} {'l4log/null':>10} {'us/write':>9} "
            f"{'calls/write':>11} {'bound':>5}")
    print(head)
    print("-" * len(head))
    for s in summaries:
        print(f"{s['target']:6} {s['size']:>8}  {fmt_tp(s['l4log']):>26} {fmt_tp(s['null']):>28} "
              f"{fmt_tp(s['raw']):>26} {fmt_ratio(s['vs_raw']):>9} {fmt_ratio(s['vs_null']):>10} "
              f"{s['us_per_write']:>9.2f} {s['calls_per_write']:>11.2f} {s['calls_bound']:>5}")


def check_targets(summaries, memory):
    """Prints each target as MET or NOT MET with its figure."""
    print("\ntargets:")
    for target in TARGETS:
        big = [s for s in summaries if s["target"] == target and s["size"] >= 4096]
        worst = min((s["vs_raw"] for s in big if s["vs_raw"] is not None), default=None)
        met = worst is not None and worst >= THROUGHPUT_TARGET
        mark(met, f"{target}: throughput at >= 4 KiB writes >= {THROUGHPUT_TARGET}x the raw channel",
             ", ".join(f"{s['size']} B: {fmt_ratio(s['vs_raw'])}" for s in big))
        if not met:
            explain_throughput(big, CHUNK[target])
        mine = [s for s in summaries if s["target"] == target]
        over = [s for s in mine if s["calls_per_write"] > s["calls_bound"]]
        mark(not over, f"{target}: host calls per write <= ceil(size/{CHUNK[target]}) + 1",
             ", ".join(f"{s['size']} B: {s['calls_per_write']:.2f}" for s in mine))
        m = memory[target]
        mark(m["during_write_peak_delta_kib"] <= MEMORY_SLACK_KIB,
             f"{target}: memory per open file independent of write size",
             f"{m['per_open_file_bytes']} bytes per open file; guest memory in use rose "
             f"{m['during_write_peak_delta_kib']} KiB at most during a {m['write_mib']} MiB write")


def explain_throughput(big, chunk):
    """Says what bounds each size that misses the throughput target, from the same figures."""
    for s in big:
        if s["vs_raw"] is None or s["vs_raw"] >= THROUGHPUT_TARGET:
            continue
        floor = s["null"][0] / s["raw"][0]
        if floor < THROUGHPUT_TARGET:
            print(f"      {s['size']} B: bounded by the guest's system-call floor: even /dev/null "
                  f"reaches only {floor:.3f}x the raw channel ({s['null'][0] / 1e6:.1f} MB/s)")
    s = big[-1]
    per_chunk_l4log = (s["size"] / s["l4log"][0] - s["size"] / s["null"][0]) / s["calls_per_write"] * 1e6
    per_chunk_raw = chunk / s["raw"][0] * 1e6
    print(f"      per {chunk}-byte chunk at {s['size']} B writes: l4log costs {per_chunk_l4log:.2f} us "
          f"over /dev/null, the raw channel {per_chunk_raw:.2f} us")


def mark(met, what, figure):
    print(f"  [{'MET' if met else 'NOT MET'}] {what}: {figure}")


def svg_plot(summaries, out):
    """Throughput against write size (log-log), one line per target and path."""
    w, h, left, bottom, top, right = 760, 460, 70, 50, 30, 190
    pts = [(s["size"], s[p][0]) for s in summaries for p in ("l4log", "null", "raw") if s[p]]
    ymin = 10 ** math.floor(math.log10(min(v for _, v in pts)))
    ymax = 10 ** math.ceil(math.log10(max(v for _, v in pts)))
    xmin, xmax = math.log2(SIZES[0]), math.log2(SIZES[-1])

    def xy(size, v):
        x = left + (math.log2(size) - xmin) / (xmax - xmin) * (w - left - right)
        y = h - bottom - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * (h - top - bottom)
        return x, y

    colors = {"l4log": "#d62728", "null": "#7f7f7f", "raw": "#1f77b4"}
    dashes = {"qemu": "", "uml": "6,4", "l4linux": "2,3"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{w / 2 - 100}" y="18">l4log throughput against write size</text>']
    for e in range(int(math.log10(ymin)), int(math.log10(ymax)) + 1):
        _, y = xy(SIZES[0], 10 ** e)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="5" y="{y + 4:.1f}">{10 ** e / 1e6:g} MB/s</text>')
    for size in SIZES:
        x, _ = xy(size, ymin)
        label = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#eee"/>'
                     f'<text x="{x - 15:.1f}" y="{h - bottom + 18}">{label}</text>')
    legend_y = top + 10
    for target in TARGETS:
        for path in ("l4log", "null", "raw"):
            line = [xy(s["size"], s[path][0]) for s in summaries if s["target"] == target and s[path]]
            if not line:
                continue
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{colors[path]}" stroke-width="2" '
                         f'stroke-dasharray="{dashes[target]}"/>')
            parts.append(f'<line x1="{w - right + 15}" y1="{legend_y}" x2="{w - right + 45}" y2="{legend_y}" '
                         f'stroke="{colors[path]}" stroke-width="2" stroke-dasharray="{dashes[target]}"/>'
                         f'<text x="{w - right + 50}" y="{legend_y + 4}">{target} {path}</text>')
            legend_y += 18
    parts.append("</svg>")
    out.write_text("\n".join(parts) + "\n")


def main():
    work = guest.new_run_dir()
    extra = work / "extra"
    extra.mkdir()
    tool = extra / "l4log-bench"
    compile_bench(tool)
    all_rows, summaries, memory = [], [], {}
    for target in TARGETS:
        rows, mem, received = boot_bench(target, extra)
        if target == "uml":
            rows += host_raw(tool, work)
        written = sum(r["writes"] * r["size"] for r in rows if r["path"] == "l4log")
        log(f"{target}: l4log wrote {written} bytes in the rounds; the host log received {received} in all")
        if received < written:
            raise SystemExit(f"bench: {target}: the host log received less than l4log accepted")
        all_rows += [dict(r, target=target) for r in rows]
        summaries += summarize(target, rows)
        memory[target] = mem
    print_table(summaries)
    check_targets(summaries, memory)
    csv_path, svg_path = work / "results.csv", work / "throughput.svg"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["target", "path", "size", "round", "writes", "ns", "host_calls"])
        writer.writeheader()
        writer.writerows(all_rows)
    svg_plot(summaries, svg_path)
    print(f"\ncsv: {guest.host_path(csv_path)}\nplot: {guest.host_path(svg_path)}")


if __name__ == "__main__":
    main()
