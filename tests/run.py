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

The cases are in tests/suite/, one module per group (suite/__init__.py lists
them; suite/registry.py puts them in order).

    run.py [--only NAME-PREFIX]      e.g. --only uml_, --only qemu_e2e_echo
"""

import argparse
import sys

from suite import registry
from suite.harness import Suite


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases whose name starts with this")
    sys.exit(Suite(parser.parse_args().only).run(registry.cases()))


if __name__ == "__main__":
    main()
