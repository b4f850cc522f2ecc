#!/usr/bin/env python3
"""Boots an l4log guest once, inside the build root.

    guest.py run [--target qemu] [--extra DIR] [--cmd CMD] [--interactive]

Builds the kernel and l4log.ko when needed, builds the initramfs, starts the
guest, and prints `host-log: PATH`, the byte-exact capture of what the host
log received, as its last line. The exit status is the guest command's.

Channels between host and guest (target qemu):
  COM1 (ttyS0)       the guest console: the terminal, or a file in tests
  COM2 (ttyS1)       control: the guest's insmod and exit status, its dmesg
  isa-debugcon 0xe9  the host log l4log writes to: captured to a file and,
                     for people, shown line by line as `host-log| ...`
  isa-debugcon 0xea, 0xeb
                     the named channels' host logs (CHANNELS), each captured to
                     a file of its own, shown as `host-log[NAME]| ...`
Target uml: the console is con0 (the terminal, or a file), control is ssl1
(/dev/ttyS1) on a host descriptor, and the host log is another host
descriptor, named to l4log.ko by its host_channel parameter; each named
channel has a descriptor of its own too.
Target l4linux: Fiasco.OC, L4Re and L4Linux (scripts/l4, built from L4_SRC)
under QEMU. The L4Re log is the serial console (COM1): everything printed
there, Fiasco's, L4Re's and L4Linux's console ttyLv0 alike, is the host log.
L4Linux has no second port, so the control lines come on that console too
(on every target each is prefixed with `l4log-control: ` and the boot's
secret token, ramdisk/init, so that no guest program forges one); the runner takes them
out of the capture, and ends QEMU, which L4Linux's poweroff does not stop.
The named channels are log capabilities that ned made with their own tags
(configs/l4re/l4log.cfg): their lines come on the same console, each with
its tag, and the runner sorts them into each channel's capture.

Every boot offers the named channels of CHANNELS and loads l4log.ko with
them (`channels=...`); a run prints `host-log[NAME]: PATH` for each before
its last line, `host-log: PATH`, the capture of /dev/l4log.
"""

import argparse
import itertools
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "ramdisk"))
import build as ramdisk  # noqa: E402  (ramdisk/build.py)

CACHE = Path(os.environ.get("L4LOG_INNER_CACHE", "/cache"))
RUNS_KEPT = 20
RUN_DIR_LOCK = threading.Lock()
RUN_DIR_NUMBERS = itertools.count()
BOOT_SLOTS = threading.BoundedSemaphore(1)
# choose_accel's verdict is made once, also when several threads ask.
ACCEL_LOCK = threading.Lock()
# The guests running now (run_guest), for end_all_guests.
LIVE_GUESTS = set()
LIVE_GUESTS_LOCK = threading.Lock()
# The named channels every boot offers: name -> the qemu target's debug console port. On uml
# each is a host descriptor, on l4linux the log capability of that name (configs/l4re/l4log.cfg).
CHANNELS = {"app": 0xEA, "audit": 0xEB}
QEMU = "qemu-system-x86_64"
MEMORY_MB = 256
# Each boot under TCG takes about 2 s; the limit is for a guest that hangs.
DEFAULT_TIMEOUT = 300
KVM_PROBE_TIMEOUT = 20


def log(msg):
    print(f"l4log: {msg}", file=sys.stderr, flush=True)


def run_script(*args, env=None):
    """Runs one of scripts/ and returns the last line it printed."""
    out = subprocess.run([str(REPO / "scripts" / args[0]), *args[1:]], check=True,
                         stdout=subprocess.PIPE, text=True, env=env).stdout
    return out.strip().splitlines()[-1]


@dataclass
class Boot:
    """What one boot of the guest left behind."""
    run_dir: Path
    target: str = ""
    nonblocking_host_log: bool = False  # uml: hand UML a non-blocking host log descriptor
    status: int | None = None          # the guest command's exit status
    insmod_status: int | None = None
    seconds: float = 0.0               # from the guest's start to its end
    init_seconds: float | None = None  # l4linux: from QEMU's start to L4Linux running /init
    dmesg: str = ""
    dmesg_lost: int = 0                # lines of the kernel log that /init sent and did not arrive
    dmesg_complete: bool = False       # the kernel log's end mark arrived
    timed_out: bool = False
    accel: str = ""
    cmdline: list = field(default_factory=list)
    cpus: int = 1                      # qemu: 2 for an SMP kernel
    insmod_extra: str = ""             # more l4log.ko parameters, name=value ...
    kernel_args: str = ""              # qemu, uml: more kernel command line arguments
    channels: bool = True              # load l4log.ko with the named channels of channel_ports
    # The named channels this boot offers (name -> the qemu target's debug console port), and
    # keys a channel's specification adds (name -> "stamp=task", ...): CHANNELS by default.
    channel_ports: dict = field(default_factory=lambda: dict(CHANNELS))
    channel_keys: dict = field(default_factory=dict)
    cpu_model: str = ""                # qemu, l4linux: QEMU's -cpu instead of the default
    l4_entry: str = "l4log"            # l4linux: the entry of the boot set's modules.list
    # The host logs (None: /dev/l4log's, else a channel's name) that a HostLogReader relays
    # through a FIFO: shown live, or a pipe that fills up. The guest writes the others to their
    # capture files itself, so that no thread of this process (a test suite's, busy elsewhere)
    # paces a guest's writes.
    relayed: set = field(default_factory=set)
    # The boot's secret: only /init knows it, and only lines marked with it are control lines.
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def control_mark(self):
        """What marks each of /init's control lines (ramdisk/init): the boot's token, which no
        program of the guest knows. Not the `l4log-control: ` before it: SMP L4Linux's console
        has been seen to lose bytes of a line, and a control line whose token came whole
        counts."""
        return f"{self.token} "

    @property
    def host_log(self):
        return self.run_dir / "host-log"

    def channel_log(self, name):
        """The capture of named channel `name`'s host log."""
        return self.run_dir / f"host-log-{name}"

    def capture(self, name=None):
        """The capture of /dev/l4log's host log (None) or of channel `name`'s."""
        return self.host_log if name is None else self.channel_log(name)

    def host_log_sink(self, name=None):
        """Where the guest writes that host log: its FIFO when relayed, else its capture."""
        capture = self.capture(name)
        return capture.with_name(capture.name + ".fifo") if name in self.relayed else capture

    def open_host_log_sink(self, name=None):
        """A descriptor to write that host log (uml): a FIFO's opens once its reader has."""
        if name in self.relayed:
            return os.open(self.host_log_sink(name), os.O_WRONLY)
        return os.open(self.host_log_sink(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    @property
    def console(self):
        # l4linux: the console is the L4Re log, the host log itself.
        return self.host_log if self.target == "l4linux" else self.run_dir / "console"


def l4_boot_set():
    """The boot set of the l4linux target (scripts/l4, run by the host side in the second build
    root): the directory named by L4LOG_L4_BOOT."""
    path = os.environ.get("L4LOG_L4_BOOT")
    if not path:
        raise SystemExit("l4log: TARGET=l4linux needs L4_SRC=DIR, an L4Re snapshot to build "
                         "Fiasco, L4Re and L4Linux from (README-l4linux.md)")
    return Path(path)


def l4_smp_boot_set():
    """The boot set of the multiprocessor Fiasco and SMP L4Linux (2 CPUs, l4x_cpus=2): named in
    the l4linux boot set (scripts/l4)."""
    return Path((l4_boot_set() / "smp").read_text().strip())


def l4_intree_boot_set():
    """The boot set of L4Linux with l4log built in (CONFIG_L4LOG=y, its parameters on the kernel
    command line): named in the l4linux boot set (scripts/l4)."""
    return Path((l4_boot_set() / "intree").read_text().strip())


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def run_dir_in_use(path):
    """Whether the process that made run directory `path` (its name holds the pid) still runs."""
    parts = path.name.split("-")
    return len(parts) == 4 and parts[2].isdigit() and process_alive(int(parts[2]))


def new_run_dir():
    """A new directory for one boot's files, CACHE/runs/DATE-TIME-PID-N. Of the older ones the
    RUNS_KEPT - 1 newest stay, and every one whose process still runs: a test run boots several
    guests at once, and its later cases read the files of its earlier boots."""
    runs = CACHE / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    with RUN_DIR_LOCK:
        old = sorted(p for p in runs.iterdir() if p.is_dir())
        for stale in old[:max(0, len(old) - RUNS_KEPT + 1)]:
            if not run_dir_in_use(stale):
                shutil.rmtree(stale, ignore_errors=True)
        path = runs / time.strftime(f"%Y%m%d-%H%M%S-{os.getpid()}-{next(RUN_DIR_NUMBERS):05d}")
        path.mkdir()
    return path


def allow_concurrent_boots(count):
    """Lets up to `count` guests of this process run at once (threads of the test suite); one
    by default."""
    global BOOT_SLOTS
    BOOT_SLOTS = threading.BoundedSemaphore(count)


def boot_slot():
    """Held while a guest runs: at most allow_concurrent_boots()'s count at once."""
    return BOOT_SLOTS


def write_stdout(text):
    """Writes `text` to standard output whole, also when it is non-blocking: UML makes its
    console descriptors non-blocking, and with `make run TARGET=uml` that is our stdout too.
    On a terminal each line ends with CR LF: the guest's console (QEMU's stdio, UML's con0)
    puts the terminal in raw mode, where a bare LF does not return the carriage."""
    sys.stdout.flush()
    fd = sys.stdout.fileno()
    if os.isatty(fd):
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode()
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])


class HostLogReader(threading.Thread):
    """Copies the host log from a FIFO to a file, and shows it when asked. `hold`: (console,
    marker): reads nothing until the guest's console says `marker`, so that the FIFO fills."""

    def __init__(self, fifo, capture, display, channel=None, hold=None):
        super().__init__(daemon=True)
        self.fifo, self.capture, self.display, self.hold = fifo, capture, display, hold
        self.prefix = f"host-log[{channel}]| " if channel else "host-log| "
        self.pending = b""
        self.released = threading.Event()

    def held(self):
        """Whether the guest has not said its marker yet (and is still running)."""
        if self.hold is None or self.released.is_set():
            return False
        console, marker = self.hold
        return not (console.exists() and marker in console.read_bytes())

    def run(self):
        with open(self.fifo, "rb", buffering=0) as src, open(self.capture, "wb") as dst:
            while self.held():
                time.sleep(0.1)
            while data := src.read(65536):
                dst.write(data)
                if self.display:
                    self.show(data)
        if self.display and self.pending:
            self.show_line(self.pending)

    def show(self, data):
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        for line in lines:
            self.show_line(line)

    def show_line(self, line):
        show_line(line, self.prefix)

    def finish(self):
        """Waits for the copy to end; unblocks it if QEMU never opened the FIFO."""
        self.released.set()
        try:
            os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # ENXIO: the reader already finished
        self.join()


# What a guest prints on its console to let a held host log (the non-blocking one) drain.
HOST_LOG_DRAIN = b"l4log-host-log-drain"


def host_log_readers(boot, live, nonblocking_host_log):
    """qemu, uml: the HostLogReaders of the host logs that go through a FIFO (Boot.relayed): all
    of them when shown `live`; /dev/l4log's when UML gets a non-blocking descriptor, a pipe that
    fills up: then not read until the console says HOST_LOG_DRAIN (at the guest's end at the
    latest). The FIFOs are made here; each reader still has to start."""
    if live:
        boot.relayed = {None, *boot.channel_ports}
    elif nonblocking_host_log:
        boot.relayed = {None}
    readers = []
    for name in sorted(boot.relayed, key=str):
        os.mkfifo(boot.host_log_sink(name))
        hold = (boot.run_dir / "console", HOST_LOG_DRAIN) if nonblocking_host_log and not live else None
        readers.append(HostLogReader(boot.host_log_sink(name), boot.capture(name), live, name, hold))
    return readers


def show_line(line, prefix="host-log| "):
    # Control bytes are escaped: the guest does not get to drive the host's terminal.
    text = "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}"
                   for c in line.decode("utf-8", "backslashreplace"))
    write_stdout(f"{prefix}{text}\n")


def qemu_args(boot, image, initramfs, interactive, display):
    """QEMU: console on COM1, control on COM2, the host log on the debug port."""
    run_dir = boot.run_dir
    console_log = run_dir / "console"
    if interactive:
        console = ["-chardev", f"stdio,id=console,mux=on,signal=off,logfile={console_log}",
                   "-serial", "chardev:console", "-mon", "chardev=console,mode=readline"]
    elif display:
        console = ["-chardev", f"stdio,id=console,signal=off,logfile={console_log}",
                   "-serial", "chardev:console"]
    else:
        console = ["-chardev", f"file,id=console,path={console_log}", "-serial", "chardev:console"]
    return [
        QEMU, *qemu_accel_args(boot), "-smp", str(boot.cpus), "-m", str(MEMORY_MB), "-nodefaults", "-no-reboot", "-display", "none",
        "-kernel", str(image), "-initrd", str(initramfs),
        "-append", " ".join(["console=ttyS0 panic=-1 loglevel=6", *boot.kernel_args.split()]),
        *console,
        "-chardev", f"file,id=control,path={run_dir / 'control'}", "-serial", "chardev:control",
        "-chardev", f"file,id=hostlog,path={boot.host_log_sink()}",
        "-device", "isa-debugcon,iobase=0xe9,chardev=hostlog",
        *[arg for name, port in boot.channel_ports.items() for arg in (
            "-chardev", f"file,id=channel-{name},path={boot.host_log_sink(name)}",
            "-device", f"isa-debugcon,iobase={port:#x},chardev=channel-{name}")],
    ], {}


def uml_args(boot, image, initramfs, interactive, display):
    """UML: console on con0, control on ssl1 (/dev/ttyS1), the host log on a host descriptor.

    Returns the command line and the descriptors UML inherits, by role.
    """
    run_dir = boot.run_dir
    fds = {"control": os.open(run_dir / "control", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)}
    if not (interactive or display):
        fds["console"] = os.open(run_dir / "console", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    # A FIFO's open blocks until the reader opened the other end; the reader is already waiting.
    fds["hostlog"] = boot.open_host_log_sink()
    if boot.nonblocking_host_log:
        os.set_blocking(fds["hostlog"], False)
    for name in boot.channel_ports:
        fds[f"channel-{name}"] = boot.open_host_log_sink(name)
    console_out = fds.get("console", 1)
    console_in = "fd:0" if interactive else "null"
    return [
        str(image), f"mem={MEMORY_MB}M", f"initrd={initramfs}",
        f"con0={console_in},fd:{console_out}", "con=null", "ssl=null",
        f"ssl1=null,fd:{fds['control']}",
        "console=tty0", "panic=-1", "loglevel=6", *boot.kernel_args.split(),
    ], fds


def qemu_accel_args(boot):
    # la57=off: with 5-level paging, KASAN kernels under TCG sometimes report a wild access in
    # an interrupt taken during early boot (identify_cpu), before anything of l4log runs.
    if boot.cpu_model:
        return ["-accel", boot.accel or "tcg", "-cpu", boot.cpu_model]
    return ["-accel", "kvm", "-cpu", "host"] if boot.accel == "kvm" else ["-accel", "tcg", "-cpu", "max,la57=off"]


L4_MEMORY_MB = 512


def l4_modules(boot_set, entry):
    """Bootstrap, its arguments and the multiboot modules of `entry` in the boot set's
    modules.list (the format of L4Re's conf/modules.list), as QEMU takes them: the kernel
    (Fiasco) with its options, sigma0, the roottask with its arguments, then each module.
    Every file is named as the entry names it, so that bootstrap calls it rom/NAME."""
    defaults, found, mods = {}, False, []
    for raw in (boot_set / "modules.list").read_text().splitlines():
        words = raw.split("#", 1)[0].split(None, 1)
        if not words:
            continue
        key, rest = words[0], (words[1] if len(words) > 1 else "").strip()
        if key.startswith("default-"):
            defaults[key[len("default-"):]] = rest
        elif key.startswith("entry"):
            if found:
                break
            found = rest == entry
        elif found and key in ("kernel", "bootstrap"):
            defaults[key] = rest
        elif found and key == "roottask":
            mods += [defaults["kernel"], "sigma0", rest]
        elif found and key.split("[")[0] == "module":
            mods.append(rest)
    if not found or not mods:
        raise SystemExit(f"l4log: no entry {entry} with a roottask in {boot_set / 'modules.list'}")
    bootstrap, _, bootstrap_args = defaults["bootstrap"].partition(" ")
    return bootstrap, bootstrap_args, mods


def l4linux_args(boot, image, initramfs, interactive, display):
    """Fiasco + L4Re + L4Linux under QEMU: the serial console (the L4Re log) to a file, and in
    interactive runs also to the terminal, with the terminal's input."""
    boot_set = image
    bootstrap, bootstrap_args, mods = l4_modules(boot_set, boot.l4_entry)
    initrd = []
    for mod in mods:
        name, _, args = mod.partition(" ")
        path = initramfs if name == initramfs.name else boot_set / name
        initrd.append(f"{path} {args}".strip().replace(",", ",,"))
    if interactive:
        console = ["-chardev", f"stdio,id=console,mux=on,signal=off,logfile={boot.host_log}",
                   "-serial", "chardev:console", "-mon", "chardev=console,mode=readline"]
    else:
        console = ["-chardev", f"file,id=console,path={boot.host_log}", "-serial", "chardev:console"]
    # QEMU's own messages (the runner ends it with SIGTERM, which it reports) go to a file.
    fds = {} if interactive else {"console": os.open(boot.run_dir / "qemu.log", os.O_WRONLY | os.O_CREAT, 0o644)}
    return [
        QEMU, *qemu_accel_args(boot), "-smp", str(boot.cpus), "-m", str(L4_MEMORY_MB), "-M", "q35", "-nodefaults", "-no-reboot",
        "-display", "none", "-kernel", str(boot_set / bootstrap), "-append", bootstrap_args or bootstrap,
        "-initrd", ",".join(initrd), *console,
    ], fds


LAUNCHERS = {"qemu": qemu_args, "uml": uml_args, "l4linux": l4linux_args}


def channel_addresses(boot, fds):
    """The named channels' addresses, as l4log.ko's `channels` parameter gives them."""
    if boot.target == "qemu":
        return {name: f"{port:#x}" for name, port in boot.channel_ports.items()}
    if boot.target == "uml":
        return {name: str(fds[f"channel-{name}"]) for name in boot.channel_ports}
    return {name: "" for name in boot.channel_ports}  # l4linux: the capability of the channel's name


def insmod_args(boot, fds):
    channel = f"host_channel={fds['hostlog']}" if boot.target == "uml" else ""
    named = ",".join((f"{name}={address}" if address else name)
                     + (f":{boot.channel_keys[name]}" if boot.channel_keys.get(name) else "")
                     for name, address in channel_addresses(boot, fds).items())
    channels = f"channels={named}" if boot.channels else ""
    return " ".join(arg for arg in (channel, channels, boot.insmod_extra) if arg)


def kernel_cpus(kernel_dir):
    """CPUs to give the guest: two when the kernel was built for SMP."""
    config = (Path(kernel_dir) / ".config").read_text()
    return 2 if "\nCONFIG_SMP=y\n" in config else 1


def l4_cpus(boot_set):
    """CPUs to give the L4 system of `boot_set`: two when its L4Linux was built for SMP (it
    runs one vCPU on each; the boot set's Fiasco is then the multiprocessor one)."""
    return kernel_cpus((Path(boot_set) / "l4linux-obj").read_text().strip())


# A line of the L4Re log server (moe) on the serial console: its colour, the channel's tag padded
# to 8 columns, `| ` at a line's start or `: ` where it goes on after another channel's line came
# between; the line ends with a colour reset when it is complete. The tag may follow a piece of
# another writer's line on the same console line.
L4_TAGGED = re.compile(rb"\x1b\[[0-9;]*m(?P<tag>[A-Za-z0-9_-]{1,8}) *[|:] (?P<text>.*)$")
L4_COLOUR = re.compile(rb"\x1b\[[0-9;]*m")
L4_LINE_END = b"\x1b[0m"
# The tag of /dev/l4log's own log capability (configs/l4re/l4log.cfg).
L4_DEFAULT_TAG = "l4log"


def l4_channel_text(console, tag):
    """l4linux: the lines of the serial console capture `console` (bytes) that the L4Re log
    server printed with `tag`, without the tag and colours. Bytes of a channel are taken as
    they are, but for the colour sequences the log server puts around them (so a byte-exact
    comparison holds for text without ESC and NUL bytes: the log server drops a NUL)."""
    data = bytearray()
    for line in console.split(b"\n"):
        line = line.rstrip(b"\r")
        found = L4_TAGGED.search(line)
        if not found or found["tag"].decode() != tag:
            continue
        text = found["text"]
        complete = text.endswith(L4_LINE_END)
        data += L4_COLOUR.sub(b"", text) + (b"\n" if complete else b"")
    return bytes(data)


def split_l4_channels(boot):
    """l4linux: each named channel's lines of the serial console into the channel's capture
    (l4_channel_text)."""
    console = boot.host_log.read_bytes() if boot.host_log.exists() else b""
    for name in boot.channel_ports:
        boot.channel_log(name).write_bytes(l4_channel_text(console, name))


def control_lines(boot, text):
    """/init's control lines in `text`, without their mark: only lines marked with the boot's
    token, which no program of the guest knows, count. On the console (l4linux) a control
    line may follow an unfinished line of l4log's."""
    mark = boot.control_mark
    return [line.partition(mark)[2] for line in text.split("\n") if mark in line]


def is_dmesg_end(line):
    """Whether control line `line` is /init's end mark of the kernel log (`l4log-dmesg-end N`)."""
    return line.split()[:1] == ["l4log-dmesg-end"]


def finished_boot(run_dir, target):
    """The Boot record of a run that another process made (`guest.py run`), from its run
    directory: its statuses and kernel log."""
    boot = Boot(Path(run_dir), target, token=(Path(run_dir) / "token").read_text().strip())
    parse_control(boot)
    return boot


def parse_control(boot):
    """The insmod status, the command's status and the kernel log, each taken once: the first
    of each that /init sent."""
    text = (boot.run_dir / "control").read_text(errors="replace").replace("\r", "")
    dmesg, in_dmesg, dmesg_done = [], False, False
    for line in control_lines(boot, text):
        if line.startswith("dmesg: "):
            if in_dmesg:
                dmesg.append(line[len("dmesg: "):])
        elif line == "l4log-dmesg-begin" and not dmesg_done:
            in_dmesg = True
        elif is_dmesg_end(line) and in_dmesg:
            in_dmesg, dmesg_done = False, True
            boot.dmesg_complete = True
            # The number of lines /init sent (none after a shell): fewer arrived whole when a
            # guest's unfinished console line broke a control line's mark.
            count = line.split()[1:]
            if count and count[0].isdigit() and int(count[0]) != len(dmesg):
                boot.dmesg_lost = int(count[0]) - len(dmesg)
        elif line.startswith("l4log-insmod: ") and boot.insmod_status is None:
            boot.insmod_status = int(line.split()[1])
        elif line.startswith("l4log-status: ") and boot.status is None:
            boot.status = int(line.split()[1])
    boot.dmesg = "\n".join(dmesg)


class L4ConsoleWatcher(threading.Thread):
    """l4linux: follows the serial console's capture (the host log) while QEMU writes it.

    Takes the marked control lines out into the run's control file, shows the other lines
    when asked, and says when the guest is done: its kernel log was sent, its kernel
    panic was printed to its end (L4Linux's poweroff and panic leave QEMU running), or
    L4Linux ended before /init ran (no guest program can print that line yet)."""

    PANIC_END = "---[ end Kernel panic"
    INIT = "Run /init as init process"
    TERMINATED = "Terminating L4Linux."

    def __init__(self, boot, display):
        super().__init__(daemon=True)
        self.boot, self.display = boot, display
        self.started = time.monotonic()
        self.done = threading.Event()
        self.stop = threading.Event()
        self.control = []

    def run(self):
        pending, offset = b"", 0
        while True:
            stopping = self.stop.is_set()
            try:
                with open(self.boot.host_log, "rb") as capture:
                    capture.seek(offset)
                    data = capture.read()
            except FileNotFoundError:
                data = b""
            offset += len(data)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                self.take(line.decode("utf-8", "backslashreplace").rstrip("\r"))
            if stopping:
                if pending:
                    self.take(pending.decode("utf-8", "backslashreplace").rstrip("\r"))
                break
            self.stop.wait(0.05)
        (self.boot.run_dir / "control").write_text("".join(f"{line}\n" for line in self.control))

    def take(self, line):
        before, mark, payload = line.partition(self.boot.control_mark)
        if mark:
            self.control.append(line)
            if is_dmesg_end(payload):
                self.done.set()
            line = before
            if not line:
                return
        if self.PANIC_END in line:
            self.done.set()
        if self.TERMINATED in line and self.boot.init_seconds is None:
            self.done.set()
        if self.INIT in line and self.boot.init_seconds is None:
            self.boot.init_seconds = time.monotonic() - self.started
        if self.display:
            self.show(line.encode())

    def show(self, line):
        """A console line as the other targets show theirs: a named channel's line, which the
        log server printed with its tag and colours, as `host-log[NAME]| text`."""
        tagged = L4_TAGGED.search(line)
        tag = tagged and tagged["tag"].decode()
        if tag in self.boot.channel_ports or tag == L4_DEFAULT_TAG:
            if tagged.start():
                show_line(line[:tagged.start()])
            prefix = "host-log| " if tag == L4_DEFAULT_TAG else f"host-log[{tag}]| "
            show_line(L4_COLOUR.sub(b"", tagged["text"]), prefix)
        else:
            show_line(line)

    def finish(self):
        self.stop.set()
        self.join()


def boot_guest(target, kernel_dir, module, mode, cmd=None, extra=None, display=False,
               interactive=False, timeout=DEFAULT_TIMEOUT, accel=None, quiet=False,
               nonblocking_host_log=False, insmod_extra="", host_fds=(), kernel_args="", channels=True,
               channel_ports=None, channel_keys=None, cpu_model="", l4_entry="l4log"):
    """Boots the guest of `target` once and returns the Boot record (`kernel_dir`: for
    l4linux the boot set of scripts/l4). `host_fds`: uml: more descriptors of the caller's
    that UML inherits under the same numbers (host channels for l4log.ko to be loaded with);
    the caller keeps and closes them. `kernel_args`: qemu, uml: more arguments for the guest
    kernel's command line. `channels`: load l4log.ko with the named channels. `channel_ports`:
    other named channels than CHANNELS (name -> the qemu target's debug console port; on
    l4linux only the names count: log capabilities that `l4_entry`'s configuration gives);
    `channel_keys`: keys added to a channel's specification (name -> "stamp=task").
    `cpu_model`: qemu, l4linux: QEMU's -cpu (e.g. a CPU without XSAVE), else the default.
    `l4_entry`: l4linux: the entry of the boot set's modules.list to boot."""
    if host_fds and target != "uml":
        raise ValueError("host descriptors are for the uml target")
    if kernel_args and target == "l4linux":
        raise ValueError("kernel arguments are for the qemu and uml targets")
    kernel_dir = Path(kernel_dir)
    l4 = target == "l4linux"
    boot = Boot(new_run_dir(), target, nonblocking_host_log, insmod_extra=insmod_extra,
                kernel_args=kernel_args, cpus=l4_cpus(kernel_dir) if l4 else kernel_cpus(kernel_dir), channels=channels,
                channel_ports=dict(CHANNELS if channel_ports is None else channel_ports),
                channel_keys=dict(channel_keys or {}), cpu_model=cpu_model, l4_entry=l4_entry)
    # On the host only, for those who read the run later (the control file).
    (boot.run_dir / "token").write_text(boot.token + "\n")
    if l4:
        image, gen_init_cpio = kernel_dir, kernel_dir / "gen_init_cpio"
        initramfs, control = boot.run_dir / "l4log-initramfs.cpio", "console"
    else:
        image = kernel_dir / (kernel_dir / ".l4log-image").read_text().strip()
        gen_init_cpio = kernel_dir / "usr" / "gen_init_cpio"
        initramfs, control = boot.run_dir / "initramfs.cpio", "/dev/ttyS1"
    if target in ("qemu", "l4linux"):
        boot.accel = accel or choose_accel(target, kernel_dir, module)
    watcher = L4ConsoleWatcher(boot, display and not interactive) if l4 else None
    readers = [watcher] if l4 else host_log_readers(boot, display or interactive, nonblocking_host_log)
    for each in readers:
        each.start()
    fds = {}
    try:
        boot.cmdline, fds = LAUNCHERS[target](boot, image, initramfs, interactive, display)
        # QEMU's x86 guest has no ACPI power-off (configs/qemu.config): it resets, and -no-reboot
        # makes that QEMU's end.
        stop = "reboot" if target == "qemu" else "poweroff"
        ramdisk.build(initramfs, gen_init_cpio, module, mode, cmd, extra, insmod_args(boot, fds), control,
                      boot.token, stop)
        if not quiet:
            log(f"{target} command line:\n  " + shlex.join(boot.cmdline))
        with boot_slot():
            start = time.monotonic()
            if watcher:
                watcher.started = start
            boot.timed_out = not run_guest(boot.cmdline, fds, interactive, timeout,
                                           watcher.done if watcher else None, host_fds)
            boot.seconds = time.monotonic() - start
    finally:
        for fd in fds.values():
            os.close(fd)
        for each in readers:
            each.finish()
    parse_control(boot)
    if l4:
        split_l4_channels(boot)
    return boot


def run_guest(cmdline, fds, interactive, timeout, done=None, host_fds=()):
    """Runs the guest to its end; False when it had to be killed after `timeout` seconds.
    `done`: an event that says the guest finished though its VM keeps running (l4linux)."""
    stdin = None if interactive else subprocess.DEVNULL
    # UML prints its early host checks to standard error: into the console log with the rest.
    console = fds.get("console")
    deadline = None if interactive else time.monotonic() + timeout
    with subprocess.Popen(cmdline, stdin=stdin, stdout=console, stderr=console,
                          pass_fds=(*fds.values(), *host_fds), start_new_session=not interactive) as guest:
        if not interactive:  # in a session of its own, which end_all_guests can end
            with LIVE_GUESTS_LOCK:
                LIVE_GUESTS.add(guest)
        try:
            return wait_guest(guest, interactive, deadline, done)
        finally:
            # Also when the runner itself is stopped (SIGTERM, Ctrl-C): the guest, in a session of
            # its own, would run on.
            if guest.poll() is None:
                end_guest(guest, interactive)
            with LIVE_GUESTS_LOCK:
                LIVE_GUESTS.discard(guest)


def end_all_guests():
    """Ends the guests other threads of this process run (when the test suite is stopped; its
    threads would not get to run_guest's cleanup)."""
    with LIVE_GUESTS_LOCK:
        for guest in LIVE_GUESTS:
            if guest.poll() is None:
                os.killpg(guest.pid, signal.SIGKILL)


def end_guest(guest, interactive):
    # UML runs as several host processes: end the whole group.
    if interactive:
        guest.kill()
    else:
        os.killpg(guest.pid, signal.SIGKILL)
    guest.wait()


def wait_guest(guest, interactive, deadline, done):
    """Waits for the guest's end, or `done`, or the deadline; False for the deadline."""
    while True:
        try:
            guest.wait(timeout=0.1 if done else (deadline and deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            pass
        if done is not None and done.is_set():
            guest.terminate()  # QEMU ends on SIGTERM and puts the terminal back
            guest.wait()
            return True
        if deadline is not None and time.monotonic() >= deadline:
            end_guest(guest, interactive)
            return False


def choose_accel(target, kernel_dir, module):
    """KVM if a guest is proven to boot with it on this host, else TCG.

    On some hosts /dev/kvm only runs guests of its own kind (kvm_pvm hangs an
    ordinary kernel), so it is tried once per host boot and kernel, with a
    time limit, and the answer is kept.
    """
    if os.environ.get("L4LOG_ACCEL") in ("kvm", "tcg"):
        return os.environ["L4LOG_ACCEL"]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    verdict = CACHE / "accel" / f"{boot_id}-{kernel_dir.name}"
    with ACCEL_LOCK:
        if not verdict.exists():
            probe_kvm(target, kernel_dir, module, verdict)
    return verdict.read_text().strip()


def probe_kvm(target, kernel_dir, module, verdict):
    """Boots the guest once under KVM, with a time limit, and writes the verdict."""
    log("checking whether guests boot under KVM here (once per host boot)")
    probe = boot_guest(target, kernel_dir, module, "command", "true", accel="kvm",
                       timeout=KVM_PROBE_TIMEOUT, quiet=True)
    works = probe.status == 0
    verdict.parent.mkdir(parents=True, exist_ok=True)
    verdict.write_text("kvm\n" if works else "tcg\n")
    log(f"KVM {'works' if works else 'does not boot a guest here; using TCG'}")


def build_all(target, debug=False, smp=False):
    """The kernel build directory and l4log.ko of `target` (debug: the debug kernel's).
    l4linux: the boot set scripts/l4 built (smp: the SMP one), and l4log.ko built against its
    L4Linux."""
    env = {**os.environ, "L4LOG_DEBUG_KERNEL": "1" if debug else ""}
    if target == "l4linux":
        boot_set = l4_smp_boot_set() if smp else l4_boot_set()
        return boot_set, run_script("module", target, env={**env, "L4LOG_L4_BOOT": str(boot_set)})
    kernel_dir = run_script("kernel", target, env=env)
    module = run_script("module", target, env=env)
    return kernel_dir, module


def host_path(path):
    """`path` (inside the build root) as the host sees it."""
    host_cache = os.environ.get("L4LOG_HOST_CACHE")
    rel = Path(path).relative_to(CACHE)
    return Path(host_cache) / rel if host_cache else Path(path)


def cmd_run(args):
    kernel_dir, module = build_all(args.target)
    if args.cmd is not None:
        mode = "command"
    else:
        mode = "shell" if args.interactive else "demo"
    boot = boot_guest(args.target, kernel_dir, module, mode, args.cmd, args.extra, display=True,
                      interactive=args.interactive and args.cmd is None, timeout=args.timeout)
    status = report(boot)
    if boot.channels:
        for name in boot.channel_ports:
            write_stdout(f"host-log[{name}]: {host_path(boot.channel_log(name))}\n")
    write_stdout(f"host-log: {host_path(boot.host_log)}\n")
    return status


def report(boot):
    """Explains a boot that did not end normally; returns the exit status to use."""
    if boot.timed_out:
        log(f"the guest did not power off within the time limit (console: {host_path(boot.console)})")
        return 124
    if boot.insmod_status not in (None, 0):
        log(f"insmod l4log.ko failed with status {boot.insmod_status}; the guest's kernel log:")
        print(boot.dmesg[-2000:], file=sys.stderr)
        return boot.insmod_status
    if boot.status is None:
        log(f"the guest stopped without reporting a status (console: {host_path(boot.console)})")
        return 125
    return boot.status


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build and boot the guest once")
    run.add_argument("--target", default="qemu", choices=sorted(LAUNCHERS))
    run.add_argument("--extra", help="directory copied into the guest at /extra")
    run.add_argument("--cmd", help="shell command run in the guest after insmod")
    run.add_argument("--interactive", action="store_true", help="a shell on the console after the demo")
    run.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT)
    args = parser.parse_args()
    # SIGTERM (timeout(1), a CI runner) ends the run like Ctrl-C, through the cleanups.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(cmd_run(args))


if __name__ == "__main__":
    main()
