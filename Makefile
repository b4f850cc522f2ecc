# l4log: a Rust misc character device whose writes reach the host's log.
#
#   make run                      build everything, boot the guest, run the demo
#                                 (a shell on the console when stdin is a terminal)
#   make run EXTRA=DIR CMD='...'  copy DIR to /extra in the guest, run CMD there;
#                                 the last line is `host-log: PATH`
#   make test                     the whole test suite (KTAP)
#   TARGET=qemu|uml|l4linux       the guest of `make run` (l4linux: with L4_SRC=DIR,
#                                 an L4Re snapshot; `make test L4_SRC=DIR` adds its cases)
#
# Everything builds inside a Debian sid build root under $(L4LOG_CACHE), made
# on first use (needs root). Other targets: buildroot, kernel, module, check,
# clean, cache-clean.

TARGET ?= qemu
L4LOG_CACHE ?= /var/cache/l4log
export L4LOG_CACHE
export L4LOG_TARGET := $(TARGET)
export L4LOG_EXTRA := $(EXTRA)
ifneq ($(origin CMD),undefined)
export L4LOG_CMD := $(value CMD)
export L4LOG_HAS_CMD := 1
endif

IN_ROOT := scripts/buildroot run

.PHONY: run test bench buildroot kernel module check clean cache-clean

run:
	@scripts/run

test: buildroot
	@boot=$$(scripts/l4-host) && $(IN_ROOT) /usr/bin/env L4LOG_L4_BOOT="$$boot" python3 /l4log/tests/run.py

buildroot:
	@scripts/buildroot ensure

kernel: buildroot
	@$(IN_ROOT) /l4log/scripts/kernel $(TARGET)

module: buildroot
	@$(IN_ROOT) /l4log/scripts/module $(TARGET)

# rustfmt and clippy (also part of `make test`).
check: buildroot
	@$(IN_ROOT) python3 /l4log/tests/run.py --only style

# Module build outputs and guest runs; the build root and kernels stay.
clean:
	rm -rf $(L4LOG_CACHE)/work/module $(L4LOG_CACHE)/work/runs $(L4LOG_CACHE)/work/staging

# Everything l4log cached: build root, kernel sources and builds.
cache-clean:
	@scripts/buildroot purge

# Throughput, host calls and memory of l4log against /dev/null and the raw channel
# (BENCH_TARGETS='uml ...': only those of the targets).
bench: buildroot
	@boot=$$(scripts/l4-host) && $(IN_ROOT) /usr/bin/env L4LOG_HOST_CACHE=$(L4LOG_CACHE)/work \
		L4LOG_L4_BOOT="$$boot" L4LOG_BENCH_TARGETS="$(BENCH_TARGETS)" python3 /l4log/bench/run.py
