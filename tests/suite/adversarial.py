"""The adversarial cases, on each target's debug kernel (KASAN, atomic-sleep and list checks,
lockdep on QEMU's; configs/debug.config) and on L4Linux's normal kernel, with the guest program
tests/guest/l4log-adversary.c.

A debug kernel boots slowly under TCG (QEMU's takes about 30 s to /init, 50 s of CPU time
with its two vCPUs), so the adversarial cases of a target run in one boot, one after the
other. Each case is marked in the console and the kernel log, its
own exit status is reported, and a marker line sent through l4log after it (escaping off,
rate limit off, with a token no data contains) ends its part of the host log. Each case
then checks its own part of the host log, console and kernel log. A case here returns its
guest command and the check of its part: `verify(host, lines)`, with the part's host log and
its console lines marked `l4log-adv: `.
"""

import collections
import functools
import random
import re

from .harness import (L4_CONSOLE_ENTRY, PAGE, PARAMS, PATTERN, RAW, Case, Failure, Prng, after_insmod, check,
                      check_bytes, escaped, guest, host_bytes, kernel_trouble, l4_framed, part)

# The adversarial cases, run on each target's debug kernel in one boot, in this order.
ADVERSARIAL = [
    "adv_unmapped_buffers",
    "adv_zero_and_one_byte_writes",
    "adv_writev_many_iovecs",
    "adv_concurrent_writers",
    "adv_shared_file_threads",
    "adv_shared_file_fork",
    "adv_escape_sequences",
    "adv_rate_limit_signals_nonblock",
    "adv_rmmod_with_sleeping_writer",
    "adv_nonroot_denied_by_default",
    "adv_unprivileged_efault",
    "adv_mode_and_group_parameters",
    "adv_random_sizes_and_offsets",
    "adv_big_write_flat_memory",
]
# On L4Linux (no debug kernel) the adversarial cases run on its normal kernel, in one boot,
# all but the big write (64 MiB: 17 minutes through the emulated serial console under TCG).
L4_ADVERSARIAL = [name for name in ADVERSARIAL if name != "adv_big_write_flat_memory"]
# The size of the big write, in MiB, per target (adv_big_write_flat_memory).
BIG_WRITE_MIB = {"qemu": 8, "uml": 64}
# The rate limit of the shared-file adversarial cases (bytes per second): about 1 MB each, the
# first 400 KB at once (the bucket's second), the rest with waits between write steps.
SHARED_RATE = 400_000
# Loads l4log.ko again (after an rmmod), with the boot's own arguments.
RELOAD = "insmod /lib/modules/l4log.ko $(cat /l4log-run/insmod-args)"


def adv_unmapped_buffers(suite):
    # Unmapped: EFAULT and nothing sent. Partly unmapped: the mapped part, then EFAULT.
    def verify(host, lines):
        page = (PATTERN * (PAGE // len(PATTERN) + 1))[:PAGE]
        check_bytes(host, page[-100:])
    return "./l4log-adversary unmapped && ./l4log-test fault 100 && ./l4log-test fault 0", verify


def adv_zero_and_one_byte_writes(suite):
    return "./l4log-adversary small", lambda host, lines: check_bytes(host, b"a\n")


def adv_big_write_flat_memory(suite):
    # One write of many times the memory l4log may use (4 MiB below): 64 MiB on UML (0.4 s),
    # 8 MiB on QEMU's debug kernel, whose emulated debug port takes about 4 s a MiB under TCG
    # beside the other guests.
    mib = BIG_WRITE_MIB[suite.target]
    size = mib << 20

    def verify(host, lines):
        block = bytes((i * 37 + 11) & 0xFF for i in range(251))
        check_bytes(host, (block * (size // len(block) + 1))[:size])
        memory = {}
        for line in lines:
            print(f"# {line}")
            memory.update((k, int(v)) for k, v in re.findall(r"([a-z-]+)=(-?\d+)", line))
        check({"free-before", "free-lowest", "slab-highest"} <= memory.keys(), "no memory figures")
        drop = memory["free-before"] - memory["free-lowest"]
        print(f"# guest memory: free memory dropped by at most {drop} KiB during the {mib} MiB write; "
              f"slab {memory['slab-before']} -> at most {memory['slab-highest']} KiB")
        check(drop < 4096, f"free memory dropped by {drop} KiB during the write")
    return RAW + f"./l4log-adversary big {mib}", verify


def adv_writev_many_iovecs(suite):
    count, seed = 1024, 0x5EED

    def verify(host, lines):
        prng = Prng(seed)
        data = prng.fill(1 << 16)
        want = []
        for _ in range(count):
            length = prng.below(8)
            offset = prng.below((1 << 16) - 8)
            want.append(data[offset:offset + length])
        check_bytes(host, b"".join(want))
    return RAW + f"./l4log-adversary writev {count} {seed}", verify


def writer_line(w, n):
    letters = (w * 1000 + n) * 13 % 300
    return f"w{w} l{n:04d} ".encode() + bytes([ord("a") + (w + n) % 26]) * letters


def adv_concurrent_writers(suite):
    # 8 writers of 1000 lines each; 400 on QEMU's debug kernel, where they keep both vCPUs busy
    # under TCG for about 15 s (38 s with 1000, the longest part of that boot).
    writers, lines = 8, (400 if suite.target == "qemu" and suite.debug else 1000)
    return f"./l4log-adversary lines {writers} {lines}", writer_lines_verifier(writers, lines)


def adv_shared_file_threads(suite):
    # 8 threads writing through one open file, in writes of 1 to 20 whole lines (up to about
    # 6 KiB: several write steps): writes through one file do not interleave, so every line
    # arrives whole, once, in its writer's order. The rate limit makes writes sleep between
    # their steps, so that the other threads run meanwhile also on one CPU.
    writers, lines = 8, 1000
    return (f"echo {SHARED_RATE} >{PARAMS}/rate_limit && ./l4log-adversary shared threads {writers} {lines}",
            writer_lines_verifier(writers, lines))


def adv_shared_file_fork(suite):
    # The same with two processes forked after the open.
    writers, lines = 2, 3000
    return (f"echo {SHARED_RATE} >{PARAMS}/rate_limit && ./l4log-adversary shared fork {writers} {lines}",
            writer_lines_verifier(writers, lines))


def writer_lines_verifier(writers, lines):
    """A check of a host log where `writers` writers each wrote `lines` lines (writer_line):
    all of them whole, once, in each writer's order, and nothing else."""
    def verify(host, console):
        check(host.endswith(b"\n"), "host log does not end with a newline")
        got_lines = host[:-1].split(b"\n")
        counts = collections.Counter(got_lines)
        for w in range(writers):
            want = [writer_line(w, n) for n in range(lines)]
            mine = [line for line in got_lines if line.startswith(f"w{w} ".encode())]
            missing = [line for line in want if counts[line] == 0]
            repeated = [line for line in want if counts[line] > 1]
            check(not missing and not repeated,
                  f"writer {w}: {len(missing)} lines missing, {len(repeated)} repeated; "
                  f"first missing {missing[:1]!r}")
            check(mine == want, f"writer {w}: its lines arrived out of order")
        strangers = [line for line in got_lines if not re.fullmatch(rb"w\d l\d{4} [a-z]*", line)]
        check(not strangers, f"{len(strangers)} mangled lines, e.g. {strangers[:2]!r}")
        check(len(got_lines) == writers * lines, f"{len(got_lines)} lines, want {writers * lines}")
    return verify


def adv_escape_sequences(suite):
    # Clear screen, set the window title, bell, CSI in both C1 forms, an 8-bit byte.
    raw = b"\033[2J\033]0;pwned\007 \302\233 \233 caf\303\251 \377\tend\n"
    want = b"\\x1b[2J\\x1b]0;pwned\\x07 \\xc2\\x9b \\x9b caf\xc3\xa9 \\xff\tend\n"

    def verify(host, lines):
        check(escaped(raw) == want, "the test's reference escaper disagrees with the expected text")
        check_bytes(host, want)
    return ("printf '\\033[2J\\033]0;pwned\\007 \\302\\233 \\233 caf\\303\\251 \\377\\tend\\n'"
            " > /dev/l4log"), verify


def adv_rate_limit_signals_nonblock(suite):
    def verify(host, lines):
        want = b""
        for line in lines:
            print(f"# {line}")
            if m := re.fullmatch(r"wrote (\d+) (\d+)", line):
                want += bytes([int(m[1])]) * int(m[2])
        check(want.startswith(b"a") and want.endswith(b"e\n"), f"unexpected write results: {want[:20]!r}...")
        check_bytes(host, want)
        waited = [line.split()[1] for line in lines if line.startswith("l4log-throttled-ns:")]
        check(waited and int(waited[0]) > 1_000_000_000,
              f"l4log-throttled-ns {waited}: the writers waited more than a second")
    return ("./l4log-adversary throttle && exec 3>/dev/l4log && "
            "sed 's/^/l4log-adv: /' /proc/self/fdinfo/3"), verify


def adv_rmmod_with_sleeping_writer(suite):
    # rmmod is refused while a write sleeps on the rate limit; SIGKILL ends the sleep; then
    # rmmod works. The module is loaded again for the cases after this one. The write took
    # one byte (a second's worth at 1 byte/s) and held it, unfinished: the close at the
    # writer's death sends it.
    def verify(host, lines):
        check_bytes(host, b"k")
    return "./l4log-adversary sleeper && [ ! -e /dev/l4log ]; status=$?; " + RELOAD + "; exit $status", verify


def adv_nonroot_denied_by_default(suite):
    def verify(host, lines):
        check(lines == ["nonroot open: Permission denied"], f"{lines}")
        check_bytes(host, b"")
    return "./l4log-adversary nonroot 1000 1000", verify


def adv_unprivileged_efault(suite):
    # An unprivileged user's system calls whose user memory is not mapped fail with EFAULT
    # (a partly mapped write may take the mapped part) and print nothing: the kernel log
    # check of every case finds L4Linux's user-access fault log ("returning efault").
    calls = ["tmpfs write, partly mapped", "tmpfs write, unmapped", "pipe write, partly mapped",
             "pipe write, unmapped", "l4log write, partly mapped", "l4log write, unmapped",
             "pipe read into unmapped", "poll with an unmapped array", "select with an unmapped set",
             "pipe() into unmapped", "futex wait on unmapped", "prctl result into unmapped",
             "getsockopt with an unmapped length", "getsockopt with an unmapped value"]

    def verify(host, lines):
        results = dict(line[len("efault "):].split(": ", 1) for line in lines if line.startswith("efault "))
        for line in lines:
            print(f"# {line}")
        check(sorted(results) == sorted(calls), f"calls reported: {sorted(results)}")
        check(results["l4log write, partly mapped"] == "mapped part", "l4log did not take the mapped part")
        if suite.target == "l4linux":  # the only test kernel with sockets
            check(results["getsockopt with an unmapped value"] == "EFAULT", "getsockopt did not run")
        else:
            unrun = [call for call, result in results.items() if result == "no sockets here"]
            check(unrun == ["getsockopt with an unmapped length", "getsockopt with an unmapped value"],
                  f"calls not run: {unrun}")
            print(f"# SKIP (this kernel has no sockets): {', '.join(unrun)}")
        check_bytes(host, b"u" * 100)
    return "./l4log-adversary efault 1000", verify


def adv_mode_and_group_parameters(suite):
    # Loaded again with mode=0660 group=1234, then once more with the defaults.
    def verify(host, lines):
        check(lines == ["nonroot open: ok", "wrote 110 3", "nonroot open: Permission denied"], f"{lines}")
        check_bytes(host, b"nnn")
    return ("rmmod l4log && " + RELOAD + " mode=0660 group=1234 && "
            '[ "$(stat -c "%a %u %g" /dev/l4log)" = "660 0 1234" ] && '
            "./l4log-adversary nonroot 1000 1234 && ./l4log-adversary nonroot 1000 1000; "
            "status=$?; rmmod l4log; " + RELOAD + "; exit $status"), verify


def fuzz_stream(seed, ops):
    """The bytes `l4log-adversary fuzz` writes in `ops` operations from `seed`."""
    size = 1 << 20
    prng = Prng(seed)
    buf = prng.fill(size)
    out = []
    for _ in range(ops):
        kind = prng.below(8)
        if kind == 7:
            for _ in range(1 + prng.below(64)):
                length = prng.below(200)
                offset = prng.below(size - 200)
                out.append(buf[offset:offset + length])
            continue
        length = (0 if kind == 0 else 1 + prng.below(16) if kind <= 2
                  else 1 + prng.below(8192) if kind <= 5 else 1 + prng.below(70000))
        offset = prng.below(size - length)
        out.append(buf[offset:offset + length])
    return b"".join(out)


def adv_random_sizes_and_offsets(suite):
    seconds = 3

    def verify(host, lines):
        ops = [int(line.split()[1]) for line in lines if line.startswith("fuzz-ops ")]
        check(len(ops) == 2 and min(ops) >= 20, f"fuzz operations: {ops}")
        raw, text = fuzz_stream(11, ops[0]), fuzz_stream(12, ops[1])
        print(f"# fuzz: {ops[0]} operations, {len(raw)} bytes raw; "
              f"{ops[1]} operations, {len(text)} bytes escaped")
        check_bytes(host, raw + escaped(text))
    return (f"echo N >{PARAMS}/escape && ./l4log-adversary fuzz {seconds} 11 && "
            f"echo Y >{PARAMS}/escape && ./l4log-adversary fuzz {seconds} 12"), verify


def batches(suite):
    """The adversarial cases of the current target, by the boot they run in."""
    names = L4_ADVERSARIAL if suite.target == "l4linux" else ADVERSARIAL
    return [names]


def boot(suite, name):
    """The boot of the current target (the debug kernel's, but on L4Linux) that runs the
    adversarial case `name`, booted once; returns each of its cases' parts and the boot."""
    names = next(batch for batch in batches(suite) if name in batch)
    return suite.once(("adversarial", suite.target, suite.smp, names[0]), lambda: batch_boot(suite, names))


def boots(suite):
    """Every adversarial boot of the current target (booted if not yet)."""
    return [boot(suite, batch[0])["boot"] for batch in batches(suite)]


def batch_boot(suite, names):
    token = f"{random.getrandbits(64):016x}"
    script = [
        f"end_case() {{ echo N >{PARAMS}/escape; echo 0 >{PARAMS}/rate_limit; "
        f"printf '\\n@@l4log-case-end %s {token}@@\\n' \"$1\" >/dev/l4log; }}",
    ]
    checks = {}
    for name in names:
        cmd, checks[name] = globals()[name](suite)
        script += [
            # KERN_DEBUG (<7>): in the kernel log, not on the console, where the kernel's copy
            # of it could land inside the console lines this script prints.
            f"echo 'l4log-case-begin: {name}'; echo '<7>l4log-kmsg-case: {name}' >/dev/kmsg",
            f"echo Y >{PARAMS}/escape; echo 0 >{PARAMS}/rate_limit",
            "start=$(cut -d' ' -f1 /proc/uptime)",
            f"( {cmd} ); status=$?; echo \"l4log-adv-seconds: $start $(cut -d' ' -f1 /proc/uptime)\"",
            f"echo \"l4log-case-status: {name} $status\"",
            f"end_case {name}",
        ]
    # Whether lockdep was still on at the end (it turns itself off at its first report).
    if suite.debug:
        script.append("sed -n 's/^ *debug_locks: */l4log-debug-locks: /p' /proc/lockdep_stats")
    kernel_dir, module, extra = suite.built()
    script = "\n".join(script)
    if suite.target == "l4linux":
        script = l4_framed(script, token)
    b = guest.boot_guest(suite.target, kernel_dir, module, "command", script, str(extra),
                         quiet=True, timeout=1200, l4_entry=L4_CONSOLE_ENTRY)
    b.frame_token = token
    suite.record(b)
    host = host_bytes(b)
    console = b.console.read_text(errors="replace").replace("\r", "")
    after, _ = after_insmod(b.dmesg)
    parts = {"boot": b}
    for name in names:
        end = f"\n@@l4log-case-end {name} {token}@@\n".encode()
        segment, found, host = host.partition(end)
        text, status, kernel_log = part(console, after, name, "l4log-case-begin", "l4log-case-status")
        parts[name] = (found, segment, text, kernel_log, status, checks[name])
    return parts


def run_case(name, suite):
    """The adversarial case `name`: its part of the batch boot, checked."""
    parts = boot(suite, name)
    b = parts["boot"]
    check(not b.timed_out, f"guest timed out; console: {b.console}")
    check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
    found, host, text, kernel_log, status, verify = parts[name]
    check(status is not None, f"{name} did not finish; console: {b.console}")
    if status != 0:
        raise Failure(f"{name} exited {status}; its console:\n{text[-1500:]}")
    trouble = kernel_trouble(kernel_log)
    check(not trouble, f"{b.run_dir}: kernel log during {name} reports trouble:\n" + "\n".join(trouble[:40]))
    check(found, f"the host log has no end marker for {name}")
    seconds = re.search(r"^l4log-adv-seconds: ([\d.]+) ([\d.]+)$", text, re.M)
    if seconds:
        print(f"# {name}: {float(seconds[2]) - float(seconds[1]):.1f} s in the guest")
    lines = [line[len("l4log-adv: "):].strip() for line in text.splitlines() if line.startswith("l4log-adv: ")]
    verify(host, lines)


def l4linux_cases():
    return [Case(f"l4linux_{name}", functools.partial(run_case, name), "l4linux") for name in L4_ADVERSARIAL]


def cpus_online(suite):
    """The QEMU debug kernel (SMP) has both CPUs online, so that its concurrent cases run on two
    (ACPI's MADT lists them: without ACPI, the firmware's MP table listed one, and this failed)."""
    b = suite.boot('echo "l4log-cpus-online: $(cat /sys/devices/system/cpu/online)"')
    online = re.findall(r"^l4log-cpus-online: (\S+)$", b.console.read_text(errors="replace").replace("\r", ""), re.M)
    print(f"# CPUs online: {online}")
    check(online == ["0-1"], f"CPUs online: {online}, want ['0-1']")


def debug_cases(target):
    own = [Case("qemu_debug_cpus_online", cpus_online, "qemu", debug=True)] if target == "qemu" else []
    return own + [Case(f"{target}_debug_{name}", functools.partial(run_case, name), target, debug=True)
                  for name in ADVERSARIAL]
