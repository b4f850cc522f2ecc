"""The KUnit suites (l4bridge, l4log_text, ...), run by the kernel's kunit.py on UML
(scripts/kunit)."""

import re
import subprocess

from .harness import REPO, Case, check


def kunit(suite):
    # Every #[test] of the KUnit suites must be reported passed by kunit.py.
    wanted = set()
    for source in ("l4bridge/tests.rs", "chardev/tests.rs"):
        found = set(re.findall(r"#\[test\]\s*fn (\w+)", (REPO / source).read_text()))
        check(found, f"no #[test] found in {source}")
        wanted |= found
    r = subprocess.run([str(REPO / "scripts/kunit")], capture_output=True, text=True)
    out = r.stdout + r.stderr
    passed = set(re.findall(r"\[PASSED\] (\w+)", out))
    for line in out.splitlines():
        if "PASSED" in line or "FAILED" in line or "Testing complete" in line:
            print(f"# {line.strip()}")
    check(r.returncode == 0, f"kunit.py exited {r.returncode}:\n{out[-3000:]}")
    check(wanted <= passed, f"not reported passed: {sorted(wanted - passed)}")


def cases():
    return [Case("uml_kunit", kunit)]
