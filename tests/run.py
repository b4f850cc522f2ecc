#!/usr/bin/env python3
"""l4log's test suite, run inside the build root by `make test`. KTAP output.

Each end-to-end case boots the guest, loads l4log.ko, runs a command, and
compares the bytes the host log received with the bytes written. Every boot's
kernel log is checked for WARN, BUG, Oops and panics. The last line is
`N passed, N failed`; the exit status is non-zero when anything failed.

    run.py [--only NAME-PREFIX]      e.g. --only uml_, --only qemu_e2e_echo
"""

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import guest  # noqa: E402  (scripts/guest.py)

TARGETS = ["qemu", "uml"]
PATTERN = b"abcdefghijklmnopqrstuvwxyz"
PAGE = 4096
# Byte-exact cases turn escaping off first, through the run-time parameter.
RAW = "echo N >/sys/module/l4log/parameters/escape && "
KERNEL_TROUBLE = re.compile(r"WARNING:|BUG:|Oops|Kernel panic|kernel BUG|Call Trace|general protection")


class Failure(Exception):
    pass


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
        self.work = Path(tempfile.mkdtemp(prefix="l4log-tests-", dir="/cache"))
        self._built = {}
        self.target = None

    # -- infrastructure ---------------------------------------------------------------------------

    def built(self):
        """The target's kernel directory and module, and the guest test programs, built once."""
        if self.target not in self._built:
            kernel_dir, module = guest.build_all(self.target)
            extra = self.work / "extra"
            if not extra.exists():
                extra.mkdir(parents=True)
                shutil.copy(REPO / "tests/guest/host-calls.sh", extra)
                subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                                str(extra / "l4log-test"), str(REPO / "tests/guest/l4log-test.c")],
                               check=True)
            self._built[self.target] = (kernel_dir, module, extra)
        return self._built[self.target]

    def boot(self, cmd, files=None, **options):
        """Boots the guest running `cmd` in /extra (the test program plus `files`)."""
        kernel_dir, module, extra = self.built()
        for name, data in (files or {}).items():
            (extra / name).write_bytes(data)
        try:
            b = guest.boot_guest(self.target, kernel_dir, module, "command", cmd, str(extra), quiet=True,
                                 **options)
        finally:
            for name in files or {}:
                (extra / name).unlink()
        self.boots.append(b)
        check(not b.timed_out, f"guest timed out; console: {b.console}")
        check(b.insmod_status == 0, f"insmod l4log.ko: status {b.insmod_status}; console: {b.console}")
        if b.status != 0:
            tail = b.console.read_text(errors="replace")[-1500:]
            raise Failure(f"guest command {cmd!r} exited {b.status}; console tail:\n{tail}")
        return b

    def on(self, target, fn):
        """`fn` run with `target` as the current target."""
        def run_on_target():
            self.target = target
            fn()
        return run_on_target

    def case(self, name, fn):
        if self.only and not name.startswith(self.only):
            return
        try:
            fn()
            self.results.append((name, None))
        except Failure as err:
            self.results.append((name, str(err)))
        except Exception:  # a broken harness is a failure too, with its traceback
            self.results.append((name, traceback.format_exc()))
        ok, err = self.results[-1][1] is None, self.results[-1][1]
        if not ok:
            for line in err.splitlines():
                print(f"# {line}")
        print(f"{'ok' if ok else 'not ok'} {len(self.results)} {name}", flush=True)

    # -- style ------------------------------------------------------------------------------------

    def style_rustfmt(self):
        sources = sorted(str(p) for d in ("chardev", "l4bridge") for p in (REPO / d).rglob("*.rs"))
        r = subprocess.run(["rustfmt", "--check", *sources],  # .rustfmt.toml: the kernel's settings
                           capture_output=True, text=True)
        check(r.returncode == 0, f"rustfmt --check:\n{r.stdout}{r.stderr}")

    def clippy(self):
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

    # -- end to end -------------------------------------------------------------------------------

    def e2e_device_node(self):
        b = self.boot('[ -c /dev/l4log ] && stat -c "%a %u %g" /dev/l4log >/tmp/s '
                      '&& [ "$(cat /tmp/s)" = "600 0 0" ] || { echo "mode: $(cat /tmp/s)"; exit 1; }')
        check_bytes(b.host_log.read_bytes(), b"")

    def e2e_echo_line(self):
        b = self.boot("echo hello > /dev/l4log")
        check_bytes(b.host_log.read_bytes(), b"hello\n")

    def e2e_zero_length_write(self):
        b = self.boot("./l4log-test zero")
        check_bytes(b.host_log.read_bytes(), b"")

    def e2e_one_mib_every_byte_value(self):
        data = random.Random(0x14106).randbytes(1 << 20)
        check(len(set(data)) == 256, "test data does not hold every byte value")
        b = self.boot(RAW + "./l4log-test write data", {"data": data})
        check_bytes(b.host_log.read_bytes(), data)

    def e2e_partly_unmapped_buffer(self):
        # 100 mapped bytes then a hole: the write returns 100; a write that starts in the hole
        # fails with EFAULT and sends nothing.
        b = self.boot("./l4log-test fault 100 && ./l4log-test fault 0")
        page = (PATTERN * (PAGE // len(PATTERN) + 1))[:PAGE]
        check_bytes(b.host_log.read_bytes(), page[-100:])

    def e2e_host_calls_per_write(self):
        # One host call per chunk of 4096 bytes (a page: the debug port's chunk).
        b = self.boot(RAW + "./host-calls.sh 4096 1 4095 4096 4097 65536 1048576")
        for line in b.console.read_text(errors="replace").splitlines():
            if line.startswith("l4log-measure: "):
                print(f"# {line.strip()}")
        check(len(b.host_log.read_bytes()) == 1 + 4095 + 4096 + 4097 + 65536 + 1048576,
              "host log length does not match the writes")

    def e2e_nonblocking_host_fd(self):
        # UML: a host log descriptor that is non-blocking (as UML's own stderr can be) fills up
        # (EAGAIN) during a 1 MiB write; l4log waits for it to drain and loses nothing.
        data = random.Random(0xea6a1).randbytes(1 << 20)
        b = self.boot(RAW + "./l4log-test write data", {"data": data}, nonblocking_host_log=True)
        check_bytes(b.host_log.read_bytes(), data)

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
        # Escaped: the default.
        check_bytes(Path(last.split(": ", 1)[1]).read_bytes(), b"via run\\x00\n")

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
        boots = [b for b in self.boots if b.target == self.target]
        check(boots, "no guest booted")
        for b in boots:
            check("Linux version" in b.dmesg, f"no kernel log came back from {b.run_dir}")
            trouble = [line for line in b.dmesg.splitlines() if KERNEL_TROUBLE.search(line)]
            check(not trouble, f"{b.run_dir}: kernel log reports trouble:\n" + "\n".join(trouble[:40]))

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
            ("e2e_rmmod", self.e2e_rmmod),
            ("e2e_run_interface", self.e2e_run_interface),
            ("kernel_log_clean", self.kernel_log_clean),
        ]
        cases = [("style_rustfmt", self.style_rustfmt)]
        cases += [(f"{target}_{name}", self.on(target, fn)) for target in TARGETS for name, fn in per_target]
        cases += [("uml_e2e_nonblocking_host_fd", self.on("uml", self.e2e_nonblocking_host_fd))]
        cases += [("uml_kunit", self.kunit)]
        selected = [c for c in cases if not self.only or c[0].startswith(self.only)]
        print("KTAP version 1")
        print(f"1..{len(selected)}", flush=True)
        for name, fn in selected:
            self.case(name, fn)
        failed = sum(1 for _, err in self.results if err is not None)
        print(f"{len(self.results) - failed} passed, {failed} failed")
        subprocess.run(["rm", "-rf", str(self.work)])
        return 1 if failed or not self.results else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases whose name starts with this")
    sys.exit(Suite(parser.parse_args().only).run())


if __name__ == "__main__":
    main()
