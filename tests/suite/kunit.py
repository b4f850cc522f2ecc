"""The KUnit suites (l4bridge, l4log_text, ...): l4log.ko built with them (scripts/module,
L4LOG_KUNIT=1) runs them when it loads on the UML debug kernel (KUnit, KASAN, lockdep)."""

import re

from .harness import REPO, Case, check

SOURCES = ("l4bridge/tests.rs", "chardev/tests.rs")


def wanted_tests():
    """Every #[test] of the KUnit suites, and every suite (#[kunit_tests(NAME)])."""
    tests, suites = set(), set()
    for source in SOURCES:
        text = (REPO / source).read_text()
        found = set(re.findall(r"#\[test\]\s*fn (\w+)", text))
        check(found, f"no #[test] found in {source}")
        tests |= found
        suites |= set(re.findall(r"#\[kernel::macros::kunit_tests\((\w+)\)\]", text))
    return tests, suites


def kunit(suite):
    # Every #[test] and every suite must be reported `ok` in the kernel log, and nothing `not ok`.
    tests, suites = wanted_tests()
    b = suite.boot("true", module=suite.kunit_module())
    results = re.findall(r"^(?:\[[^]]*\] )?\s*(ok|not ok) \d+ (\w+)", b.dmesg, re.M)
    passed = {name for verdict, name in results if verdict == "ok"}
    failed = sorted({name for verdict, name in results if verdict == "not ok"})
    for name in sorted(suites):
        count = len([line for line in b.dmesg.splitlines() if re.search(rf"# Subtest: {name}$", line)])
        print(f"# suite {name}: {'ok' if name in passed else 'NOT reported ok'} (reported {count} time(s))")
        check(count == 1, f"suite {name} ran {count} times, not once")
    print(f"# {len(tests & passed)} of {len(tests)} tests reported ok")
    check(not failed, f"reported not ok: {failed}")
    check(tests <= passed, f"not reported ok: {sorted(tests - passed)}")
    check(suites <= passed, f"suites not reported ok: {sorted(suites - passed)}")


def cases():
    return [Case("uml_debug_kunit", kunit, target="uml", debug=True)]
