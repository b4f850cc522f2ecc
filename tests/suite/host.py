"""Checks on the host, without a guest: the build roots' Debian mirror, the escaper's
differential test, scripts/l4's failure paths and the L4Re compile check."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from .harness import REPO, Case, Skip, check


def buildroot_debian_mirror(suite):
    # The build roots' Debian archive comes from apt's sources (scripts/debian-mirror), read
    # through apt-config with APT_CONFIG pointing at sample files; proxies go to mmdebstrap.
    etc = suite.work / "apt-sample/etc/apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "apt.conf.d").mkdir()
    config = suite.work / "apt-sample/apt.conf"
    config.write_text(f'Dir::Etc "{etc}";\n')
    script = str(REPO / "scripts/debian-mirror")

    def mirror(*args, **env):
        return subprocess.run([script, *args], capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], "APT_CONFIG": str(config), **env})

    def want(expected, what, **env):
        r = mirror(**env)
        check(r.returncode == 0 and r.stdout == expected + "\n",
              f"{what}: status {r.returncode}, printed {r.stdout!r} {r.stderr!r}, want {expected!r}")

    r = mirror()
    check(r.returncode == 1 and "set L4LOG_MIRROR" in r.stderr and not r.stdout,
          f"no sources: status {r.returncode}, printed {r.stdout!r}, message {r.stderr!r}")
    (etc / "sources.list").write_text(
        "# security only, source only, another distribution's suite\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb-src http://source.example/debian bookworm main\n"
        "deb http://ubuntu.example/ubuntu jammy main\n"
        "deb [ arch=amd64 signed-by=/usr/share/keyrings/k.gpg ] http://line.example:3142/debian/ bookworm main\n")
    want("http://line.example:3142/debian", "one-line sources.list")
    want("http://override.example/debian", "L4LOG_MIRROR", L4LOG_MIRROR="http://override.example/debian/")
    (etc / "sources.list").unlink()
    (etc / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://node.example/node_20.x\nSuites: nodistro\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: trixie-security\n"
        "Components: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: trixie\nComponents: main\nEnabled: no\n\n"
        "# the archive\nTypes: deb-src deb\nURIs: http://deb822.example/debian\n http://second.example/debian\n"
        "Suites: trixie trixie-updates\nComponents: main contrib\n")
    want("http://deb822.example/debian", "deb822 .sources")
    config.write_text(f'Dir::Etc "{etc}";\nAcquire::http::Proxy "http://proxy.example:3128/";\n'
                      'Acquire::https::Proxy::deb822.example "DIRECT";\n')
    r = mirror("--aptopts")
    check(r.stdout.splitlines() == ['Acquire::http::Proxy "http://proxy.example:3128/"',
                                    'Acquire::https::Proxy::deb822.example "DIRECT"'],
          f"apt's proxy settings as mmdebstrap options: {r.stdout!r}")

    # The root's identity follows the mirror, and nothing else of apt's configuration.
    def root_path(**env):
        r = subprocess.run([str(REPO / "scripts/buildroot"), "path"], capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"], "APT_CONFIG": str(config), **env})
        check(r.returncode == 0, f"buildroot path: {r.stderr}")
        return r.stdout
    from_sources = root_path()
    check(from_sources == root_path(L4LOG_MIRROR="http://deb822.example/debian"),
          "the same mirror from apt's sources and from L4LOG_MIRROR names two roots")
    config.write_text(f'Dir::Etc "{etc}";\n')
    check(from_sources == root_path(), "a proxy setting changed the root's identity")
    check(from_sources != root_path(L4LOG_MIRROR="http://other.example/debian"),
          "another mirror names the same root")


def escape_differential(suite):
    # The escaper against the reference escaper on generated inputs, on the host; then the
    # round trip through scripts/l4log-decode.
    r = subprocess.run([str(REPO / "tests/escape/run")], capture_output=True, text=True)
    for line in (r.stdout + r.stderr).splitlines()[-12:]:
        print(f"# {line}")
    check(r.returncode == 0, f"tests/escape/run exited {r.returncode}")
    inputs = re.search(r"agree on (\d+) inputs", r.stdout)
    check(inputs and int(inputs[1]) >= 1_000_000, "fewer than a million inputs compared")
    check(re.search(r"^round trip: decode\(escape\(x\)\) == x on \d+ inputs", r.stdout, re.M),
          "no round trip through scripts/l4log-decode")


def l4_build_failures(suite):
    # scripts/l4 against a fake snapshot whose Fiasco fails in one step after another (no
    # boot, no real build): each failure stops the script with a message naming the step,
    # and no build is marked complete; when Fiasco works, it is marked complete and the
    # failing L4Re is not.
    fake = suite.work / "l4-fake"
    fiasco = fake / "src/fiasco"
    (fiasco / "src/templates").mkdir(parents=True)
    (fake / "src/l4").mkdir()
    (fake / "src/l4linux").mkdir()
    (fiasco / "Makefile").write_text(
        "build-directory:\n"
        "\t@if [ \"$(FAKE_FAIL)\" = builddir ]; then echo 'fake: no build directory' >&2; exit 2; fi\n"
        "\tmkdir -p $(B) && cp $(CURDIR)/obj.mk $(B)/Makefile\n")
    (fiasco / "obj.mk").write_text(
        "all:\n"
        "\t@if [ \"$(FAKE_FAIL)\" = build ]; then echo 'fake: compile error' >&2; exit 2; fi\n"
        "\ttouch fiasco\n"
        "olddefconfig:\n"
        "\t@if [ \"$(FAKE_FAIL)\" = olddefconfig ]; then echo 'fake: olddefconfig' >&2; exit 2; fi\n"
        # What configs/l4re/fiasco.config turns off, turned on again.
        "\t@if [ \"$(FAKE_FAIL)\" = config ]; then echo CONFIG_JDB_DISASM=y >globalconfig.out; fi\n")
    template = fiasco / "src/templates/globalconfig.out.amd64-1"
    # The L4 compilers, as far as this script asks them anything (their version).
    tools = suite.work / "l4-fake-bin"
    tools.mkdir()
    for tool in ("gcc-11", "g++-11"):
        (tools / tool).write_text("#!/bin/sh\necho 'fake 11.3.0'\n")
        (tools / tool).chmod(0o755)

    # The project's Fiasco patches are for the real tree; the fake one gets none, or one that
    # does not apply.
    no_patches, bad_patches = suite.work / "l4-fake-no-patches", suite.work / "l4-fake-bad-patches"
    no_patches.mkdir()
    bad_patches.mkdir()
    (bad_patches / "0001-fake.patch").write_text(
        "--- a/Makefile\n+++ b/Makefile\n@@ -1,1 +1,1 @@\n-no such line\n+changed\n")

    def run(fail, cache, patches=no_patches):
        env = {**os.environ, "L4_SRC": str(fake), "L4LOG_L4_SNAPSHOT": str(fake / "src"),
               "L4LOG_L4_CACHE": str(suite.work / cache), "FAKE_FAIL": fail,
               "L4LOG_FIASCO_PATCHES": str(patches), "PATH": f"{tools}:{os.environ['PATH']}"}
        r = subprocess.run([str(REPO / "scripts/l4"), "base"], capture_output=True, text=True, env=env)
        complete = sorted(p.parent.name.split("-")[0] for p in (suite.work / cache).glob("*/.l4log-complete"))
        return r, complete

    cases = [("template", "the Fiasco template", False), ("builddir", "Fiasco build directory failed", True),
             ("olddefconfig", "Fiasco olddefconfig failed", True),
             ("config", "Fiasco's configuration lost lines", True), ("build", "Fiasco failed", True)]
    for fail, message, with_template in cases:
        if with_template:
            template.write_text("CONFIG_AMD64=y\n")
        elif template.exists():
            template.unlink()
        r, complete = run(fail, f"l4-cache-{fail}")
        check(r.returncode != 0, f"{fail}: scripts/l4 base exited 0")
        check(message in r.stderr, f"{fail}: no '{message}' in its messages:\n{r.stderr[-1500:]}")
        check(not complete, f"{fail}: marked complete: {complete}")
    r, complete = run("", "l4-cache-patch", bad_patches)
    check(r.returncode != 0 and "0001-fake.patch does not apply" in r.stderr and not complete,
          f"a Fiasco patch that does not apply: status {r.returncode}, complete {complete}:\n{r.stderr[-1500:]}")
    # Fiasco builds; L4Re (an empty tree) fails: only Fiasco is complete.
    r, complete = run("", "l4-cache-l4re")
    check(r.returncode != 0 and "L4Re build directory failed" in r.stderr,
          f"an empty L4Re tree: status {r.returncode}:\n{r.stderr[-1500:]}")
    check(complete == ["fiasco"], f"with L4Re failing, marked complete: {complete}")
    check("left out" not in r.stderr, f"an L4Re patch left out of a tree without its files:\n{r.stderr[-1500:]}")
    # A snapshot that carries what an L4Re patch adds (newer L4Re has pkg/l4re-core/Makefile):
    # the patch is left out, and the build says so (and goes on, to fail as above).
    makefile = fake / "src/l4/pkg/l4re-core/Makefile"
    makefile.parent.mkdir(parents=True)
    patch = next((REPO / "l4re-patches").glob("0001-*.patch"))
    for content, note in (("# the snapshot's own\n", "has the files it adds already (pkg/l4re-core/Makefile)"),
                          (added_text(patch), "has it already")):
        makefile.write_text(content)
        r, complete = run("", f"l4-cache-drift-{len(content)}")
        check(f"{patch.name}: " in r.stderr and note in r.stderr and "L4Re build directory failed" in r.stderr,
              f"L4Re with pkg/l4re-core/Makefile ({content.strip()!r}): no '{note}':\n{r.stderr[-1500:]}")
        print(f"# {[line for line in r.stderr.splitlines() if patch.name in line]}")
    shutil.rmtree(fake / "src/l4/pkg")
    l4linux_build_failures(suite, fake, tools)


def added_text(patch):
    """The text of the one file that `patch` adds."""
    lines = patch.read_text().split("\n@@ ", 1)[1].split("\n")[1:]
    return "".join(line[1:] + "\n" for line in lines if line.startswith("+"))


def l4linux_build_failures(suite, fake, tools):
    # scripts/l4 linux (make run's scope) against complete fake Fiasco and L4Re builds and the
    # fake snapshot's empty L4Linux: a Linux 7.2 source that lacks what from-linux-7.2.txt
    # names, a patch that does not apply, and a failing build step each stop it with a message
    # naming what failed, and leave no L4Linux marked complete.
    builds = suite.work / "l4-fake-builds"
    for name in ("fiasco", "l4re"):
        (builds / name).mkdir(parents=True)
        (builds / name / ".l4log-complete").touch()
    no_linux72, no_patches = suite.work / "l4-fake-linux72", suite.work / "l4-fake-no-l4linux-patches"
    no_linux72.mkdir()
    no_patches.mkdir()
    cases = [("linux72", {"L4LOG_LINUX72": str(no_linux72)}, "from-linux-7.2.txt: "),
             ("patch", {}, "0001-l4-x86_64-allow-Rust.patch does not apply"),
             ("defconfig", {"L4LOG_L4LINUX_PATCHES": str(no_patches)}, "L4Linux defconfig failed")]
    for name, extra, message in cases:
        if name == "defconfig":
            (fake / "src/l4linux/drivers/misc").mkdir(parents=True)  # where the series links l4log
        cache = suite.work / f"l4-cache-linux-{name}"
        env = {**os.environ, "L4_SRC": str(fake), "L4LOG_L4_SNAPSHOT": str(fake / "src"),
               "L4LOG_L4_CACHE": str(cache), "L4LOG_L4_SCOPE": "run", "PATH": f"{tools}:{os.environ['PATH']}",
               **extra}
        r = subprocess.run([str(REPO / "scripts/l4"), "linux", str(builds / "fiasco"), str(builds / "l4re"), "-"],
                           capture_output=True, text=True, env=env)
        complete = sorted(p.parent.name for p in cache.glob("*/.l4log-complete"))
        print(f"# L4Linux {name}: status {r.returncode}, {[line for line in r.stderr.splitlines() if message in line][:1]}")
        check(r.returncode != 0 and message in r.stderr and not complete,
              f"L4Linux {name}: status {r.returncode}, complete {complete}, no '{message}':\n{r.stderr[-1500:]}")


def l4_compile_check(suite):
    # The L4Re transport and C helpers against the L4Re build named by L4RE_OBJ (make test
    # L4RE_OBJ=DIR), else the one scripts/l4 built from L4_SRC; each of its checks reports
    # SKIP when there is no L4Re build.
    env = dict(os.environ)
    if not env.get("L4RE_OBJ") and env.get("L4LOG_L4_BOOT"):
        env["L4RE_OBJ"] = (Path(env["L4LOG_L4_BOOT"]) / "l4re-obj").read_text().strip()
        print(f"# L4RE_OBJ: {env['L4RE_OBJ']}, the L4Re of L4_SRC")
    r = subprocess.run([str(REPO / "tests/l4/compile-check")], capture_output=True, text=True, env=env)
    sub = r.stdout.splitlines()[2:]
    for line in sub:
        print(f"#   {line}")
    check(r.returncode == 0, f"tests/l4/compile-check (status {r.returncode}):\n{r.stderr[-3000:]}")
    results = [line for line in sub if re.match(r"(not )?ok \d", line)]
    check(results and all(line.startswith("ok ") for line in results), "compile-check: not all ok")
    if all("# SKIP" in line for line in results):
        raise Skip("L4RE_OBJ not given: no L4Re build to compile against "
                   "(make test L4RE_OBJ=DIR or L4_SRC=DIR)")

# checkpatch reports in l4linux-patches/ that are upstream's code, not the project's: 0008 copies
# Linux 7.2's WARN assembly (arch/x86/include/asm/bug.h), 0009 its %pA (lib/vsprintf.c), and 7.2's
# own files draw the same reports. Anything else is the project's and must be clean.
CHECKPATCH_UPSTREAM = {"0008": {"AVOID_BUG", "MACRO_ARG_UNUSED", "VOLATILE", "FUNCTION_ARGUMENTS"},
                       "0009": {"VSPRINTF_POINTER_EXTENSION"}}


def l4_patches(suite):
    """l4linux-patches/ as a kernel maintainer would take it: one author identity, the same in
    every From: and Signed-off-by: and none of the placeholders the series once had, numbered
    subjects "[PATCH NN/TOTAL] prefix: summary" of at most 75 characters, and checkpatch.pl of
    Linux 7.2 (the sid root's linux-source-7.2) and of L4Linux 5.17 (L4_SRC's, when given) with
    no report on the project's own code (CHECKPATCH_UPSTREAM)."""
    patches = sorted((REPO / "l4linux-patches").glob("0*.patch"))
    check(patches, "no patches in l4linux-patches/")
    authors, problems = set(), []
    for number, patch in enumerate(patches, 1):
        text = patch.read_text()
        head = text.split("\n---\n", 1)[0]
        author = re.search(r"^From: (.+(?:\n .+)*)$", head, re.M)
        author = " ".join(author[1].split()) if author else ""
        authors.add(author)
        subject = re.search(r"^Subject: (.+(?:\n .+)*)$", head, re.M)
        subject = " ".join(subject[1].split()) if subject else ""
        m = re.fullmatch(r"\[PATCH (\d+)/(\d+)\] ([a-z0-9_/.-]+(?:: [a-z0-9_/.-]+)*): (\S.*[^.])", subject)
        if not m or int(m[1]) != number or int(m[2]) != len(patches) or len(subject.split("] ", 1)[1]) > 75:
            problems.append(f"{patch.name}: subject {subject!r}")
        if not patch.name.startswith(f"{number:04d}-"):
            problems.append(f"{patch.name}: not patch {number}")
        signoffs = re.findall(r"^Signed-off-by: (.+)$", head, re.M)
        if signoffs != [author]:
            problems.append(f"{patch.name}: Signed-off-by {signoffs}, author {author!r}")
    check(len(authors) == 1, f"more than one author identity: {sorted(authors)}")
    author = authors.pop()
    check(re.fullmatch(r"[^<>@]+ <[^<>@\s]+@[^<>@\s]+\.[a-z]+>", author) and "localhost" not in author
          and "l4log developers" not in author, f"not a real identity: {author!r}")
    print(f"# {len(patches)} patches, author and Signed-off-by: {author}")
    checkpatches = [("7.2", Path(subprocess.run([str(REPO / "scripts/linux-source")], capture_output=True,
                                                text=True, check=True).stdout.strip()) / "scripts/checkpatch.pl")]
    if os.environ.get("L4_SRC"):
        checkpatches.append(("5.17", Path(os.environ["L4_SRC"]) / "src/l4linux/scripts/checkpatch.pl"))
    else:
        print("# no L4_SRC: L4Linux 5.17's checkpatch.pl not run")
    for version, script in checkpatches:
        check(script.is_file(), f"no checkpatch.pl of {version} at {script}")
        upstream = 0
        for patch in patches:
            r = subprocess.run(["perl", str(script), "--no-tree", "--terse", "--show-types", str(patch)],
                               capture_output=True, text=True)
            reports = re.findall(r": (?:ERROR|WARNING|CHECK):([A-Z0-9_]+):", r.stdout)
            # With reports, checkpatch.pl (--terse) ends with their count and exits 1; without,
            # it prints nothing and exits 0. Anything else (a Perl error, a missing file) is no
            # clean result.
            total = re.search(r"^total: (\d+) errors, (\d+) warnings(?:, (\d+) checks)?", r.stdout, re.M)
            whole = (r.returncode == 1 and total and sum(int(n or 0) for n in total.groups()) == len(reports)
                     if reports else r.returncode == 0 and not r.stdout.strip())
            check(whole,
                  f"checkpatch.pl of {version} on {patch.name}: exit {r.returncode}, no whole run:\n"
                  f"{(r.stdout + r.stderr)[-800:]}")
            for line in r.stdout.splitlines():
                kind = re.search(r": (?:ERROR|WARNING|CHECK):([A-Z0-9_]+):", line)
                if not kind:
                    continue
                if kind[1] in CHECKPATCH_UPSTREAM.get(patch.name[:4], ()):
                    upstream += 1
                else:
                    problems.append(f"checkpatch {version}: {line}")
        print(f"# checkpatch.pl of {version}: {upstream} reports on upstream code (0008, 0009), "
              f"{sum(p.startswith(f'checkpatch {version}') for p in problems)} on the project's")
    check(not problems, "\n".join(problems[:40]))


def cases():
    return [Case("buildroot_debian_mirror", buildroot_debian_mirror),
            Case("escape_differential", escape_differential), Case("l4_build_failures", l4_build_failures),
            Case("l4_compile_check", l4_compile_check), Case("l4_patches", l4_patches)]
