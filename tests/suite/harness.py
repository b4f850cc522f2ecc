"""The harness of l4log's test suite: the cases' common ground.

What every group of cases (the other modules of this package) builds on: the constants
and reference functions several groups share, check/Failure/Skip, the kernel-log checks,
booting a guest on the current target (Suite.boot), the parts of a boot that ran several
cases, and the driver that runs the cases and prints KTAP.
"""

import collections
import copy
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
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
# Guests booted at once by cases that run at the same time (2 CPUs: one waits for the
# host or its time limit while the others run). `run.py --jobs N` changes it.
BOOTS_AT_ONCE = 3
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


def escape_table():
    """What escaping makes of each character it changes (str.translate's table): the module's
    rules, written anew. A byte that is not valid UTF-8 (decoded as U+DC80 to U+DCFF,
    surrogateescape), a control but tab and newline (C0, DEL, C1: each byte of its UTF-8 form),
    and the backslash (so that the log decodes back) become \\xNN."""
    def hex_bytes(code):
        return "".join(f"\\x{b:02x}" for b in chr(code).encode())
    table = {0xDC00 + byte: f"\\x{byte:02x}" for byte in range(0x80, 0x100)}
    for code in (*range(0x20), *range(0x7F, 0xA0), ord("\\")):
        if chr(code) not in "\t\n":
            table[code] = hex_bytes(code)
    return table


ESCAPES = escape_table()


def escaped(data):
    """What the host gets for `data` with escaping on."""
    return data.decode("utf-8", "surrogateescape").translate(ESCAPES).encode()


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

# Reports of known bugs of the kernel itself, reached without l4log: each is a title, a frame
# its trace must hold in interrupt context, and what it is. A report matches only when no frame
# of its interrupt context (between `<IRQ>` and `</IRQ>`) is in l4log (`[l4log]`; the task it
# interrupted may be anyone's), no other report begins inside it, and it ends within
# KNOWN_REPORT_LINES lines; it is then shown as a note, not counted as trouble. A lockdep report
# that the report's own printing set off (printk under the runqueue lock) is inside its span and
# goes with it; the note says so (kernel_log.check_lockdep).
KNOWN_KERNEL_REPORTS = [
    (re.compile(r"^WARNING: kernel/time/hrtimer\.c:\d+ at hrtimer_forward\+"), re.compile(r"^ dl_task_timer\+"),
     "Linux 7.2's deadline server re-arms its queued defer timer (hrtimer_forward from "
     "dl_task_timer, in the timer interrupt): a scheduler race, seen once under QEMU TCG"),
]
KNOWN_REPORT_LINES = 400
REPORT_END = re.compile(r"^---\[ end trace [0-9a-f]+ \]---$")
# Another report beginning: a known report's span that holds one is not taken out.
OTHER_REPORT = re.compile(r"BUG:|Oops|Kernel panic|kernel BUG|KASAN|general protection|cut here")
CUT_HERE = "------------[ cut here ]------------"
LOCKDEP_INSIDE = "with the lockdep report it set off"


def without_timestamp(line):
    return re.sub(r"^\[[ 0-9.]+\] ", "", line)


def without_known_reports(log):
    """`log` without the spans of KNOWN_KERNEL_REPORTS (from the title, or the `cut here` line
    before it, to `---[ end trace`), and a note for each span taken out."""
    lines, kept, notes, i = log.splitlines(), [], [], 0
    while i < len(lines):
        end, what = known_report_end(lines, i)
        if end is None:
            kept.append(lines[i])
            i += 1
            continue
        if kept and without_timestamp(kept[-1]).strip() == CUT_HERE:
            kept.pop()
        lockdep = any("circular locking dependency" in line for line in lines[i:end + 1])
        notes.append(f"known kernel report, not l4log's: {without_timestamp(lines[i]).strip()} ({what})"
                     + (f", {LOCKDEP_INSIDE}" if lockdep else ""))
        i = end + 1
    return "\n".join(kept) + ("\n" if log.endswith("\n") else ""), notes


def known_report_end(lines, start):
    """The index of the last line of the known report that begins at `lines[start]`, and what
    it is; (None, None) if no known report begins there."""
    title = without_timestamp(lines[start])
    for pattern, frame, what in KNOWN_KERNEL_REPORTS:
        if not pattern.search(title):
            continue
        span = [without_timestamp(line) for line in lines[start + 1:start + 1 + KNOWN_REPORT_LINES]]
        end = next((j for j, line in enumerate(span) if REPORT_END.search(line)), None)
        if end is None or any(OTHER_REPORT.search(line) for line in span[:end]):
            continue
        interrupt = irq_frames(span[:end])
        if any(frame.search(line) for line in interrupt) and not any("[l4log]" in line for line in interrupt):
            return start + 1 + end, what
    return None, None


def irq_frames(lines):
    """The lines of `lines` that are between an `<IRQ>` and its `</IRQ>`: interrupt context."""
    inside, frames = False, []
    for line in lines:
        if line.strip() == "<IRQ>":
            inside = True
        elif line.strip() == "</IRQ>":
            inside = False
        elif inside:
            frames.append(line)
    return frames


def kernel_trouble(log):
    """The lines of a kernel log that report trouble (known kernel bugs that l4log does not
    reach shown as notes, not counted)."""
    return trouble_lines(known_reports_as_notes(log))


def known_reports_as_notes(log):
    """`log` without its known kernel reports (without_known_reports), each shown as a note."""
    log, notes = without_known_reports(log)
    for note in notes:
        print(f"# note: {note}")
    return log


def trouble_lines(log):
    return [line for line in log.splitlines() if KERNEL_TROUBLE.search(line)]


def after_insmod(dmesg):
    """The kernel log from the moment l4log.ko was loaded, and the lines before it."""
    before, mark, after = dmesg.partition(INSMOD_MARK)
    return (after, before) if mark else (dmesg, "")


def checked_kernel_log(suite, dmesg):
    """The part of a boot's kernel log that the whole-log checks of the current kernel cover:
    all of it on a normal kernel; from insmod on on the debug kernels and SMP L4Linux, whose
    boots log reports of their own before l4log is loaded (kernel_log.py shows them as notes)."""
    return after_insmod(dmesg)[0] if suite.debug or suite.smp else dmesg


def check_kernel_log_came_back(b):
    """Boot `b`'s kernel log came back, every line /init sent."""
    check("Linux version" in b.dmesg, f"no kernel log came back from {b.run_dir}")
    # A log cut short (the guest stopped, or its console watcher ended the boot, before /init
    # sent all of it) has no end mark, and a report may be in what is missing.
    check(b.dmesg_complete, f"{b.run_dir}: the kernel log's end mark did not come back: the log is cut short")
    check(not b.dmesg_lost, f"{b.run_dir}: {b.dmesg_lost} of the kernel log's lines that /init sent did not come "
                            "back whole (a negative number: more came back)")


def check_kernel_log(b):
    """No report in the kernel log from the moment l4log.ko was loaded."""
    check_kernel_log_came_back(b)
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


# The boot entry (configs/l4re/modules.list) whose /dev/l4log writes to the console's log
# capability, untagged: the serial console shows its bytes as they are, which the cases that
# compare /dev/l4log's bytes need (l4_framed, l4_unframe).
L4_CONSOLE_ENTRY = "l4log-console"


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
    target (and its debug kernel if `debug`) as the suite's current one, at the same time as the
    cases around it; `after_kernel`: once the earlier cases of its target and kernel have ended
    (it looks at their boots). `alone`, and every case without a target, runs after every
    earlier case has ended and before any later one begins (it builds)."""
    name: str
    run: Callable
    target: str | None = None
    debug: bool = False
    alone: bool = False
    after_kernel: bool = False
    smp: bool = False  # l4linux: on the SMP L4Linux (2 vCPUs) and multiprocessor Fiasco

    @property
    def concurrent(self):
        return self.target is not None and not self.alone


class CaseOutput:
    """Standard output while cases run at the same time: what a case's thread prints is kept
    for its KTAP line (Suite.report); the main thread writes through."""

    def __init__(self, stream):
        self.stream = stream
        self.local = threading.local()

    def write(self, text):
        kept = getattr(self.local, "kept", None)
        if kept is None:
            return self.stream.write(text)
        kept.append(text)
        return len(text)

    def flush(self):
        if getattr(self.local, "kept", None) is None:
            self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


class CaseThread(threading.Thread):
    """One case run at the same time as others: its outcome and what it printed."""

    def __init__(self, suite, case, index, earlier):
        super().__init__(name=case.name, daemon=True)
        self.suite, self.case, self.index = suite, case, index
        self.outcome, self.printed = None, []
        kernel = (case.target, case.debug, case.smp)
        self.waits_for = [t for t in earlier if (t.case.target, t.case.debug, t.case.smp) == kernel
                          ] if case.after_kernel else []

    def run(self):
        sys.stdout.local.kept = self.printed
        for thread in self.waits_for:
            thread.join()
        self.outcome = self.suite.attempt(self.case, self.index)


class Suite:
    """The state of one run: the results, every boot so far, the current target and kernel
    (normal or debug), and the boots several cases share. Cases that run at the same time
    (Case.concurrent) each have a copy of the suite with its own current target; the rest
    is shared."""

    def __init__(self, only, jobs=BOOTS_AT_ONCE):
        self.only = only
        self.jobs = jobs
        self.results = []
        self.boots = []
        self.skipped = []
        self.work = Path(tempfile.mkdtemp(prefix="l4log-tests-", dir="/cache"))
        # One kernel build at a time (each uses both CPUs); the cases of kernels built already go
        # on meanwhile.
        self._build_lock = threading.Lock()
        self._once = {}
        self._once_locks = collections.defaultdict(threading.Lock)
        self._once_locks_lock = threading.Lock()
        self.target = None
        self.debug = False
        self.smp = False
        self.index = None  # the current case's place in the run

    def built(self):
        """The kernel directory and module of the current target and kernel (normal or debug),
        and a directory of the guest test programs (for l4linux also the fixture module), built
        once."""
        key = (self.target, self.debug, self.smp)
        return self.once(("built", key), lambda: self.build(key))

    def build(self, key):
        target, debug, smp = key
        with self._build_lock:
            kernel_dir, module = guest.build_all(target, debug, smp)
            programs = self.programs()
        extra = self.work / f"extra-{target}{'-debug' if debug else ''}{'-smp' if smp else ''}"
        extra.mkdir(parents=True)
        for program in programs.iterdir():
            os.link(program, extra / program.name)
        if target == "l4linux":
            shutil.copy(kernel_dir / "l4log_fixture.ko", extra)
        return kernel_dir, module, extra

    def kunit_module(self):
        """l4log.ko with its KUnit suites, against the current (debug) kernel, built once."""
        def build():
            self.built()
            with self._build_lock:
                env = {**os.environ, "L4LOG_DEBUG_KERNEL": "1" if self.debug else "", "L4LOG_KUNIT": "1"}
                return guest.run_script("module", self.target, env=env)
        return self.once(("kunit", self.target, self.debug), build)

    def programs(self):
        """The guest test programs, built once (under build()'s build lock)."""
        programs = self.work / "programs"
        if not programs.exists():
            building = self.work / "programs.partial"
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir()
            shutil.copy(REPO / "tests/guest/host-calls.sh", building)
            for program in ("l4log-test", "l4log-adversary", "l4log-signals", "l4log-faults"):
                subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                                str(building / program), str(REPO / f"tests/guest/{program}.c")], check=True)
            building.rename(programs)
        return programs

    def once(self, key, make):
        """What `make()` returns, made the first time `key` is asked for: a boot (or build) that several
        cases share. A `make` that raises is tried again by the next case that asks; a case that
        asks while another makes it waits."""
        with self._once_locks_lock:
            lock = self._once_locks[key]
        with lock:
            if key not in self._once:
                self._once[key] = make()
            return self._once[key]

    def boot(self, cmd, files=None, builtin=False, status=0, module=None, **options):
        """Boots the guest running `cmd` in /extra (the test program plus `files`); `builtin`:
        l4linux with l4log built into the kernel (no insmod); `status`: the exit status `cmd`
        must have; `module`: another build of l4log.ko to load (kunit_module())."""
        kernel_dir, built_module, extra = self.built()
        module = module or built_module
        if builtin:
            kernel_dir, module = guest.l4_intree_boot_set(), None
        if files:
            extra = self.extra_with(extra, files)
        token = f"{random.Random().getrandbits(64):016x}"
        if self.target == "l4linux":
            cmd = l4_framed(cmd, token)
            options.setdefault("timeout", L4_BOOT_TIMEOUT)
            # /dev/l4log on the console's capability, whose bytes the serial console shows
            # as they are: what the cases compare byte for byte (configs/l4re/l4log-console.cfg).
            options.setdefault("l4_entry", L4_CONSOLE_ENTRY)
        try:
            b = guest.boot_guest(self.target, kernel_dir, module, "command", cmd, str(extra), quiet=True,
                                 **options)
        finally:
            if files:
                shutil.rmtree(extra)
        b.frame_token = token
        self.record(b)
        check(not b.timed_out, f"guest timed out; console: {b.console}")
        check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
        if b.status != status:
            tail = b.console.read_text(errors="replace")[-1500:]
            raise Failure(f"guest command {cmd!r} exited {b.status}, not {status}; console tail:\n{tail}")
        check_kernel_log(b)
        return b

    def record(self, b):
        """Keeps boot `b` (of the current target and kernel, and case) for the kernel_log cases."""
        b.debug, b.smp, b.case_index = self.debug, self.smp, self.index
        self.boots.append(b)

    def extra_with(self, extra, files):
        """A directory of its own for one boot: `extra`'s programs (linked) and `files`."""
        own = Path(tempfile.mkdtemp(prefix="extra-", dir=self.work))
        for program in extra.iterdir():
            os.link(program, own / program.name)
        for name, data in files.items():
            (own / name).write_bytes(data)
        return own

    def attempt(self, case, index):
        """Runs one case: (error, skip reason, seconds it took), error None when it passed or
        was skipped."""
        start = time.monotonic()
        error, skip = self.attempt_case(case, index)
        return error, skip, time.monotonic() - start

    def attempt_case(self, case, index):
        try:
            if case.target is not None:
                if case.target == "l4linux" and not os.environ.get("L4LOG_L4_BOOT"):
                    raise Skip("L4_SRC not given: no L4Re snapshot to build Fiasco, L4Re and L4Linux from "
                               "(make test L4_SRC=DIR, README-l4linux.md)")
            suite = copy.copy(self) if case.concurrent else self
            suite.target, suite.debug, suite.smp, suite.index = case.target, case.debug, case.smp, index
            case.run(suite)
            return None, None
        except Skip as why:
            return None, str(why)
        except Failure as err:
            return str(err), None
        except Exception:  # a broken harness is a failure too, with its traceback
            return traceback.format_exc(), None

    def report(self, case, outcome, printed=()):
        """Prints a case's `# ` lines and KTAP line."""
        err, skip, seconds = outcome
        self.results.append((case.name, err))
        if skip:
            self.skipped.append(case.name)
        sys.stdout.write("".join(printed))
        for line in (err or "").splitlines():
            print(f"# {line}")
        if not skip:
            print(f"# {case.name}: {seconds:.1f} s")
        directive = f" # SKIP {skip}" if skip else ""
        print(f"{'not ok' if err else 'ok'} {len(self.results)} {case.name}{directive}", flush=True)

    def report_started(self, threads):
        """Waits for the cases of `threads`, in order, and reports each."""
        for thread in threads:
            thread.join()
            self.report(thread.case, thread.outcome, thread.printed)

    def run(self, cases):
        """Runs `cases` (those whose name starts with `only`, when given) as KTAP, in order; the
        concurrent ones between two that are not at the same time, up to `jobs` guests at once.
        Returns the exit status: non-zero when a case failed or none ran."""
        selected = [c for c in cases if not self.only or c.name.startswith(self.only)]
        print("KTAP version 1")
        print(f"1..{len(selected)}", flush=True)
        guest.allow_concurrent_boots(self.jobs)
        stdout = sys.stdout
        sys.stdout = CaseOutput(stdout)
        try:
            started = []
            for index, case in enumerate(selected):
                if case.concurrent:
                    started.append(CaseThread(self, case, index, started))
                    started[-1].start()
                    continue
                self.report_started(started)
                started = []
                self.report(case, self.attempt(case, index))
            self.report_started(started)
        finally:
            sys.stdout = stdout
            guest.end_all_guests()
        failed = sum(1 for _, err in self.results if err is not None)
        if self.skipped:
            print(f"# skipped (neither passed nor failed): {', '.join(self.skipped)}")
        print(f"{len(self.results) - failed - len(self.skipped)} passed, {failed} failed, "
              f"{len(self.skipped)} skipped")
        subprocess.run(["rm", "-rf", str(self.work)])
        return 1 if failed or not self.results else 0
