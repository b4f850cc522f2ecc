#!/usr/bin/env python3
"""`make bench`: l4log's cost per write against the floor, escaping on and off, and its memory.

Boots each runnable target once (L4LOG_BENCH_TARGETS, `make bench
BENCH_TARGETS=uml`, names fewer). In that boot a guest program writes, for each
write size and each of three kinds of text (ascii: log lines; utf8: lines of
multi-byte UTF-8; binary: random bytes), to /dev/l4log with escaping on and
with escaping off, to /dev/null (the system-call floor) and to the raw host
channel, interleaved round by round so that every ratio compares figures taken
moments apart. The raw channel sends the same chunks as l4log on the same host
channel: `rep outsb` to the debug port from a privileged guest program on
qemu; on uml /dev/l4log-raw, a C fixture module (bench/rawhost, built here
against the UML kernel) that copies each chunk from user memory and gives it
to l4log's host descriptor with os_write_file(), as l4log's transport does;
L4Linux's console driver ttyLv0 (in raw mode, on the same L4Re log) on
l4linux.

The floor of a write is the time no implementation can avoid: the system call
(a /dev/null write of the same size) plus the raw channel sending the bytes the
host gets for it (the escaped bytes, with escaping on). On uml a write to
/dev/l4log-raw is that system call too (and its copy from user memory): the
floor is its time alone. l4log/floor is the floor's time over l4log's, per
round; 1.0 means l4log costs nothing beyond it.

On l4linux every byte of those paths crosses Fiasco's serial output (about 2
us a byte under TCG), which bounds l4log and ttyLv0 alike. So the l4linux boot
(the boot set's entry l4log-bench, configs/l4re/l4log-bench.cfg) measures a
second target too, l4sink: L4Linux writing to the capability sink, whose
server (L4Re's cons, a hidden client) keeps the bytes in a ring and prints
nothing. There l4log is its channel /dev/l4log-sink, the raw channel is
/dev/l4log-rawvcon (bench/rawvcon: each 488-byte chunk copied from user memory
and sent as one bare vcon write IPC, as l4log's transport sends it; one write
of it is the system call too, so the floor is its time alone), and the path
tty is L4Linux's l4ser on the same capability (ttyLv1, raw). Each measurement
also records the writer's CPU time (getrusage).

The same boot measures the named channels (ascii text, escaping on): each of
N channels written at once by a process of its own against the same writer
alone on that channel (`together/alone`; with fewer CPUs than writers, a
channel's fair share of its speed alone is min(N, CPUs)/N), and a channel
whose lines are stamped (stamp=task+time) against an unstamped one, per input
byte and per byte the host received (stamps add bytes). The boot's channels
are BENCH_CHANNELS (qemu, uml); on l4linux, the two of its configuration.

Before the boots, the escaper's own pass over the bytes, natively (bench/escape/native.rs:
ns per input byte for each kind of text, against from_utf8 and a copy; escaper.csv).

Prints a table and the targets, each MET or NOT MET with its figures (and,
where missed, the cost per host call that bounds it), then the channels'
table and theirs; writes results.csv, channels.csv and throughput.svg, and
prints their paths.
"""

import csv
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import guest  # noqa: E402  (scripts/guest.py)

TARGETS = ["qemu", "uml"] + (["l4linux"] if os.environ.get("L4LOG_L4_BOOT") else [])
if os.environ.get("L4LOG_BENCH_TARGETS"):
    TARGETS = [t for t in TARGETS if t in os.environ["L4LOG_BENCH_TARGETS"].split()]
# The l4linux boot measures a second "target" too: l4sink, the same system writing to a log
# capability whose server discards (configs/l4re/l4log-bench.cfg), not to the serial port.
BOOTS = list(TARGETS)
if "l4linux" in TARGETS:
    TARGETS.append("l4sink")
KINDS = ["ascii", "utf8", "binary"]
# On L4Linux every byte crosses QEMU's emulated serial port (about 0.5 MB/s under TCG): no
# 1 MiB writes there, whose rounds would take minutes.
SIZES = {"qemu": [1, 64, 488, 4096, 65536, 1 << 20], "uml": [1, 64, 488, 4096, 65536, 1 << 20],
         "l4linux": [1, 64, 488, 4096, 65536], "l4sink": [1, 64, 488, 4096, 65536]}
# Bytes per host call: a page on QEMU's debug port and UML's host fd, one vcon write IPC on
# L4Linux (L4_VCON_WRITE_SIZE).
CHUNK = {"qemu": 4096, "uml": 4096, "l4linux": 488, "l4sink": 488}
# Where writing to the raw channel is a system call of the same write (uml: one write(2) to
# /dev/l4log-raw; l4sink: to /dev/l4log-rawvcon): the floor is the raw channel's time, which
# includes the system call.
RAW_IS_SYSCALL = {"uml", "l4sink"}
# l4sink's measurements last longer: L4Linux's clock can be the jiffies, 4 ms steps, once it finds
# QEMU's TSC unstable (a step is then 1.6 % of a measurement, not 10 %).
SINK_MIN_MS = 250
# The l4sink target's capability (configs/l4re/l4log-bench.cfg), served by l4log as a channel,
# by L4Linux's l4ser as ttyLv1 and by bench/rawvcon's module as /dev/l4log-rawvcon.
SINK = "sink"
# l4log's line buffer (chardev/lines.rs: LINE_MAX, whole host calls in a page).
LINE_MAX = {target: 4096 // chunk * chunk for target, chunk in CHUNK.items()}
# The longest line of the ascii and utf8 texts (bench/l4log-bench.c), newline included.
LONGEST_LINE = 128
ROUNDS = 5
MIN_MS = 40
# The big write of the memory check; smaller on L4Linux (the serial port).
BIG_WRITE_MIB = {"qemu": 64, "uml": 64, "l4linux": 8}
# Guest memory may move this much during the big write without it counting as growth.
MEMORY_SLACK_KIB = 256
TARGET_RATIO = 0.9
# Escaping on against off: on uml (the fastest host channel), for text, at these sizes.
ESCAPE_TARGET_SIZES = [4096, 65536, 1 << 20]
ESCAPE_TARGET_KINDS = ["ascii", "utf8"]
# l4log against the floor: every target, at these sizes and above.
FLOOR_TARGET_MIN_SIZE = 4096
# The named channels of the bench boot on qemu and uml: name -> the qemu target's debug console
# port. TOGETHER are written at once against each alone; STAMPED (stamped with STAMP_KIND) is
# measured against PLAIN. L4Linux has the two log capabilities of configs/l4re/l4log.cfg only.
BENCH_CHANNELS = {"app": 0xEA, "audit": 0xEB, "bulk": 0xEC, "trace": 0xEE, "stamped": 0xEF}
STAMP_KIND = "task+time"
TOGETHER = {"qemu": ["app", "audit", "bulk", "trace"], "uml": ["app", "audit", "bulk", "trace"],
            "l4linux": ["app", "audit"]}
STAMPS = {"qemu": ("stamped", "app"), "uml": ("stamped", "app")}
CHANNEL_SIZES = [4096, 65536]
CHANNEL_MIN_MS = 200


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def compile_bench(out):
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out),
                    str(REPO / "bench/l4log-bench.c")], check=True)


def parse(lines, target):
    """The guest program's output, by target (`target` until a target,NAME line names another):
    bench,... lines as row dicts, mem,... and cpus,... lines as a dict, chan,... and stamp,...
    lines as row dicts (`what`: chan or stamp)."""
    out = {}
    for line in lines:
        fields = line.strip().split(",")
        if fields[0] == "target" and len(fields) == 2:
            target = fields[1]
        elif fields[0] in ("bench", "chan", "stamp", "mem", "cpus"):
            rows, mem, named = out.setdefault(target, ([], {}, []))
            parse_line(fields, rows, mem, named)
    return out


def parse_line(fields, rows, mem, named):
    if fields[0] == "bench" and len(fields) == 10:
        path, kind, (size, rnd, writes, ns, cpu_ns, calls, nbytes) = fields[1], fields[2], map(int, fields[3:])
        rows.append({"path": path, "kind": kind, "size": size, "round": rnd, "writes": writes, "ns": ns,
                     "cpu_ns": cpu_ns, "host_calls": calls, "host_bytes": nbytes})
    elif fields[0] in ("chan", "stamp") and len(fields) == 9:
        mode, name, (size, rnd, writes, ns, calls, nbytes) = fields[1], fields[2], map(int, fields[3:])
        named.append({"what": fields[0], "mode": mode, "channel": name, "size": size, "round": rnd,
                      "writes": writes, "ns": ns, "host_calls": calls, "host_bytes": nbytes})
    elif fields[0] in ("mem", "cpus") and len(fields) in (2, 3):
        mem[fields[0] if fields[0] == "cpus" else fields[1]] = int(fields[-1])


def build_bench_module(target, kernel_dir, name, module):
    """bench/NAME's C fixture module (the file `module` it makes), built out of tree against the
    kernel of `target` in `kernel_dir` (l4linux: the boot set's L4Linux), as scripts/module
    builds l4log.ko there: UML with LLVM, L4Linux with gcc-12; from a copy in the cache, since
    5.17's kbuild writes its outputs next to the sources."""
    if target == "l4linux":
        kdir = Path((Path(kernel_dir) / "l4linux-obj").read_text().strip())
        kernel, flags = f"l4linux-{kdir.parent.name}", ["ARCH=l4", "CC=gcc-12", "HOSTCC=gcc"]
    else:
        kdir = Path(kernel_dir)
        kernel, flags = kdir.name, [f"ARCH={(kdir / '.l4log-arch').read_text().strip()}", "LLVM=1"]
    out = guest.CACHE / "module" / f"{kernel}-{name}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(REPO / "bench" / name, out)
    subprocess.run(["make", "-s", "-C", str(kdir), *flags, f"M={out}", f"-j{os.cpu_count()}", "modules"],
                   check=True, stdout=sys.stderr)
    return out / module


def l4sink_command():
    """The l4sink target's measurements, in the l4linux boot: l4log's channel on the discarding
    capability against L4Linux's tty on it (ttyLv1, raw, descriptor 6) and the bare vcon write."""
    sizes = " ".join(str(s) for s in SIZES["l4sink"])
    return (f"./l4log-bench --target l4sink --rounds {ROUNDS} --min-ms {SINK_MIN_MS} --device /dev/l4log-{SINK} "
            f"--tty-fd 6 --raw-dev /dev/l4log-rawvcon {sizes}")


def boot_bench(target, work, tool):
    """Boots `target` once for its measurements; returns the figures by target (l4linux's boot
    has l4sink's too) and the bytes its host log received."""
    kernel_dir, module = guest.build_all(target)
    extra = work / f"extra-{target}"
    extra.mkdir()
    shutil.copy(tool, extra)
    raw = {"qemu": f"--raw-port 0xe9 --chunk {CHUNK[target]}",
           "uml": "--raw-dev /dev/l4log-raw",
           "l4linux": f"--raw-fd 5 --chunk {CHUNK[target]}"}[target]
    sizes = " ".join(str(s) for s in SIZES[target])
    channel_sizes = " ".join(str(s) for s in CHANNEL_SIZES)
    cmd = (f"./l4log-bench --rounds {ROUNDS} --min-ms {MIN_MS} {raw} {sizes} && "
           f"./l4log-bench --memory {BIG_WRITE_MIB[target]} && "
           f"./l4log-bench --channels {','.join(TOGETHER[target])} --rounds {ROUNDS} "
           f"--min-ms {CHANNEL_MIN_MS} {channel_sizes}")
    if target in STAMPS:
        cmd += (f" && ./l4log-bench --stamps {','.join(STAMPS[target])} --rounds {ROUNDS} "
                f"--min-ms {CHANNEL_MIN_MS} {channel_sizes}")
    channels = {}
    if target == "l4linux":
        # The bench entry of the boot set: the sink capability (served by cons) beside app and
        # audit, and ttyLv1 on it.
        channels = {"channel_ports": {name: 0 for name in (*TOGETHER[target], SINK)}, "l4_entry": "l4log-bench"}
        shutil.copy(build_bench_module(target, kernel_dir, "rawvcon", "l4log_rawvcon.ko"), extra)
        cmd = f"{cmd} && {l4sink_command()}"
    else:
        channels = {"channel_ports": BENCH_CHANNELS,
                    "channel_keys": {STAMPS[target][0]: f"stamp={STAMP_KIND}"}}
    if target == "uml":
        # The raw channel writes to l4log's host descriptor: the host_channel l4log.ko was
        # loaded with (ramdisk/init's insmod arguments).
        shutil.copy(build_bench_module(target, kernel_dir, "rawhost", "l4log_raw.ko"), extra)
        cmd = (f"insmod l4log_raw.ko $(grep -o 'host_channel=[0-9]*' /l4log-run/insmod-args) && "
               f"{cmd}")
    if target == "l4linux":
        # The console is the L4Re log the benchmark writes to: its results go to a file, shown
        # after the rounds; the tty passes bytes as they are (raw: no CR added to LF).
        cmd = (f"dmesg -n 1; insmod l4log_rawvcon.ko cap={SINK} || exit 1; "
               f"stty -F /dev/ttyLv0 raw -echo; stty -F /dev/ttyLv1 raw -echo; exec 5>/dev/ttyLv0 6>/dev/ttyLv1; "
               f"( {cmd} ) >/tmp/bench.out 2>&1; status=$?; stty -F /dev/ttyLv0 sane; "
               f"cat /tmp/bench.out; exit $status")
    log(f"{target}: booting the benchmark (a few minutes)")
    boot = guest.boot_guest(target, kernel_dir, module, "command", cmd, str(extra), quiet=True,
                            timeout=3600, **channels)
    if boot.status != 0:
        tail = boot.console.read_text(errors="replace")[-2000:]
        raise SystemExit(f"bench: {target}: the guest benchmark failed (status {boot.status}):\n{tail}")
    lines = boot.console.read_text(errors="replace").replace("\r", "").splitlines()
    (work / f"{target}-output.txt").write_text("\n".join(lines) + "\n")
    received = boot.host_log.stat().st_size
    subprocess.run(["rm", "-rf", str(boot.run_dir)])
    return parse(lines, target), received


def per_round(rows, path, kind, size):
    return {r["round"]: r for r in rows if r["path"] == path and r["kind"] == kind and r["size"] == size}


def ns_per_write(runs):
    """Nanoseconds per write of each round of `runs`, by round."""
    return {k: r["ns"] / r["writes"] for k, r in runs.items()}


def same_round(a, b):
    """Median over rounds of a / b, each pair from the same round (times: b's speed against a's;
    speeds: a's against b's); a round where b is 0 has no ratio."""
    values = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(values) if values else None


def median_us(ns):
    return statistics.median(ns.values()) / 1000 if ns else None


def summarize(target, rows):
    """One summary dict per kind and size: medians and same-round ratios. `{mode}_raw_us`: the
    raw channel's time beyond the system call, the floor's less /dev/null's."""
    out = []
    for size in SIZES[target]:
        for kind in KINDS:
            runs = {path: per_round(rows, path, kind, size)
                    for path in ("on", "off", "null", "raw-on", "raw-off", "tty")}
            ns = {path: ns_per_write(r) for path, r in runs.items()}
            s = {"target": target, "kind": kind, "size": size}
            for name in ("on", "off", "null", "raw-off", "tty"):
                s[f"{name}_us"] = median_us(ns[name])
                s[f"{name}_cpu_us"] = median_us({k: r["cpu_ns"] / r["writes"] for k, r in runs[name].items()})
            s["tty_vs_off"] = same_round(ns["tty"], ns["off"])
            s["on_vs_off"] = same_round(ns["off"], ns["on"])
            for mode in ("on", "off"):
                raw = ns[f"raw-{mode}"]
                if target in RAW_IS_SYSCALL:
                    floor = raw
                else:
                    floor = {k: ns["null"][k] + raw[k] for k in ns["null"] if k in raw}
                s[f"{mode}_floor_us"] = median_us(floor)
                s[f"{mode}_vs_floor"] = same_round(floor, ns[mode])
                s[f"{mode}_raw_us"] = median_us({k: floor[k] - ns["null"][k] for k in floor if k in ns["null"]})
                dev = runs[mode].values()
                s[f"{mode}_calls"] = max(r["host_calls"] / r["writes"] for r in dev)
                s[f"{mode}_bytes"] = statistics.median(r["host_bytes"] / r["writes"] for r in dev)
            s["calls_bound"] = calls_bound(target, size) if kind != "binary" else None
            out.append(s)
    return out


def check_sink(target, rows):
    """l4sink: every write of l4log's reached the sink (host calls and bytes counted, no error),
    and the tty and the bare vcon write were measured beside it."""
    if target != "l4sink":
        return
    mine = [r for r in rows if r["path"] in ("on", "off")]
    # An unfinished line (binary text) stays in the line buffer until close.
    short = [r for r in mine if r["host_bytes"] < r["writes"] * r["size"] - LINE_MAX[target]]
    if not mine or short or not sum(r["host_calls"] for r in mine):
        raise SystemExit(f"bench: l4sink: l4log's host calls or bytes fell short of its writes: {short[:2]}")
    if not {"tty", "raw-off"} <= {r["path"] for r in rows}:
        raise SystemExit("bench: l4sink: no figures of the tty or the bare vcon write")


def print_sink_table(summaries):
    """l4sink: l4log's channel against L4Linux's tty and the bare vcon write IPC on the same
    discarding log capability, ascii text, with the writer's CPU time per write."""
    rows = [s for s in summaries if s["target"] == "l4sink" and s["kind"] == "ascii"]
    if not rows:
        return
    print(f"\nl4sink: L4Linux writing to a log capability that discards ({SINK}, served by cons), ascii text: "
          f"l4log's channel /dev/l4log-{SINK}, the tty on it (ttyLv1, raw), the bare vcon write of "
          f"{CHUNK['l4sink']}-byte chunks (/dev/l4log-rawvcon); us per write, wall and the writer's CPU "
          f"time (ratios: medians of same-round pairs; >1: l4log faster)")
    head = (f"{'size':>6} {'off us':>9} {'on us':>9} {'tty us':>9} {'vcon us':>9} {'null us':>8} "
            f"{'vcon/off':>8} {'tty/off':>8} {'off cpu':>8} {'tty cpu':>8} {'vcon cpu':>8} {'calls':>6}")
    print_rows(head, rows, lambda s: (
        f"{s['size']:>6} {fmt(s['off_us'], '.2f'):>9} {fmt(s['on_us'], '.2f'):>9} {fmt(s['tty_us'], '.2f'):>9} "
        f"{fmt(s['raw-off_us'], '.2f'):>9} {fmt(s['null_us'], '.2f'):>8} {fmt(s['off_vs_floor']):>8} "
        f"{fmt(s['tty_vs_off']):>8} {fmt(s['off_cpu_us'], '.2f'):>8} {fmt(s['tty_cpu_us'], '.2f'):>8} "
        f"{fmt(s['raw-off_cpu_us'], '.2f'):>8} {s['off_calls']:>6.2f}"))


def calls_bound(target, size):
    """The most host calls a write of `size` bytes of lines up to LONGEST_LINE bytes needs.

    Each write step takes what fills the line buffer and sends its complete lines, keeping
    the unfinished one (less than LONGEST_LINE bytes): a step sends at least
    LINE_MAX - LONGEST_LINE bytes unless it is the last. A step costs ceil(sent / CHUNK)
    host calls, at most one of them short.
    """
    steps = math.ceil(size / (LINE_MAX[target] - LONGEST_LINE))
    per_step = math.ceil(LINE_MAX[target] / CHUNK[target])
    return min(math.ceil(size / CHUNK[target]) + steps, steps * per_step)


def print_rows(head, items, row):
    """A table: `head`, a rule, and row(item) for each of `items`."""
    print(head)
    print("-" * len(head))
    for item in items:
        print(row(item))


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def mbps(size, us):
    return size / us if us else 0.0  # bytes per microsecond = MB/s


def print_table(summaries):
    head = (f"{'target':7} {'kind':6} {'size':>8} {'on MB/s':>9} {'off MB/s':>9} {'on/off':>7} "
            f"{'null us':>9} {'floor us':>9} {'off us':>9} {'off/floor':>9} {'on us':>9} {'on/floor':>8} "
            f"{'calls on':>8} {'calls off':>9}")
    print_rows(head, summaries, lambda s: (
        f"{s['target']:7} {s['kind']:6} {s['size']:>8} {mbps(s['size'], s['on_us']):>9.2f} "
        f"{mbps(s['size'], s['off_us']):>9.2f} {fmt(s['on_vs_off']):>7} {s['null_us']:>9.2f} "
        f"{fmt(s['off_floor_us'], '.2f'):>9} {s['off_us']:>9.2f} {fmt(s['off_vs_floor']):>9} "
        f"{s['on_us']:>9.2f} {fmt(s['on_vs_floor']):>8} {s['on_calls']:>8.2f} {s['off_calls']:>9.2f}"))


def check_targets(summaries, memory):
    """Prints each target as MET or NOT MET with its figures, and what bounds a miss."""
    print(f"\ntargets (ratios: medians of same-round pairs; met at >= {TARGET_RATIO}):")
    for kind in ESCAPE_TARGET_KINDS:
        rows = [s for s in summaries if s["target"] == "uml" and s["kind"] == kind
                and s["size"] in ESCAPE_TARGET_SIZES]
        if rows:
            judge(rows, "on_vs_off", f"uml: escaping on >= {TARGET_RATIO}x escaping off, {kind} text",
                  explain_escaping)
    for target in TARGETS:
        for mode in ("off", "on"):
            for kind in KINDS:
                rows = [s for s in summaries if s["target"] == target and s["kind"] == kind
                        and s["size"] >= FLOOR_TARGET_MIN_SIZE]
                judge(rows, f"{mode}_vs_floor", f"{target}: l4log escaping {mode} >= {TARGET_RATIO}x the "
                      f"floor, {kind}", explain_floor(mode))
        mine = [s for s in summaries if s["target"] == target and s["calls_bound"] is not None]
        over = [(s, mode) for s in mine for mode in ("on", "off") if s[f"{mode}_calls"] > s["calls_bound"]]
        mark(not over, f"{target}: host calls per write within the bound of lines up to {LONGEST_LINE} bytes "
             f"(ascii, utf8; escaping on and off)",
             "; ".join(f"{s['kind']} {s['size']} B {mode}: {s[f'{mode}_calls']:.2f} > {s['calls_bound']}"
                       for s, mode in over)
             or ", ".join(f"{s['size']} B: {max(s['on_calls'], s['off_calls']):.2f} <= {s['calls_bound']}"
                          for s in mine if s["kind"] == "ascii"))
        if target not in memory:
            continue
        m = memory[target]
        mark(m["during_write_peak_delta_kib"] <= MEMORY_SLACK_KIB,
             f"{target}: memory per open file independent of write size",
             f"{m['per_open_file_bytes']} bytes per open file; guest memory in use rose "
             f"{m['during_write_peak_delta_kib']} KiB at most during a {m['write_mib']} MiB write")


def judge(rows, key, what, explain):
    values = [s[key] for s in rows]
    met = bool(values) and all(v is not None and v >= TARGET_RATIO for v in values)
    mark(met, what, ", ".join(f"{s['size']} B: {fmt(s[key])}" for s in rows))
    if not met:
        for s in rows:
            if s[key] is None or s[key] < TARGET_RATIO:
                explain(s)


def explain_escaping(s):
    """What escaping costs per write and per host call, from the same figures."""
    extra = s["on_us"] - s["off_us"]
    print(f"      {s['size']} B: escaping adds {extra:.2f} us per write, {extra / s['on_calls']:.2f} us "
          f"per host call ({s['size'] / max(s['on_calls'], 1):.0f} input bytes each) over "
          f"{s['off_us']:.2f} us per write without it")


def explain_floor(mode):
    def explain(s):
        over_null = s[f"{mode}_us"] - s["null_us"]
        raw = s[f"{mode}_raw_us"]
        calls = s[f"{mode}_calls"]
        print(f"      {s['size']} B: l4log spends {over_null:.2f} us per write beyond the system call, "
              f"the raw channel {fmt(raw, '.2f')} us for the same {s[f'{mode}_bytes']:.0f} bytes; per host "
              f"call {over_null / calls:.2f} us against {fmt(raw and raw / calls, '.2f')} us")
    return explain


def mark(met, what, figure):
    print(f"  [{'MET' if met else 'NOT MET'}] {what}: {figure}")


def speeds(named, what, mode, channel, size, key="size"):
    """Bytes per nanosecond (GB/s; x1000: MB/s) of each round, by round: input bytes
    (key="size") or the bytes the host received (key="host_bytes")."""
    return {r["round"]: (r["writes"] * r["size"] if key == "size" else r["host_bytes"]) / r["ns"]
            for r in named if r["what"] == what and r["mode"] == mode and r["channel"] == channel
            and r["size"] == size}


def median_mbps(per_round):
    return statistics.median(per_round.values()) * 1000 if per_round else None


def summarize_channels(target, named, cpus):
    """One dict per size and channel written at once: its speed alone and together (MB/s,
    medians), together/alone (same rounds), and the fair share min(N, CPUs)/N."""
    n = len(TOGETHER[target])
    share = min(n, cpus) / n
    out = []
    for size in CHANNEL_SIZES:
        for name in TOGETHER[target]:
            alone = speeds(named, "chan", "alone", name, size)
            together = speeds(named, "chan", "together", name, size)
            calls = [r["host_calls"] / r["writes"] for r in named if r["what"] == "chan"
                     and r["channel"] == name and r["size"] == size]
            out.append({"target": target, "size": size, "channel": name, "n": n, "cpus": cpus,
                        "share": share, "alone_mbps": median_mbps(alone),
                        "together_mbps": median_mbps(together), "ratio": same_round(together, alone),
                        "calls": max(calls) if calls else None})
    return out


def summarize_stamps(target, named):
    """One dict per size: the stamped channel against the plain one, per input byte and per host
    byte (same rounds), with host bytes and host calls per write."""
    if target not in STAMPS:
        return []
    stamped, plain = STAMPS[target]
    out = []
    for size in CHANNEL_SIZES:
        s = {"target": target, "size": size}
        for role, name in (("stamped", stamped), ("plain", plain)):
            runs = [r for r in named if r["what"] == "stamp" and r["mode"] == role and r["size"] == size]
            s[f"{role}_in"] = speeds(named, "stamp", role, name, size)
            s[f"{role}_host"] = speeds(named, "stamp", role, name, size, "host_bytes")
            s[f"{role}_mbps"] = median_mbps(s[f"{role}_in"])
            s[f"{role}_host_mbps"] = median_mbps(s[f"{role}_host"])
            s[f"{role}_bytes"] = statistics.median(r["host_bytes"] / r["writes"] for r in runs) if runs else None
            s[f"{role}_calls"] = statistics.median(r["host_calls"] / r["writes"] for r in runs) if runs else None
        s["per_input"] = same_round(s["stamped_in"], s["plain_in"])
        s["per_host"] = same_round(s["stamped_host"], s["plain_host"])
        out.append(s)
    return out


def print_channel_tables(channel_sums, stamp_sums):
    print("\nnamed channels, ascii text, escaping on: each written alone, and N at once by a process each "
          f"(share: min(N, CPUs)/N)")
    head = (f"{'target':7} {'size':>6} {'channel':8} {'N':>2} {'CPUs':>4} {'alone MB/s':>10} "
            f"{'together MB/s':>13} {'together/alone':>14} {'share':>6} {'calls/write':>11}")
    print_rows(head, channel_sums, lambda c: (
        f"{c['target']:7} {c['size']:>6} {c['channel']:8} {c['n']:>2} {c['cpus']:>4} "
        f"{fmt(c['alone_mbps'], '.2f'):>10} {fmt(c['together_mbps'], '.2f'):>13} {fmt(c['ratio']):>14} "
        f"{c['share']:>6.3f} {fmt(c['calls'], '.2f'):>11}"))
    if not stamp_sums:
        return
    print(f"\nstamped channel (stamp={STAMP_KIND}) against an unstamped one, ascii text, escaping on "
          f"(host MB/s: bytes the host received, stamps included)")
    head = (f"{'target':7} {'size':>6} {'plain MB/s':>10} {'stamped MB/s':>12} {'per input':>9} "
            f"{'plain host MB/s':>15} {'stamped host MB/s':>17} {'per host B':>10} {'host B/write':>14} "
            f"{'calls/write':>11}")
    print_rows(head, stamp_sums, lambda s: (
        f"{s['target']:7} {s['size']:>6} {fmt(s['plain_mbps'], '.2f'):>10} {fmt(s['stamped_mbps'], '.2f'):>12} "
        f"{fmt(s['per_input']):>9} {fmt(s['plain_host_mbps'], '.2f'):>15} "
        f"{fmt(s['stamped_host_mbps'], '.2f'):>17} {fmt(s['per_host']):>10} "
        f"{fmt(s['plain_bytes'], '.0f'):>6} / {fmt(s['stamped_bytes'], '.0f'):>6} "
        f"{fmt(s['plain_calls'], '.1f'):>5} / {fmt(s['stamped_calls'], '.1f')}"))


def check_channel_targets(channel_sums, stamp_sums):
    print(f"\nchannel targets (ratios: medians of same-round pairs; met at >= {TARGET_RATIO}x):")
    for target in TARGETS:
        mine = [c for c in channel_sums if c["target"] == target]
        if not mine:
            continue
        share, n, cpus = mine[0]["share"], mine[0]["n"], mine[0]["cpus"]
        met = all(c["ratio"] is not None and c["ratio"] >= TARGET_RATIO * share for c in mine)
        figures = "; ".join(f"{size} B: " + " / ".join(f"{fmt(c['ratio'])}" for c in mine if c["size"] == size)
                            for size in CHANNEL_SIZES)
        mark(met, f"{target}: each of {n} channels written at once >= {TARGET_RATIO}x its fair share "
             f"min({n}, {cpus} CPUs)/{n} = {share:.3f} of its speed alone, i.e. together/alone >= "
             f"{TARGET_RATIO * share:.3f} ({', '.join(TOGETHER[target])})", figures)
        for size in CHANNEL_SIZES:
            rows = [c for c in mine if c["size"] == size and c["alone_mbps"] and c["together_mbps"]]
            if rows:
                total = sum(c["together_mbps"] for c in rows)
                alone = statistics.mean(c["alone_mbps"] for c in rows)
                print(f"      {size} B: all {n} together {total:.2f} MB/s against {alone:.2f} MB/s for one "
                      f"alone ({total / alone:.3f}x)")
        stamps = [s for s in stamp_sums if s["target"] == target]
        if stamps:
            met = all(s["per_host"] is not None and s["per_host"] >= TARGET_RATIO for s in stamps)
            mark(met, f"{target}: stamped channel (stamp={STAMP_KIND}) >= {TARGET_RATIO}x the unstamped one, "
                 f"per host byte",
                 ", ".join(f"{s['size']} B: {fmt(s['per_host'])} (per input byte {fmt(s['per_input'])})"
                           for s in stamps))
            if not met:
                for s in stamps:
                    print(f"      {s['size']} B: the stamped channel sends {fmt(s['stamped_bytes'], '.0f')} host "
                          f"bytes in {fmt(s['stamped_calls'], '.1f')} host calls per write, the plain one "
                          f"{fmt(s['plain_bytes'], '.0f')} in {fmt(s['plain_calls'], '.1f')}")


def svg_plot(summaries, out):
    """Throughput of ascii text against write size (log-log): l4log escaping on and off,
    /dev/null and the floor (escaping off), one line each per target."""
    w, h, left, bottom, top, right = 760, 460, 70, 50, 30, 190
    rows = [s for s in summaries if s["kind"] == "ascii"]
    paths = {"on": "on_us", "off": "off_us", "null": "null_us", "floor": "off_floor_us"}
    pts = [mbps(s["size"], s[key]) for s in rows for key in paths.values() if s[key]]
    ymin = 10 ** math.floor(math.log10(min(pts)))
    ymax = 10 ** math.ceil(math.log10(max(pts)))
    sizes = sorted({s["size"] for s in rows})
    xmin, xmax = math.log2(sizes[0]), math.log2(sizes[-1])

    def xy(size, v):
        x = left + (math.log2(size) - xmin) / (xmax - xmin) * (w - left - right)
        y = h - bottom - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * (h - top - bottom)
        return x, y

    colors = {"on": "#d62728", "off": "#ff7f0e", "null": "#7f7f7f", "floor": "#1f77b4"}
    dashes = {"qemu": "", "uml": "6,4", "l4linux": "2,3", "l4sink": "8,2,2,2"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{w / 2 - 140}" y="18">l4log throughput against write size (ascii text)</text>']
    for e in range(int(math.log10(ymin)), int(math.log10(ymax)) + 1):
        _, y = xy(sizes[0], 10 ** e)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="5" y="{y + 4:.1f}">{10 ** e:g} MB/s</text>')
    for size in sizes:
        x, _ = xy(size, ymin)
        label = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#eee"/>'
                     f'<text x="{x - 15:.1f}" y="{h - bottom + 18}">{label}</text>')
    legend_y = top + 10
    for target in TARGETS:
        for path, key in paths.items():
            line = [xy(s["size"], mbps(s["size"], s[key])) for s in rows if s["target"] == target and s[key]]
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


def check_texts(target, summaries):
    """The texts are what they claim: ascii and utf8 need no escaping, binary does."""
    for s in summaries:
        escapes = s["on_bytes"] != s["off_bytes"]
        if escapes != (s["kind"] == "binary") and s["size"] > 1:
            raise SystemExit(f"bench: {target}: {s['kind']} text of {s['size']} B: {s['on_bytes']:.0f} host "
                             f"bytes per write escaped, {s['off_bytes']:.0f} not")


def main():
    if not TARGETS:
        raise SystemExit(f"bench: no target to run among L4LOG_BENCH_TARGETS="
                         f"{os.environ['L4LOG_BENCH_TARGETS']!r}")
    work = guest.new_run_dir()
    # The escaper's own cost first, natively (bench/escape/native.rs): l4log's pass over the
    # bytes, against from_utf8 and a copy.
    subprocess.run([str(REPO / "bench/escape/run"), str(work / "escaper.csv")], check=True)
    print(flush=True)
    tool = work / "l4log-bench"
    compile_bench(tool)
    all_rows, summaries, memory, all_named, channel_sums, stamp_sums = [], [], {}, [], [], []
    results = {}
    for boot in BOOTS:
        figures, received = boot_bench(boot, work, tool)
        rows = figures[boot][0]
        written = sum(r["writes"] * r["size"] for r in rows if r["path"] in ("on", "off"))
        log(f"{boot}: l4log wrote {written} bytes in the rounds; the host log received {received} in all")
        if received < written:
            raise SystemExit(f"bench: {boot}: the host log received less than l4log accepted")
        results.update(figures)
    for target in TARGETS:
        if target not in results:
            raise SystemExit(f"bench: no boot printed figures of {target}")
        rows, mem, named = results[target]
        check_sink(target, rows)
        all_rows += [dict(r, target=target) for r in rows]
        mine = summarize(target, rows)
        check_texts(target, mine)
        summaries += mine
        if mem:
            memory[target] = mem
        all_named += [dict(r, target=target) for r in named]
        if named:
            channel_sums += summarize_channels(target, named, mem.get("cpus", 1))
        stamp_sums += summarize_stamps(target, named)
    print_table(summaries)
    check_targets(summaries, memory)
    print_sink_table(summaries)
    print_channel_tables(channel_sums, stamp_sums)
    check_channel_targets(channel_sums, stamp_sums)
    csv_path, svg_path = work / "results.csv", work / "throughput.svg"
    channels_csv = work / "channels.csv"
    with open(channels_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["target", "what", "mode", "channel", "size", "round", "writes",
                                               "ns", "host_calls", "host_bytes"])
        writer.writeheader()
        writer.writerows(all_named)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["target", "path", "kind", "size", "round", "writes", "ns", "cpu_ns",
                                               "host_calls", "host_bytes"])
        writer.writeheader()
        writer.writerows(all_rows)
    svg_plot(summaries, svg_path)
    print(f"\nescaper csv: {guest.host_path(work / 'escaper.csv')}")
    print(f"csv: {guest.host_path(csv_path)}\nchannels csv: {guest.host_path(channels_csv)}\n"
          f"plot: {guest.host_path(svg_path)}")


if __name__ == "__main__":
    main()
