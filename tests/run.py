#!/usr/bin/env python3
"""l4log's test suite, run inside the build root by `make test`. KTAP output.

Each end-to-end case boots the guest, loads l4log.ko, runs a command, and
compares the bytes the host log received with the bytes written. The
adversarial cases (`*_debug_adv_*`) do the same on each target's debug kernel
(KASAN, atomic-sleep and list checks, lockdep on QEMU's; configs/debug.config) with the
guest program tests/guest/l4log-adversary.c. Every boot's kernel log is checked
for WARN, BUG, KASAN and lockdep reports, Oops and panics from the moment
l4log.ko is loaded. The last line is `N passed, N failed`; the exit status is
non-zero when anything failed.

    run.py [--only NAME-PREFIX]      e.g. --only uml_, --only qemu_e2e_echo
"""

import argparse
import collections
import fcntl
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import guest  # noqa: E402  (scripts/guest.py)

TARGETS = ["qemu", "uml", "l4linux"]
# Targets with a debug kernel (KASAN, lockdep on QEMU, ...) for the adversarial suite.
DEBUG_TARGETS = ["qemu", "uml"]
# Bytes per host call: a page on QEMU's debug port and UML's host fd, one vcon write IPC
# (L4_VCON_WRITE_SIZE) on L4Linux.
HOST_CHUNK = {"qemu": 4096, "uml": 4096, "l4linux": 488}
PATTERN = b"abcdefghijklmnopqrstuvwxyz"
PAGE = 4096
# Byte-exact cases turn escaping off first, through the run-time parameter.
PARAMS = "/sys/module/l4log/parameters"
RAW = f"echo N >{PARAMS}/escape && "
# Loads l4log.ko again (after an rmmod), with the boot's own arguments.
RELOAD = "insmod /lib/modules/l4log.ko $(cat /l4log-run/insmod-args)"
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
    "adv_64mib_write_flat_memory",
]
# On L4Linux (no debug kernel) the adversarial cases run on its normal kernel, in one boot,
# all but the 64 MiB write (17 minutes through the emulated serial console under TCG).
L4_ADVERSARIAL = [name for name in ADVERSARIAL if name != "adv_64mib_write_flat_memory"]
# The fault-injection boot of each debug kernel: its parts, in order (tests/guest/l4log-faults.c).
FAULT_PARTS = ["insmod_default", "insmod_mode_group", "loadrace", "open", "write", "close", "kmemleak"]
# Loads of the load race, each kind: mode or group out of range (EINVAL before anything is
# registered), and /dev without the node (ENOENT after the device is registered). A load takes
# about 1 s on the QEMU debug kernel under TCG (KASAN, slab_debug=P), 0.05 s on UML's; 50 loads
# of the second kind met 158 opens in the window between registration and failure on QEMU.
LOAD_RACE_LOADS = {"qemu": 20, "uml": 200}
# The fault boot's kernel arguments. slab_debug=P (poisoning) makes every slab cache a debug
# cache: such caches have no per-CPU sheaves, whose slots keep the addresses of the objects last
# handed out, keep SLUB's free pointer outside the object, and overwrite freed objects. kmemleak
# scans sheaves and objects whole, so without it a stale address hides a leaked object: a leak of
# 1 object per open went unreported (README, kmemleak).
FAULT_KERNEL_ARGS = "slab_debug=P"
MODULE = "/lib/modules/l4log.ko"
BOOT_ARGS = "$(cat /l4log-run/insmod-args)"
DEBUGFS = "/sys/kernel/debug"
# Reports the kernel makes about an allocation that failed (warn_alloc), with a stack dump: what
# fault injection asks for, so each may account for one "Call Trace".
ALLOCATION_FAILURE = re.compile(r"page allocation failure|vmalloc error|allocation failed")
# The host-channel failure boot (uml): bytes the host side reads before its reader goes away,
# and the size of the filesystem that fills.
PIPE_READ_FIRST = 256 << 10
FULL_FS_BYTES = 256 << 10
HOST_LINE = 100  # as in l4log-faults.c: lines that write steps of 4096 bytes end inside
SHARED_THREADS = 4  # writers of the shared-file host cases
# The rate limit of the shared-file adversarial cases (bytes per second): about 1 MB each, the
# first 400 KB at once (the bucket's second), the rest with waits between write steps.
SHARED_RATE = 400_000
STALL_DRAIN = b"l4log-fault: stall drain now"
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


def kernel_trouble(log):
    """The lines of a kernel log that report trouble."""
    return [line for line in log.splitlines() if KERNEL_TROUBLE.search(line)]


def after_insmod(dmesg):
    """The kernel log from the moment l4log.ko was loaded, and the lines before it."""
    before, mark, after = dmesg.partition(INSMOD_MARK)
    return (after, before) if mark else (dmesg, "")


def shared_stream(thread, size):
    """The first `size` bytes of thread `thread`'s stream in l4log-faults' host-shared case."""
    return bytes(0x21 + 16 * thread + ((i * 5 + (i >> 4)) & 15) for i in range(size))


def host_stream(size):
    """The first `size` bytes of the stream l4log-faults writes in its host case."""
    lines = (size + HOST_LINE - 1) // HOST_LINE
    return "".join(f"l4log-host {i * HOST_LINE:010d} ".ljust(HOST_LINE - 1, ".") + "\n"
                   for i in range(lines)).encode()[:size]


class PipeReader(threading.Thread):
    """The host side of a pipe channel: reads `first` bytes, then stops reading; once the pipe is
    full (the writer blocked: nothing moves for a while) it notes the unread bytes and closes its
    end, so that the writer's next write fails with EPIPE."""

    def __init__(self, fd, first):
        super().__init__(daemon=True)
        self.fd, self.first = fd, first
        self.data, self.unread, self.error = b"", 0, None

    def run(self):
        try:
            while len(self.data) < self.first:
                chunk = os.read(self.fd, self.first - len(self.data))
                if not chunk:
                    raise RuntimeError(f"the writer closed the pipe after {len(self.data)} bytes")
                self.data += chunk
            last, still = -1, 0
            while still < 5:
                time.sleep(0.1)
                now = int.from_bytes(fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"), "little")
                still = still + 1 if now == last else 0
                last = now
            self.unread = last
        except Exception as err:  # reported by the case
            self.error = err
        finally:
            os.close(self.fd)


class StallDrainer(threading.Thread):
    """The host side of a stalled pipe channel: reads nothing until the guest's console (of the
    next boot of this process) says `marker`, then everything until the pipe's writers are
    gone."""

    def __init__(self, fd, marker):
        super().__init__(daemon=True)
        self.fd, self.marker = fd, marker
        self.data, self.error, self.stop = b"", None, threading.Event()
        self.since = time.time()

    def console_says_drain(self):
        runs = guest.CACHE / "runs"
        for run in runs.glob(f"*-{os.getpid()}-*"):
            console = run / "console"
            if run.stat().st_mtime >= self.since - 1 and console.exists() and \
                    self.marker in console.read_bytes():
                return True
        return False

    def run(self):
        try:
            while not self.console_says_drain():
                if self.stop.wait(0.1):
                    raise RuntimeError(f"the guest never said {self.marker!r}")
            while chunk := os.read(self.fd, 1 << 16):
                self.data += chunk
        except Exception as err:  # reported by the case
            self.error = err
        finally:
            os.close(self.fd)


class Failure(Exception):
    pass


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


class Suite:
    def __init__(self, only):
        self.only = only
        self.results = []
        self.boots = []
        self.skipped = []
        self.work = Path(tempfile.mkdtemp(prefix="l4log-tests-", dir="/cache"))
        self._built = {}
        self._adversarial = {}  # target -> the parts of its adversarial boot
        self._faults = {}  # target -> the parts of its fault-injection boot
        self._host_failures = None  # the parts of the host-channel failure boot (uml)
        self.target = None
        self.debug = False

    # -- infrastructure ---------------------------------------------------------------------------

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

    def boot(self, cmd, files=None, **options):
        """Boots the guest running `cmd` in /extra (the test program plus `files`)."""
        kernel_dir, module, extra = self.built()
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
        self.check_kernel_log(b)
        return b

    @staticmethod
    def host_bytes(b):
        """The bytes l4log sent to the host log during the boot's command."""
        if b.target != "l4linux":
            return b.host_log.read_bytes()
        return l4_unframe(b.host_log.read_bytes(), b.frame_token)

    @staticmethod
    def check_kernel_log(b):
        """No report in the kernel log from the moment l4log.ko was loaded."""
        check("Linux version" in b.dmesg, f"no kernel log came back from {b.run_dir}")
        after, _ = after_insmod(b.dmesg)
        trouble = kernel_trouble(after)
        check(not trouble, f"{b.run_dir}: kernel log after insmod reports trouble:\n" + "\n".join(trouble[:40]))

    def on(self, target, fn, debug=False):
        """`fn` run with `target` as the current target, on its debug kernel if `debug`."""
        def run_on_target():
            if target == "l4linux" and not os.environ.get("L4LOG_L4_BOOT"):
                raise Skip("L4_SRC not given: no L4Re snapshot to build Fiasco, L4Re and L4Linux from "
                           "(make test L4_SRC=DIR, README-l4linux.md)")
            self.target, self.debug = target, debug
            fn()
        return run_on_target

    def case(self, name, fn):
        if self.only and not name.startswith(self.only):
            return
        skip = None
        try:
            fn()
            self.results.append((name, None))
        except Skip as why:
            skip = str(why)
            self.results.append((name, None))
            self.skipped.append(name)
        except Failure as err:
            self.results.append((name, str(err)))
        except Exception:  # a broken harness is a failure too, with its traceback
            self.results.append((name, traceback.format_exc()))
        ok, err = self.results[-1][1] is None, self.results[-1][1]
        if not ok:
            for line in err.splitlines():
                print(f"# {line}")
        directive = f" # SKIP {skip}" if skip else ""
        print(f"{'ok' if ok else 'not ok'} {len(self.results)} {name}{directive}", flush=True)

    # -- style ------------------------------------------------------------------------------------

    def style_rustfmt(self):
        sources = sorted(str(p) for d in ("chardev", "l4bridge", "tests/l4", "tests/escape")
                         for p in (REPO / d).rglob("*.rs"))
        r = subprocess.run(["rustfmt", "--check", *sources],  # .rustfmt.toml: the kernel's settings
                           capture_output=True, text=True)
        check(r.returncode == 0, f"rustfmt --check:\n{r.stdout}{r.stderr}")

    def clippy(self):
        if self.target == "l4linux":
            # Against the L4Linux build, with the L4Re transport (scripts/module: no MO= on 5.17).
            r = subprocess.run([str(REPO / "scripts/module"), "l4linux", "CLIPPY=1"], capture_output=True,
                               text=True)
        else:
            kernel_dir = guest.run_script("kernel", self.target)
            out = Path(f"/cache/module/clippy-{self.target}")
            subprocess.run(["rm", "-rf", str(out)], check=True)
            out.mkdir(parents=True)
            arch = (Path(kernel_dir) / ".l4log-arch").read_text().strip()
            r = subprocess.run(["make", "-s", "-C", kernel_dir, f"ARCH={arch}", "M=/l4log", f"MO={out}", "LLVM=1",
                                "CLIPPY=1", "modules"], capture_output=True, text=True)
        report = r.stdout + r.stderr
        check(r.returncode == 0 and "warning" not in report and "error" not in report,
              f"clippy (status {r.returncode}):\n{report}")

    def escape_differential(self):
        # The escaper against the reference escaper on generated inputs, on the host; then the
        # round trip through scripts/l4log-decode.
        r = subprocess.run([str(REPO / "tests/escape/run")], capture_output=True, text=True)
        for line in (r.stdout + r.stderr).splitlines()[-12:]:
            print(f"# {line}")
        check(r.returncode == 0, f"tests/escape/run exited {r.returncode}")
        inputs = re.search(r"agree on (\d+) inputs", r.stdout)
        check(inputs and int(inputs[1]) >= 1_000_000, "fewer than a million inputs compared")
        check(re.search(r"^round trip: decode\(escape\(x\)\) == x on \d+ inputs", r.stdout, re.M),
              "no round trip through scripts/l4log-decode")

    def l4_compile_check(self):
        # The L4Re transport and C helpers against the L4Re build named by L4RE_OBJ (make test
        # L4RE_OBJ=DIR), else the one scripts/l4 built from L4_SRC; each of its checks reports
        # SKIP when there is no L4Re build.
        env = dict(os.environ)
        if not env.get("L4RE_OBJ") and env.get("L4LOG_L4_BOOT"):
            env["L4RE_OBJ"] = (Path(env["L4LOG_L4_BOOT"]) / "l4re-obj").read_text().strip()
            print(f"# L4RE_OBJ: {env['L4RE_OBJ']}, the L4Re of L4_SRC")
        r = subprocess.run([str(REPO / "tests/l4/compile-check")], capture_output=True, text=True, env=env)
        sub = r.stdout.splitlines()[2:]
        for line in sub:
            print(f"#   {line}")
        check(r.returncode == 0, f"tests/l4/compile-check (status {r.returncode}):\n{r.stderr[-3000:]}")
        results = [line for line in sub if re.match(r"(not )?ok \d", line)]
        check(results and all(line.startswith("ok ") for line in results), "compile-check: not all ok")
        if all("# SKIP" in line for line in results):
            raise Skip("L4RE_OBJ not given: no L4Re build to compile against "
                       "(make test L4RE_OBJ=DIR or L4_SRC=DIR)")

    def buildroot_debian_mirror(self):
        # The build roots' Debian archive comes from apt's sources (scripts/debian-mirror), read
        # through apt-config with APT_CONFIG pointing at sample files; proxies go to mmdebstrap.
        etc = self.work / "apt-sample/etc/apt"
        (etc / "sources.list.d").mkdir(parents=True)
        (etc / "apt.conf.d").mkdir()
        config = self.work / "apt-sample/apt.conf"
        config.write_text(f'Dir::Etc "{etc}";\n')
        script = str(REPO / "scripts/debian-mirror")

        def mirror(*args, **env):
            return subprocess.run([script, *args], capture_output=True, text=True,
                                  env={"PATH": os.environ["PATH"], "APT_CONFIG": str(config), **env})

        def want(expected, what, **env):
            r = mirror(**env)
            check(r.returncode == 0 and r.stdout == expected + "\n",
                  f"{what}: status {r.returncode}, printed {r.stdout!r} {r.stderr!r}, want {expected!r}")

        r = mirror()
        check(r.returncode == 1 and "set L4LOG_MIRROR" in r.stderr and not r.stdout,
              f"no sources: status {r.returncode}, printed {r.stdout!r}, message {r.stderr!r}")
        (etc / "sources.list").write_text(
            "# security only, source only, another distribution's suite\n"
            "deb http://security.example/debian-security bookworm-security main\n"
            "deb-src http://source.example/debian bookworm main\n"
            "deb http://ubuntu.example/ubuntu jammy main\n"
            "deb [ arch=amd64 signed-by=/usr/share/keyrings/k.gpg ] http://line.example:3142/debian/ bookworm main\n")
        want("http://line.example:3142/debian", "one-line sources.list")
        want("http://override.example/debian", "L4LOG_MIRROR", L4LOG_MIRROR="http://override.example/debian/")
        (etc / "sources.list").unlink()
        (etc / "sources.list.d/debian.sources").write_text(
            "Types: deb\nURIs: http://node.example/node_20.x\nSuites: nodistro\nComponents: main\n\n"
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: trixie-security\n"
            "Components: main\n\n"
            "Types: deb\nURIs: http://off.example/debian\nSuites: trixie\nComponents: main\nEnabled: no\n\n"
            "# the archive\nTypes: deb-src deb\nURIs: http://deb822.example/debian\n http://second.example/debian\n"
            "Suites: trixie trixie-updates\nComponents: main contrib\n")
        want("http://deb822.example/debian", "deb822 .sources")
        config.write_text(f'Dir::Etc "{etc}";\nAcquire::http::Proxy "http://proxy.example:3128/";\n'
                          'Acquire::https::Proxy::deb822.example "DIRECT";\n')
        r = mirror("--aptopts")
        check(r.stdout.splitlines() == ['Acquire::http::Proxy "http://proxy.example:3128/"',
                                        'Acquire::https::Proxy::deb822.example "DIRECT"'],
              f"apt's proxy settings as mmdebstrap options: {r.stdout!r}")
        # The root's identity follows the mirror, and nothing else of apt's configuration.
        def root_path(**env):
            r = subprocess.run([str(REPO / "scripts/buildroot"), "path"], capture_output=True, text=True,
                               env={"PATH": os.environ["PATH"], "APT_CONFIG": str(config), **env})
            check(r.returncode == 0, f"buildroot path: {r.stderr}")
            return r.stdout
        from_sources = root_path()
        check(from_sources == root_path(L4LOG_MIRROR="http://deb822.example/debian"),
              "the same mirror from apt's sources and from L4LOG_MIRROR names two roots")
        config.write_text(f'Dir::Etc "{etc}";\n')
        check(from_sources == root_path(), "a proxy setting changed the root's identity")
        check(from_sources != root_path(L4LOG_MIRROR="http://other.example/debian"),
              "another mirror names the same root")

    def l4_build_failures(self):
        # scripts/l4 against a fake snapshot whose Fiasco fails in one step after another (no
        # boot, no real build): each failure stops the script with a message naming the step,
        # and no build is marked complete; when Fiasco works, it is marked complete and the
        # failing L4Re is not.
        fake = self.work / "l4-fake"
        fiasco = fake / "src/fiasco"
        (fiasco / "src/templates").mkdir(parents=True)
        (fake / "src/l4").mkdir()
        (fake / "src/l4linux").mkdir()
        (fiasco / "Makefile").write_text(
            "build-directory:\n"
            "\t@if [ \"$(FAKE_FAIL)\" = builddir ]; then echo 'fake: no build directory' >&2; exit 2; fi\n"
            "\tmkdir -p $(B) && cp $(CURDIR)/obj.mk $(B)/Makefile\n")
        (fiasco / "obj.mk").write_text(
            "all:\n"
            "\t@if [ \"$(FAKE_FAIL)\" = build ]; then echo 'fake: compile error' >&2; exit 2; fi\n"
            "\ttouch fiasco\n"
            "olddefconfig:\n"
            "\t@if [ \"$(FAKE_FAIL)\" = olddefconfig ]; then echo 'fake: olddefconfig' >&2; exit 2; fi\n"
            # What configs/l4re/fiasco.config turns off, turned on again.
            "\t@if [ \"$(FAKE_FAIL)\" = config ]; then echo CONFIG_JDB_DISASM=y >globalconfig.out; fi\n")
        template = fiasco / "src/templates/globalconfig.out.amd64-1"
        # The L4 compilers, as far as this script asks them anything (their version).
        tools = self.work / "l4-fake-bin"
        tools.mkdir()
        for tool in ("gcc-11", "g++-11"):
            (tools / tool).write_text("#!/bin/sh\necho 'fake 11.3.0'\n")
            (tools / tool).chmod(0o755)

        def run(fail, cache):
            env = {**os.environ, "L4_SRC": str(fake), "L4LOG_L4_SNAPSHOT": str(fake / "src"),
                   "L4LOG_L4_CACHE": str(self.work / cache), "FAKE_FAIL": fail,
                   "PATH": f"{tools}:{os.environ['PATH']}"}
            r = subprocess.run([str(REPO / "scripts/l4"), "base"], capture_output=True, text=True, env=env)
            complete = sorted(p.parent.name.split("-")[0] for p in (self.work / cache).glob("*/.l4log-complete"))
            return r, complete

        cases = [("template", "the Fiasco template", False), ("builddir", "Fiasco build directory failed", True),
                 ("olddefconfig", "Fiasco olddefconfig failed", True),
                 ("config", "Fiasco's configuration lost lines", True), ("build", "Fiasco failed", True)]
        for fail, message, with_template in cases:
            if with_template:
                template.write_text("CONFIG_AMD64=y\n")
            elif template.exists():
                template.unlink()
            r, complete = run(fail, f"l4-cache-{fail}")
            check(r.returncode != 0, f"{fail}: scripts/l4 base exited 0")
            check(message in r.stderr, f"{fail}: no '{message}' in its messages:\n{r.stderr[-1500:]}")
            check(not complete, f"{fail}: marked complete: {complete}")
        # Fiasco builds; L4Re (an empty tree) fails: only Fiasco is complete.
        r, complete = run("", "l4-cache-l4re")
        check(r.returncode != 0 and "L4Re build directory failed" in r.stderr,
              f"an empty L4Re tree: status {r.returncode}:\n{r.stderr[-1500:]}")
        check(complete == ["fiasco"], f"with L4Re failing, marked complete: {complete}")

    # -- end to end -------------------------------------------------------------------------------

    def e2e_device_node(self):
        b = self.boot('[ -c /dev/l4log ] && stat -c "%a %u %g" /dev/l4log >/tmp/s '
                      '&& [ "$(cat /tmp/s)" = "600 0 0" ] || { echo "mode: $(cat /tmp/s)"; exit 1; }')
        check_bytes(self.host_bytes(b), b"")

    def e2e_echo_line(self):
        b = self.boot("echo hello > /dev/l4log")
        check_bytes(self.host_bytes(b), b"hello\n")

    def e2e_zero_length_write(self):
        b = self.boot("./l4log-test zero")
        check_bytes(self.host_bytes(b), b"")

    def e2e_one_mib_every_byte_value(self):
        data = random.Random(0x14106).randbytes(1 << 20)
        check(len(set(data)) == 256, "test data does not hold every byte value")
        b = self.boot(RAW + "./l4log-test write data", {"data": data})
        check_bytes(self.host_bytes(b), data)

    def e2e_partly_unmapped_buffer(self):
        # 100 mapped bytes then a hole: the write returns 100; a write that starts in the hole
        # fails with EFAULT and sends nothing.
        b = self.boot("./l4log-test fault 100 && ./l4log-test fault 0")
        page = (PATTERN * (PAGE // len(PATTERN) + 1))[:PAGE]
        check_bytes(self.host_bytes(b), page[-100:])

    def e2e_host_calls_per_write(self):
        # One host call per chunk (HOST_CHUNK) with escaping off: ceil(size / chunk) calls.
        chunk = HOST_CHUNK[self.target]
        sizes = [1, chunk - 1, chunk, chunk + 1, 4095, 4096, 4097, 65536, 1048576]
        b = self.boot(RAW + f"./host-calls.sh {chunk} " + " ".join(map(str, sizes)))
        for line in b.console.read_text(errors="replace").splitlines():
            if line.startswith("l4log-measure: "):
                print(f"# {line.strip()}")
        check(len(self.host_bytes(b)) == sum(sizes), "host log length does not match the writes")

    def e2e_nonblocking_host_fd(self):
        # UML: a host log descriptor that is non-blocking (as UML's own stderr can be) fills up
        # (EAGAIN) during a 1 MiB write; l4log waits for it to drain and loses nothing.
        data = random.Random(0xea6a1).randbytes(1 << 20)
        b = self.boot(RAW + "./l4log-test write data", {"data": data}, nonblocking_host_log=True)
        check_bytes(self.host_bytes(b), data)

    def e2e_counters(self):
        # Device-wide counters in fdinfo: two writes, the second's line unfinished until close.
        b = self.boot("printf 'one\\ntwo\\n' >/dev/l4log && printf 'x\\001' >/dev/l4log && "
                      "exec 3</dev/l4log && cat /proc/self/fdinfo/3")
        check_bytes(self.host_bytes(b), b"one\ntwo\nx\\x01")
        counters = dict(re.findall(r"^(l4log-[a-z-]+):\s+(\d+)", b.console.read_text(errors="replace"), re.M))
        want = {"l4log-bytes": "10", "l4log-writes": "2", "l4log-lines": "2", "l4log-host-bytes": "13",
                "l4log-host-calls": "2", "l4log-host-errors": "0", "l4log-throttled-ns": "0",
                "l4log-dropped-bytes": "0"}
        check(counters == want, f"fdinfo counters {counters}, want {want}")

    def e2e_rmmod(self):
        # Refused (EBUSY) while a file is open; succeeds after, and the node goes away.
        self.boot("exec 3>/dev/l4log; if rmmod l4log; then echo 'rmmod with an open file worked'; exit 1; fi; "
                  "echo x >&3; exec 3>&-; rmmod l4log && [ ! -e /dev/l4log ]")

    def e2e_run_interface(self):
        # The `make run EXTRA=... CMD=...` contract: exit status and the final host-log line.
        kernel_dir, module, extra = self.built()
        r = subprocess.run([sys.executable, str(REPO / "scripts/guest.py"), "run", "--target", self.target,
                            "--extra", str(extra),
                            "--cmd", "printf 'via run\\0\\n' > /dev/l4log; [ -x l4log-test ] && exit 3"],
                           capture_output=True)
        check(r.returncode == 3, f"exit status {r.returncode}, want 3; stderr:\n{r.stderr.decode()[-1500:]}")
        last = r.stdout.decode().rstrip("\n").splitlines()[-1]
        check(last.startswith("host-log: /"), f"last line is {last!r}")
        capture = Path(last.split(": ", 1)[1]).read_bytes()
        # Escaped: the default. On L4Linux the capture is the whole serial console (the L4Re
        # log), where Fiasco's console ends each line with CR LF.
        if self.target == "l4linux":
            check(b"\nvia run\\x00\r\n" in capture, f"no line 'via run\\x00' in {last}")
        else:
            check_bytes(capture, b"via run\\x00\n")

    # -- l4linux (make test L4_SRC=DIR) ----------------------------------------------------------

    def l4linux_boot(self):
        # Fiasco + L4Re + L4Linux 5.17 with Rust, built from the snapshot: /init runs and loads
        # l4log.ko, a line written to /dev/l4log reaches the L4Re log once in one vcon write
        # IPC, the C fixture module loads (its text runs from module memory) and unloads,
        # signal frames with XSAVE state work, a line written to L4Linux's console ttyLv0
        # reaches the L4Re log once, l4log unloads, and the whole kernel log is clean.
        boot_set, module, extra = self.built()
        shutil.copy(boot_set / "l4log_fixture.ko", extra)
        tokens = [f"l4linux-boot-{random.Random().getrandbits(48):012x}" for _ in range(2)]
        cmd = (f"echo {tokens[0]} >/dev/l4log && exec 3</dev/l4log && cat /proc/self/fdinfo/3 && exec 3<&- && "
               "insmod l4log_fixture.ko && grep -q '^l4log_fixture ' /proc/modules && rmmod l4log_fixture && "
               "! grep -q '^l4log_fixture ' /proc/modules && "
               f"echo {tokens[1]} >/dev/ttyLv0 && ./l4log-signals && rmmod l4log && [ ! -e /dev/l4log ]")
        b = guest.boot_guest("l4linux", boot_set, module, "command", cmd, str(extra), quiet=True,
                             timeout=L4_BOOT_TIMEOUT)
        self.boots.append(b)
        console = b.console.read_text(errors="replace").replace("\r", "")
        check(not b.timed_out, f"the L4 system did not finish in time; console: {b.console}")
        check("Run /init as init process" in console, f"L4Linux did not start /init; console: {b.console}")
        check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
        if b.status != 0:
            raise Failure(f"guest command exited {b.status}; console tail:\n{console[-2500:]}")
        for token in tokens:
            check(console.count(f"\n{token}\n") == 1, f"{token} did not reach the L4Re log once; console: {b.console}")
        counters = dict(re.findall(r"^(l4log-host-[a-z]+):\s+(\d+)", console, re.M))
        want = {"l4log-host-bytes": str(len(tokens[0]) + 1), "l4log-host-calls": "1", "l4log-host-errors": "0"}
        check(counters == want, f"fdinfo counters {counters}, want {want}")
        check("Linux version" in b.dmesg and "l4log_fixture: loaded, module text ran, counter 42" in b.dmesg
              and "l4log_fixture: unloaded, counter 42" in b.dmesg,
              f"the fixture module's messages are not in the kernel log; console: {b.console}")
        signals = [line for line in console.splitlines() if line.startswith(("PASS", "FAIL"))]
        check(signals and signals[-1].startswith("PASS"), f"l4log-signals: {signals}")
        trouble = kernel_trouble(b.dmesg) + [line for line in console.splitlines() if "Non-resolvable" in line]
        check(not trouble, f"{b.run_dir}: trouble in the kernel log or the L4 console:\n" + "\n".join(trouble[:40]))
        print(f"# from QEMU's start: /init after {b.init_seconds:.1f} s, the end after {b.seconds:.1f} s "
              f"({b.accel})")

    # -- adversarial (debug kernels) ----------------------------------------------------------------
    #
    # A debug kernel boots slowly under TCG (about 10 s), so all adversarial cases of a target run
    # in one boot, one after the other. Each case is marked in the console and the kernel log, its
    # own exit status is reported, and a marker line sent through l4log after it (escaping off,
    # rate limit off, with a token no data contains) ends its part of the host log. Each case
    # then checks its own part of the host log, console and kernel log.

    def adv_unmapped_buffers(self):
        # Unmapped: EFAULT and nothing sent. Partly unmapped: the mapped part, then EFAULT.
        def verify(host, lines):
            page = (PATTERN * (PAGE // len(PATTERN) + 1))[:PAGE]
            check_bytes(host, page[-100:])
        return "./l4log-adversary unmapped && ./l4log-test fault 100 && ./l4log-test fault 0", verify

    def adv_zero_and_one_byte_writes(self):
        return "./l4log-adversary small", lambda host, lines: check_bytes(host, b"a\n")

    def adv_64mib_write_flat_memory(self):
        size = 64 << 20

        def verify(host, lines):
            block = bytes((i * 37 + 11) & 0xFF for i in range(251))
            check_bytes(host, (block * (size // len(block) + 1))[:size])
            memory = {}
            for line in lines:
                print(f"# {line}")
                memory.update((k, int(v)) for k, v in re.findall(r"([a-z-]+)=(-?\d+)", line))
            check({"free-before", "free-lowest", "slab-highest"} <= memory.keys(), "no memory figures")
            drop = memory["free-before"] - memory["free-lowest"]
            print(f"# guest memory: free memory dropped by at most {drop} KiB during the 64 MiB write; "
                  f"slab {memory['slab-before']} -> at most {memory['slab-highest']} KiB")
            check(drop < 4096, f"free memory dropped by {drop} KiB during the write")
        return RAW + "./l4log-adversary big 64", verify

    def adv_writev_many_iovecs(self):
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

    @staticmethod
    def writer_line(w, n):
        letters = (w * 1000 + n) * 13 % 300
        return f"w{w} l{n:04d} ".encode() + bytes([ord("a") + (w + n) % 26]) * letters

    def adv_concurrent_writers(self):
        writers, lines = 8, 1000
        return f"./l4log-adversary lines {writers} {lines}", self.writer_lines_verifier(writers, lines)

    def adv_shared_file_threads(self):
        # 8 threads writing through one open file, in writes of 1 to 20 whole lines (up to about
        # 6 KiB: several write steps): writes through one file do not interleave, so every line
        # arrives whole, once, in its writer's order. The rate limit makes writes sleep between
        # their steps, so that the other threads run meanwhile also on one CPU.
        writers, lines = 8, 1000
        return (f"echo {SHARED_RATE} >{PARAMS}/rate_limit && ./l4log-adversary shared threads {writers} {lines}",
                self.writer_lines_verifier(writers, lines))

    def adv_shared_file_fork(self):
        # The same with two processes forked after the open.
        writers, lines = 2, 3000
        return (f"echo {SHARED_RATE} >{PARAMS}/rate_limit && ./l4log-adversary shared fork {writers} {lines}",
                self.writer_lines_verifier(writers, lines))

    def writer_lines_verifier(self, writers, lines):
        """A check of a host log where `writers` writers each wrote `lines` lines (writer_line):
        all of them whole, once, in each writer's order, and nothing else."""
        def verify(host, console):
            check(host.endswith(b"\n"), "host log does not end with a newline")
            got_lines = host[:-1].split(b"\n")
            counts = collections.Counter(got_lines)
            for w in range(writers):
                want = [self.writer_line(w, n) for n in range(lines)]
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

    def adv_escape_sequences(self):
        # Clear screen, set the window title, bell, CSI in both C1 forms, an 8-bit byte.
        raw = b"\033[2J\033]0;pwned\007 \302\233 \233 caf\303\251 \377\tend\n"
        want = b"\\x1b[2J\\x1b]0;pwned\\x07 \\xc2\\x9b \\x9b caf\xc3\xa9 \\xff\tend\n"

        def verify(host, lines):
            check(escaped(raw) == want, "the test's reference escaper disagrees with the expected text")
            check_bytes(host, want)
        return ("printf '\\033[2J\\033]0;pwned\\007 \\302\\233 \\233 caf\\303\\251 \\377\\tend\\n'"
                " > /dev/l4log"), verify

    def adv_rate_limit_signals_nonblock(self):
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

    def adv_rmmod_with_sleeping_writer(self):
        # rmmod is refused while a write sleeps on the rate limit; SIGKILL ends the sleep; then
        # rmmod works. The module is loaded again for the cases after this one. The write took
        # one byte (a second's worth at 1 byte/s) and held it, unfinished: the close at the
        # writer's death sends it.
        def verify(host, lines):
            check_bytes(host, b"k")
        return "./l4log-adversary sleeper && [ ! -e /dev/l4log ]; status=$?; " + RELOAD + "; exit $status", verify

    def adv_nonroot_denied_by_default(self):
        def verify(host, lines):
            check(lines == ["nonroot open: Permission denied"], f"{lines}")
            check_bytes(host, b"")
        return "./l4log-adversary nonroot 1000 1000", verify

    def adv_unprivileged_efault(self):
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
            if self.target == "l4linux":  # the only test kernel with sockets
                check(results["getsockopt with an unmapped value"] == "EFAULT", "getsockopt did not run")
            check_bytes(host, b"u" * 100)
        return "./l4log-adversary efault 1000", verify

    def adv_mode_and_group_parameters(self):
        # Loaded again with mode=0660 group=1234, then once more with the defaults.
        def verify(host, lines):
            check(lines == ["nonroot open: ok", "wrote 110 3", "nonroot open: Permission denied"], f"{lines}")
            check_bytes(host, b"nnn")
        return ("rmmod l4log && " + RELOAD + " mode=0660 group=1234 && "
                '[ "$(stat -c "%a %u %g" /dev/l4log)" = "660 0 1234" ] && '
                "./l4log-adversary nonroot 1000 1234 && ./l4log-adversary nonroot 1000 1000; "
                "status=$?; rmmod l4log; " + RELOAD + "; exit $status"), verify

    @staticmethod
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

    def adv_random_sizes_and_offsets(self):
        seconds = 3

        def verify(host, lines):
            ops = [int(line.split()[1]) for line in lines if line.startswith("fuzz-ops ")]
            check(len(ops) == 2 and min(ops) >= 20, f"fuzz operations: {ops}")
            raw, text = self.fuzz_stream(11, ops[0]), self.fuzz_stream(12, ops[1])
            print(f"# fuzz: {ops[0]} operations, {len(raw)} bytes raw; "
                  f"{ops[1]} operations, {len(text)} bytes escaped")
            check_bytes(host, raw + escaped(text))
        return (f"echo N >{PARAMS}/escape && ./l4log-adversary fuzz {seconds} 11 && "
                f"echo Y >{PARAMS}/escape && ./l4log-adversary fuzz {seconds} 12"), verify

    def adversarial_boot(self, names):
        """Boots the debug kernel once for all adversarial cases; returns each case's parts."""
        if self.target in self._adversarial:
            return self._adversarial[self.target]
        token = f"{random.getrandbits(64):016x}"
        script = [
            f"end_case() {{ echo N >{PARAMS}/escape; echo 0 >{PARAMS}/rate_limit; "
            f"printf '\\n@@l4log-case-end %s {token}@@\\n' \"$1\" >/dev/l4log; }}",
        ]
        checks = {}
        for name in names:
            cmd, checks[name] = getattr(self, name)()
            script += [
                # KERN_DEBUG (<7>): in the kernel log, not on the console, where the kernel's copy
                # of it could land inside the console lines this script prints.
                f"echo 'l4log-case-begin: {name}'; echo '<7>l4log-kmsg-case: {name}' >/dev/kmsg",
                f"echo Y >{PARAMS}/escape; echo 0 >{PARAMS}/rate_limit",
                f"( {cmd} ); echo \"l4log-case-status: {name} $?\"",
                f"end_case {name}",
            ]
        # Whether lockdep was still on at the end (it turns itself off at its first report).
        if self.debug:
            script.append("sed -n 's/^ *debug_locks: */l4log-debug-locks: /p' /proc/lockdep_stats")
        kernel_dir, module, extra = self.built()
        script = "\n".join(script)
        if self.target == "l4linux":
            script = l4_framed(script, token)
        b = guest.boot_guest(self.target, kernel_dir, module, "command", script, str(extra),
                             quiet=True, timeout=1200)
        b.debug = self.debug
        b.frame_token = token
        self.boots.append(b)
        host = self.host_bytes(b)
        console = b.console.read_text(errors="replace").replace("\r", "")
        after, _ = after_insmod(b.dmesg)
        parts = {"boot": b}
        for name in names:
            end = f"\n@@l4log-case-end {name} {token}@@\n".encode()
            segment, found, host = host.partition(end)
            text, status, kernel_log = self.part(console, after, name, "l4log-case-begin", "l4log-case-status")
            parts[name] = (found, segment, text, kernel_log, status, checks[name])
        self._adversarial[self.target] = parts
        return parts

    def adversarial(self, name):
        """The adversarial case `name`: its part of the batch boot, checked."""
        def run_case():
            parts = self.adversarial_boot(L4_ADVERSARIAL if self.target == "l4linux" else ADVERSARIAL)
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
            lines = [line[len("l4log-adv: "):].strip() for line in text.splitlines() if line.startswith("l4log-adv: ")]
            verify(host, lines)
        return run_case

    # -- fault injection (debug kernels) ----------------------------------------------------------
    #
    # One boot per debug kernel: tests/guest/l4log-faults.c fails the 1st, 2nd, ... allocation of
    # insmod (default and non-default mode/group), open, write and close through
    # /proc/thread-self/fail-nth, then l4log is unloaded and kmemleak scans.

    def fault_boot(self):
        if self.target in self._faults:
            return self._faults[self.target]
        steps = {
            "insmod_default": f'./l4log-faults insmod {MODULE} "{BOOT_ARGS}"',
            "insmod_mode_group": f'./l4log-faults insmod {MODULE} "{BOOT_ARGS} mode=0620 group=5"',
            "loadrace": f'./l4log-faults loadrace {MODULE} {LOAD_RACE_LOADS[self.target]} "{BOOT_ARGS}"',
            "open": f"insmod {MODULE} {BOOT_ARGS} && ./l4log-faults open",
            "write": "./l4log-faults write",
            "close": "./l4log-faults close",
            # Leaks: unloaded first (module frames then show as bare addresses), objects older
            # than kmemleak's 5 s only, two scans.
            "kmemleak": (f"rmmod l4log && sleep 6 && echo scan >{DEBUGFS}/kmemleak && "
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
        for name in FAULT_PARTS:
            script += [f"echo 'l4log-fault-begin: {name}'; echo '<7>l4log-kmsg-case: {name}' >/dev/kmsg",
                       f"echo \"l4log-fault-uptime: $(cut -d' ' -f1 /proc/uptime)\"",
                       f"( {steps[name]} ); echo \"l4log-fault-status: {name} $?\"",
                       f"echo \"l4log-fault-uptime: $(cut -d' ' -f1 /proc/uptime)\""]
        kernel_dir, module, extra = self.built()
        b = guest.boot_guest(self.target, kernel_dir, module, "command", "\n".join(script), str(extra),
                             quiet=True, timeout=1800, kernel_args=FAULT_KERNEL_ARGS)
        b.debug = self.debug
        b.fault_injection = True
        self.boots.append(b)
        self._faults[self.target] = b
        return b

    @staticmethod
    def part(console, kernel_log, name, begin, status):
        """The console text, exit status and kernel log of the part `name` of a boot that ran
        several: `console` is its console, `kernel_log` its kernel log from insmod on. Each part
        begins with a `BEGIN: name` console line and a `l4log-kmsg-case: name` kernel log line,
        and reports `STATUS: name N`."""
        text = console.split(f"{begin}: {name}\n", 1)[-1].split(f"{begin}: ", 1)[0]
        found = re.search(rf"^{status}: {name} (\d+)$", text, re.M)
        own_log = kernel_log.split(f"l4log-kmsg-case: {name}\n", 1)[-1].split("l4log-kmsg-case: ", 1)[0]
        return text, int(found[1]) if found else None, own_log

    def checked_part(self, b, name, begin, status, trouble):
        """The console text and kernel log of the part `name` of boot `b`, with the checks every
        such part has: the boot ended, the part finished with status 0, and `trouble` finds
        nothing in its kernel log. Shows the part's `l4log-fault:` lines."""
        check(not b.timed_out, f"guest timed out; console: {b.console}")
        console = b.console.read_text(errors="replace").replace("\r", "")
        text, code, kernel_log = self.part(console, after_insmod(b.dmesg)[0], name, begin, status)
        check(code is not None, f"{name} did not finish; console: {b.console}")
        for line in text.splitlines():
            if line.startswith("l4log-fault: ") and "FAILED" not in line:
                print(f"# {line[len('l4log-fault: '):]}")
        check(code == 0, f"{name} exited {code}; its console:\n{text[-2500:]}")
        found = trouble(kernel_log)
        check(not found, f"{b.run_dir}: kernel log during {name} reports trouble:\n" + "\n".join(found[:40]))
        return text, kernel_log

    @staticmethod
    def fault_trouble(kernel_log):
        """Reports in a fault case's kernel log, but for the allocation failures it asked for."""
        trouble = [line for line in kernel_trouble(kernel_log) if "Call Trace" not in line]
        traces = kernel_log.count("Call Trace")
        if traces > len(ALLOCATION_FAILURE.findall(kernel_log)):
            trouble.append(f"{traces} stack dumps, not all after an allocation failure report")
        return trouble

    def fault(self, name):
        """The fault-injection part `name`, checked."""
        def run_case():
            b = self.fault_boot()
            check(not b.timed_out, f"guest timed out; console: {b.console}")
            check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
            text, _ = self.checked_part(b, name, "l4log-fault-begin", "l4log-fault-status", self.fault_trouble)
            uptimes = [float(t) for t in re.findall(r"^l4log-fault-uptime: ([\d.]+)$", text, re.M)]
            if len(uptimes) == 2:
                print(f"# {name}: {uptimes[1] - uptimes[0]:.1f} s in the guest")
            getattr(self, f"fault_{name}")(b, text)
        return run_case

    @staticmethod
    def fault_points(text, call):
        found = re.search(rf"^l4log-fault: {call} points=(\d+) errors=(\S*)$", text, re.M)
        check(found, f"no injection point count for {call}")
        errors = dict(e.split(":") for e in found[2].split(",") if e)
        return int(found[1]), errors

    def fault_insmod_default(self, b, text):
        self.fault_insmod(text, "mode=600 gid=0")

    def fault_insmod_mode_group(self, b, text):
        self.fault_insmod(text, "mode=620 gid=5")

    def fault_insmod(self, text, node):
        points, errors = self.fault_points(text, "insmod")
        check(points > 0, "insmod had no allocation to fail")
        check(set(errors) <= {"ENOMEM"}, f"insmod failed with other errors than ENOMEM: {errors}")
        # The load that no failure reached: the node as asked.
        check(f"l4log-fault: insmod node {node}\n" in text, f"after the last insmod, /dev/l4log is not {node}")

    def fault_loadrace(self, b, text):
        # While loads fail, before and after the device is registered, another process opens
        # /dev/l4log in a loop: no open may succeed (a module whose init fails is freed with the
        # file open), and KASAN must stay silent (checked with the part's kernel log).
        found = re.search(r"^l4log-fault: loadrace loads=(\d+) einval=(\d+) enoent=(\d+) other=(\d+) "
                          r"opened=(\d+) open-enoent=(\d+) open-enodev=(\d+) open-other=(\d+)$", text, re.M)
        check(found, "the load race did not report")
        loads, einval, enoent, other, opened, open_enoent, open_enodev, open_other = map(int, found.groups())
        count = LOAD_RACE_LOADS[self.target]
        check(loads == 2 * count and einval == count and enoent == count and other == 0,
              f"loads: {einval} EINVAL and {enoent} ENOENT of {loads}, {other} otherwise")
        check(opened == 0, f"{opened} opens succeeded on loads that failed")
        check(open_other == 0, f"{open_other} opens failed with other errors than ENOENT and ENODEV")

    def fault_open(self, b, text):
        points, errors = self.fault_points(text, "open")
        # l4log's own: its line buffer and the open file's state, after the VFS's.
        check(points >= 2, f"open had {points} allocations to fail")
        check(set(errors) <= {"ENOMEM"}, f"open failed with other errors than ENOMEM: {errors}")

    def fault_write(self, b, text):
        points, errors = self.fault_points(text, "write")
        check(points == 0 and not errors, f"write allocated: {points} injection points, errors {errors}")
        self.fault_host_text(b)

    def fault_close(self, b, text):
        # close(2) does not return what release does (nothing, in l4log): a failed allocation can
        # show only in what reaches the host.
        self.fault_host_text(b)

    @staticmethod
    def fault_host_text(b):
        """The host log of the fault boot: the write part's lines, then the close part's texts,
        each exactly once."""
        console = b.console.read_text(errors="replace")
        lines = re.search(r"^l4log-fault: write lines=(\d+)$", console, re.M)
        texts = re.search(r"^l4log-fault: close texts=(\d+)$", console, re.M)
        check(lines and texts, "the write and close parts did not report what they sent")
        want = "".join(f"w{i}\n" for i in range(1, int(lines[1]) + 1))
        want += "".join(f"c{i}" for i in range(1, int(texts[1]) + 1))
        check_bytes(b.host_log.read_bytes(), want.encode())

    def fault_kmemleak(self, b, text):
        report = "\n".join(line[len("l4log-leak: "):] for line in text.splitlines()
                           if line.startswith("l4log-leak: "))
        leaks = re.split(r"(?m)^(?=unreferenced object)", report)[1:]
        mine = [leak for leak in leaks if self.leak_of_l4log(leak)]
        others = collections.Counter(re.search(r'comm "([^"]*)", pid (\d+)', leak)[0] for leak in leaks
                                     if leak not in mine)
        for where, count in others.items():
            print(f"# note: {count} unreferenced objects not of l4log's, allocated by {where}")
        print(f"# kmemleak: {len(leaks)} unreferenced objects, {len(mine)} of l4log's")
        check(not mine, "kmemleak reports objects l4log allocated:\n" + "".join(mine)[:4000])

    @staticmethod
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

    # -- host channel failures (uml) -----------------------------------------------------------------
    #
    # One boot of the uml debug kernel with two more host descriptors: a pipe whose reader goes
    # away mid-write (EPIPE) and a file on a small tmpfs that fills (ENOSPC). l4log is loaded on
    # each in turn (escaping off) and written to until a write fails; then it is loaded on a
    # descriptor that is not open.

    def host_failure_boot(self):
        if self._host_failures is not None:
            return self._host_failures
        kernel_dir, module, extra = self.built()
        fulls = [self.work / "full", self.work / "full-shared"]
        for full in fulls:
            full.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_FS_BYTES}", "l4log-full", str(full)],
                           check=True)
        read_end, write_end = os.pipe()
        shared_read, shared_write = os.pipe()
        stall_read, stall_write = os.pipe()
        # A host that does not read: its writes fail with EAGAIN once the pipe is full.
        os.set_blocking(stall_write, False)
        file_fd, shared_file_fd = (os.open(full / "host-file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                                   for full in fulls)
        closed_fd = 999  # far above the descriptors UML opens
        steps = {
            "epipe": f"./l4log-faults host {write_end} {MODULE}",
            "enospc": f"./l4log-faults host {file_fd} {MODULE}",
            "epipe_shared": f"./l4log-faults host-shared {shared_write} {MODULE} {SHARED_THREADS}",
            "enospc_shared": f"./l4log-faults host-shared {shared_file_fd} {MODULE} {SHARED_THREADS}",
            "stall": f"./l4log-faults stall {stall_write} {MODULE}",
            "closed_fd": (f"rmmod l4log; insmod {MODULE} host_channel={closed_fd}; echo \"l4log-fault: insmod $?\"; "
                          f"[ ! -e /dev/l4log ] && [ ! -e /sys/module/l4log ] && insmod {MODULE} {BOOT_ARGS} && "
                          "echo again >/dev/l4log"),
        }
        script = []
        for name, cmd in steps.items():
            script += [f"echo 'l4log-host-begin: {name}'; echo '<7>l4log-kmsg-case: {name}' >/dev/kmsg",
                       f"( {cmd} ); echo \"l4log-host-status: {name} $?\""]
        readers = {"epipe": PipeReader(read_end, PIPE_READ_FIRST),
                   "epipe_shared": PipeReader(shared_read, PIPE_READ_FIRST),
                   "stall": StallDrainer(stall_read, STALL_DRAIN)}
        for reader in readers.values():
            reader.start()
        host_fds = (write_end, file_fd, shared_write, shared_file_fd, stall_write)
        try:
            b = guest.boot_guest(self.target, kernel_dir, module, "command", "\n".join(script), str(extra),
                                 quiet=True, timeout=600, host_fds=host_fds)
        finally:
            for fd in host_fds:
                os.close(fd)
            readers["stall"].stop.set()
            for reader in readers.values():
                reader.join(timeout=10)
            files = [(full / "host-file").read_bytes() for full in fulls]
            for full in fulls:
                subprocess.run(["umount", str(full)], check=True)
        b.debug = self.debug
        self.boots.append(b)
        self._host_failures = {"boot": b, **readers, "enospc": files[0], "enospc_shared": files[1],
                               "closed_fd": closed_fd}
        return self._host_failures

    def host_failure(self, name):
        def run_case():
            parts = self.host_failure_boot()
            text, kernel_log = self.checked_part(parts["boot"], name, "l4log-host-begin", "l4log-host-status",
                                                 kernel_trouble)
            getattr(self, f"host_{name}")(parts, text, kernel_log)
        return run_case

    @staticmethod
    def host_written(text, errno):
        """What the host case's writes returned, checked against l4log's counters."""
        found = re.search(r"^l4log-fault: host returned=(\d+) short=(\d+) errors=(\d+) errno=(\S+) "
                          r"host-errors=(\d+) host-bytes=(\d+)$", text, re.M)
        check(found, "the host case did not report its writes")
        returned, short, errors, got_errno, host_errors, host_bytes = found.groups()
        check(got_errno == errno, f"the failed writes returned {got_errno}, not {errno}")
        check(int(errors) >= 3, f"{errors} writes failed outright after the channel broke; 3 or more expected")
        # Each write that stopped early made exactly one failed host call.
        check(int(host_errors) == int(short) + int(errors),
              f"l4log-host-errors counted {host_errors} failed host calls for {short} short and {errors} failed writes")
        check(int(host_bytes) == int(returned),
              f"l4log-host-bytes counted {host_bytes} bytes; the writes returned {returned}")
        return int(returned)

    def host_epipe(self, parts, text, kernel_log):
        returned = self.host_written(text, "EPIPE")
        reader = parts["epipe"]
        check(reader.error is None, f"the pipe's reader: {reader.error}")
        check_bytes(reader.data, host_stream(len(reader.data)), "what the pipe's reader read")
        # Bytes in the pipe when its reader went away reached the host too; nobody read them.
        check(returned == len(reader.data) + reader.unread,
              f"the writes returned {returned} bytes; the pipe took {len(reader.data)} read + "
              f"{reader.unread} unread")

    def host_enospc(self, parts, text, kernel_log):
        returned = self.host_written(text, "ENOSPC")
        data = parts["enospc"]
        check(len(data) == FULL_FS_BYTES, f"the file on the {FULL_FS_BYTES}-byte filesystem has {len(data)} bytes")
        check_bytes(data, host_stream(returned), "the file on the full filesystem")

    @staticmethod
    def host_shared_written(text, errno):
        """What the shared-file host case's threads returned, checked against l4log's counters:
        each thread's count, what the host took and what the close could not send."""
        found = re.search(r"^l4log-fault: host-shared threads=(\d+) returned=([\d,]+) errno=(\S+) bytes=(\d+) "
                          r"host-bytes=(\d+) dropped=(\d+) host-errors=(\d+)$", text, re.M)
        check(found, "the shared host case did not report its writes")
        returned = [int(n) for n in found[2].split(",")]
        got_errno = found[3]
        counted, host_bytes, dropped, host_errors = map(int, found.groups()[3:])
        check(len(returned) == SHARED_THREADS, f"{len(returned)} threads reported")
        check(got_errno == errno, f"the failed writes returned {got_errno}, not {errno}")
        check(counted == sum(returned), f"l4log-bytes counted {counted}; the writes returned {sum(returned)}")
        # Every byte a write returned reached the host once, or the close counted it dropped.
        check(host_bytes + dropped == sum(returned),
              f"the writes returned {sum(returned)} bytes; the host took {host_bytes}, {dropped} dropped")
        check(host_errors > 0, "no failed host call counted")
        print(f"# threads returned {returned}; the host took {host_bytes}, the close dropped {dropped}, "
              f"{host_errors} failed host calls")
        return returned, host_bytes

    @staticmethod
    def check_shared_bytes(data, returned):
        """The host's bytes of each thread (`data`) are a prefix of its stream, no longer than
        what its writes returned, and every byte is some thread's."""
        counted = 0
        for t, count in enumerate(returned):
            mine = bytes(b for b in data if 0x21 + 16 * t <= b < 0x31 + 16 * t)
            check_bytes(mine, shared_stream(t, len(mine)), f"thread {t}'s bytes on the host")
            check(len(mine) <= count, f"thread {t}: {len(mine)} bytes on the host; its writes returned {count}")
            counted += len(mine)
        check(counted == len(data), f"{len(data) - counted} bytes on the host are no thread's")

    def host_epipe_shared(self, parts, text, kernel_log):
        returned, host_bytes = self.host_shared_written(text, "EPIPE")
        reader = parts["epipe_shared"]
        check(reader.error is None, f"the pipe's reader: {reader.error}")
        self.check_shared_bytes(reader.data, returned)
        check(host_bytes == len(reader.data) + reader.unread,
              f"l4log-host-bytes {host_bytes}; the pipe took {len(reader.data)} read + {reader.unread} unread")

    def host_enospc_shared(self, parts, text, kernel_log):
        returned, host_bytes = self.host_shared_written(text, "ENOSPC")
        data = parts["enospc_shared"]
        check(len(data) == host_bytes, f"the file has {len(data)} bytes; l4log-host-bytes counted {host_bytes}")
        self.check_shared_bytes(data, returned)

    def host_stall(self, parts, text, kernel_log):
        # A host pipe nobody reads: writers waiting for it die of SIGKILL, a non-blocking one
        # gets EAGAIN, a close gives up after its deadline; after the host drains, a line goes
        # through and rmmod works (l4log-faults checks the guest's side).
        for want in ("stall waiter killed", "stall holder killed", "stall nonblocking EAGAIN",
                     "stall nonblocking-host EAGAIN"):
            check(f"l4log-fault: {want}" in text, f"no '{want}'")
        closed = re.search(r"^l4log-fault: stall close took ([\d.]+) s, dropped (\d+)$", text, re.M)
        check(closed and closed[2] == "10", f"the close of an unfinished line of 10 bytes: {closed and closed[0]}")
        drainer = parts["stall"]
        check(drainer.error is None, f"the pipe's reader: {drainer.error}")
        counters = re.search(r"^l4log-fault: stall counters host-bytes=(\d+)", text, re.M)
        check(counters, "no counters after the stall")
        # The host took the first writer's 'a's until the pipe was full, then the line after
        # the drain: nothing of the killed, non-blocking or closed writers' lines.
        check(re.fullmatch(rb"a+after the stall\n", drainer.data), f"the pipe got {describe_bytes(drainer.data)}")
        check(int(counters[1]) == len(drainer.data),
              f"l4log-host-bytes {counters[1]}; the pipe got {len(drainer.data)} bytes")

    def host_closed_fd(self, parts, text, kernel_log):
        status = re.search(r"^l4log-fault: insmod (\d+)$", text, re.M)
        check(status and status[1] != "0", f"insmod with host_channel={parts['closed_fd']} (not open) did not fail")
        message = (f"host file descriptor {parts['closed_fd']} cannot be written (host error 9: not open in "
                   "the UML process)")
        check(message in kernel_log, f"no '{message}' in the kernel log:\n{kernel_log[-1500:]}")

    def kunit(self):
        # Every #[test] of the KUnit suites must be reported passed by kunit.py.
        wanted = set()
        for suite in ("l4bridge/tests.rs", "chardev/tests.rs"):
            found = set(re.findall(r"#\[test\]\s*fn (\w+)", (REPO / suite).read_text()))
            check(found, f"no #[test] found in {suite}")
            wanted |= found
        r = subprocess.run([str(REPO / "scripts/kunit")], capture_output=True, text=True)
        out = r.stdout + r.stderr
        passed = set(re.findall(r"\[PASSED\] (\w+)", out))
        for line in out.splitlines():
            if "PASSED" in line or "FAILED" in line or "Testing complete" in line:
                print(f"# {line.strip()}")
        check(r.returncode == 0, f"kunit.py exited {r.returncode}:\n{out[-3000:]}")
        check(wanted <= passed, f"not reported passed: {sorted(wanted - passed)}")

    def kernel_log_clean(self):
        # Normal kernels: the whole log, boot included. Debug kernels: each case checked the
        # log after insmod; reports from before l4log.ko was loaded are not l4log's and are
        # shown here as notes (UML 7.2: lockdep's "bad unlock balance" in is_module_address).
        if self.debug:
            self.adversarial_boot(ADVERSARIAL)
        boots = [b for b in self.boots if b.target == self.target and b.debug == self.debug]
        check(boots, "no guest booted")
        before_insmod = collections.Counter()
        for b in boots:
            check("Linux version" in b.dmesg, f"no kernel log came back from {b.run_dir}")
            after, before = after_insmod(b.dmesg)
            checked = after if self.debug else b.dmesg
            trouble = (self.fault_trouble if getattr(b, "fault_injection", False) else kernel_trouble)(checked)
            check(not trouble, f"{b.run_dir}: kernel log reports trouble:\n" + "\n".join(trouble[:40]))
            for line in kernel_trouble(before):
                before_insmod[re.sub(r"^\[[ 0-9.]+\] ", "", line)] += 1
        for line, count in before_insmod.items():
            print(f"# note: before insmod, in {count} of {len(boots)} boots: {line}")
        if self.debug:
            # The adversarial boot reports whether lockdep stayed on. On UML 7.2 it never is: in
            # setup_arch kmemleak records the initrd's memblock allocation (read_initrd), lockdep
            # reports a "bad unlock balance" of rcu_read_lock in is_module_address there (above)
            # and switches itself off, before l4log.ko is loaded. QEMU's debug kernel must keep it
            # on: lockdep checks l4log there only.
            b = self.adversarial_boot(ADVERSARIAL)["boot"]
            state = re.findall(r"^l4log-debug-locks: (\d+)", b.console.read_text(errors="replace"), re.M)
            check(state, "the adversarial boot did not report lockdep's state")
            on = state[0] == "1"
            note = "" if on or self.target == "qemu" else (
                f" (off before insmod: no lockdep coverage on {self.target}; QEMU's debug kernel has it)")
            print(f"# lockdep at the end of the adversarial boot: {'on' if on else 'off'}{note}")
            if self.target == "qemu":
                check(on, "lockdep was off at the end of the adversarial boot")

    # -- driver -----------------------------------------------------------------------------------

    def run(self):
        per_target = [
            ("clippy", self.clippy),
            ("e2e_device_node", self.e2e_device_node),
            ("e2e_echo_line", self.e2e_echo_line),
            ("e2e_zero_length_write", self.e2e_zero_length_write),
            ("e2e_one_mib_every_byte_value", self.e2e_one_mib_every_byte_value),
            ("e2e_partly_unmapped_buffer", self.e2e_partly_unmapped_buffer),
            ("e2e_host_calls_per_write", self.e2e_host_calls_per_write),
            ("e2e_counters", self.e2e_counters),
            ("e2e_rmmod", self.e2e_rmmod),
            ("e2e_run_interface", self.e2e_run_interface),
            ("kernel_log_clean", self.kernel_log_clean),
        ]
        cases = [("style_rustfmt", self.style_rustfmt), ("buildroot_debian_mirror", self.buildroot_debian_mirror),
                 ("escape_differential", self.escape_differential), ("l4_build_failures", self.l4_build_failures),
                 ("l4_compile_check", self.l4_compile_check)]
        cases += [(f"{target}_{name}", self.on(target, fn)) for target in TARGETS for name, fn in per_target]
        cases += [("uml_e2e_nonblocking_host_fd", self.on("uml", self.e2e_nonblocking_host_fd))]
        cases += channels.cases(self, TARGETS)
        cases += [("uml_kunit", self.kunit)]
        cases += [(f"uml_debug_host_{name}", self.on("uml", self.host_failure(name), debug=True))
                  for name in ("epipe", "enospc", "epipe_shared", "enospc_shared", "stall", "closed_fd")]
        cases += [("l4linux_boot", self.on("l4linux", self.l4linux_boot))]
        cases += [(f"l4linux_{name}", self.on("l4linux", self.adversarial(name))) for name in L4_ADVERSARIAL]
        for target in DEBUG_TARGETS:
            cases += [(f"{target}_debug_{name}", self.on(target, self.adversarial(name), debug=True))
                      for name in ADVERSARIAL]
            cases += [(f"{target}_debug_fault_{name}", self.on(target, self.fault(name), debug=True))
                      for name in FAULT_PARTS]
            cases += [(f"{target}_debug_kernel_log_clean", self.on(target, self.kernel_log_clean, debug=True))]
        selected = [c for c in cases if not self.only or c[0].startswith(self.only)]
        print("KTAP version 1")
        print(f"1..{len(selected)}", flush=True)
        for name, fn in selected:
            self.case(name, fn)
        failed = sum(1 for _, err in self.results if err is not None)
        if self.skipped:
            print(f"# skipped (neither passed nor failed): {', '.join(self.skipped)}")
        print(f"{len(self.results) - failed - len(self.skipped)} passed, {failed} failed")
        subprocess.run(["rm", "-rf", str(self.work)])
        return 1 if failed or not self.results else 0


def main():
    global channels
    import channels  # noqa: E402  (tests/channels.py: the named channels' cases; it imports from here)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases whose name starts with this")
    sys.exit(Suite(parser.parse_args().only).run())


if __name__ == "__main__":
    main()
