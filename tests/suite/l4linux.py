"""L4Linux's own case (make test L4_SRC=DIR): the L4 system boots, l4log and a C module load
and unload, signal frames with XSAVE state work, and L4Linux's console reaches the L4Re log.
The end-to-end and adversarial cases run on L4Linux too (e2e.py, adversarial.py)."""

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

from .channels import default_bytes
from .harness import L4_BOOT_TIMEOUT, Case, Failure, check, check_bytes, checked_kernel_log, guest, kernel_trouble


def check_l4_trouble(suite, b, console):
    """No report in boot `b`'s kernel log (the part its kernel's checks cover) and no
    unresolvable fault on its L4 console."""
    trouble = kernel_trouble(checked_kernel_log(suite, b.dmesg))
    trouble += [line for line in console.splitlines() if "Non-resolvable" in line]
    check(not trouble, f"{b.run_dir}: trouble in the kernel log or the L4 console:\n" + "\n".join(trouble[:40]))


def l4linux_boot(suite):
    # Fiasco + L4Re + L4Linux 5.17 with Rust, built from the snapshot: /init runs and loads
    # l4log.ko, a line written to /dev/l4log reaches the L4Re log once in one vcon write
    # IPC, under the tag of /dev/l4log's own log capability, the C fixture module loads (its text runs from module memory) and unloads,
    # signal frames with XSAVE state work, a line written to L4Linux's console ttyLv0
    # reaches the L4Re log once, l4log unloads, and the whole kernel log is clean. On SMP
    # L4Linux both vCPUs are online.
    boot_set, module, extra = suite.built()
    tokens = [f"l4linux-boot-{random.Random().getrandbits(48):012x}" for _ in range(2)]
    cmd = ("echo \"l4log-cpus-online: $(cat /sys/devices/system/cpu/online)\" && "
           f"echo {tokens[0]} >/dev/l4log && exec 3</dev/l4log && cat /proc/self/fdinfo/3 && exec 3<&- && "
           "insmod l4log_fixture.ko && grep -q '^l4log_fixture ' /proc/modules && rmmod l4log_fixture && "
           "! grep -q '^l4log_fixture ' /proc/modules && "
           f"echo {tokens[1]} >/dev/ttyLv0 && ./l4log-signals && rmmod l4log && [ ! -e /dev/l4log ]")
    b = guest.boot_guest("l4linux", boot_set, module, "command", cmd, str(extra), quiet=True,
                         timeout=L4_BOOT_TIMEOUT)
    suite.record(b)
    console = b.console.read_text(errors="replace").replace("\r", "")
    check(not b.timed_out, f"the L4 system did not finish in time; console: {b.console}")
    check("Run /init as init process" in console, f"L4Linux did not start /init; console: {b.console}")
    check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
    if b.status != 0:
        raise Failure(f"guest command exited {b.status}; console tail:\n{console[-2500:]}")
    online = re.findall(r"^l4log-cpus-online: (\S+)$", console, re.M)
    want_online = "0-1" if suite.smp else "0"
    check(online == [want_online], f"CPUs online: {online}, want {want_online}")
    # /dev/l4log's line comes with the tag of its own capability (entry l4log), the console's
    # without one.
    own = guest.l4_channel_text(b.console.read_bytes(), guest.L4_DEFAULT_TAG)
    check(own == f"{tokens[0]}\n".encode(), f"/dev/l4log's tagged lines: {own!r}, want {tokens[0]}; console: {b.console}")
    check(console.count(f"\n{tokens[1]}\n") == 1, f"{tokens[1]} did not reach the L4Re log once; console: {b.console}")
    counters = dict(re.findall(r"^(l4log-host-[a-z]+):\s+(\d+)", console, re.M))
    want = {"l4log-host-bytes": str(len(tokens[0]) + 1), "l4log-host-calls": "1", "l4log-host-errors": "0"}
    check(counters == want, f"fdinfo counters {counters}, want {want}")
    check("Linux version" in b.dmesg and "l4log_fixture: loaded, module text ran, counter 42" in b.dmesg
          and "l4log_fixture: unloaded, counter 42" in b.dmesg,
          f"the fixture module's messages are not in the kernel log; console: {b.console}")
    signals = [line for line in console.splitlines() if line.startswith(("PASS", "FAIL"))]
    check(signals and signals[-1].startswith("PASS"), f"l4log-signals: {signals}")
    check_l4_trouble(suite, b, console)
    print(f"# from QEMU's start: /init after {b.init_seconds:.1f} s, the end after {b.seconds:.1f} s "
          f"({b.accel}, {b.cpus} CPU{'s' if b.cpus > 1 else ''})")


FIXTURE_PARAMETERS = "/sys/module/l4log_fixture/parameters"
FAIL_L4_REMAP = "/sys/kernel/debug/fail_l4_remap"


def l4linux_arch_contracts(suite):
    """What l4linux-patches/0004 and 0010 promise, checked by the fixture module
    (tests/l4linux/fixture). Everywhere: kmalloc() aligns each size from 8 to 8192 bytes to the
    largest power of two dividing it, and krealloc_node_align() grants that alignment, and
    zeroes what an object shrunk in place with __GFP_ZERO no longer holds;
    vrealloc_node_align()/kvrealloc_node_align() with GFP_ATOMIC/GFP_NOWAIT under a spinlock
    fail when they would need vmalloc(), and succeed with GFP_KERNEL. On the UP L4Linux, the
    kernel make run boots: no fault injection and no symbol exported for tests. On the SMP
    L4Linux, which has them (configs/l4linux-test.config): set_memory_ro()/_rw() of a vmalloc
    page change the rights of its L4 region and return 0; with the L4 remap made to fail once
    (debugfs fail_l4_remap) set_memory_ro() returns the error and leaves the page as it was,
    region rw- and PTE rw, and the same call again makes both read-only; two threads flipping
    one page between ro and rw see no error and leave the region's rights equal to the
    PTE's."""
    debugfs = "{ grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug; }"
    if suite.smp:
        remap = (f"echo 1 >{FIXTURE_PARAMETERS}/remap && "
                 f"echo 0 >{FAIL_L4_REMAP}/verbose && echo 1 >{FAIL_L4_REMAP}/times && "
                 f"echo 100 >{FAIL_L4_REMAP}/probability && "
                 f"echo 2 >{FIXTURE_PARAMETERS}/remap && echo 0 >{FAIL_L4_REMAP}/probability && "
                 f"echo 300 >{FIXTURE_PARAMETERS}/race && ")
    else:
        check_no_test_parts(suite)
        remap = (f"if [ -e {FAIL_L4_REMAP} ] || [ -e {FIXTURE_PARAMETERS}/remap ]; then "
                 "echo 'the kernel make run boots has fault injection'; exit 1; fi && ")
    # SMP: signal delivery allocates nothing that can fail (0003's per-CPU frame buffer).
    signal = "./l4log-faults setup && ./l4log-faults signal && " if suite.smp else ""
    b = suite.boot(f"insmod l4log_fixture.ko && {debugfs} && {remap}{signal}"
                   f"echo 1 >{FIXTURE_PARAMETERS}/alloc && rmmod l4log_fixture")
    lines = [line.split("l4log_fixture: ", 1)[1] for line in b.dmesg.splitlines() if "l4log_fixture: " in line]
    for line in lines:
        print(f"# {line}")
    want = ["kmalloc alignment: 1024 sizes, 0 misaligned, 0 refused",
            "krealloc shrink and grow in place, 0 of bytes 32-63 not zero",
            "atomic vrealloc failed, atomic kvrealloc failed, atomic growth failed, "
            "blocking vrealloc allocated, blocking kvrealloc allocated"]
    if suite.smp:
        want += ["set_memory_ro: 0, region r--, pte r-",
                 "set_memory_rw: 0, region rw-, pte rw",
                 "set_memory_ro with a failing L4 remap: -12, region rw-, pte rw",
                 "set_memory_ro again: 0, region r--, pte r-"]
    for line in want:
        check(line in lines, f"the fixture did not report {line!r}; it reported: {lines}")
    if suite.smp:
        console = b.console.read_text(errors="replace").replace("\r", "")
        faults = re.findall(r"^l4log-fault: (.*)$", console, re.M)
        print(f"# l4log-faults signal: {faults}")
        points = [int(m[1]) for line in faults if (m := re.fullmatch(r"signal points=(\d+)", line))]
        check(points and points[0] >= 1 and not [line for line in faults if "FAILED" in line],
              f"SIGUSR1 with each allocation failing in turn: {faults}")
        race = [line for line in lines if line.startswith("set_memory race: ")]
        check(race and race[0] in ("set_memory race: 0 errors (first 0), region rw-, pte rw",
                                   "set_memory race: 0 errors (first 0), region r--, pte r-"),
              f"set_memory_ro/_rw from two threads: {race}")


def check_no_test_parts(suite):
    """The UP L4Linux, the kernel make run boots, has no fault injection and exports nothing
    for tests: its configuration and its exported symbols (Module.symvers)."""
    boot_set, _, _ = suite.built()
    obj = Path((boot_set / "l4linux-obj").read_text().strip())
    config = (obj / ".config").read_text()
    on = re.findall(r"^(CONFIG_(?:FAULT_INJECTION|FAIL_L4_REMAP|FAILSLAB|FAIL_PAGE_ALLOC)\w*)=y$", config, re.M)
    check(not on, f"the kernel make run boots has {on}")
    exported = re.findall(r"\t(set_memory_r[ow]|l4lx_memory_page_rights)\t", (obj / "Module.symvers").read_text())
    check(not exported, f"the kernel make run boots exports {exported} for tests")


def l4linux_kunit_config(suite):
    """RUST and KUNIT coexist on the patched L4Linux (l4linux-patches/0012): every module that
    rust/kernel/lib.rs declares, under any cfg, has its file in the tree (kernel::kunit, which
    needs kunit_get_current_test(), is left out rather than declared without its file, which
    failed the build with KUNIT=y), and with KUNIT=y, L4LOG=m and L4LOG_KUNIT_TEST=y asked for,
    olddefconfig keeps RUST and KUNIT and drops L4LOG_KUNIT_TEST (Kconfig: depends on !L4)."""
    boot_set, _, _ = suite.built()
    obj = Path((boot_set / "l4linux-obj").read_text().strip())
    src = obj.parent / "src"
    kernel = src / "rust/kernel"
    mods = re.findall(r"^\s*(?:pub(?:\([a-z]+\))? )?mod ([a-z_0-9]+);", (kernel / "lib.rs").read_text(), re.M)
    missing = [m for m in mods if not (kernel / f"{m}.rs").exists() and not (kernel / m / "mod.rs").exists()]
    print(f"# rust/kernel/lib.rs declares {len(mods)} modules")
    check(not missing, f"rust/kernel/lib.rs declares modules without their files: {missing}")
    scratch = suite.work / "l4linux-kunit-config"
    scratch.mkdir(exist_ok=True)
    shutil.copy(obj / ".config", scratch / ".config")
    fragment = scratch / "kunit.config"
    fragment.write_text("CONFIG_KUNIT=y\nCONFIG_L4LOG=m\nCONFIG_L4LOG_KUNIT_TEST=y\n")
    env = {**os.environ, "ARCH": "l4", "CC": "gcc-12"}
    for cmd in ([str(src / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(scratch), str(scratch / ".config"),
                 str(fragment)],
                ["make", "-s", "-C", str(src), f"O={scratch}", "ARCH=l4", "CC=gcc-12", "HOSTCC=gcc", "olddefconfig"]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        check(r.returncode == 0, f"{cmd[0]}: status {r.returncode}:\n{r.stderr[-2000:]}")
    config = (scratch / ".config").read_text()
    got = {name: bool(re.search(rf"^CONFIG_{name}=[ym]$", config, re.M)) for name in ("RUST", "KUNIT", "L4LOG_KUNIT_TEST")}
    print(f"# with KUNIT=y, L4LOG=m and L4LOG_KUNIT_TEST=y asked for: {got}")
    check(got == {"RUST": True, "KUNIT": True, "L4LOG_KUNIT_TEST": False}, f"configuration: {got}")


# A QEMU CPU without XSAVE (and so without AVX): signal frames in the 512-byte FXSAVE format.
NOXSAVE_CPU = "max,la57=off,xsave=off"


def l4linux_signals_noxsave(suite):
    """tests/guest/l4log-signals.c on a CPU without XSAVE: l4linux-patches/0003's FXSAVE path
    bounces the 512-byte frame through kernel memory, so frames that cross a page (the frame at
    a page offset above 0xE00) keep xmm0-15, MXCSR and FCW across signals."""
    boot_set, module, extra = suite.built()
    b = guest.boot_guest("l4linux", boot_set, module, "command", "./l4log-signals", str(extra), quiet=True,
                         timeout=L4_BOOT_TIMEOUT, cpu_model=NOXSAVE_CPU)
    suite.record(b)
    console = b.console.read_text(errors="replace").replace("\r", "")
    check(not b.timed_out, f"the L4 system did not finish in time; console: {b.console}")
    check("XSAVE not enabled by OS" in console, f"the guest has XSAVE on -cpu {NOXSAVE_CPU}; console: {b.console}")
    summary = [line for line in console.splitlines() if "frames crossing a page" in line]
    for line in summary:
        print(f"# {line}")
    crossing = [int(m[1]) for line in summary if (m := re.search(r"(\d+) frames crossing a page", line))]
    check(crossing and sum(crossing) > 0, f"no FXSAVE frame crossed a page: {summary}")
    signals = [line for line in console.splitlines() if line.startswith(("PASS", "FAIL"))]
    check(b.status == 0 and signals and signals[-1].startswith("PASS"),
          f"l4log-signals on -cpu {NOXSAVE_CPU}: status {b.status}, {signals}; console: {b.console}")
    check_l4_trouble(suite, b, console)


# The memory quota of L4Linux in every ned script of the boot set (configs/l4re/).
L4_QUOTA_LINE = 'mem = L4.Env.user_factory:create(L4.Proto.Factory, (128 + 32) * 1024 * 1024):m("rws"),'


def l4linux_memory_quota(suite):
    """configs/l4re: ned starts L4Linux under a memory quota of its RAM and 32 MiB, in every ned
    script of the boot set. The quota holds: under it, L4Linux asking for 160 MiB of RAM
    (l4log-quota.cfg) is refused by moe and stops before its kernel starts (moe prints the
    quota)."""
    boot_set, module, extra = suite.built()
    for script in ("l4log.cfg", "l4log-console.cfg", "l4log-bench.cfg", "l4log-quota.cfg"):
        check(L4_QUOTA_LINE in (boot_set / script).read_text(), f"{script} starts L4Linux without its quota")
    b = guest.boot_guest("l4linux", boot_set, module, "command", "true", str(extra), quiet=True,
                         timeout=L4_BOOT_TIMEOUT, l4_entry="l4log-quota")
    log = b.host_log.read_text(errors="replace")
    refused = re.findall(r"Can't get main memory of (\d+)kiB", log)
    quota = re.findall(r"MOE\[mem_alloc\]: quota: limit: (\d+) bytes", log)
    print(f"# RAM refused: {refused} KiB; quota: {quota} bytes")
    check(refused == [str(160 * 1024)] and quota == [str(160 << 20)],
          f"L4Linux asking for 160 MiB under a 160 MiB quota: refused {refused}, quota {quota}; log: {b.host_log}")
    check(not b.timed_out and "Run /init as init process" not in log,
          f"L4Linux went on after its RAM was refused (timed out: {b.timed_out}); log: {b.host_log}")


# What scripts/l4 puts on the in-tree kernel's command line (INTREE_KERNEL_ARGS).
INTREE_PARAMETERS = {"escape": "N", "channels": "app:stamp=task,audit", "stamp": "none", "rate_limit": "0"}


def l4linux_intree(suite):
    """L4Linux with l4log built in (CONFIG_L4LOG=y, from the same sources through
    drivers/misc/l4log): /dev/l4log and the named channels exist without insmod, the parameters
    are the kernel command line's, a line and 256 KiB of every byte value (escape=0 from the
    command line) reach the L4Re log exactly, and a line to the stamped channel app is stamped."""
    data = random.Random(0x1e7ee).randbytes(256 << 10)
    check(len(set(data)) == 256, "test data does not hold every byte value")
    shows = " ".join(f"{name}=$(cat /sys/module/l4log/parameters/{name})" for name in INTREE_PARAMETERS)
    b = suite.boot(f"[ ! -e /lib/modules/l4log.ko ] && ! grep -q '^l4log ' /proc/modules && "
                   "ls /dev/l4log /dev/l4log-app /dev/l4log-audit >/dev/null && "
                   f"echo \"l4log-intree: {shows}\" && "
                   "echo 'built in' >/dev/l4log && ./l4log-test write data && "
                   "sh -c 'echo \"l4log-pid: $$\"; echo stamped >/dev/l4log-app'",
                   {"data": data}, builtin=True)
    console = b.console.read_text(errors="replace")
    shown = re.search(r"^l4log-intree: (.*)$", console, re.M)
    want = " ".join(f"{name}={value}" for name, value in INTREE_PARAMETERS.items())
    check(shown and shown[1].strip() == want, f"parameters {shown and shown[1]!r}, want {want!r}")
    check_bytes(default_bytes(b), b"built in\n" + data)
    pid = re.search(r"^l4log-pid: (\d+)", console, re.M)[1]
    check_bytes(b.channel_log("app").read_bytes(), f"sh[{pid}]: stamped\n".encode(), "app's capture")


def l4linux_bench_sink(suite):
    """The boot of `make bench`'s l4sink target (entry l4log-bench, configs/l4re/l4log-bench.cfg):
    the capability sink, served by cons, takes l4log's channel /dev/l4log-sink and L4Linux's tty
    ttyLv1 (l4ser.add=sink) without error and prints none of their bytes on the serial console,
    which /dev/l4log still reaches. So what the benchmark measures through it is not the serial
    port."""
    token = f"l4sink-{random.Random().getrandbits(48):012x}"
    data = "".join(f"{token} {i:05d} {'x' * 40}\n" for i in range(1200)).encode()
    b = suite.boot(f"./l4log-test write data /dev/l4log-sink && exec 3</dev/l4log-sink && "
                   "sed 's/^/sink-/' /proc/self/fdinfo/3 && exec 3<&- && "
                   f"stty -F /dev/ttyLv1 raw -echo && echo {token}-tty >/dev/ttyLv1 && "
                   f"echo {token}-console >/dev/l4log",
                   {"data": data}, channel_ports={"app": 0, "audit": 0, "sink": 0}, l4_entry="l4log-bench")
    console = b.console.read_text(errors="replace").replace("\r", "")
    counters = dict(re.findall(r"^sink-(l4log-[a-z-]+):\s+(\d+)", console, re.M))
    want = {"l4log-bytes": str(len(data)), "l4log-host-bytes": str(len(data)), "l4log-host-errors": "0"}
    got = {key: counters.get(key) for key in want}
    check(got == want, f"/dev/l4log-sink's counters {got}, want {want}")
    check("Created vcon channel: sink" in console, "cons made no sink client")
    leaked = [line for line in console.splitlines() if token in line and not line.endswith("-console")]
    check(not leaked, f"the sink's bytes reached the serial console: {leaked[:3]}")
    check(f"\n{token}-console\n" in console, "/dev/l4log's line did not reach the serial console")


def cases():
    return [Case("l4linux_boot", l4linux_boot, "l4linux"),
            Case("l4linux_bench_sink", l4linux_bench_sink, "l4linux"),
            Case("l4linux_arch_contracts", l4linux_arch_contracts, "l4linux"),
            Case("l4linux_signals_noxsave", l4linux_signals_noxsave, "l4linux"),
            Case("l4linux_memory_quota", l4linux_memory_quota, "l4linux"),
            Case("l4linux_kunit_config", l4linux_kunit_config, "l4linux"),
            Case("l4linux_intree", l4linux_intree, "l4linux")]
