// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-faults: the fault-injection cases of l4log's test suite, run in the
 * guest on a debug kernel (statically linked). Allocation failures come from
 * the kernel's fault injection (failslab, fail_page_alloc) through
 * /proc/thread-self/fail-nth: writing N there makes the Nth allocation this
 * thread asks for fail; reading 0 back says that it did. Each subcommand
 * fails the 1st, 2nd, ... allocation of one system call until the call runs
 * without reaching the Nth, checks every result, prints `l4log-fault: ...`
 * lines for tests/run.py and exits 0 only when every check held.
 *
 *   setup                  debugfs: let failslab and fail_page_alloc fail
 *                          sleeping and order-0 allocations, quietly
 *   insmod MODULE [ARGS]   finit_module; after each failure: no /dev/l4log,
 *                          no /sys/module/l4log; l4log is left unloaded
 *   open                   open /dev/l4log; after each failure: the module's
 *                          reference count as before
 *   write                  write a line; the host gets it exactly once
 *   close                  close a file that holds an unfinished line; the
 *                          host gets the line exactly once
 *   host FD MODULE         load l4log with host_channel=FD and escape=N and
 *                          write lines of the stream below until a write
 *                          fails and three more after it; prints what the
 *                          writes returned and l4log's counters
 *
 * Texts sent to the host: the write case sends "w<N>\n" for N = 1, 2, ...;
 * the close case "c<N>" for N = 1, 2, ... (no newline: the close sends it);
 * the host case the stream of 100-byte lines "l4log-host <offset, 10
 * digits> " padded with '.' to 99 bytes and a newline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DEVICE "/dev/l4log"
#define MODULE_DIR "/sys/module/l4log"
#define FAIL_NTH "/proc/thread-self/fail-nth"
/* No call of l4log's needs more; a loop that reaches this is a failure. */
#define MAX_POINTS 4000
/* Not a divisor of the line buffer's size: write steps end inside lines. */
#define HOST_LINE 100

static int failures;
static int fail_nth_fd = -1;

static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("l4log-fault: FAILED: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	failures++;
}

static void die(const char *what)
{
	printf("l4log-fault: FAILED: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		die(path);
	close(fd);
}

static long read_number(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die(path);
	close(fd);
	return strtol(buf, NULL, 10);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Makes the `n`th allocation from now on of this thread fail (0: none). */
static void arm(int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	if (pwrite(fail_nth_fd, buf, len, 0) != len)
		die(FAIL_NTH);
}

/* Whether the armed failure happened, and disarms. */
static int fired(void)
{
	char buf[16] = "";

	if (pread(fail_nth_fd, buf, sizeof(buf) - 1, 0) < 0)
		die(FAIL_NTH);
	arm(0);
	return strtol(buf, NULL, 10) == 0;
}

static void open_fail_nth(void)
{
	/* Opened once: the open itself allocates. */
	fail_nth_fd = open(FAIL_NTH, O_RDWR);
	if (fail_nth_fd < 0)
		die(FAIL_NTH);
}

/* Tallies of the errors the failed calls returned. */
struct errors {
	int count[256];
};

static void tally(struct errors *e, int err)
{
	e->count[err & 255]++;
}

static void print_errors(const char *call, int points, const struct errors *e)
{
	printf("l4log-fault: %s points=%d errors=", call, points);
	for (int err = 0, first = 1; err < 256; err++)
		if (e->count[err]) {
			printf("%s%s:%d", first ? "" : ",", strerrorname_np(err) ?: "?", e->count[err]);
			first = 0;
		}
	printf("\n");
	fflush(stdout);
}

static void setup(void)
{
	static const char *const settings[][2] = {
		{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/failslab/verbose", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
	};

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		write_file(settings[i][0], settings[i][1]);
}

static int load(int module, const char *args)
{
	return syscall(SYS_finit_module, module, args, 0);
}

static int unload(void)
{
	return syscall(SYS_delete_module, "l4log", O_NONBLOCK);
}

static void insmod_case(const char *path, const char *args)
{
	struct errors errors = { 0 };
	int module = open(path, O_RDONLY | O_CLOEXEC), n;

	if (module < 0)
		die(path);
	if (exists(MODULE_DIR))
		failed("l4log is loaded before the insmod case");
	for (n = 1; n <= MAX_POINTS; n++) {
		int ret, err, hit;

		arm(n);
		ret = load(module, args);
		err = errno;
		hit = fired();
		if (ret == 0) {
			struct stat node;

			if (stat(DEVICE, &node) != 0)
				failed("insmod (allocation %d failed: %d) loaded l4log without " DEVICE, n, hit);
			else if (!hit)
				printf("l4log-fault: insmod node mode=%o gid=%u\n", node.st_mode & 07777, node.st_gid);
			if (unload() != 0)
				failed("rmmod after insmod (allocation %d failed: %d): %s", n, hit, strerror(errno));
			if (!hit)
				break;
			/* A failure the kernel recovered from: the load went on. */
			continue;
		}
		if (!hit)
			failed("insmod failed with %s without an injected failure (allocation %d)", strerror(err), n);
		tally(&errors, err);
		if (err != ENOMEM)
			printf("l4log-fault: insmod: allocation %d failed: %s\n", n, strerror(err));
		if (exists(DEVICE) || exists(MODULE_DIR))
			failed("insmod failed at allocation %d (%s) but left%s%s", n, strerror(err),
			       exists(DEVICE) ? " " DEVICE : "", exists(MODULE_DIR) ? " " MODULE_DIR : "");
	}
	if (n > MAX_POINTS)
		failed("insmod still failed after %d injected failures", MAX_POINTS);
	print_errors("insmod", n - 1, &errors);
	close(module);
}

static void open_case(void)
{
	struct errors errors = { 0 };
	long refs = read_number(MODULE_DIR "/refcnt");
	int n;

	for (n = 1; n <= MAX_POINTS; n++) {
		int fd, err, hit;

		arm(n);
		fd = open(DEVICE, O_WRONLY);
		err = errno;
		hit = fired();
		if (fd >= 0) {
			close(fd);
			if (!hit)
				break;
			continue;
		}
		if (!hit)
			failed("open failed with %s without an injected failure", strerror(err));
		tally(&errors, err);
		if (read_number(MODULE_DIR "/refcnt") != refs)
			failed("open failed at allocation %d (%s): module references %ld, were %ld", n,
			       strerror(err), read_number(MODULE_DIR "/refcnt"), refs);
	}
	if (n > MAX_POINTS)
		failed("open still failed after %d injected failures", MAX_POINTS);
	if (read_number(MODULE_DIR "/refcnt") != refs)
		failed("module references %ld after the open case, were %ld", read_number(MODULE_DIR "/refcnt"),
		       refs);
	print_errors("open", n - 1, &errors);
}

static void write_case(void)
{
	struct errors errors = { 0 };
	int fd = open(DEVICE, O_WRONLY), n;

	if (fd < 0)
		die(DEVICE);
	for (n = 1; n <= MAX_POINTS; n++) {
		char line[32];
		int len = snprintf(line, sizeof(line), "w%d\n", n);
		ssize_t ret;
		int err, hit;

		arm(n);
		ret = write(fd, line, len);
		err = errno;
		hit = fired();
		if (ret < 0) {
			tally(&errors, err);
			if (!hit)
				failed("write failed with %s without an injected failure", strerror(err));
			/* Not sent: the host's text would miss it. */
			failed("write failed at allocation %d: %s", n, strerror(err));
		} else if (ret != len) {
			failed("write of %d bytes returned %zd", len, ret);
		}
		if (!hit)
			break;
	}
	close(fd);
	printf("l4log-fault: write lines=%d\n", n);
	print_errors("write", n - 1, &errors);
}

static void close_case(void)
{
	struct errors errors = { 0 };
	long refs = read_number(MODULE_DIR "/refcnt");
	int n;

	for (n = 1; n <= MAX_POINTS; n++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "c%d", n), fd = open(DEVICE, O_WRONLY), ret, err, hit;

		if (fd < 0)
			die(DEVICE);
		if (write(fd, text, len) != len)
			die("write");
		arm(n);
		ret = close(fd);
		err = errno;
		hit = fired();
		if (ret != 0) {
			tally(&errors, err);
			failed("close failed at allocation %d: %s", n, strerror(err));
		}
		if (!hit)
			break;
	}
	if (read_number(MODULE_DIR "/refcnt") != refs)
		failed("module references %ld after the close case, were %ld", read_number(MODULE_DIR "/refcnt"),
		       refs);
	printf("l4log-fault: close texts=%d\n", n);
	print_errors("close", n - 1, &errors);
}

/* l4log's counter `name` (l4log-host-errors, ...) from the fdinfo of `fd`. */
static long counter(int fd, const char *name)
{
	char path[64], line[128];
	long value = -1;
	size_t len = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			value = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return value;
}

/* Bytes [offset, offset + size) of the host case's stream. */
static void host_stream(char *buf, long offset, size_t size)
{
	char line[HOST_LINE + 1];

	for (size_t at = 0; at < size; at++) {
		long i = offset + (long)at;

		if (at == 0 || i % HOST_LINE == 0) {
			int len = snprintf(line, sizeof(line), "l4log-host %010ld ", i - i % HOST_LINE);

			memset(line + len, '.', HOST_LINE - 1 - len);
			line[HOST_LINE - 1] = '\n';
		}
		buf[at] = line[i % HOST_LINE];
	}
}

static void host_case(int channel, const char *path)
{
	enum { MAX_LINES = 100, AFTER = 3 };
	static char buf[MAX_LINES * HOST_LINE];
	long offset = 0, short_writes = 0, error_writes = 0, errors0, bytes0;
	unsigned long seed = 1;
	int module = open(path, O_RDONLY | O_CLOEXEC), fd, last_err = 0, after = 0;
	char args[64];

	if (module < 0)
		die(path);
	snprintf(args, sizeof(args), "host_channel=%d escape=N", channel);
	if (exists(MODULE_DIR) && unload() != 0)
		die("rmmod l4log");
	if (load(module, args) != 0)
		die("insmod l4log.ko with the host channel under test");
	fd = open(DEVICE, O_WRONLY);
	if (fd < 0)
		die(DEVICE);
	errors0 = counter(fd, "l4log-host-errors");
	bytes0 = counter(fd, "l4log-host-bytes");
	/*
	 * Writes of 1 to MAX_LINES lines, each ending at a line end (so that nothing is held
	 * between writes), until one fails, and AFTER more.
	 */
	while (after <= AFTER) {
		size_t lines, size;
		int broken = error_writes + short_writes > 0;
		ssize_t ret;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		lines = 1 + (seed >> 33) % MAX_LINES;
		size = lines * HOST_LINE - offset % HOST_LINE;

		host_stream(buf, offset, size);
		ret = write(fd, buf, size);
		if (ret < 0) {
			error_writes++;
			last_err = errno;
		} else {
			offset += ret;
			if ((size_t)ret < size)
				short_writes++;
		}
		if (broken && ret != -1)
			failed("write %zu bytes after the channel failed: returned %zd, not an error", size, ret);
		if (broken || error_writes + short_writes > 0)
			after++;
	}
	printf("l4log-fault: host returned=%ld short=%ld errors=%ld errno=%s host-errors=%ld host-bytes=%ld\n",
	       offset, short_writes, error_writes, strerrorname_np(last_err) ?: "?",
	       counter(fd, "l4log-host-errors") - errors0, counter(fd, "l4log-host-bytes") - bytes0);
	close(fd);
	close(module);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "setup")) {
		setup();
		return 0;
	}
	if (!strcmp(cmd, "host") && argc == 4) {
		host_case(atoi(argv[2]), argv[3]);
		return failures ? 1 : 0;
	}
	open_fail_nth();
	if (!strcmp(cmd, "insmod") && argc >= 3)
		insmod_case(argv[2], argc > 3 ? argv[3] : "");
	else if (!strcmp(cmd, "open"))
		open_case();
	else if (!strcmp(cmd, "write"))
		write_case();
	else if (!strcmp(cmd, "close"))
		close_case();
	else {
		fprintf(stderr, "usage: l4log-faults setup | insmod MODULE [ARGS] | open | write | close | "
				"host FD MODULE\n");
		return 2;
	}
	return failures ? 1 : 0;
}
