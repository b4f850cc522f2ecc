"""Host-channel failures (uml): the host side of l4log's channel breaks, fills or stalls.

One boot of the uml debug kernel with more host descriptors: a pipe whose reader goes away
mid-write (EPIPE) and a file on a small tmpfs that fills (ENOSPC), each with one writer and
with several threads sharing one file, and a pipe the host does not read (stall). l4log is
loaded on each in turn (escaping off) and written to until a write fails; then it is loaded on
a descriptor that is not open.
"""

import fcntl
import functools
import os
import re
import subprocess
import termios
import threading
import time

from .harness import BOOT_ARGS, MODULE, Case, check, check_bytes, checked_part, describe_bytes, guest, kernel_trouble

# The host-channel failure boot (uml): bytes the host side reads before its reader goes away,
# and the size of the filesystem that fills.
PIPE_READ_FIRST = 256 << 10
FULL_FS_BYTES = 256 << 10
HOST_LINE = 100  # as in l4log-faults.c: lines that write steps of 4096 bytes end inside
SHARED_THREADS = 4  # writers of the shared-file host cases
STALL_DRAIN = b"l4log-fault: stall drain now"
STAMP_DRAIN = b"l4log-fault: stamp drain now"
HOST_FAILURES = ["epipe", "enospc", "epipe_shared", "enospc_shared", "stall", "stamp_stall", "closed_fd"]


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


def host_failure_boot(suite):
    """The host-channel failure boot, booted once."""
    return suite.once("host_failures", lambda: batch_boot(suite))


def batch_boot(suite):
    kernel_dir, module, extra = suite.built()
    fulls = [suite.work / "full", suite.work / "full-shared"]
    for full in fulls:
        full.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_FS_BYTES}", "l4log-full", str(full)],
                       check=True)
    read_end, write_end = os.pipe()
    shared_read, shared_write = os.pipe()
    stall_read, stall_write = os.pipe()
    stamp_read, stamp_write = os.pipe()
    # Hosts that do not read: their writes fail with EAGAIN once the pipe is full.
    os.set_blocking(stall_write, False)
    os.set_blocking(stamp_write, False)
    file_fd, shared_file_fd = (os.open(full / "host-file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                               for full in fulls)
    closed_fd = 999  # far above the descriptors UML opens
    steps = {
        "epipe": f"./l4log-faults host {write_end} {MODULE}",
        "enospc": f"./l4log-faults host {file_fd} {MODULE}",
        "epipe_shared": f"./l4log-faults host-shared {shared_write} {MODULE} {SHARED_THREADS}",
        "enospc_shared": f"./l4log-faults host-shared {shared_file_fd} {MODULE} {SHARED_THREADS}",
        "stall": f"./l4log-faults stall {stall_write} {MODULE}",
        "stamp_stall": f"./l4log-faults stamp-stall {stamp_write} {MODULE}",
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
               "stall": StallDrainer(stall_read, STALL_DRAIN),
               "stamp_stall": StallDrainer(stamp_read, STAMP_DRAIN)}
    for reader in readers.values():
        reader.start()
    host_fds = (write_end, file_fd, shared_write, shared_file_fd, stall_write, stamp_write)
    try:
        b = guest.boot_guest(suite.target, kernel_dir, module, "command", "\n".join(script), str(extra),
                             quiet=True, timeout=600, host_fds=host_fds)
    finally:
        for fd in host_fds:
            os.close(fd)
        readers["stall"].stop.set()
        readers["stamp_stall"].stop.set()
        for reader in readers.values():
            reader.join(timeout=10)
        files = [(full / "host-file").read_bytes() for full in fulls]
        for full in fulls:
            subprocess.run(["umount", str(full)], check=True)
    suite.record(b)
    return {"boot": b, **readers, "enospc": files[0], "enospc_shared": files[1], "closed_fd": closed_fd}


def run_case(name, suite):
    """The host-channel failure part `name`, checked."""
    parts = host_failure_boot(suite)
    text, kernel_log = checked_part(parts["boot"], name, "l4log-host-begin", "l4log-host-status", kernel_trouble)
    globals()[f"host_{name}"](parts, text, kernel_log)


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


def host_epipe(parts, text, kernel_log):
    returned = host_written(text, "EPIPE")
    reader = parts["epipe"]
    check(reader.error is None, f"the pipe's reader: {reader.error}")
    check_bytes(reader.data, host_stream(len(reader.data)), "what the pipe's reader read")
    # Bytes in the pipe when its reader went away reached the host too; nobody read them.
    check(returned == len(reader.data) + reader.unread,
          f"the writes returned {returned} bytes; the pipe took {len(reader.data)} read + "
          f"{reader.unread} unread")


def host_enospc(parts, text, kernel_log):
    returned = host_written(text, "ENOSPC")
    data = parts["enospc"]
    check(len(data) == FULL_FS_BYTES, f"the file on the {FULL_FS_BYTES}-byte filesystem has {len(data)} bytes")
    check_bytes(data, host_stream(returned), "the file on the full filesystem")


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


def host_epipe_shared(parts, text, kernel_log):
    returned, host_bytes = host_shared_written(text, "EPIPE")
    reader = parts["epipe_shared"]
    check(reader.error is None, f"the pipe's reader: {reader.error}")
    check_shared_bytes(reader.data, returned)
    check(host_bytes == len(reader.data) + reader.unread,
          f"l4log-host-bytes {host_bytes}; the pipe took {len(reader.data)} read + {reader.unread} unread")


def host_enospc_shared(parts, text, kernel_log):
    returned, host_bytes = host_shared_written(text, "ENOSPC")
    data = parts["enospc_shared"]
    check(len(data) == host_bytes, f"the file has {len(data)} bytes; l4log-host-bytes counted {host_bytes}")
    check_shared_bytes(data, returned)


def host_stall(parts, text, kernel_log):
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
    # The non-blocking writer's 'n's filled the pipe, and its write returned their count; then
    # the line after the drain: nothing of the waiting, killed, non-blocking or closed writers'.
    short = re.search(r"^l4log-fault: stall short count (\d+) host-bytes (\d+)$", text, re.M)
    check(short and short[1] == short[2], f"the non-blocking write that filled the pipe: {short and short[0]}")
    check(drainer.data == b"n" * int(short[1]) + b"after the stall\n",
          f"the pipe got {describe_bytes(drainer.data)}")
    check(int(counters[1]) == len(drainer.data),
          f"l4log-host-bytes {counters[1]}; the pipe got {len(drainer.data)} bytes")


def host_stamp_stall(parts, text, kernel_log):
    # A stamped channel (stamp=task) on a host pipe nobody reads until the guest says so: lines
    # whose sends failed (EAGAIN; a signal while waiting for the send turn or the file's turn)
    # leave no stamp behind, a write that SA_RESTART restarted goes once, and a child's line on
    # the parent's file carries the child's stamp.
    found = re.search(r"^l4log-fault: stamp drain now, pid (\d+) child (\d+) restarter (\d+)$", text, re.M)
    fills = re.search(r"^l4log-fault: stamp fills=(\d+)$", text, re.M)
    check(found and fills, "the stamped stall case did not report its writers")
    pid, child, restarter, fills = found[1], found[2], found[3], int(fills[1])
    drainer = parts["stamp_stall"]
    check(drainer.error is None, f"the pipe's reader: {drainer.error}")
    lines = drainer.data.decode(errors="replace").splitlines(keepends=True)
    want_fill = f"l4log-faults[{pid}]: fill\n"
    check(lines[:fills] == [want_fill] * fills, f"the first {fills} host lines are not all {want_fill!r}: "
                                                f"{describe_bytes(drainer.data)}")
    rest = sorted(lines[fills:])
    want = sorted([f"renamed[{pid}]: r\n", f"afterint[{pid}]: t\n", f"childb[{child}]: b\n",
                   f"restarter[{restarter}]: v\n"])
    check(rest == want, f"after the fills the host got {rest}, want {want} (in any order)")


def host_closed_fd(parts, text, kernel_log):
    status = re.search(r"^l4log-fault: insmod (\d+)$", text, re.M)
    check(status and status[1] != "0", f"insmod with host_channel={parts['closed_fd']} (not open) did not fail")
    message = (f"host file descriptor {parts['closed_fd']} cannot be written (host error 9: not open in "
               "the UML process)")
    check(message in kernel_log, f"no '{message}' in the kernel log:\n{kernel_log[-1500:]}")


def cases():
    return [Case(f"uml_debug_host_{name}", functools.partial(run_case, name), "uml", debug=True)
            for name in HOST_FAILURES]
