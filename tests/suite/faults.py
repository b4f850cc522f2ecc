"""Fault injection, on each debug kernel (failslab, fail_page_alloc, kmemleak).

One boot per debug kernel (FAULT_BOOTS): tests/guest/l4log-faults.c fails the 1st, 2nd, ...
allocation of insmod with the default mode/group and with others (UML only), races failing
loads against opens, and fails the allocations of open, write and close, through
/proc/thread-self/fail-nth. At the end of each boot l4log is
unloaded and kmemleak scans. Each part is a case (`fault_NAME` checks part NAME; `kmemleak`
the scans).
"""

import collections
import functools
import re

from .harness import (BOOT_ARGS, MODULE, Case, check, check_bytes, checked_part, guest, known_reports_as_notes, part,
                      trouble_lines)

# The fault-injection boot of each debug kernel: its parts, in order
# (tests/guest/l4log-faults.c), then the part `kmemleak`. The insmod loops fail each of about
# 200 allocations of a load in turn: 8 s on UML's debug kernel, 2 to 3 minutes on QEMU's under
# TCG (0.6 s a load, KASAN, lockdep). They run on UML's (KASAN and kmemleak check each failed
# load there); QEMU's, with two CPUs and lockdep, runs the parts where l4log's own paths race
# or fail: the load race, open, write and close. A debug boot costs more than most parts (QEMU's
# about 50 s of CPU time): one boot per kernel.
FAULT_BOOTS = {
    "qemu": [["loadrace", "open", "write", "write_channel", "close"]],
    "uml": [["insmod_default", "insmod_mode_group", "loadrace", "open", "write", "write_channel", "close"]],
}


def fault_parts(target):
    return [*(name for parts in FAULT_BOOTS[target] for name in parts), "kmemleak"]

# Loads of the load race, each kind: mode or group out of range (EINVAL before anything is
# registered), and /dev without the node (ENOENT after the device is registered). A load takes
# about 1.5 s on the QEMU debug kernel under TCG (KASAN, slab_debug=P) beside other guests,
# 0.15 s on UML's, while the opener spins; 50 loads of the second kind met 158 opens in the
# window between registration and failure on QEMU, 200 on UML 404 to 659.
LOAD_RACE_LOADS = {"qemu": 8, "uml": 100}
# The fault boot's kernel arguments. slab_debug=P (poisoning) makes every slab cache a debug
# cache: such caches have no per-CPU sheaves, whose slots keep the addresses of the objects last
# handed out, keep SLUB's free pointer outside the object, and overwrite freed objects. kmemleak
# scans sheaves and objects whole, so without it a stale address hides a leaked object: a leak of
# 1 object per open went unreported (README, kmemleak).
FAULT_KERNEL_ARGS = "slab_debug=P"
DEBUGFS = "/sys/kernel/debug"
# Reports the kernel makes about an allocation that failed (warn_alloc), with a stack dump: what
# fault injection asks for, so each may account for one "Call Trace".
ALLOCATION_FAILURE = re.compile(r"page allocation failure|vmalloc error|allocation failed")


def fault_boots(suite, name):
    """The fault-injection boots of the current target's debug kernel that run part `name`,
    each booted once."""
    return [suite.once(("faults", suite.target, parts[0]), functools.partial(batch_boot, suite, parts))
            for parts in FAULT_BOOTS[suite.target] if name in parts or name == "kmemleak"]


def batch_boot(suite, parts):
    steps = {
        "insmod_default": f'./l4log-faults insmod {MODULE} "{BOOT_ARGS}"',
        "insmod_mode_group": f'./l4log-faults insmod {MODULE} "{BOOT_ARGS} mode=0620 group=5"',
        "loadrace": f'./l4log-faults loadrace {MODULE} {LOAD_RACE_LOADS[suite.target]} "{BOOT_ARGS}"',
        # Channel app stamped, for write_channel.
        "open": (f"insmod {MODULE} $(sed 's/channels=app\\([^,: ]*\\)/channels=app\\1:stamp=task/' "
                 "/l4log-run/insmod-args) && ./l4log-faults open"),
        "write": "./l4log-faults write",
        "write_channel": "./l4log-faults write /dev/l4log-app escaped",
        "close": "./l4log-faults close",
        # Leaks: unloaded first (module frames then show as bare addresses), objects older
        # than kmemleak's 5 s only, two scans.
        "kmemleak": (f"{{ ! grep -q '^l4log ' /proc/modules || rmmod l4log; }} && sleep 6 && "
                     f"echo scan >{DEBUGFS}/kmemleak && "
                     f"echo scan >{DEBUGFS}/kmemleak && sed 's/^/l4log-leak: /' {DEBUGFS}/kmemleak"),
    }
    # failslab fails allocations of every cache but kmemleak's own (cache-filter; every cache
    # can be marked, as slab_debug=P merges none). When kmemleak cannot allocate its record of
    # an object it takes one from its pool in .bss, which it scans: the record's pointer then
    # counts as a reference to the object for good, and a leak on that path goes unreported.
    script = [f"mount -t debugfs debugfs {DEBUGFS} 2>/dev/null; ./l4log-faults setup && "
              f"echo Y >{DEBUGFS}/failslab/cache-filter && "
              "for c in /sys/kernel/slab/*/failslab; do "
              "case $c in */kmemleak_*) ;; *) echo 1 >$c || exit 1 ;; esac; done && "
              f"echo clear >{DEBUGFS}/kmemleak && rmmod l4log || exit 1"]
    for name in (*parts, "kmemleak"):
        script += [f"echo 'l4log-fault-begin: {name}'; echo '<7>l4log-kmsg-case: {name}' >/dev/kmsg",
                   f"echo \"l4log-fault-uptime: $(cut -d' ' -f1 /proc/uptime)\"",
                   f"( {steps[name]} ); echo \"l4log-fault-status: {name} $?\"",
                   f"echo \"l4log-fault-uptime: $(cut -d' ' -f1 /proc/uptime)\""]
    kernel_dir, module, extra = suite.built()
    b = guest.boot_guest(suite.target, kernel_dir, module, "command", "\n".join(script), str(extra),
                         quiet=True, timeout=1800, kernel_args=FAULT_KERNEL_ARGS)
    b.fault_injection = True
    b.fault_parts = parts
    suite.record(b)
    return b


def fault_trouble(kernel_log):
    """Reports in a fault case's kernel log, but for the allocation failures it asked for."""
    kernel_log = known_reports_as_notes(kernel_log)
    trouble = [line for line in trouble_lines(kernel_log) if "Call Trace" not in line]
    traces = kernel_log.count("Call Trace")
    if traces > len(ALLOCATION_FAILURE.findall(kernel_log)):
        trouble.append(f"{traces} stack dumps, not all after an allocation failure report")
    return trouble


def run_case(name, suite):
    """The fault-injection part `name`, checked (kmemleak: in each boot)."""
    texts = []
    for b in fault_boots(suite, name):
        check(not b.timed_out, f"guest timed out; console: {b.console}")
        check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
        text, _ = checked_part(b, name, "l4log-fault-begin", "l4log-fault-status", fault_trouble)
        uptimes = [float(t) for t in re.findall(r"^l4log-fault-uptime: ([\d.]+)$", text, re.M)]
        if len(uptimes) == 2:
            print(f"# {name}: {uptimes[1] - uptimes[0]:.1f} s in the guest")
        texts.append(text)
    globals()[f"fault_{name}"](suite, b, "".join(texts))


def fault_points(text, call):
    found = re.search(rf"^l4log-fault: {call} points=(\d+) errors=(\S*)$", text, re.M)
    check(found, f"no injection point count for {call}")
    errors = dict(e.split(":") for e in found[2].split(",") if e)
    return int(found[1]), errors


def fault_insmod_default(suite, b, text):
    fault_insmod(text, "mode=600 gid=0")
    check_host_part(b, "insmod_default")


def fault_insmod_mode_group(suite, b, text):
    fault_insmod(text, "mode=620 gid=5")
    check_host_part(b, "insmod_mode_group")


def recovered(text, call):
    """The allocations whose failure `call` (a load or open) recovered from: it succeeded."""
    return re.findall(rf"^l4log-fault: {call} recovered (\d+)$", text, re.M)


def recovered_lines(text, call, letter):
    """The lines `call` sent after each load or open that succeeded though an allocation
    failed (l4log-faults.c recovered_line)."""
    return "".join(f"{letter}{n}\n" for n in recovered(text, call)).encode()


def fault_insmod(text, node):
    points, errors = fault_points(text, "insmod")
    print(f"# insmod: {len(recovered(text, 'insmod'))} loads succeeded though an allocation failed")
    check(points > 0, "insmod had no allocation to fail")
    check(set(errors) <= {"ENOMEM"}, f"insmod failed with other errors than ENOMEM: {errors}")
    # The load that no failure reached: the node as asked.
    check(f"l4log-fault: insmod node {node}\n" in text, f"after the last insmod, /dev/l4log is not {node}")


def fault_loadrace(suite, b, text):
    # While loads fail, before and after the device is registered, another process opens
    # /dev/l4log in a loop: no open may succeed (a module whose init fails is freed with the
    # file open), and KASAN must stay silent (checked with the part's kernel log).
    found = re.search(r"^l4log-fault: loadrace loads=(\d+) einval=(\d+) enoent=(\d+) other=(\d+) "
                      r"opened=(\d+) open-enoent=(\d+) open-enodev=(\d+) open-other=(\d+)$", text, re.M)
    check(found, "the load race did not report")
    loads, einval, enoent, other, opened, open_enoent, open_enodev, open_other = map(int, found.groups())
    count = LOAD_RACE_LOADS[suite.target]
    check(loads == 2 * count and einval == count and enoent == count and other == 0,
          f"loads: {einval} EINVAL and {enoent} ENOENT of {loads}, {other} otherwise")
    print(f"# opens during the loads: {open_enoent} ENOENT, {open_enodev} ENODEV (in the window)")
    check(opened == 0, f"{opened} opens succeeded on loads that failed")
    # Opens that reached l4log while a load was under way, its devices registered: without
    # them the race was never run.
    check(open_enodev >= 1, "no open came while a device was registered and the load not done")
    check(open_other == 0, f"{open_other} opens failed with other errors than ENOENT and ENODEV")


def fault_open(suite, b, text):
    points, errors = fault_points(text, "open")
    # l4log's own: its line buffer and the open file's state, after the VFS's.
    check(points >= 2, f"open had {points} allocations to fail")
    check(set(errors) <= {"ENOMEM"}, f"open failed with other errors than ENOMEM: {errors}")
    check_host_part(b, "open")


def fault_write(suite, b, text):
    points, errors = fault_points(text, "write")
    check(points == 0 and not errors, f"write allocated: {points} injection points, errors {errors}")
    check_host_part(b, "write")


def fault_write_channel(suite, b, text):
    # A stamped named channel, text to escape: nothing allocated, every line on the host once.
    points, errors = fault_points(text, "write")
    check(points == 0 and not errors, f"write allocated: {points} injection points, errors {errors}")
    found = re.search(r"^l4log-fault: write lines=(\d+) pid=(\d+) device=/dev/l4log-app$", text, re.M)
    check(found, "the channel's write part did not report what it sent")
    want = "".join(f"l4log-faults[{found[2]}]: w{i}\\x01\n" for i in range(1, int(found[1]) + 1))
    check_bytes(b.channel_log("app").read_bytes(), want.encode(), "app's capture")


def fault_close(suite, b, text):
    # close(2) does not return what release does (nothing, in l4log): a failed allocation can
    # show only in what reaches the host.
    check_host_part(b, "close")


def check_host_part(b, name):
    """The part of the fault boot's host log that part `name` sent, exactly (host_parts), and
    nothing after the last part's."""
    host, at = b.host_log.read_bytes(), 0
    for part_name, want in host_parts(b):
        got = host[at:at + len(want)]
        if part_name == name:
            check_bytes(got, want, f"the host log's part of {name}")
        else:
            check(got == want, f"the host log's part of {part_name}, before or after {name}'s, is not "
                               f"what {part_name} sent (its case shows how)")
        at += len(want)
    check(len(host) == at, f"the fault boot's host log has {len(host)} bytes, its parts {at}")


def host_parts(b):
    """What each part of the fault boot `b` sent to the host log, in the boot's order: a line
    through each load (`i`) and open (`o`) that succeeded though an allocation failed, the
    write part's lines, then the close part's texts, each exactly once."""
    console = b.console.read_text(errors="replace").replace("\r", "")
    parts = []
    for name in b.fault_parts:
        check(f"l4log-fault-begin: {name}\n" in console, f"the fault boot did not begin its part {name}")
        text = part(console, "", name, "l4log-fault-begin", "l4log-fault-status")[0]
        if name.startswith("insmod_"):
            want = recovered_lines(text, "insmod", "i")
        elif name == "open":
            want = recovered_lines(text, "open", "o")
        elif name == "write":
            lines = re.search(r"^l4log-fault: write lines=(\d+) pid=\d+ device=/dev/l4log$", text, re.M)
            check(lines, "the write part did not report what it sent")
            want = "".join(f"w{i}\n" for i in range(1, int(lines[1]) + 1)).encode()
        elif name == "close":
            texts = re.search(r"^l4log-fault: close texts=(\d+)$", text, re.M)
            check(texts, "the close part did not report what it sent")
            want = "".join(f"c{i}" for i in range(1, int(texts[1]) + 1)).encode()
        else:
            want = b""
        parts.append((name, want))
    return parts


def fault_kmemleak(suite, b, text):
    report = "\n".join(line[len("l4log-leak: "):] for line in text.splitlines()
                       if line.startswith("l4log-leak: "))
    leaks = re.split(r"(?m)^(?=unreferenced object)", report)[1:]
    mine = [leak for leak in leaks if leak_of_l4log(leak)]
    others = collections.Counter(re.search(r'comm "([^"]*)", pid (\d+)', leak)[0] for leak in leaks
                                 if leak not in mine)
    for where, count in others.items():
        print(f"# note: {count} unreferenced objects not of l4log's, allocated by {where}")
    print(f"# kmemleak: {len(leaks)} unreferenced objects, {len(mine)} of l4log's")
    check(not mine, "kmemleak reports objects l4log allocated:\n" + "".join(mine)[:4000])


def leak_of_l4log(leak):
    """Whether a kmemleak report is of an object l4log allocated. With a backtrace: a frame
    of l4log's, named, or an address no symbol covers any more (l4log.ko is unloaded when
    kmemleak reports). Without one (UML saves none): allocated by a process, not during
    the boot (swapper) or by a kernel thread."""
    frames = [line.strip() for line in leak.split("backtrace", 1)[-1].splitlines()[1:] if line.strip()]
    if frames:
        return any("l4log" in frame or re.fullmatch(r"(\[<[0-9a-f]+>\] )?0x[0-9a-f]+", frame)
                   for frame in frames)
    comm, pid = re.search(r'comm "([^"]*)", pid (\d+)', leak).groups()
    return int(pid) > 1 and not re.match(r"(kworker|ksoftirqd|kthreadd|rcu|migration|swapper)", comm)


def cases(target):
    return [Case(f"{target}_debug_fault_{name}", functools.partial(run_case, name), target, debug=True)
            for name in fault_parts(target)]
