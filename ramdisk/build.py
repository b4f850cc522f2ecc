#!/usr/bin/env python3
"""Builds the l4log guest's initramfs with the kernel's usr/gen_init_cpio.

The image holds busybox (static), ramdisk/init, l4log.ko (unless l4log is built into the kernel), and for one boot the files under /l4log-run (mode, cmd, insmod arguments,
control channel) and a copy of an extra directory at /extra.
"""

import argparse
import os
import stat
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSYBOX = "/bin/busybox"
DIRS = ["/bin", "/sbin", "/usr", "/usr/bin", "/usr/sbin", "/dev", "/proc",
        "/sys", "/tmp", "/lib", "/lib/modules", "/l4log-run", "/root"]


def spec_lines(module, extra):
    """gen_init_cpio lines for the base system and, if given, /extra."""
    lines = [f"dir {d} 0755 0 0" for d in DIRS]
    lines += [
        # The kernel opens /dev/console before /init can mount devtmpfs.
        "nod /dev/console 0600 0 0 c 5 1",
        f"file /bin/busybox {BUSYBOX} 0755 0 0",
        "slink /bin/sh /bin/busybox 0777 0 0",
        f"file /init {HERE / 'init'} 0755 0 0",
    ]
    # None: l4log is built into the kernel.
    if module:
        lines.append(f"file /lib/modules/l4log.ko {module} 0644 0 0")
    if extra:
        lines += tree_lines(Path(extra), "/extra")
    return lines


def tree_lines(src, dest):
    """gen_init_cpio lines that copy directory `src` to `dest`, modes kept."""
    lines = [f"dir {dest} 0755 0 0"]
    for root, dirs, files in os.walk(src):
        dirs.sort()
        rel = Path(root).relative_to(src)
        for name in dirs + sorted(files):
            path = Path(root) / name
            target = Path(dest) / rel / name
            mode = oct(stat.S_IMODE(path.lstat().st_mode))[2:]
            if path.is_symlink():
                lines.append(f"slink {target} {os.readlink(path)} {mode} 0 0")
            elif path.is_dir():
                lines.append(f"dir {target} {mode} 0 0")
            elif path.is_file():
                lines.append(f"file {target} {path} {mode} 0 0")
            else:
                raise SystemExit(f"ramdisk: {path}: only files, directories and symlinks can go to /extra")
    return lines


RUN_FILES = ("mode", "cmd", "insmod-args", "control", "token", "stop")


def build(out, gen_init_cpio, module, mode, cmd=None, extra=None, insmod_args="", control="/dev/ttyS1",
          token="l4log", stop="poweroff"):
    """Writes the initramfs for one boot to `out` (`control`: the control channel's device, or
    `console` for marked lines on the console; `token`: the boot's secret that marks /init's
    control lines, which /init reads and removes before anything else runs; `stop`: how /init
    stops the machine, `poweroff` or `reboot`)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "mode").write_text(mode + "\n")
        (run / "cmd").write_text((cmd or "") + "\n")
        (run / "insmod-args").write_text(insmod_args + "\n")
        (run / "control").write_text(control + "\n")
        (run / "token").write_text(token + "\n")
        (run / "stop").write_text(stop + "\n")
        lines = spec_lines(module, extra)
        lines += [f"file /l4log-run/{name} {run / name} {'0600' if name == 'token' else '0644'} 0 0"
                  for name in RUN_FILES]
        spec = run / "initramfs.list"
        spec.write_text("\n".join(lines) + "\n")
        with open(out, "wb") as image:
            subprocess.run([gen_init_cpio, str(spec)], stdout=image, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gen-init-cpio", required=True)
    parser.add_argument("--module", required=True)
    parser.add_argument("--control", default="/dev/ttyS1", help="control channel: a device, or `console`")
    parser.add_argument("--mode", choices=["command", "demo", "shell"], default="demo")
    parser.add_argument("--cmd")
    parser.add_argument("--extra")
    parser.add_argument("out")
    args = parser.parse_args()
    build(args.out, args.gen_init_cpio, args.module, args.mode, args.cmd, args.extra, control=args.control)


if __name__ == "__main__":
    main()
