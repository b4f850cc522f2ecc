// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-faults: the fault-injection cases of l4log's test suite, run in the
 * guest on a debug kernel (statically linked). Allocation failures come from
 * the kernel's fault injection (failslab, fail_page_alloc) through
 * /proc/thread-self/fail-nth: writing N there makes the Nth allocation this
 * thread asks for fail; reading 0 back says that it did. Each subcommand
 * fails the 1st, 2nd, ... allocation of one system call until the call runs
 * without reaching the Nth, checks every result, prints `l4log-fault: ...`
 * lines for tests/suite/ (faults.py, host_failures.py) and exits 0 only when
 * every check held.
 *
 *   setup                  debugfs: let failslab and fail_page_alloc fail
 *                          sleeping and order-0 allocations, quietly
 *   insmod MODULE [ARGS]   finit_module; after each failure: no /dev/l4log, no /dev/l4log-NAME,
 *                          no /sys/module/l4log; l4log is left unloaded
 *   open                   open /dev/l4log; after each failure: the module's
 *                          reference count as before
 * A load or open that succeeds though an allocation failed sends a line
 * "i<N>\n" or "o<N>\n" through a new open of /dev/l4log.
 *   write [DEVICE escaped] write a line; the host gets it exactly once (to
 *                          DEVICE, with a byte to escape)
 *   close                  close a file that holds an unfinished line; the
 *                          host gets the line exactly once
 *   host FD MODULE         load l4log with host_channel=FD and escape=N and
 *                          write lines of the stream below until a write
 *                          fails and three more after it; prints what the
 *                          writes returned and l4log's counters
 *   host-shared FD MODULE THREADS
 *                          the same with THREADS threads writing through one
 *                          open file, each its own stream of bytes (below)
 *                          in writes of random sizes, until each has seen
 *                          three failed writes, at a rate limit that makes
 *                          writes wait between their steps; prints what
 *                          each thread's writes returned and l4log's
 *                          counters
 *   stall FD MODULE        FD is a non-blocking pipe that the host does not
 *                          read: a non-blocking write fills it and returns
 *                          a short count; a blocking writer waits and dies of
 *                          SIGKILL, a blocking writer of another file waits
 *                          for it and dies of SIGKILL, non-blocking writers
 *                          get EAGAIN (while the first one waits, and after
 *                          it is gone), a close gives up its unfinished line
 *                          after its deadline; then the host drains the
 *                          pipe, a line goes through, rmmod works
 *   stamp-stall FD MODULE  FD as for stall, l4log loaded with stamp=task: a
 *                          line whose send fails (EAGAIN, or a signal while
 *                          waiting for the send turn or the file's turn)
 *                          leaves no stamp behind; a write restarted by
 *                          SA_RESTART goes once; after the host drains, the
 *                          lines of a renamed thread and of a child after
 *                          fork on the same file carry their own writers'
 *                          stamps
 *   loadrace MODULE COUNT [ARGS]
 *                          COUNT loads with ARGS that fail for mode or group
 *                          out of range (EINVAL), and COUNT that fail for
 *                          a /dev without the node, in a mount namespace of
 *                          the loader's own (ENOENT, after the device is
 *                          registered), while another process opens
 *                          /dev/l4log in a loop: no open may succeed
 *   signal                 raise SIGUSR1 with the 1st, 2nd, ... allocation
 *                          from then on failing, in a child each time: the
 *                          handler runs every time (a delivery that
 *                          allocates, and fails, kills with SIGSEGV)
 *
 * Texts sent to the host: the write case sends "w<N>\n" for N = 1, 2, ...;
 * the close case "c<N>" for N = 1, 2, ... (no newline: the close sends it);
 * the host case the stream of 100-byte lines "l4log-host <offset, 10
 * digits> " padded with '.' to 99 bytes and a newline. In the host-shared
 * case thread T writes byte I of its stream as shared_byte(T, I): each
 * thread its own 16 byte values, no newline, so that the host's bytes of
 * each thread can be told apart.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* The named channels' nodes, /dev/l4log-NAME, there are now. */
static int channel_nodes(void)
{
	DIR *dev = opendir("/dev");
	struct dirent *entry;
	int count = 0;

	if (!dev)
		die("/dev");
	while ((entry = readdir(dev)))
		count += !strncmp(entry->d_name, "l4log-", 6);
	closedir(dev);
	return count;
}

/* The named channels that the insmod arguments `args` ask for: the entries of channels=. */
static int channels_asked(const char *args)
{
	const char *list = strstr(args, "channels=");
	int count = 1;

	if (!list)
		return 0;
	for (list += strlen("channels="); *list && *list != ' '; list++)
		count += *list == ',';
	return count;
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

/* A load or open that succeeded though allocation `n` failed (the kernel recovered): a line
 * "<letter><n>\n" through a new open of the device, which the host must get once. */
static void recovered_line(const char *call, char letter, int n)
{
	char line[32];
	int len = snprintf(line, sizeof(line), "%c%d\n", letter, n), fd = open(DEVICE, O_WRONLY);

	if (fd < 0 || write(fd, line, len) != len)
		failed("%s recovered from allocation %d, but a line did not go through: %s", call, n,
		       strerror(errno));
	else
		printf("l4log-fault: %s recovered %d\n", call, n);
	if (fd >= 0)
		close(fd);
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
			if (channel_nodes() != channels_asked(args))
				failed("insmod (allocation %d failed: %d) loaded l4log with %d channel nodes, not %d",
				       n, hit, channel_nodes(), channels_asked(args));
			else if (!hit)
				printf("l4log-fault: insmod node mode=%o gid=%u\n", node.st_mode & 07777, node.st_gid);
			if (hit)
				recovered_line("insmod", 'i', n);
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
		if (exists(DEVICE) || exists(MODULE_DIR) || channel_nodes())
			failed("insmod failed at allocation %d (%s) but left%s%s%s", n, strerror(err),
			       exists(DEVICE) ? " " DEVICE : "", exists(MODULE_DIR) ? " " MODULE_DIR : "",
			       channel_nodes() ? " /dev/l4log-*" : "");
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
			recovered_line("open", 'o', n);
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

/* Writes lines "w<n>\n" (with `escaped`, "w<n>\x01\n": text to escape) to `device`. */
static void write_case(const char *device, int escaped)
{
	struct errors errors = { 0 };
	int fd = open(device, O_WRONLY), n;

	if (fd < 0)
		die(device);
	for (n = 1; n <= MAX_POINTS; n++) {
		char line[32];
		int len = snprintf(line, sizeof(line), escaped ? "w%d\x01\n" : "w%d\n", n);
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
	printf("l4log-fault: write lines=%d pid=%d device=%s\n", n, getpid(), device);
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

/* Loads l4log on the host channel `channel` (escape=N), unloading it first. */
static int load_on_channel(const char *path, int channel)
{
	int module = open(path, O_RDONLY | O_CLOEXEC);
	char args[64];

	if (module < 0)
		die(path);
	snprintf(args, sizeof(args), "host_channel=%d escape=N", channel);
	if (exists(MODULE_DIR) && unload() != 0)
		die("rmmod l4log");
	if (load(module, args) != 0)
		die("insmod l4log.ko with the host channel under test");
	return module;
}

static void host_case(int channel, const char *path)
{
	enum { MAX_LINES = 100, AFTER = 3 };
	static char buf[MAX_LINES * HOST_LINE];
	long offset = 0, short_writes = 0, error_writes = 0, errors0, bytes0;
	unsigned long seed = 1;
	int module = load_on_channel(path, channel), fd, last_err = 0, after = 0;

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

/* --- host-shared ---------------------------------------------------------- */

#define SHARED_MAX_THREADS 8
#define SHARED_MAX_WRITE 10000

/* Byte `i` of thread `t`'s stream: one of the thread's own 16 values. */
static unsigned char shared_byte(int t, long i)
{
	return 0x21 + 16 * t + ((i * 5 + (i >> 4)) & 15);
}

struct shared_writer {
	pthread_t thread;
	int fd, t;
	long returned;
	int failed_writes;
	int last_err;
};

static void *shared_writer(void *arg)
{
	struct shared_writer *w = arg;
	static __thread char buf[SHARED_MAX_WRITE];
	unsigned long seed = 7 + w->t;
	int failures_seen = 0;

	for (long writes = 0; failures_seen < 3 && writes < 100000; writes++) {
		size_t size;
		ssize_t ret;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		size = 1 + (seed >> 33) % SHARED_MAX_WRITE;
		for (size_t at = 0; at < size; at++)
			buf[at] = shared_byte(w->t, w->returned + at);
		ret = write(w->fd, buf, size);
		if (ret < 0) {
			w->last_err = errno;
			failures_seen++;
		} else {
			w->returned += ret;
			if ((size_t)ret < size)
				failures_seen++;
		}
		/* The next thread's write comes next (also on one CPU), with this one's unfinished
		 * bytes still held. */
		sched_yield();
	}
	w->failed_writes = failures_seen;
	return NULL;
}

static void host_shared_case(int channel, const char *path, int threads)
{
	struct shared_writer w[SHARED_MAX_THREADS];
	long bytes0, host0, dropped0, errors0;
	int module = load_on_channel(path, channel), fd, probe;

	if (threads < 1 || threads > SHARED_MAX_THREADS)
		die("host-shared: 1 to 8 threads");
	/* Writes wait for the rate limit between their steps, and the other threads run meanwhile:
	 * the first 100 KB go at once, the rest at 100 KB/s. */
	write_file(MODULE_DIR "/parameters/rate_limit", "100000");
	fd = open(DEVICE, O_WRONLY);
	if (fd < 0)
		die(DEVICE);
	bytes0 = counter(fd, "l4log-bytes");
	host0 = counter(fd, "l4log-host-bytes");
	dropped0 = counter(fd, "l4log-dropped-bytes");
	errors0 = counter(fd, "l4log-host-errors");
	for (int t = 0; t < threads; t++) {
		w[t] = (struct shared_writer){ .fd = fd, .t = t };
		if (pthread_create(&w[t].thread, NULL, shared_writer, &w[t]))
			die("pthread_create");
	}
	for (int t = 0; t < threads; t++)
		pthread_join(w[t].thread, NULL);
	/* The close sends what the file still holds, or counts it dropped. */
	close(fd);
	probe = open(DEVICE, O_WRONLY);
	if (probe < 0)
		die(DEVICE);
	printf("l4log-fault: host-shared threads=%d returned=", threads);
	for (int t = 0; t < threads; t++)
		printf("%s%ld", t ? "," : "", w[t].returned);
	printf(" errno=%s bytes=%ld host-bytes=%ld dropped=%ld host-errors=%ld\n",
	       strerrorname_np(w[0].last_err) ?: "?", counter(probe, "l4log-bytes") - bytes0,
	       counter(probe, "l4log-host-bytes") - host0, counter(probe, "l4log-dropped-bytes") - dropped0,
	       counter(probe, "l4log-host-errors") - errors0);
	for (int t = 0; t < threads; t++)
		if (w[t].failed_writes < 3)
			failed("thread %d saw %d failed writes in 100000", t, w[t].failed_writes);
	close(probe);
	close(module);
}

/* --- stall ------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child that opens the device (O_NONBLOCK if `flags` says so) and writes once: `size` - 1
 * bytes of `letter` and a newline; then exits 0. */
static pid_t stall_writer(char letter, size_t size, int flags)
{
	pid_t child = fork();

	if (child == 0) {
		static char buf[1 << 20];
		int fd = open(DEVICE, O_WRONLY | flags);

		memset(buf, letter, size - 1);
		buf[size - 1] = '\n';
		if (fd < 0 || write(fd, buf, size) < 0)
			exit(2);
		exit(0);
	}
	if (child < 0)
		die("fork");
	return child;
}

/* Whether `child` is still running after `seconds`. */
static int still_running(pid_t child, double seconds)
{
	usleep((useconds_t)(seconds * 1e6));
	return waitpid(child, NULL, WNOHANG) == 0;
}

/* Kills `child` with SIGKILL; whether it died of it within `seconds`. */
static int killed_within(pid_t child, double seconds)
{
	double end = now() + seconds;
	int status;

	kill(child, SIGKILL);
	while (now() < end) {
		pid_t got = waitpid(child, &status, WNOHANG);

		if (got == child)
			return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		usleep(10000);
	}
	return 0;
}

/* A non-blocking write of a line to the stalled host: EAGAIN at once, nothing taken; prints
 * `stall NAME EAGAIN`. */
static void nonblocking_write(const char *what, const char *name)
{
	int fd = open(DEVICE, O_WRONLY | O_NONBLOCK);
	double start, took;
	ssize_t ret;

	if (fd < 0)
		die(DEVICE);
	start = now();
	ret = write(fd, "nonblocking\n", 12);
	took = now() - start;
	if (ret != -1 || errno != EAGAIN)
		failed("a non-blocking write %s returned %zd (%s), not EAGAIN", what, ret,
		       ret < 0 ? strerror(errno) : "no error");
	else if (took > 0.5)
		failed("a non-blocking write %s took %.2f s", what, took);
	else
		printf("l4log-fault: stall %s EAGAIN in %.3f s\n", name, took);
	close(fd);
}

static void stall_case(int channel, const char *path)
{
	int module = load_on_channel(path, channel), fd;
	pid_t holder, waiter;
	double start, took;
	long dropped0;

	/* Non-blocking, 1 MiB into the empty pipe: a short count, the bytes the host took. */
	fd = open(DEVICE, O_WRONLY | O_NONBLOCK);
	if (fd < 0)
		die(DEVICE);
	{
		static char big[1 << 20];
		ssize_t ret;

		memset(big, 'n', sizeof(big));
		ret = write(fd, big, sizeof(big));
		if (ret <= 0 || ret >= (ssize_t)sizeof(big))
			failed("a non-blocking 1 MiB write to a host pipe returned %zd, not a short count", ret);
		printf("l4log-fault: stall short count %zd host-bytes %ld\n", ret,
		       counter(fd, "l4log-host-bytes"));
	}
	close(fd);
	/* 1 MiB: more than the host's pipe holds, so the writer waits for the host. */
	holder = stall_writer('a', 1 << 20, 0);
	if (!still_running(holder, 1.0))
		failed("a blocking write of 1 MiB to a host that does not read returned");
	/* A blocking writer of another file waits for the first one's send. */
	waiter = stall_writer('b', 10, 0);
	if (!still_running(waiter, 0.5))
		failed("a blocking write waiting for another file's stalled send returned");
	if (!killed_within(waiter, 3.0))
		failed("the writer waiting for another file's send did not die of SIGKILL within 3 s");
	else
		printf("l4log-fault: stall waiter killed\n");
	/* Non-blocking, while another file's writer waits for the host: EAGAIN at once. */
	nonblocking_write("while another writer waits for the host", "nonblocking");
	if (!killed_within(holder, 3.0))
		failed("the blocking writer did not die of SIGKILL within 3 s");
	else
		printf("l4log-fault: stall holder killed\n");
	/* Non-blocking, the host full and nobody else writing: EAGAIN at once. */
	nonblocking_write("to the full host", "nonblocking-host");
	/* A close with an unfinished line: given up after its deadline, counted. */
	fd = open(DEVICE, O_WRONLY);
	if (fd < 0)
		die(DEVICE);
	dropped0 = counter(fd, "l4log-dropped-bytes");
	if (write(fd, "unfinished", 10) != 10)
		failed("writing an unfinished line (held, not sent) failed");
	start = now();
	close(fd);
	took = now() - start;
	fd = open(DEVICE, O_WRONLY);
	if (fd < 0)
		die(DEVICE);
	printf("l4log-fault: stall close took %.3f s, dropped %ld\n", took,
	       counter(fd, "l4log-dropped-bytes") - dropped0);
	if (took < 0.9 || took > 3.0)
		failed("the close took %.2f s; its deadline is 1 s", took);
	/* The host drains the pipe now; a blocking write waits for it and goes through. */
	printf("l4log-fault: stall drain now\n");
	fflush(stdout);
	if (write(fd, "after the stall\n", 16) != 16)
		failed("the line after the stall was not written: %s", strerror(errno));
	printf("l4log-fault: stall counters host-bytes=%ld host-errors=%ld\n",
	       counter(fd, "l4log-host-bytes"), counter(fd, "l4log-host-errors"));
	close(fd);
	if (unload() != 0)
		failed("rmmod after the host drained: %s", strerror(errno));
	close(module);
}

/* --- stamp-stall -------------------------------------------------------------- */

struct stamp_writer {
	int fd;
	const char *text;
	ssize_t ret;
};

/* A thread's blocking write of `text`. */
static void *stamp_write(void *arg)
{
	struct stamp_writer *w = arg;
	sigset_t alarms;

	/* The alarms are for the main thread's writes. */
	sigemptyset(&alarms);
	sigaddset(&alarms, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarms, NULL);
	w->ret = write(w->fd, w->text, strlen(w->text));
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Starts a thread of this process, named as the process is now, that writes `w->text`. */
static void start_stamp_writer(pthread_t *thread, struct stamp_writer *w)
{
	if (pthread_create(thread, NULL, stamp_write, w))
		die("pthread_create");
	/* Long enough to reach the wait for the host or for the send turn. */
	usleep(300000);
}

static void stamp_stall_case(int channel, const char *path)
{
	int module = open(path, O_RDONLY | O_CLOEXEC), f, g;
	struct stamp_writer held = { .text = "r\n" }, other = { .text = "t\n" };
	struct sigaction sa = { .sa_handler = on_alarm };
	pthread_t held_thread, other_thread;
	char args[96];
	ssize_t ret;
	pid_t child, restarter;
	int fills = 0, status;

	if (module < 0)
		die(path);
	snprintf(args, sizeof(args), "host_channel=%d escape=N stamp=task", channel);
	if (exists(MODULE_DIR) && unload() != 0)
		die("rmmod l4log");
	if (load(module, args) != 0)
		die("insmod l4log.ko stamped on the stalled host channel");
	f = open(DEVICE, O_WRONLY | O_NONBLOCK);
	g = open(DEVICE, O_WRONLY);
	if (f < 0 || g < 0)
		die(DEVICE);
	/* Fill the host's pipe with stamped lines, until a non-blocking write finds it full. */
	while ((ret = write(f, "fill\n", 5)) == 5)
		fills++;
	if (ret != -1 || errno != EAGAIN || fills == 0)
		failed("filling the host: %d lines, then %zd (%s)", fills, ret, strerror(errno));
	/* A line whose send fails with nothing taken: its stamp must go with it. */
	if (write(f, "a\n", 2) != -1 || errno != EAGAIN)
		failed("a non-blocking write to the full host did not fail with EAGAIN");
	if (prctl(PR_SET_NAME, "renamed") != 0)
		die("prctl");
	/* A thread of the same process goes on with file F: waits for the host, holding the send
	 * turn. Its line is stamped 'renamed', never with the failed line's stamp. */
	if (fcntl(f, F_SETFL, 0) != 0)
		die("fcntl");
	held.fd = f;
	start_stamp_writer(&held_thread, &held);
	/* A blocking write of file G waits for the send turn; a signal ends it, nothing taken. */
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	ret = write(g, "s\n", 2);
	if (ret != -1 || errno != EINTR)
		failed("a write waiting for another file's send turn, interrupted: %zd (%s), not EINTR",
		       ret, ret < 0 ? strerror(errno) : "no error");
	/* A write of file F waits for F's turn, which the thread holds: a signal ends it too. */
	alarm(1);
	ret = write(f, "u\n", 2);
	if (ret != -1 || errno != EINTR)
		failed("a write waiting for its file's turn, interrupted: %zd (%s), not EINTR",
		       ret, ret < 0 ? strerror(errno) : "no error");
	if (prctl(PR_SET_NAME, "afterint") != 0)
		die("prctl");
	other.fd = g;
	start_stamp_writer(&other_thread, &other);
	/* With SA_RESTART, signals while it waits restart the write: its line goes once. */
	restarter = fork();
	if (restarter == 0) {
		struct sigaction restart = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };

		prctl(PR_SET_NAME, "restarter");
		sigaction(SIGUSR1, &restart, NULL);
		_exit(write(g, "v\n", 2) == 2 ? 0 : 1);
	}
	if (restarter < 0)
		die("fork");
	for (int i = 0; i < 5; i++) {
		usleep(100000);
		kill(restarter, SIGUSR1);
	}
	/* Another process, after fork, writes to file F: its own stamp. */
	child = fork();
	if (child == 0) {
		prctl(PR_SET_NAME, "childb");
		_exit(write(f, "b\n", 2) == 2 ? 0 : 1);
	}
	if (child < 0)
		die("fork");
	usleep(300000);
	printf("l4log-fault: stamp drain now, pid %d child %d restarter %d\n", getpid(), child, restarter);
	fflush(stdout);
	pthread_join(held_thread, NULL);
	pthread_join(other_thread, NULL);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		failed("the child's write after the drain failed");
	if (waitpid(restarter, &status, 0) != restarter || !WIFEXITED(status) || WEXITSTATUS(status))
		failed("the restarted write after the drain failed");
	if (held.ret != 2 || other.ret != 2)
		failed("the writes after the drain returned %zd and %zd", held.ret, other.ret);
	close(f);
	close(g);
	if (unload() != 0)
		failed("rmmod after the stamped stall: %s", strerror(errno));
	close(module);
	printf("l4log-fault: stamp fills=%d\n", fills);
}

/* --- loadrace ---------------------------------------------------------------- */

/* What the opener saw, in memory it shares with the loader. */
struct open_tally {
	volatile int stop;
	long opened, enoent, enodev, other;
};

static void opener(struct open_tally *tally)
{
	while (!tally->stop) {
		int fd = open(DEVICE, O_WRONLY);

		if (fd >= 0) {
			tally->opened++;
			(void)!write(fd, "raced\n", 6);
			close(fd);
		} else if (errno == ENOENT) {
			tally->enoent++;
		} else if (errno == ENODEV || errno == ENXIO) {
			tally->enodev++;
		} else {
			tally->other++;
		}
	}
	exit(0);
}

/* A load in a mount namespace of its own whose /dev is an empty tmpfs: the device is
 * registered (its node appears in the real /dev), then applying mode=0660 fails (ENOENT).
 * Returns the load's errno (0 if it worked). */
static int load_without_node(int module, const char *args)
{
	pid_t child = fork();
	int status;

	if (child == 0) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("l4log-empty-dev", "/dev", "tmpfs", 0, NULL))
			exit(100);
		exit(load(module, args) == 0 ? 0 : errno);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status))
		die("the loader without /dev/l4log");
	if (WEXITSTATUS(status) == 100)
		die("a mount namespace with an empty /dev");
	return WEXITSTATUS(status);
}

static void loadrace_case(const char *path, int count, const char *base_args)
{
	char bad_mode[256], bad_group[256], no_node[256];
	struct open_tally *tally = mmap(NULL, sizeof(*tally), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int module = open(path, O_RDONLY | O_CLOEXEC), einval = 0, enoent = 0, other = 0;
	pid_t child;

	if (module < 0 || tally == MAP_FAILED)
		die(path);
	snprintf(bad_mode, sizeof(bad_mode), "%s mode=01000", base_args);
	snprintf(bad_group, sizeof(bad_group), "%s group=4294967295", base_args);
	snprintf(no_node, sizeof(no_node), "%s mode=0660", base_args);
	if (exists(MODULE_DIR) && unload() != 0)
		die("rmmod l4log");
	child = fork();
	if (child == 0)
		opener(tally);
	for (int i = 0; i < count; i++) {
		int err;

		if (load(module, i % 2 ? bad_group : bad_mode) == 0)
			failed("a load with mode or group out of range worked");
		else if (errno == EINVAL)
			einval++;
		else
			other++;
		err = load_without_node(module, no_node);
		if (err == ENOENT)
			enoent++;
		else if (err == 0)
			failed("a load without /dev/l4log worked");
		else
			other++;
		if (exists(MODULE_DIR))
			failed("l4log is loaded after a failed load");
	}
	tally->stop = 1;
	waitpid(child, NULL, 0);
	printf("l4log-fault: loadrace loads=%d einval=%d enoent=%d other=%d opened=%ld "
	       "open-enoent=%ld open-enodev=%ld open-other=%ld\n",
	       2 * count, einval, enoent, other, tally->opened, tally->enoent, tally->enodev, tally->other);
	if (tally->opened)
		failed("%ld opens succeeded on loads that failed", tally->opened);
	close(module);
}

static volatile sig_atomic_t signal_handled;

static void on_signal(int sig)
{
	(void)sig;
	signal_handled = 1;
}

/* In a child: SIGUSR1 raised with allocation `n` failing. Exits 0 when the handler ran and the
 * failure was injected, 1 when the handler ran and no nth allocation came, 2 when it did not run. */
static void __attribute__((noreturn)) raise_with_failure(int n)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int injected;

	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction");
	open_fail_nth();
	arm(n);
	raise(SIGUSR1);
	injected = fired();
	_exit(!signal_handled ? 2 : injected ? 0 : 1);
}

static void signal_case(void)
{
	int n, injected = 0, status;

	for (n = 1; n <= 64; n++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (!pid)
			raise_with_failure(n);
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid");
		if (WIFSIGNALED(status)) {
			failed("signal: with allocation %d failing, the child died of signal %d", n, WTERMSIG(status));
			continue;
		}
		if (WEXITSTATUS(status) == 2)
			failed("signal: with allocation %d failing, the handler did not run", n);
		if (WEXITSTATUS(status) != 0)
			break;
		injected++;
	}
	printf("l4log-fault: signal points=%d\n", injected);
	if (n > 64)
		failed("signal: still failing allocations after 64");
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
	if (!strcmp(cmd, "host-shared") && argc == 5) {
		host_shared_case(atoi(argv[2]), argv[3], atoi(argv[4]));
		return failures ? 1 : 0;
	}
	if (!strcmp(cmd, "stall") && argc == 4) {
		stall_case(atoi(argv[2]), argv[3]);
		return failures ? 1 : 0;
	}
	if (!strcmp(cmd, "stamp-stall") && argc == 4) {
		stamp_stall_case(atoi(argv[2]), argv[3]);
		return failures ? 1 : 0;
	}
	if (!strcmp(cmd, "signal") && argc == 2) {
		signal_case();
		return failures ? 1 : 0;
	}
	if (!strcmp(cmd, "loadrace") && (argc == 4 || argc == 5)) {
		loadrace_case(argv[2], atoi(argv[3]), argc == 5 ? argv[4] : "");
		return failures ? 1 : 0;
	}
	open_fail_nth();
	if (!strcmp(cmd, "insmod") && argc >= 3)
		insmod_case(argv[2], argc > 3 ? argv[3] : "");
	else if (!strcmp(cmd, "open"))
		open_case();
	else if (!strcmp(cmd, "write") && argc == 2)
		write_case(DEVICE, 0);
	else if (!strcmp(cmd, "write") && argc == 4 && !strcmp(argv[3], "escaped"))
		write_case(argv[2], 1);
	else if (!strcmp(cmd, "close"))
		close_case();
	else {
		fprintf(stderr, "usage: l4log-faults setup | insmod MODULE [ARGS] | open | write [DEVICE escaped] | close | "
				"host FD MODULE | host-shared FD MODULE THREADS | stall FD MODULE | "
				"stamp-stall FD MODULE | signal | "
				"loadrace MODULE COUNT [ARGS]\n");
		return 2;
	}
	return failures ? 1 : 0;
}
