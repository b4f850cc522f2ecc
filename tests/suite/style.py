"""Style: rustfmt on every Rust source, clippy on the module as each target builds it."""

import subprocess
from pathlib import Path

from .harness import REPO, Case, check, guest


def rustfmt(suite):
    sources = sorted(str(p) for d in ("chardev", "l4bridge", "tests/l4", "tests/escape", "bench")
                     for p in (REPO / d).rglob("*.rs"))
    r = subprocess.run(["rustfmt", "--check", *sources],  # .rustfmt.toml: the kernel's settings
                       capture_output=True, text=True)
    check(r.returncode == 0, f"rustfmt --check:\n{r.stdout}{r.stderr}")


def clippy(suite):
    if suite.target == "l4linux":
        # Against the L4Linux build, with the L4Re transport (scripts/module: no MO= on 5.17).
        r = subprocess.run([str(REPO / "scripts/module"), "l4linux", "CLIPPY=1"], capture_output=True,
                           text=True)
    else:
        kernel_dir = guest.run_script("kernel", suite.target)
        out = Path(f"/cache/module/clippy-{suite.target}")
        subprocess.run(["rm", "-rf", str(out)], check=True)
        out.mkdir(parents=True)
        arch = (Path(kernel_dir) / ".l4log-arch").read_text().strip()
        r = subprocess.run(["make", "-s", "-C", kernel_dir, f"ARCH={arch}", "M=/l4log", f"MO={out}", "LLVM=1",
                            "CLIPPY=1", "modules"], capture_output=True, text=True)
    report = r.stdout + r.stderr
    check(r.returncode == 0 and "warning" not in report and "error" not in report,
          f"clippy (status {r.returncode}):\n{report}")


def cases():
    return [Case("style_rustfmt", rustfmt)]


def clippy_cases(target):
    return [Case(f"{target}_clippy", clippy, target, alone=True)]
