"""Every case of the suite, in the order they run.

A group of cases is a module of this package with functions that return its cases (a list
of harness.Case), for all targets or for one; a new group is one such module and one line
below, where its cases are to run."""

from . import adversarial, channels, e2e, faults, host, host_failures, kernel_log, kunit, l4linux, style
from .harness import DEBUG_TARGETS, TARGETS


def per_target(targets, *groups):
    """The cases of `groups` (functions of a target), target by target."""
    return [case for target in targets for group in groups for case in group(target)]


def cases():
    # The cases that build (or check the host) first, one at a time; then every boot, up to
    # three at once, those of the debug kernels first: their boots take the longest.
    return [
        *style.cases(),
        *host.cases(),
        *per_target(TARGETS, style.clippy_cases),
        *kunit.cases(),
        *host_failures.cases(),
        *per_target(DEBUG_TARGETS, adversarial.debug_cases, faults.cases, kernel_log.debug_cases),
        *per_target(TARGETS, e2e.cases, channels.cases, kernel_log.cases),
        *e2e.uml_cases(),
        *l4linux.cases(),
        *adversarial.l4linux_cases(),
    ]
