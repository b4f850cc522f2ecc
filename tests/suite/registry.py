"""Every case of the suite, in the order they start and are reported.

A group of cases is a module of this package with functions that return its cases (a list
of harness.Case), for all targets or for one; a new group is one such module and one line
below, where its cases are to run."""

from . import adversarial, channels, e2e, faults, host, host_failures, kernel_log, kunit, l4linux, style
from .harness import DEBUG_TARGETS, TARGETS


def per_target(targets, *groups):
    """The cases of `groups` (functions of a target), target by target."""
    return [case for target in targets for group in groups for case in group(target)]


def on_smp(cases):
    """`cases` of the l4linux target, on the SMP L4Linux (2 vCPUs): named l4linux_smp_*."""
    return [case._replace(name=case.name.replace("l4linux_", "l4linux_smp_", 1), smp=True) for case in cases]


def smp_cases():
    """The end-to-end and adversarial cases, the boot case (signal frames, the fixture module) and
    the arch contracts (two threads flipping one page) on SMP L4Linux, and its kernel log. Not
    e2e_run_interface: `make run` boots the UP system."""
    e2e_cases = [case for case in e2e.cases("l4linux") if not case.name.endswith("_run_interface")]
    own = [case for case in l4linux.cases() if case.name in ("l4linux_boot", "l4linux_arch_contracts")]
    return on_smp([*e2e_cases, *own, *adversarial.l4linux_cases(), *kernel_log.cases("l4linux")])


# The groups of cases on each debug kernel; its kernel-log case last.
DEBUG_GROUPS = (adversarial.debug_cases, faults.cases, kernel_log.debug_cases)


def cases():
    # The cases that build (or check the host) first, one at a time; then every boot, up to
    # three at once, QEMU's debug kernel first: its boots take the longest (the host failure
    # cases run on UML's debug kernel).
    return [
        *style.cases(),
        *host.cases(),
        *per_target(TARGETS, style.clippy_cases),
        *per_target(["qemu"], *DEBUG_GROUPS),
        *host_failures.cases(),
        *kunit.cases(),
        *per_target([t for t in DEBUG_TARGETS if t != "qemu"], *DEBUG_GROUPS),
        *per_target(TARGETS, e2e.cases, channels.cases, kernel_log.cases),
        *e2e.uml_cases(),
        *l4linux.cases(),
        *adversarial.l4linux_cases(),
        *smp_cases(),
    ]
