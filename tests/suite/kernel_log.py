"""The kernel log of every boot of a target and kernel, checked as a whole: the last case of
each target (`*_kernel_log_clean`) and of each debug kernel (`*_debug_kernel_log_clean`)."""

import collections
import re

from . import adversarial, faults
from .harness import (LOCKDEP_INSIDE, Case, after_insmod, check, check_kernel_log_came_back, checked_kernel_log,
                      kernel_trouble, without_known_reports)


def kernel_log_clean(suite):
    # Normal kernels: the whole log, boot included. Debug kernels and SMP L4Linux: each case
    # checked the log after insmod; reports from before l4log.ko was loaded are not l4log's and
    # are shown here as notes (UML 7.2: lockdep's "bad unlock balance" in is_module_address;
    # SMP L4Linux 5.17, now and then: "BUG: using smp_processor_id() in preemptible code" in
    # SLAB's kmem_cache_alloc during inet_init, inside its local_irq_save(): README-l4linux.md).
    if suite.debug:
        adversarial.boots(suite)
    # The boots of the cases before this one and its own (later cases may be running now).
    boots = [b for b in suite.boots if (b.target, b.debug, b.smp) == (suite.target, suite.debug, suite.smp)
             and b.case_index <= suite.index]
    check(boots, "no guest booted")
    before_insmod = collections.Counter()
    for b in boots:
        check_kernel_log_came_back(b)
        before = after_insmod(b.dmesg)[1]
        trouble = (faults.fault_trouble if getattr(b, "fault_injection", False) else kernel_trouble)(
            checked_kernel_log(suite, b.dmesg))
        check(not trouble, f"{b.run_dir}: kernel log reports trouble:\n" + "\n".join(trouble[:40]))
        for line in kernel_trouble(before):
            before_insmod[re.sub(r"^\[[ 0-9.]+\] ", "", line)] += 1
    for line, count in before_insmod.items():
        print(f"# note: before insmod, in {count} of {len(boots)} boots: {line}")
    if suite.debug:
        # The adversarial boots report whether lockdep stayed on. On UML 7.2 it never is: in
        # setup_arch kmemleak records the initrd's memblock allocation (read_initrd), lockdep
        # reports a "bad unlock balance" of rcu_read_lock in is_module_address there (above)
        # and switches itself off, before l4log.ko is loaded. QEMU's debug kernel must keep it
        # on: lockdep checks l4log there only.
        for b in adversarial.boots(suite):
            check_lockdep(suite, b)


def check_lockdep(suite, b):
    """Whether lockdep was on at the end of adversarial boot `b`, shown; on QEMU, checked."""
    state = re.findall(r"^l4log-debug-locks: (\d+)", b.console.read_text(errors="replace"), re.M)
    check(state, f"the adversarial boot {b.run_dir} did not report lockdep's state")
    on = state[0] == "1"
    note = "" if on or suite.target == "qemu" else (
        f" (off before insmod: no lockdep coverage on {suite.target}; QEMU's debug kernel has it)")
    print(f"# lockdep at the end of the adversarial boot {b.run_dir.name}: {'on' if on else 'off'}{note}")
    if suite.target == "qemu" and not on and any(LOCKDEP_INSIDE in note for note in without_known_reports(b.dmesg)[1]):
        # A known kernel report whose printing set off lockdep (printk under the runqueue lock).
        print(f"# note: lockdep went off in {b.run_dir.name} after a known kernel report (above)")
    elif suite.target == "qemu":
        check(on, f"lockdep was off at the end of the adversarial boot {b.run_dir}")


def cases(target):
    return [Case(f"{target}_kernel_log_clean", kernel_log_clean, target, after_kernel=True)]


def debug_cases(target):
    return [Case(f"{target}_debug_kernel_log_clean", kernel_log_clean, target, debug=True, after_kernel=True)]
