"""Named channels (`channels=`): each a device /dev/l4log-NAME with its own host stream.

Every boot offers the channels of scripts/guest.py's CHANNELS (app and audit) and loads l4log.ko
with them. The cases run on each target (l4linux with L4_SRC); `uml_channels_host_stall` needs a
host descriptor that fills up, which only UML has.
"""

import errno
import os
import random
import re

from .harness import MODULE, RAW, Case, check, check_bytes, escaped, guest, host_bytes

APP, AUDIT = "app", "audit"
# On L4Linux a named channel is an L4Re log capability: the log server (moe) ends a message at
# a NUL byte, colours each line with escape sequences, and the serial console ends lines with
# CR LF. Its byte-exact data is printable ASCII and tab, in lines the server prints whole.
L4_LINE_MAX = 200
# The rate limit of the flooded channel in `channels_independent` (bytes per second) and the
# bound the other channel's write must keep meanwhile: a few times what the same write took
# alone in the same boot (so that a loaded machine does not fail it and a write that waits
# for the other channel does), and at least a second.
FLOOD_RATE = 2000


def other_channel_bound(alone_ms):
    return max(1000, 4 * alone_ms + 500)


def check_other_channel_in_time(b, console, quick, meanwhile):
    """The write of `quick` to the other channel (`l4log-timed`) kept other_channel_bound() of
    the same write alone before it (`l4log-baseline`), and both reached that channel whole."""
    timed, baseline = re.search(r"l4log-timed: (\d+)", console), re.search(r"l4log-baseline: (\d+)", console)
    check(timed and baseline, "the writes to the other channel printed no time")
    ms, alone = int(timed[1]), int(baseline[1])
    bound = other_channel_bound(alone)
    print(f"# {len(quick)} bytes to {AUDIT} took {ms} ms {meanwhile}, {alone} ms alone (bound {bound} ms)")
    check(ms < bound, f"the write to {AUDIT} took {ms} ms (bound {bound} ms, {alone} ms alone)")
    check_bytes(channel_bytes(b, AUDIT), quick + quick, f"{AUDIT}'s capture")
LINES_PER_WRITER = 300
TAGGED = re.compile(rb"\x1b\[[0-9;]*m[A-Za-z0-9_-]{1,8} *[|:] ")


def channel_bytes(b, name):
    return b.channel_log(name).read_bytes()


def default_bytes(b):
    """/dev/l4log's bytes; on L4Linux without the named channels' lines, which the log server
    prints on the same serial console. What comes before a tag on a console line is
    /dev/l4log's: the end of a line without a newline (a tail flushed at close), which the
    channel's line then followed on the same console line."""
    data = host_bytes(b)
    if b.target != "l4linux":
        return data
    out = []
    for line in data.splitlines(keepends=True):
        tagged = TAGGED.search(line)
        out.append(line[:tagged.start()] if tagged else line)
    return b"".join(out)


def channel_data(target, seed, size):
    """Test data for a channel: every byte value, or on L4Linux what its log server passes."""
    rng = random.Random(seed)
    if target != "l4linux":
        data = rng.randbytes(size)
        check(len(set(data)) == 256, "test data does not hold every byte value")
        return data
    alphabet = bytes(range(0x20, 0x7F)) + b"\t"
    lines, length = [], 0
    while length < size:
        line = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, L4_LINE_MAX))) + b"\n"
        lines.append(line)
        length += len(line)
    return b"".join(lines)


def writer_lines(writer, count):
    """The lines `l4log-test lines DEVICE WRITER COUNT` writes."""
    pattern = b"abcdefghijklmnopqrstuvwxyz"
    out = []
    for n in range(count):
        line = f"{writer} {n} ".encode()
        pad = 20 + (n * 37) % 180 - len(line)
        line += bytes(pattern[(n + i) % 26] for i in range(max(pad, 0)))
        out.append(line + b"\n")
    return out


def reload_with(app_settings):
    """Shell: loads l4log.ko again with `app_settings` (":KEY=VALUE...") added to channel app."""
    return (f"rmmod l4log && insmod {MODULE} "
            f"$(sed 's/channels=app\\([^,: ]*\\)/channels=app\\1{app_settings}/' /l4log-run/insmod-args)")


def channels_byte_exact(suite):
    """Each channel's capture holds exactly its own writes, with escaping on and off."""
    size = 64 << 10 if suite.target == "l4linux" else 256 << 10
    data = {name: channel_data(suite.target, seed, size) for name, seed in ((APP, 0xa99), (AUDIT, 0xa0d17))}
    default = b"default channel\n"
    controls = b"esc\x01\x1b[31m\\x\n"
    b = suite.boot(f"printf 'esc\\001\\033[31m\\\\x\\n' >/dev/l4log-{APP} && " + RAW +
                   f"./l4log-test write {APP}.data /dev/l4log-{APP} && "
                   f"./l4log-test write {AUDIT}.data /dev/l4log-{AUDIT} && "
                   f"echo 'default channel' >/dev/l4log",
                   {f"{name}.data": d for name, d in data.items()})
    check_bytes(channel_bytes(b, APP), escaped(controls) + data[APP], f"{APP}'s capture")
    check_bytes(channel_bytes(b, AUDIT), data[AUDIT], f"{AUDIT}'s capture")
    check_bytes(default_bytes(b), default, "/dev/l4log's capture")


def channels_concurrent_writers(suite):
    """Two writers on each named channel and one on /dev/l4log at once: every line reaches its
    channel's capture whole, in its writer's order, and no other capture."""
    writers = {APP: ["a1", "a2"], AUDIT: ["b1", "b2"], None: ["d1"]}
    starts = [f"./l4log-test lines {'/dev/l4log-' + name if name else '/dev/l4log'} {w} {LINES_PER_WRITER} & "
              f"pids=\"$pids $!\"; " for name, ws in writers.items() for w in ws]
    b = suite.boot("pids=; " + "".join(starts) + "for p in $pids; do wait $p || exit 1; done")
    for name, ws in writers.items():
        capture = channel_bytes(b, name) if name else default_bytes(b)
        lines = capture.splitlines(keepends=True)
        what = f"/dev/l4log-{name}" if name else "/dev/l4log"
        for w in ws:
            own = [line for line in lines if line.startswith(f"{w} ".encode())]
            want = writer_lines(w, LINES_PER_WRITER)
            differ = next((i for i, (x, y) in enumerate(zip(own, want)) if x != y), min(len(own), len(want)))
            check(own == want, f"{what}: writer {w}: {len(own)} lines, want {len(want)}; "
                               f"they differ from line {differ} on")
        others = [line for line in lines if not any(line.startswith(f"{w} ".encode()) for w in ws)]
        check(not others, f"{what}: {len(others)} lines of other writers or channels, e.g. {others[:2]}")


def channels_independent(suite):
    """A writer that waits for one channel's rate limit holds nothing the other channels need:
    another channel's write completes meanwhile within other_channel_bound() of what it takes
    alone."""
    flood = channel_data(suite.target, 0xf100d, 200 << 10)
    quick = channel_data(suite.target, 0x9c1c, (16 if suite.target == "l4linux" else 256) << 10)
    b = suite.boot(reload_with(f":rate_limit={FLOOD_RATE}") + " && " + RAW +
                   # The same write alone first, in the same boot: what this machine takes for it.
                   f"./l4log-test timed quick /dev/l4log-{AUDIT} | sed 's/timed/baseline/' || exit 1; "
                   f"{{ ./l4log-test write flood /dev/l4log-{APP} & }}; flooder=$!; "
                   # The flooder waits for its limit before the other write is timed, and still
                   # runs after it.
                   f"exec 5</dev/l4log-{APP}; n=0; until [ \"$(awk '/^l4log-throttled-ns/ {{print $2}}' "
                   "/proc/self/fdinfo/5)\" -gt 0 ]; do n=$((n + 1)); [ $n -lt 300 ] || exit 1; sleep 0.1; done; "
                   "exec 5<&-; "
                   f"./l4log-test timed quick /dev/l4log-{AUDIT} || exit 1; "
                   "kill -0 $flooder || { echo 'the flooder ended before the other write did'; exit 1; }; "
                   "kill -9 $flooder; wait $flooder; "
                   f"exec 3</dev/l4log-{APP} 4</dev/l4log-{AUDIT}; "
                   "sed 's/^/app-/' /proc/self/fdinfo/3; sed 's/^/audit-/' /proc/self/fdinfo/4; exec 3<&- 4<&-; "
                   f"grep -q 'rate_limit={FLOOD_RATE}' /sys/module/l4log/parameters/channels",
                   {"flood": flood, "quick": quick})
    console = b.console.read_text(errors="replace")
    check_other_channel_in_time(b, console, quick, f"while {APP}'s writer waited for its limit")
    app = channel_bytes(b, APP)
    check(flood.startswith(app), f"{APP}'s capture is not a prefix of what its writer wrote")
    check(len(app) < len(flood) // 2, f"{APP}'s writer was not held by its rate limit: {len(app)} bytes went")
    counters = {f"{channel}-{key}": int(value) for channel, key, value in
                re.findall(r"^(app|audit)-(l4log-[a-z-]+):\s+(\d+)", console, re.M)}
    check(counters.get("app-l4log-throttled-ns", 0) > 0, f"{APP} shows no wait for its limit: {counters}")
    check(counters.get("audit-l4log-throttled-ns") == 0, f"{AUDIT} waited for a limit: {counters}")


def channels_counters(suite):
    """fdinfo counts each channel's own writes."""
    b = suite.boot(f"printf 'one\\ntwo\\n' >/dev/l4log-{APP} && printf 'x\\n' >/dev/l4log-{AUDIT} && "
                   f"exec 3</dev/l4log 4</dev/l4log-{APP} 5</dev/l4log-{AUDIT} && "
                   "for fd in 3 4 5; do sed \"s/^/$fd-/\" /proc/self/fdinfo/$fd; done")
    found = dict(((int(fd), key), int(value)) for fd, key, value in
                 re.findall(r"^([345])-(l4log-[a-z-]+):\s+(\d+)", b.console.read_text(errors="replace"), re.M))
    for fd, (nbytes, writes, lines) in {3: (0, 0, 0), 4: (8, 1, 2), 5: (2, 1, 1)}.items():
        got = (found.get((fd, "l4log-bytes")), found.get((fd, "l4log-writes")), found.get((fd, "l4log-lines")),
               found.get((fd, "l4log-host-bytes")))
        check(got == (nbytes, writes, lines, nbytes), f"fd {fd}: bytes, writes, lines, host bytes {got}, "
                                                      f"want {(nbytes, writes, lines, nbytes)}")


# Loads that must fail, on every target: (channels parameter, message in the kernel log, the
# errno finit_module returns).
BAD_EVERYWHERE = [
    ("a/b=1", "channels: 'a/b' is no channel name", "EINVAL"),
    ("=1", "channels: '' is no channel name", "EINVAL"),
    ("seventeen-chars-x=1", "channels: 'seventeen-chars-x' is no channel name", "EINVAL"),
    ("app=1,app=2", "channels: the name app is given twice", "EINVAL"),
    ("app=1:colour=green", "channels: app: unknown key 'colour'", "EINVAL"),
    ("app=1:stamp=pid", "channels: app: stamp=pid: not none, task, time or task+time", "EINVAL"),
    ("app=1,", "channels: '' is no channel name", "EINVAL"),
]
# ... and per target: a channel whose host side is missing or taken.
# uml: the descriptor of /dev/l4log's host log in this boot (its insmod-args' host_channel),
# and that host_channel for a load of its own.
UML_HOST_LOG_FD = "$(sed 's/.*host_channel=\\([0-9]*\\).*/\\1/' /l4log-run/insmod-args)"
UML_OWN_FD = f"host_channel={UML_HOST_LOG_FD}"
BAD_BY_TARGET = {
    # Two devices on one host stream, however it is named, /dev/l4log's included.
    "qemu": [("app=1,audit=0x1", "/dev/l4log-app (I/O port 0x1) and /dev/l4log-audit (I/O port 0x1) write to "
              "the same host stream", "EINVAL"),
             ("app=0xe9", "/dev/l4log (I/O port 0xe9) and /dev/l4log-app (I/O port 0xe9) write to the same host "
              "stream", "EINVAL"),
             ("app=233", "/dev/l4log (I/O port 0xe9) and /dev/l4log-app (I/O port 0xe9) write to the same host "
              "stream", "EINVAL"),
             ("app=0x60", "I/O port 0x60 cannot be claimed", "EBUSY"),
             ("app=0xec", "no host debug console at I/O port 0xec", "ENODEV"),
             ("app", "app is not an I/O port", "EINVAL"),
             ("app=0xea:mode=1777", "/dev/l4log-app: mode=01777 has bits other than permissions", "EINVAL")],
    "uml": [(f"app=1,audit=0x1 {UML_OWN_FD}", "/dev/l4log-app (host file descriptor 1, device ", "EINVAL"),
            # The UML process's standard output and error are one host file (the runner's
            # console): a second name of the default channel's stream.
            ("app=1", re.compile(r"/dev/l4log \(host file descriptor 2, device (0x[0-9a-f]+) inode (\d+)\) and "
                                 r"/dev/l4log-app \(host file descriptor 1, device \1 inode \2\) write to the "
                                 r"same host stream: one stream, one device"), "EINVAL"),
            ("app=2", "/dev/l4log (host file descriptor 2, device ", "EINVAL"),
            # A descriptor no process has open (the runner passes UML some of its own, which
            # go above 99 when many cases run at once).
            (f"app=1000000 {UML_OWN_FD}", "host file descriptor 1000000 cannot be written (host error 9: not open",
             "ENODEV"),
            # /dev/l4log's own descriptor: the boot loads l4log.ko with host_channel=FD.
            (f"app={UML_HOST_LOG_FD} {UML_OWN_FD}", "/dev/l4log (host file descriptor ", "EINVAL"),
            ("app", "app is not a host file descriptor", "EINVAL"),
            ("app=2:mode=1777", "/dev/l4log-app: mode=01777 has bits other than permissions", "EINVAL")],
    "l4linux": [("app=audit,audit", re.compile(r"/dev/l4log-app \(L4Re capability (0x[0-9a-f]+)\) and "
                                               r"/dev/l4log-audit \(L4Re capability \1\) write to the same host "
                                               r"stream"), "EINVAL"),
                # Two slots of one log object (configs/l4re/l4log*.cfg: again = app).
                ("app,again", re.compile(r"/dev/l4log-app \(L4Re capability (0x[0-9a-f]+)\) and "
                                         r"/dev/l4log-again \(L4Re capability (?!\1\))0x[0-9a-f]+\) write to the same "
                                         r"host stream"), "EINVAL"),
                ("nosuch", "no capability nosuch in the L4Linux task's environment", "ENOENT"),
                ("app=5", "5: on L4Linux a host channel is an L4Re capability's name", "EINVAL"),
                ("app:mode=1777", "/dev/l4log-app: mode=01777 has bits other than permissions", "EINVAL")],
}
GOOD_ADDRESS = {"qemu": "=0xea", "uml": None, "l4linux": ""}


def uml_same_file_twice():
    """uml: two descriptors of one host file, each opened on its own (not dup'd), and the bad
    load that names both."""
    path = f"/tmp/l4log-same-file-{os.getpid()}"
    fds = tuple(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) for _ in range(2))
    os.unlink(path)
    pattern = (rf"/dev/l4log-app \(host file descriptor {fds[0]}, device (0x[0-9a-f]+) inode (\d+)\) and "
               rf"/dev/l4log-audit \(host file descriptor {fds[1]}, device \1 inode \2\) write to the same host "
               "stream")
    return fds, (f"app={fds[0]},audit={fds[1]} {UML_OWN_FD}", re.compile(pattern), "EINVAL")


def channels_bad_parameters(suite):
    """Each bad `channels` fails the load with its message and leaves no device nor module;
    then a good one with its own mode and group loads, and its node has them."""
    bad = BAD_EVERYWHERE + BAD_BY_TARGET[suite.target]
    host_fds = ()
    if suite.target == "uml":
        host_fds, twice = uml_same_file_twice()
        bad = bad + [twice]
    try:
        b = boot_bad_loads(suite, bad, host_fds)
    finally:
        for fd in host_fds:
            os.close(fd)
    check_bad_loads(b, bad)


def boot_bad_loads(suite, bad, host_fds):
    """Boots a guest that tries each load of `bad`, then the good one."""
    steps = ["rmmod l4log || exit 1"]
    for i, (channels, *_) in enumerate(bad):
        steps.append(f"echo '<6>l4log-bad-{i}' >/dev/kmsg; "
                     f"errno=$(./l4log-test load {MODULE} \"channels={channels}\" | sed -n 's/^l4log-load: //p'); "
                     f"echo \"l4log-bad: {i} $errno $(ls -d /dev/l4log* /sys/module/l4log 2>/dev/null | tr '\\n' ' ')\"")
    # The good load: the boot's own channels, app with mode 0660 and group 100.
    steps.append(f"insmod {MODULE} $(sed 's/channels=app\\([^,: ]*\\)/channels=app\\1:mode=0660:group=100/' "
                 "/l4log-run/insmod-args) || exit 1")
    steps.append('echo "l4log-nodes: $(stat -c \'%n %a %u %g\' /dev/l4log /dev/l4log-app /dev/l4log-audit | '
                 "tr '\\n' ' ')\"")
    steps.append(f"echo 'after the bad ones' >/dev/l4log-{APP}")
    return suite.boot("\n".join(steps), **({"host_fds": host_fds} if host_fds else {}))


def check_bad_loads(b, bad):
    """Each bad load failed with its errno and message and left nothing; the good one loaded."""
    console = b.console.read_text(errors="replace")
    results = dict((int(i), (status, left.strip())) for i, status, left in
                   re.findall(r"^l4log-bad: (\d+) (\d+) ?(.*)$", console, re.M))
    for i, (channels, message, errno_name) in enumerate(bad):
        status, left = results.get(i, (None, None))
        check(status not in (None, "0"), f"insmod channels={channels} did not fail (status {status})")
        check(status == str(getattr(errno, errno_name)),
              f"insmod channels={channels} failed with errno {status}, not {errno_name}")
        check(not left, f"insmod channels={channels} failed but left {left}")
        log = b.dmesg.split(f"l4log-bad-{i}", 1)[-1].split(f"l4log-bad-{i + 1}", 1)[0]
        found = message.search(log) if isinstance(message, re.Pattern) else message in log
        check(found, f"insmod channels={channels}: no message {message!r} in the kernel log:\n{log[:600]}")
    nodes = re.search(r"^l4log-nodes: (.*)$", console, re.M)
    check(nodes and nodes[1].split() == ["/dev/l4log", "600", "0", "0", "/dev/l4log-app", "660", "0", "100",
                                         "/dev/l4log-audit", "600", "0", "0"],
          f"the nodes after the good load: {nodes and nodes[1]}")
    check_bytes(channel_bytes(b, APP), b"after the bad ones\n", f"{APP}'s capture")


def uml_channels_host_stall(suite):
    """UML: a channel whose host descriptor is full and never drained holds its writer, not the
    other channels: a write to another channel completes within other_channel_bound() of what
    it takes alone."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    stuck = channel_data("uml", 0x57a11, 256 << 10)
    quick = channel_data("uml", 0x9c1c, 256 << 10)
    try:
        b = suite.boot(f"rmmod l4log && insmod {MODULE} $(sed 's/channels=/channels=stall={write_end},/' "
                       "/l4log-run/insmod-args) || exit 1; " + RAW +
                       f"./l4log-test timed quick /dev/l4log-{AUDIT} | sed 's/timed/baseline/' || exit 1; "
                       "{ ./l4log-test write stuck /dev/l4log-stall & }; stuck=$!; sleep 1; "
                       f"./l4log-test timed quick /dev/l4log-{AUDIT} || exit 1; "
                       "kill -9 $stuck; wait $stuck; true",
                       {"stuck": stuck, "quick": quick}, host_fds=(write_end,))
    finally:
        os.close(write_end)
    held = b""
    while chunk := os.read(read_end, 1 << 16):
        held += chunk
    os.close(read_end)
    check_other_channel_in_time(b, b.console.read_text(errors="replace"), quick,
                                "while the stalled channel's writer waited")
    check(stuck.startswith(held) and 0 < len(held) < len(stuck),
          f"the stalled channel's host got {len(held)} bytes, not a part of its writer's")


def l4linux_channels_apart_from_console(suite):
    """L4Linux: kernel messages printed on the console while the channels are written (console
    messages on) do not come between a channel's bytes, each of which has a capability of its
    own: a named channel's, and /dev/l4log's own when the boot configuration gives it one (the
    entry l4log, which make run boots). A guest line that reads like another component's
    shows under /dev/l4log's tag."""
    data = {name: channel_data("l4linux", seed, 32 << 10) for name, seed in ((APP, 0xc0501e), ("l4log", 0xde7a))}
    forged = b"moe     | forged-1\nfiasco: forged-2\n"
    b = suite.boot(RAW + "dmesg -n 8; { i=0; while [ $i -lt 100 ]; do echo \"<3>l4log-noise $i\" >/dev/kmsg; "
                   "i=$((i + 1)); done & }; noise=$!; "
                   f"./l4log-test write app.data /dev/l4log-{APP} & app=$!; "
                   "./l4log-test write default.data /dev/l4log && ./l4log-test write forged /dev/l4log && "
                   "wait $app && wait $noise",
                   {"app.data": data[APP], "default.data": data["l4log"], "forged": forged}, l4_entry="l4log")
    console = b.host_log.read_bytes()
    check_bytes(channel_bytes(b, APP), data[APP], f"{APP}'s capture")
    check_bytes(guest.l4_channel_text(console, guest.L4_DEFAULT_TAG), data["l4log"] + forged,
                "/dev/l4log's capture (its tag's lines)")
    noise = console.count(b"l4log-noise ")
    check(noise >= 100, f"only {noise} of the 100 kernel messages reached the console")
    posing = [line for line in console.split(b"\n") if b"forged-" in line and b"l4log   | " not in line]
    check(not posing, f"guest lines on the console without /dev/l4log's tag: {posing}")


# A command name shows no backslash nor bracket (chardev/stamp.rs).
STAMP = re.compile(rb"^\[ *(\d+)\.(\d{6})\] ([\x20-\x5a\x5e-\x7e]{1,15})\[(\d+)\]: ")


def stamped_lines(capture, what):
    """Each host line of a `stamp=task+time` channel: (seconds, command, tgid, text)."""
    lines = []
    for line in capture.split(b"\n")[:-1] if capture.endswith(b"\n") else capture.split(b"\n"):
        found = STAMP.match(line)
        check(found, f"{what}: a line without a stamp: {line[:80]!r}")
        seconds = int(found[1]) + int(found[2]) / 1e6
        lines.append((seconds, found[3].decode(), int(found[4]), line[found.end():]))
    return lines


def channels_stamps(suite):
    """stamp=task+time: every host line starts with the time and the writer that began it: a
    written newline cannot forge a stamp, a line that another process goes on with on a shared
    file is ended and the other's bytes get their own stamp, a close's tail has the stamp of the
    write that began it, a command name cannot hold a newline, a backslash or a bracket; on
    /dev/l4log the stamp parameter does the same (stamp=task)."""
    b = suite.boot(reload_with(":stamp=task+time") + " stamp=task || exit 1; " + RAW +
                   "sh -c 'echo \"l4log-pid: forger $$\"; printf \"x\\nsshd[1]: fake\\n\" >/dev/l4log-app'; "
                   "exec 3>/dev/l4log-app; "
                   "sh -c 'echo \"l4log-pid: began $$\"; printf \"begun by \" >&3'; "
                   "sh -c 'echo \"l4log-pid: ended $$\"; printf \"one, ended by another\\ntail\" >&3'; "
                   "exec 3>&-; "
                   "./l4log-test named \"$(printf 'evil\\nsshd[1]\\\\x')\" /dev/l4log-app 'named line\n'; "
                   "sh -c 'echo \"l4log-pid: default $$\"; echo plain >/dev/l4log'; "
                   "echo \"l4log-uptime: $(cut -d' ' -f1 /proc/uptime)\"")
    console = b.console.read_text(errors="replace")
    pids = dict(re.findall(r"^l4log-pid: (\w+) (\d+)", console, re.M))
    check(set(pids) == {"forger", "began", "ended", "default"}, f"the guest printed pids {pids}")
    lines = stamped_lines(channel_bytes(b, APP), f"{APP}'s capture")
    got = [(comm, tgid, text) for _, comm, tgid, text in lines]
    # A line another process goes on with on the shared file is ended (l4log's one added byte),
    # and the other's bytes begin a line with its own stamp.
    want = [("sh", int(pids["forger"]), b"x"), ("sh", int(pids["forger"]), b"sshd[1]: fake"),
            ("sh", int(pids["began"]), b"begun by "), ("sh", int(pids["ended"]), b"one, ended by another"),
            ("sh", int(pids["ended"]), b"tail")]
    check(got[:5] == want, f"{APP}'s stamped lines {got[:5]}, want {want}")
    check(len(got) == 6 and got[5][0] == "evil?sshd?1??x" and got[5][2] == b"named line",
          f"the line of a task named with a newline and a backslash: {got[5:]}")
    uptime = float(re.search(r"^l4log-uptime: ([\d.]+)", console, re.M)[1])
    times = [seconds for seconds, *_ in lines]
    check(times == sorted(times) and 0 < times[0] and times[-1] <= uptime + 0.01,
          f"stamp times {times} are not in order or not before the uptime {uptime}")
    default = default_bytes(b)
    check(default == f"sh[{pids['default']}]: plain\n".encode(), f"/dev/l4log with stamp=task: {default!r}")


def channels_stamps_interrupted(suite):
    """A stamped line that another file's line interrupts: the host line is ended with a newline,
    the other line comes with its own stamp, and the first goes on in a host line stamped again
    with its own stamp. A piece of a long line and its stamp stay within the line buffer's size."""
    long = b"a" * 5000
    b = suite.boot(reload_with(":stamp=task+time") + " || exit 1; " + RAW +
                   # The shell writes both parts of the long line itself (printf is its own):
                   # another process going on with it would begin a line of its own.
                   "exec 3>/dev/l4log-app 4>/dev/l4log-app; printf '%s' \"$(cat long)\" >&3; "
                   "sh -c 'echo \"l4log-pid: other $$\"; echo other line >&4'; "
                   "echo end >&3; exec 3>&- 4>&-", {"long": long})
    console = b.console.read_text(errors="replace")
    other = int(re.search(r"^l4log-pid: other (\d+)", console, re.M)[1])
    capture = channel_bytes(b, APP)
    lines = stamped_lines(capture, f"{APP}'s capture")
    check(len(lines) == 3, f"{APP}: {len(lines)} host lines, want 3: {[line[3][:20] for line in lines]}")
    first, middle, last = lines
    check(middle[2] == other and middle[3] == b"other line", f"the interrupting line: {middle}")
    check(first[:3] == last[:3] and first[2] != other, f"the long line's two host lines have stamps {first[:3]} and "
                                                        f"{last[:3]}: not the same writer's")
    check(first[3] + last[3] == long + b"end" and first[3], "the long line's bytes are not all there, in order")
    longest = max(len(line) for line in capture.split(b"\n"))
    check(longest <= 4096, f"a host line of {longest} bytes: a piece and its stamp exceed the line buffer")


# The longest host line L4Re's log server (moe) prints whole, with its tag (l4bridge/l4re.rs).
L4_HOST_LINE_MAX = 896


def l4linux_channels_stamps_long_line(suite):
    """L4Linux: a stamped line longer than the log server prints whole (5 KiB) comes in host
    lines that each carry the channel's tag and the line's stamp, none longer than the
    server's limit, and together hold the line; so does, with escaping off, a line of 400
    NULs, each of which ends an IPC (the server drops the NULs)."""
    line = bytes(0x21 + (i * 7) % 94 for i in range(5 << 10))
    b = suite.boot(reload_with(":stamp=task+time") + " || exit 1; " + RAW + "cat long >/dev/l4log-app && "
                   "echo N >/sys/module/l4log/parameters/escape && cat nuls >/dev/l4log-app",
                   {"long": line + b"\n", "nuls": b"a\0" * 400 + b"\n"})
    capture = channel_bytes(b, APP)
    lines = stamped_lines(capture, f"{APP}'s capture")
    writers = {(comm, tgid) for _, comm, tgid, _ in lines}
    check(len(writers) == 2 and {comm for comm, _ in writers} == {"cat"},
          f"the host lines' stamps name {writers}, not two cats")
    check(b"".join(text for *_, text in lines) == line + b"a" * 400,
          "the host lines' texts do not make the two lines (the NULs dropped)")
    longest = max(len(host_line) + 1 for host_line in capture.split(b"\n")[:-1])
    print(f"# {len(line)} bytes in {len(lines)} host lines of at most {longest} bytes")
    check(longest <= L4_HOST_LINE_MAX, f"a host line of {longest} bytes (limit {L4_HOST_LINE_MAX})")


def channels_rmmod(suite):
    """rmmod is refused while only a named channel's file is open, goes through once it is
    closed, and takes every node with it."""
    b = suite.boot(f"exec 3>/dev/l4log-{AUDIT}; "
                   "if rmmod l4log; then echo 'rmmod went through with a file open'; exit 1; fi; "
                   "echo 'still held' >&3; exec 3>&-; rmmod l4log || exit 1; "
                   f"for node in /dev/l4log /dev/l4log-{APP} /dev/l4log-{AUDIT}; do "
                   "[ ! -e $node ] || { echo \"$node is left\"; exit 1; }; done; "
                   f"insmod {MODULE} $(cat /l4log-run/insmod-args)")
    check_bytes(channel_bytes(b, AUDIT), b"still held\n", f"{AUDIT}'s capture")


def channels_stamps_escape_off(suite):
    """A stamped channel with escape=n: the writer's control bytes pass as they are, and every
    host line still begins with the real stamp, before them (what README promises there)."""
    b = suite.boot(reload_with(":stamp=task:escape=n") + " || exit 1; " + RAW +
                   "sh -c 'echo \"l4log-pid: forger $$\"; "
                   "printf \"\\r[    0.000001] sshd[1]: forged\\n\\033[2Kx\\n\" >/dev/l4log-app; "
                   "printf \"a\\000b\\nc\\n\" >/dev/l4log-app'")
    pid = re.search(r"^l4log-pid: forger (\d+)", b.console.read_text(errors="replace"), re.M)
    check(pid, "the guest printed no pid")
    stamp = f"sh[{pid[1]}]: ".encode()
    # On L4Linux the log server drops a NUL (it ends a message at one): only the NUL, not what
    # follows it in the same host call, nor the newline that ends the line.
    nul = b"" if suite.target == "l4linux" else b"\0"
    check_bytes(channel_bytes(b, APP), stamp + b"\r[    0.000001] sshd[1]: forged\n" + stamp + b"\x1b[2Kx\n" +
                stamp + b"a" + nul + b"b\n" + stamp + b"c\n", f"{APP}'s capture")


# Writers that hammer a channel while one of its files closes, and the bound of that close:
# its deadline (l4log's CLOSE_WAIT, 1 s) for the turn, then its own send and the return to user
# space (a few ms; up to 0.5 s for a guest that TCG does not run meanwhile).
HAMMERS = 8
CLOSE_WAIT_MS = 1000
CLOSE_BOUND_MS = CLOSE_WAIT_MS + 500


def channels_close_under_contention(suite):
    """A close waits for no writer longer than its deadline, and goes ahead of the writers
    that keep a channel busy: with HAMMERS writers on the channel, a file's unfinished line
    goes to the host at its close, within CLOSE_BOUND_MS, and nothing is dropped."""
    hammers = "".join(f"./l4log-test lines /dev/l4log-{APP} h{n} 100000 & pids=\"$pids $!\"; "
                      for n in range(HAMMERS))
    b = suite.boot("pids=; " + hammers + "sleep 1; "
                   f"./l4log-test close /dev/l4log-{APP} 'the closing tail'; status=$?; "
                   "kill $pids; wait; exit $status")
    console = b.console.read_text(errors="replace")
    closed = re.search(r"^l4log-close: (\d+) ms, dropped (\d+)$", console, re.M)
    check(closed, "the close printed no time")
    ms, dropped = int(closed[1]), int(closed[2])
    print(f"# the close took {ms} ms beside {HAMMERS} writers, dropped {dropped} bytes")
    # Dropped bytes: the close waited out its deadline, the writers kept the turn from it.
    check(dropped == 0, f"the close dropped {dropped} bytes after {ms} ms: it never got the turn")
    check(ms < CLOSE_BOUND_MS, f"the close took {ms} ms (its deadline {CLOSE_WAIT_MS} ms, bound {CLOSE_BOUND_MS})")
    tails = channel_bytes(b, APP).count(b"the closing tail")
    check(tails == 1, f"the closing tail reached {APP}'s host {tails} times")


# The rate limit of `channels_rate_limit_counts_host_bytes` and its newline writes.
HOST_RATE = 20000
NEWLINES = 1000
# The most bytes one send puts on the host at once: a line buffer's worth (chardev/lines.rs).
SEND_MAX = 4096
# Files that hold an unfinished line each when the burst begins, and end it during the burst.
HELD_FILES = 8
# Files opened, written a byte and closed one after another.
CLOSES = 2000


def channels_rate_limit_counts_host_bytes(suite):
    """The rate limit bounds what the host receives, stamps included: NEWLINES one-byte
    writes on a stamped channel at HOST_RATE bytes per second take at least as long as their
    host bytes beyond the bucket's one second's worth need; one write of NEWLINES newlines,
    after a quiet second, never puts more on the host than the rate allows plus the bucket's
    second's worth and one host call; nor do CLOSES files opened one after another, each
    writing a byte that its close sends with a stamp of tens of bytes (closes pay as sends do)."""
    b = suite.boot(reload_with(f":stamp=task+time:rate_limit={HOST_RATE}") + " || exit 1; sleep 1; "
                   f"./l4log-test newlines /dev/l4log-{APP} {NEWLINES} && sleep 2 && "
                   f"./l4log-test burst /dev/l4log-{APP} {NEWLINES} {HOST_RATE} {HELD_FILES} && sleep 2 && "
                   f"./l4log-test closes /dev/l4log-{APP} {CLOSES} {HOST_RATE} && "
                   f"exec 3>/dev/l4log-{APP} && cat /proc/self/fdinfo/3")
    console = b.console.read_text(errors="replace")
    timed = re.search(r"^l4log-timed: (\d+)$", console, re.M)
    check(timed, "the newline writes printed no time")
    ms = int(timed[1])
    capture = channel_bytes(b, APP)
    lines = stamped_lines(capture, f"{APP}'s capture")
    # The held lines (in pieces on L4Linux, where host lines are short).
    held = [text for *_, text in lines if text and not text.strip(b"h")]
    empty = sum(text == b"" for *_, text in lines)
    closed = sum(text == b"x" for *_, text in lines)
    check(empty == 2 * NEWLINES and closed == CLOSES and len(lines) == empty + len(held) + closed,
          f"{APP}: {len(lines)} stamped lines, {empty} empty (want {2 * NEWLINES}), {closed} of closes "
          f"(want {CLOSES}), {len(held)} of held bytes")
    check(len(b"".join(held)) == HELD_FILES * 3800,
          f"{APP}: {len(b''.join(held))} held bytes, want {HELD_FILES * 3800}")
    # The one-byte writes' host lines come first.
    first = capture.splitlines(keepends=True)[:NEWLINES]
    host = sum(len(line) for line in first)
    # The bucket's second's worth went at once; the last line's bytes may go just before their
    # debt is paid, and a sleeping writer wakes on a timer tick (up to 4 ms late or early).
    longest = max(len(line) for line in first)
    at_least = (host - HOST_RATE - 2 * longest) * 1000 // HOST_RATE - 5
    print(f"# {NEWLINES} newlines made {host} host bytes in {ms} ms (at least {at_least} ms at {HOST_RATE} B/s)")
    check(ms >= at_least, f"{host} host bytes went in {ms} ms: more than {HOST_RATE} bytes per second")
    burst = re.search(r"^l4log-burst: (-?\d+)$", console, re.M)
    check(burst, "the one write of newlines printed no burst")
    allowed = HOST_RATE + SEND_MAX
    print(f"# {HELD_FILES} files ending held lines during one write of {NEWLINES} newlines: at most "
          f"{burst[1]} host bytes beyond {HOST_RATE} B/s (allowed {allowed}: the bucket and one send)")
    check(int(burst[1]) <= allowed,
          f"{burst[1]} host bytes beyond the rate went to the host at once (allowed {allowed})")
    closes = re.search(r"^l4log-closes: (-?\d+)$", console, re.M)
    check(closes, "the closes printed no figure")
    print(f"# {CLOSES} opens writing one byte that their close sends, stamped: at most {closes[1]} host "
          f"bytes beyond {HOST_RATE} B/s (allowed {allowed})")
    check(int(closes[1]) <= allowed,
          f"closes put {closes[1]} host bytes beyond the rate on the host at once (allowed {allowed})")
    dropped = re.findall(r"^l4log-dropped-bytes:\s+(\d+)", console, re.M)
    check(dropped == ["0"], f"l4log-dropped-bytes after the closes: {dropped}, want 0")


PER_TARGET = [
    ("channels_byte_exact", channels_byte_exact),
    ("channels_concurrent_writers", channels_concurrent_writers),
    ("channels_independent", channels_independent),
    ("channels_counters", channels_counters),
    ("channels_bad_parameters", channels_bad_parameters),
    ("channels_stamps", channels_stamps),
    ("channels_close_under_contention", channels_close_under_contention),
    ("channels_rmmod", channels_rmmod),
    ("channels_rate_limit_counts_host_bytes", channels_rate_limit_counts_host_bytes),
]


def cases(target):
    """The channel cases of every target."""
    out = [Case(f"{target}_{name}", fn, target) for name, fn in PER_TARGET]
    # The L4Re log server cuts lines of more than 1 KiB into pieces it does not tag.
    if target != "l4linux":
        out.append(Case(f"{target}_channels_stamps_interrupted", channels_stamps_interrupted, target))
        # The log server there colours and cuts lines itself: no raw control bytes get through.
        out.append(Case(f"{target}_channels_stamps_escape_off", channels_stamps_escape_off, target))
    if target == "uml":
        out.append(Case("uml_channels_host_stall", uml_channels_host_stall, "uml"))
    # Not yet on the QEMU debug kernel (2 CPUs): there a close beside 8 writers took 1045 ms
    # once in two runs (2026-12-07), its deadline's worth, which is still to be explained.
    if target == "l4linux":
        out.append(Case("l4linux_channels_apart_from_console", l4linux_channels_apart_from_console, "l4linux"))
        out.append(Case("l4linux_channels_stamps_long_line", l4linux_channels_stamps_long_line, "l4linux"))
    return out
