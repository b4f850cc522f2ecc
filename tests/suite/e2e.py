"""The end-to-end cases: each boots the guest of its target on the normal kernel, loads
l4log.ko, writes, and compares the bytes that reached the host log with the bytes written."""

import random
import re
import subprocess
import sys
from pathlib import Path

from .harness import PAGE, PARAMS, PATTERN, RAW, REPO, Case, check, check_bytes, escaped, guest, host_bytes

# Bytes per host call: a page on QEMU's debug port and UML's host fd, one vcon write IPC
# (L4_VCON_WRITE_SIZE) on L4Linux.
HOST_CHUNK = {"qemu": 4096, "uml": 4096, "l4linux": 488}


def e2e_device_node(suite):
    b = suite.boot('[ -c /dev/l4log ] && stat -c "%a %u %g" /dev/l4log >/tmp/s '
                   '&& [ "$(cat /tmp/s)" = "600 0 0" ] || { echo "mode: $(cat /tmp/s)"; exit 1; }')
    check_bytes(host_bytes(b), b"")


def e2e_echo_line(suite):
    b = suite.boot("echo hello > /dev/l4log")
    check_bytes(host_bytes(b), b"hello\n")


def e2e_zero_length_write(suite):
    b = suite.boot("./l4log-test zero")
    check_bytes(host_bytes(b), b"")


def e2e_one_mib_every_byte_value(suite):
    data = random.Random(0x14106).randbytes(1 << 20)
    check(len(set(data)) == 256, "test data does not hold every byte value")
    b = suite.boot(RAW + "./l4log-test write data", {"data": data})
    check_bytes(host_bytes(b), data)


# The line buffer of an open file (chardev/lines.rs LINE_MAX): a page, or on L4Linux the whole
# 488-byte IPCs that fit in one.
LINE_MAX = {"qemu": 4096, "uml": 4096, "l4linux": 3904}


def e2e_utf8_across_pieces(suite):
    """A line longer than the line buffer, with escaping on, a UTF-8 character across each
    place where a piece would end: the character goes whole in the next piece, and the host
    gets the text unchanged (an escaper that saw half a character would escape its bytes)."""
    size = LINE_MAX[suite.target]
    line = b"a" * (size - 1) + "\u00e9".encode() + b"b" * (size - 3) + "\u20ac".encode() + b"tail\n"
    b = suite.boot("./l4log-test write line", {"line": line})
    check_bytes(host_bytes(b), line)


def e2e_escape_switched_mid_line(suite):
    """Escaping is applied as a line is sent: a line begun with escaping on and ended after it
    was switched off goes raw, and the other way round, escaped."""
    b = suite.boot("exec 3>/dev/l4log; printf 'on\\001' >&3; "
                   f"echo N >{PARAMS}/escape; printf '\\002off\\n' >&3; "
                   f"printf 'off\\003' >&3; echo Y >{PARAMS}/escape; printf '\\004on\\n' >&3; exec 3>&-")
    check_bytes(host_bytes(b), b"on\x01\x02off\n" + escaped(b"off\x03\x04on\n"))


def e2e_rate_limit_budget(suite):
    """rate_limit=1000 on /dev/l4log: after 3 s idle a non-blocking write of 8000 bytes returns
    the bucket's 1000 (one second's worth, plain text: 1000 host bytes; and what is earned while
    it runs); after 1 s more a
    blocking write of 5000 bytes takes 4 s (the second's 1000 at once, 4000 at the rate)."""
    many, five = b"n" * 8000, b"b" * 5000
    b = suite.boot(f"echo 1000 >{PARAMS}/rate_limit && sleep 3 && ./l4log-test nonblocking many /dev/l4log && "
                   "sleep 1 && ./l4log-test timed five /dev/l4log && ./l4log-test sleeps 4 1000",
                   {"many": many, "five": five})
    console = b.console.read_text(errors="replace")
    written, timed = re.search(r"^l4log-written: (-?\d+)$", console, re.M), re.search(r"^l4log-timed: (\d+)$", console, re.M)
    slept = re.search(r"^l4log-slept: (\d+)$", console, re.M)
    check(written and timed and slept, "the writes and the sleeps did not report")
    # How late the guest wakes up from 4 sleeps of 1 s now (a loaded machine runs TCG guests
    # late): the write's wait may be that much late too, up to a second, no more.
    late = min(max(0, int(slept[1]) - 4000), 1000)
    print(f"# after 3 s idle a non-blocking write took {written[1]} bytes; 5000 bytes took {timed[1]} ms; "
          f"4 sleeps of 1 s took {slept[1]} ms")
    # The bucket's second's worth, and what the rate earns while the write's steps run (a byte a
    # millisecond; the steps after the first take what was earned meanwhile).
    check(1000 <= int(written[1]) <= 1050,
          f"the non-blocking write after 3 s idle returned {written[1]}, not 1000 (+ 50 ms' worth)")
    check(3500 <= int(timed[1]) <= 4500 + late,
          f"5000 bytes at 1000 B/s took {timed[1]} ms, not 4 s +- 0.5 s (and {late} ms the guest woke up late)")
    check_bytes(host_bytes(b), many[:int(written[1])] + five)


def e2e_partly_unmapped_buffer(suite):
    # 100 mapped bytes then a hole: the write returns 100; a write that starts in the hole
    # fails with EFAULT and sends nothing.
    b = suite.boot("./l4log-test fault 100 && ./l4log-test fault 0")
    page = (PATTERN * (PAGE // len(PATTERN) + 1))[:PAGE]
    check_bytes(host_bytes(b), page[-100:])


def e2e_host_calls_per_write(suite):
    # One host call per chunk (HOST_CHUNK) with escaping off: ceil(size / chunk) calls.
    chunk = HOST_CHUNK[suite.target]
    sizes = [1, chunk - 1, chunk, chunk + 1, 4095, 4096, 4097, 65536, 1048576]
    b = suite.boot(RAW + f"./host-calls.sh {chunk} " + " ".join(map(str, sizes)))
    for line in b.console.read_text(errors="replace").splitlines():
        if line.startswith("l4log-measure: "):
            print(f"# {line.strip()}")
    check(len(host_bytes(b)) == sum(sizes), "host log length does not match the writes")


def e2e_counters(suite):
    # Device-wide counters in fdinfo: two writes, the second's line unfinished until close.
    b = suite.boot("printf 'one\\ntwo\\n' >/dev/l4log && printf 'x\\001' >/dev/l4log && "
                   "exec 3</dev/l4log && cat /proc/self/fdinfo/3")
    check_bytes(host_bytes(b), b"one\ntwo\nx\\x01")
    # fdinfo's lines: NAME, a colon and a tab (not the runner's control lines on L4Linux's console).
    counters = dict(re.findall(r"^(l4log-[a-z-]+):\t(\d+)", b.console.read_text(errors="replace"), re.M))
    want = {"l4log-bytes": "10", "l4log-writes": "2", "l4log-lines": "2", "l4log-host-bytes": "13",
            "l4log-host-calls": "2", "l4log-host-errors": "0", "l4log-throttled-ns": "0",
            "l4log-dropped-bytes": "0"}
    check(counters == want, f"fdinfo counters {counters}, want {want}")


def e2e_rmmod(suite):
    # Refused (EBUSY) while a file is open; succeeds after, and the node goes away.
    suite.boot("exec 3>/dev/l4log; if rmmod l4log; then echo 'rmmod with an open file worked'; exit 1; fi; "
               "echo x >&3; exec 3>&-; rmmod l4log && [ ! -e /dev/l4log ]")


def e2e_run_interface(suite):
    # The `make run EXTRA=... CMD=...` contract: exit status and the final host-log line.
    kernel_dir, module, extra = suite.built()
    with guest.boot_slot():  # its guest counts among the suite's guests at once
        r = subprocess.run([sys.executable, str(REPO / "scripts/guest.py"), "run", "--target", suite.target,
                            "--extra", str(extra),
                            "--cmd", "printf 'via run\\0\\n' > /dev/l4log; [ -x l4log-test ] && exit 3"],
                           capture_output=True)
    check(r.returncode == 3, f"exit status {r.returncode}, want 3; stderr:\n{r.stderr.decode()[-1500:]}")
    last = r.stdout.decode().rstrip("\n").splitlines()[-1]
    check(last.startswith("host-log: /"), f"last line is {last!r}")
    capture_path = Path(last.split(": ", 1)[1])
    capture = capture_path.read_bytes()
    # Its kernel log is checked with the other boots' (kernel_log cases).
    b = guest.finished_boot(capture_path.parent, suite.target)
    check(b.status == 3 and "Linux version" in b.dmesg, f"the run's control file: status {b.status}, "
                                                       f"kernel log of {len(b.dmesg)} characters")
    suite.record(b)
    # Escaped: the default. On L4Linux the capture is the whole serial console (the L4Re
    # log), where /dev/l4log's lines carry its own capability's tag (configs/l4re/l4log.cfg).
    if suite.target == "l4linux":
        check_bytes(guest.l4_channel_text(capture, guest.L4_DEFAULT_TAG), b"via run\\x00\n")
    else:
        check_bytes(capture, b"via run\\x00\n")


def e2e_nonblocking_host_fd(suite):
    # UML: a host log descriptor that is non-blocking (as UML's own stderr can be) fills up
    # (EAGAIN) during a 1 MiB write, the host reading nothing until the guest says so; l4log
    # waits for it to drain and loses nothing.
    data = random.Random(0xea6a1).randbytes(1 << 20)
    b = suite.boot(RAW + "{ ./l4log-test write data & }; writer=$!; sleep 2; "
                   "kill -0 $writer && echo 'l4log-writer: waits for the host'; "
                   f"echo {guest.HOST_LOG_DRAIN.decode()}; wait $writer",
                   {"data": data}, nonblocking_host_log=True)
    check("l4log-writer: waits for the host" in b.console.read_text(errors="replace"),
          "the writer did not wait for the full host: it was done within 2 s")
    check_bytes(host_bytes(b), data)


# Lines a guest program writes to pose as /init's control lines (ramdisk/init), unmarked and
# marked as they were before control lines carried the boot's token.
FORGED = ("l4log-status: 0\nl4log-control: l4log-status: 0\nl4log-control: l4log-dmesg-begin\n"
          "l4log-control: l4log-dmesg-end\nl4log-dmesg-begin\nl4log-dmesg-end\n")


def e2e_control_unforgeable(suite):
    """A guest command cannot forge the runner's control lines: it prints forged status and
    kernel-log marks to /dev/l4log, the console and the control port, and a background writer
    goes on printing them after the command exited 3; another stands ready to serve a forged
    kernel log through a FIFO where /init once kept the log (/tmp/l4log-dmesg). The boot's
    status is 3, and its kernel log is the whole, real one."""
    forge = "".join(f"[ -e {dev} ] && printf '{FORGED}' >{dev}; "
                    for dev in ("/dev/l4log", "/dev/console", "/dev/ttyS1", "/dev/ttyLv0"))
    # And in the kernel log, which /init sends on the control channel: lines that read as the
    # end of the kernel log and as a status, then one the runner must still see.
    kmsg = "".join(f"echo '{line}' >/dev/kmsg; " for line in FORGED.splitlines())
    fifo = ("mkfifo /tmp/l4log-dmesg && ( cat /tmp/l4log-dmesg >/dev/null; "
            "for i in 1 2; do echo 'Linux version forged' >/tmp/l4log-dmesg; done ) & ")
    cmd = (f"{fifo}{forge}( i=0; while [ $i -lt 200 ]; do {forge}i=$((i + 1)); done ) & "
           f"{kmsg}echo '<6>l4log-real-kernel-log' >/dev/kmsg; exit 3")
    b = suite.boot(cmd, status=3)
    check(b.status == 3, f"the boot's status is {b.status}, not the command's 3")
    check("l4log-real-kernel-log" in b.dmesg and "Linux version" in b.dmesg,
          f"the boot's kernel log is not the real one: {b.dmesg[:300]!r}...")


def cases(target):
    """The end-to-end cases of every target."""
    return [Case(f"{target}_{fn.__name__}", fn, target)
            for fn in (e2e_device_node, e2e_echo_line, e2e_zero_length_write, e2e_one_mib_every_byte_value,
                       e2e_partly_unmapped_buffer, e2e_host_calls_per_write, e2e_counters, e2e_rmmod,
                       e2e_run_interface, e2e_control_unforgeable, e2e_utf8_across_pieces,
                       e2e_escape_switched_mid_line, e2e_rate_limit_budget)]


def uml_cases():
    """Cases of the UML target alone."""
    return [Case("uml_e2e_nonblocking_host_fd", e2e_nonblocking_host_fd, "uml")]
