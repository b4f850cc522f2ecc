"""l4log's test cases, by what they test (tests/run.py runs them).

    harness.py        what every case builds on: boots, checks, kernel-log checks, KTAP
    registry.py       every case, in the order they start and are reported
    style.py          rustfmt, clippy
    host.py           checks on the host: Debian mirror, escaper differential, L4 build and compile
    e2e.py            end-to-end cases on each target's normal kernel
    channels.py       named channels and stamps, on each target's normal kernel
    kernel_log.py     each target's and debug kernel's kernel logs as a whole
    kunit.py          the KUnit suites, in l4log.ko on UML's debug kernel
    host_failures.py  UML's host channel breaking, filling and stalling (debug kernel)
    l4linux.py        the L4 system's own boot case
    adversarial.py    the adversarial cases on the debug kernels (and L4Linux)
    faults.py         fault injection and kmemleak on the debug kernels
"""
