#!/usr/bin/env python3
"""l4log's test suite, run inside the build root by `make test`. KTAP output.

Each end-to-end case boots the guest, loads l4log.ko, runs a command, and
compares the bytes the host log received with the bytes written. The
adversarial cases (`*_debug_adv_*`) do the same on each target's debug kernel
(KASAN, atomic-sleep and list checks, lockdep on QEMU's; configs/debug.config) with the
guest program tests/guest/l4log-adversary.c. Every boot's kernel log is checked
for WARN, BUG, KASAN and lockdep reports, Oops and panics from the moment
l4log.ko is loaded. The last line is `N passed, N failed, N skipped`; the exit status is
non-zero when anything failed.

The cases are in tests/suite/, one module per group (suite/__init__.py lists
them; suite/registry.py puts them in order).

The cases of a target run at the same time, up to 3 guests at once (--jobs); each
case's output and KTAP line come in order all the same.

    run.py [--only NAME-PREFIX]      e.g. --only uml_, --only qemu_e2e_echo
    run.py --jobs 1                  one guest at a time
"""

import argparse
import signal
import sys

from suite import registry
from suite.harness import BOOTS_AT_ONCE, Suite


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only the cases whose name starts with this")
    parser.add_argument("--jobs", type=int, default=BOOTS_AT_ONCE,
                        help=f"guests booted at once (default {BOOTS_AT_ONCE})")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    # SIGTERM (timeout(1), a CI runner) ends the run like Ctrl-C, through the cleanups that end
    # the guests still running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(Suite(args.only, args.jobs).run(registry.cases()))


if __name__ == "__main__":
    main()
