"""The harness of l4log's test suite: the cases' common ground.

What every group of cases (the other modules of this package) builds on: the constants
and reference functions several groups share, check/Failure/Skip, the kernel-log checks,
booting a guest on the current target (Suite.boot), the parts of a boot that ran several
cases, and the driver that runs the cases and prints KTAP.
"""

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, NamedTuple

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import guest  # noqa: E402  (scripts/guest.py)

TARGETS = ["qemu", "uml", "l4linux"]
# Targets with a debug kernel (KASAN, lockdep on QEMU, ...) for the adversarial suite.
DEBUG_TARGETS = ["qemu", "uml"]
PATTERN = b"abcdefghijklmnopqrstuvwxyz"
PAGE = 4096
# Byte-exact cases turn escaping off first, through the run-time parameter.
PARAMS = "/sys/module/l4log/parameters"
RAW = f"echo N >{PARAMS}/escape && "
MODULE = "/lib/modules/l4log.ko"
# The boot's own l4log.ko arguments (the UML host channel), for loading it again.
BOOT_ARGS = "$(cat /l4log-run/insmod-args)"
KERNEL_TROUBLE = re.compile(r"WARNING:|BUG:|Oops|Kernel panic|kernel BUG|Call Trace|general protection"
                            r"|KASAN|possible recursive locking|circular locking|inconsistent lock state"
                            # L4Linux's user-access fault log, with kernel addresses and a debugger entry.
                            r"|returning efault|log_efault")
# ramdisk/init writes this to the kernel log just before it loads l4log.ko.
INSMOD_MARK = "l4log-init: insmod l4log.ko"
# The L4 system boots in about 3 s under TCG; a defect in L4Linux tends to hang it.
L4_BOOT_TIMEOUT = 120
PRNG_MULTIPLIER = 0x2545F4914F6CDD1D
MASK64 = (1 << 64) - 1


class Prng:
    """xorshift64*, as tests/guest/l4log-adversary.c has it."""

    def __init__(self, seed):
        self.state = seed or 1

    def next(self):
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.state = x
        return (x * PRNG_MULTIPLIER) & MASK64

    def below(self, n):
        return self.next() % n

    def fill(self, size):
        return b"".join(self.next().to_bytes(8, "little") for _ in range((size + 7) // 8))[:size]


def escaped(data):
    """What the host gets for `data` with escaping on: the module's rules, written anew."""
    out = []
    # Each byte that is not valid UTF-8 becomes U+DC80 to U+DCFF (surrogateescape).
    for c in data.decode("utf-8", "surrogateescape"):
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif (code < 0x20 and c not in "\t\n") or 0x7F <= code <= 0x9F or c == "\\":
            # Controls but tab and newline, and the backslash (so that the log decodes back).
            out.append("".join(f"\\x{b:02x}" for b in c.encode()))
        else:
            out.append(c)
    return "".join(out).encode()


# -- checks -----------------------------------------------------------------------------------------

class Failure(Exception):
    pass


class Skip(Exception):
    """The case could not run here; reported as `ok N name # SKIP reason`."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def describe_bytes(data, limit=64):
    head = data[:limit]
    return f"{len(data)} bytes {head!r}{'...' if len(data) > limit else ''}"


def check_bytes(got, want, what="host log"):
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise Failure(f"{what}: got {describe_bytes(got)}, want {describe_bytes(want)}; "
                  f"first difference at byte {at}")


# -- kernel logs ------------------------------------------------------------------------------------

def kernel_trouble(log):
    """The lines of a kernel log that report trouble."""
    return [line for line in log.splitlines() if KERNEL_TROUBLE.search(line)]


def after_insmod(dmesg):
    """The kernel log from the moment l4log.ko was loaded, and the lines before it."""
    before, mark, after = dmesg.partition(INSMOD_MARK)
    return (after, before) if mark else (dmesg, "")


def check_kernel_log(b):
    """No report in the kernel log from the moment l4log.ko was loaded."""
    check("Linux version" in b.dmesg, f"no kernel log came back from {b.run_dir}")
    after, _ = after_insmod(b.dmesg)
    trouble = kernel_trouble(after)
    check(not trouble, f"{b.run_dir}: kernel log after insmod reports trouble:\n" + "\n".join(trouble[:40]))


# -- the L4Re log -----------------------------------------------------------------------------------
#
# On L4Linux the L4Re log that l4log writes to is the serial console itself, where Fiasco,
# L4Re and L4Linux's console print too. A test command runs with the kernel's console
# messages off and its own output in a file, between two marker lines written to the console
# (ttyLv0, whose writes reach the same log synchronously, in order with l4log's); what
# arrives between the markers is l4log's. Fiasco's console sends each LF as CR LF.

def l4_framed(cmd, token):
    """`cmd` run so that l4log's bytes can be told apart in the capture (l4_unframe)."""
    return (f"dmesg -n 1; echo l4log-frame-begin-{token} >/dev/ttyLv0; ( {cmd}\n) >/tmp/l4log-frame 2>&1; "
            f"status=$?; echo l4log-frame-end-{token} >/dev/ttyLv0; cat /tmp/l4log-frame; exit $status")


def l4_unframe(capture, token):
    """What l4log sent between the markers of l4_framed, with Fiasco's CR before each LF gone."""
    begin, end = f"l4log-frame-begin-{token}".encode(), f"l4log-frame-end-{token}".encode()
    check(begin in capture and end in capture, f"the frame markers {token} are not in the L4 console capture")
    start = capture.index(b"\n", capture.index(begin)) + 1
    return capture[start:capture.index(end, start)].replace(b"\r\n", b"\n")


def host_bytes(b):
    """The bytes l4log sent to the host log during the boot's command."""
    if b.target != "l4linux":
        return b.host_log.read_bytes()
    return l4_unframe(b.host_log.read_bytes(), b.frame_token)


# -- boots that run several cases -------------------------------------------------------------------

def part(console, kernel_log, name, begin, status):
    """The console text, exit status and kernel log of the part `name` of a boot that ran
    several: `console` is its console, `kernel_log` its kernel log from insmod on. Each part
    begins with a `BEGIN: name` console line and a `l4log-kmsg-case: name` kernel log line,
    and reports `STATUS: name N`."""
    text = console.split(f"{begin}: {name}\n", 1)[-1].split(f"{begin}: ", 1)[0]
    found = re.search(rf"^{status}: {name} (\d+)$", text, re.M)
    own_log = kernel_log.split(f"l4log-kmsg-case: {name}\n", 1)[-1].split("l4log-kmsg-case: ", 1)[0]
    return text, int(found[1]) if found else None, own_log


def checked_part(b, name, begin, status, trouble):
    """The console text and kernel log of the part `name` of boot `b`, with the checks every
    such part has: the boot ended, the part finished with status 0, and `trouble` finds
    nothing in its kernel log. Shows the part's `l4log-fault:` lines."""
    check(not b.timed_out, f"guest timed out; console: {b.console}")
    console = b.console.read_text(errors="replace").replace("\r", "")
    text, code, kernel_log = part(console, after_insmod(b.dmesg)[0], name, begin, status)
    check(code is not None, f"{name} did not finish; console: {b.console}")
    for line in text.splitlines():
        if line.startswith("l4log-fault: ") and "FAILED" not in line:
            print(f"# {line[len('l4log-fault: '):]}")
    check(code == 0, f"{name} exited {code}; its console:\n{text[-2500:]}")
    found = trouble(kernel_log)
    check(not found, f"{b.run_dir}: kernel log during {name} reports trouble:\n" + "\n".join(found[:40]))
    return text, kernel_log


# -- the suite --------------------------------------------------------------------------------------

class Case(NamedTuple):
    """A case: `run(suite)` passes or raises Failure or Skip. With a `target`, it runs with that
    target (and its debug kernel if `debug`) as the suite's current one."""
    name: str
    run: Callable
    target: str | None = None
    debug: bool = False


class Suite:
    """The state of one run: the results, every boot so far, the current target and kernel
    (normal or debug), and the boots several cases share."""

    def __init__(self, only):
        self.only = only
        self.results = []
        self.boots = []
        self.skipped = []
        self.work = Path(tempfile.mkdtemp(prefix="l4log-tests-", dir="/cache"))
        self._built = {}
        self._once = {}
        self.target = None
        self.debug = False

    def built(self):
        """The kernel directory and module of the current target and kernel (normal or debug),
        and the guest test programs, built once."""
        key = (self.target, self.debug)
        if key not in self._built:
            kernel_dir, module = guest.build_all(self.target, self.debug)
            extra = self.work / "extra"
            if not extra.exists():
                extra.mkdir(parents=True)
                shutil.copy(REPO / "tests/guest/host-calls.sh", extra)
                for program in ("l4log-test", "l4log-adversary", "l4log-signals", "l4log-faults"):
                    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                                    str(extra / program), str(REPO / f"tests/guest/{program}.c")],
                                   check=True)
            self._built[key] = (kernel_dir, module, extra)
        return self._built[key]

    def once(self, key, make):
        """What `make()` returns, made the first time `key` is asked for: a boot that several
        cases share. A `make` that raises is tried again by the next case that asks."""
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]

    def boot(self, cmd, files=None, builtin=False, **options):
        """Boots the guest running `cmd` in /extra (the test program plus `files`); `builtin`:
        l4linux with l4log built into the kernel (no insmod)."""
        kernel_dir, module, extra = self.built()
        if builtin:
            kernel_dir, module = guest.l4_intree_boot_set(), None
        for name, data in (files or {}).items():
            (extra / name).write_bytes(data)
        token = f"{random.Random().getrandbits(64):016x}"
        if self.target == "l4linux":
            cmd = l4_framed(cmd, token)
            options.setdefault("timeout", L4_BOOT_TIMEOUT)
        try:
            b = guest.boot_guest(self.target, kernel_dir, module, "command", cmd, str(extra), quiet=True,
                                 **options)
        finally:
            for name in files or {}:
                (extra / name).unlink()
        b.debug = self.debug
        b.frame_token = token
        self.boots.append(b)
        check(not b.timed_out, f"guest timed out; console: {b.console}")
        check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
        if b.status != 0:
            tail = b.console.read_text(errors="replace")[-1500:]
            raise Failure(f"guest command {cmd!r} exited {b.status}; console tail:\n{tail}")
        check_kernel_log(b)
        return b

    def case(self, case):
        """Runs one case and prints its KTAP line (after its `# ` lines)."""
        skip = None
        try:
            if case.target is not None:
                if case.target == "l4linux" and not os.environ.get("L4LOG_L4_BOOT"):
                    raise Skip("L4_SRC not given: no L4Re snapshot to build Fiasco, L4Re and L4Linux from "
                               "(make test L4_SRC=DIR, README-l4linux.md)")
                self.target, self.debug = case.target, case.debug
            case.run(self)
            self.results.append((case.name, None))
        except Skip as why:
            skip = str(why)
            self.results.append((case.name, None))
            self.skipped.append(case.name)
        except Failure as err:
            self.results.append((case.name, str(err)))
        except Exception:  # a broken harness is a failure too, with its traceback
            self.results.append((case.name, traceback.format_exc()))
        ok, err = self.results[-1][1] is None, self.results[-1][1]
        if not ok:
            for line in err.splitlines():
                print(f"# {line}")
        directive = f" # SKIP {skip}" if skip else ""
        print(f"{'ok' if ok else 'not ok'} {len(self.results)} {case.name}{directive}", flush=True)

    def run(self, cases):
        """Runs `cases` (those whose name starts with `only`, when given) in order, as KTAP;
        returns the exit status: non-zero when a case failed or none ran."""
        selected = [c for c in cases if not self.only or c.name.startswith(self.only)]
        print("KTAP version 1")
        print(f"1..{len(selected)}", flush=True)
        for case in selected:
            self.case(case)
        failed = sum(1 for _, err in self.results if err is not None)
        if self.skipped:
            print(f"# skipped (neither passed nor failed): {', '.join(self.skipped)}")
        print(f"{len(self.results) - failed - len(self.skipped)} passed, {failed} failed")
        subprocess.run(["rm", "-rf", str(self.work)])
        return 1 if failed or not self.results else 0
