// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-test: the system calls the l4log tests make in the guest.
 *
 *   l4log-test write FILE [DEVICE]
 *                             write FILE to DEVICE (/dev/l4log) in one write(2)
 *   l4log-test timed FILE DEVICE
 *                             the same, and print `l4log-timed: MS` with the
 *                             milliseconds the write took
 *   l4log-test nonblocking FILE DEVICE
 *                             the same, non-blocking: print `l4log-written: N`
 *                             with what the write returned
 *   l4log-test lines DEVICE ID COUNT
 *                             COUNT writes of one line each, "ID N ...\n" for
 *                             N = 0 .. COUNT-1 (lines of 20 to 200 bytes)
 *   l4log-test named NAME DEVICE TEXT
 *                             set this task's command name to NAME
 *                             (prctl), then write TEXT to DEVICE
 *   l4log-test load MODULE ARGS
 *                             finit_module(MODULE, ARGS); prints `l4log-load:
 *                             ERRNO` (0: loaded)
 *   l4log-test newlines DEVICE COUNT
 *                             COUNT writes of one newline each; prints
 *                             `l4log-timed: MS` as timed does
 *   l4log-test burst DEVICE COUNT RATE HELD
 *                             HELD files of DEVICE hold an unfinished line
 *                             each (3800 bytes, written 2 s before); their
 *                             lines end while one write of COUNT newlines goes
 *                             to DEVICE, and this process reads the
 *                             device's l4log-host-bytes every 5 ms; prints
 *                             `l4log-burst: N`, the most host bytes beyond
 *                             RATE bytes per second since then
 *   l4log-test closes DEVICE COUNT RATE
 *                             COUNT times: open DEVICE, write one byte
 *                             (no newline), close; reads the device's
 *                             l4log-host-bytes after each close; prints
 *                             `l4log-closes: N`, the most host bytes beyond
 *                             RATE bytes per second since the first open
 *   l4log-test close DEVICE TEXT
 *                             write TEXT, close, and print `l4log-close: MS
 *                             ms, dropped N`: the close's milliseconds and
 *                             the device's l4log-dropped-bytes after it
 *   l4log-test sleeps COUNT MS
 *                             COUNT sleeps of MS ms; prints `l4log-slept: MS`
 *                             with the milliseconds they took in all
 *   l4log-test zero           a zero-length write returns 0
 *   l4log-test fault N        write 2N bytes of which only the first N are
 *                             mapped: expect N back (N = 0: expect EFAULT)
 *
 * Exits 0 when the result is the expected one; says what it got otherwise.
 * The bytes of `fault` are PATTERN[i % 26] for the i-th byte of the page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEVICE "/dev/l4log"
static const char PATTERN[] = "abcdefghijklmnopqrstuvwxyz";

static int fail(const char *what)
{
	fprintf(stderr, "l4log-test: %s: %s\n", what, strerror(errno));
	return 1;
}

static int open_named(const char *device)
{
	int fd = open(device, O_WRONLY);

	if (fd < 0)
		exit(fail(device));
	return fd;
}

static int open_device(void)
{
	return open_named(DEVICE);
}

static int expect(ssize_t got, ssize_t want, int want_errno)
{
	if (got == want && (want >= 0 || errno == want_errno))
		return 0;
	fprintf(stderr, "l4log-test: write returned %zd (%s), expected %zd%s%s\n",
		got, got < 0 ? strerror(errno) : "no error", want,
		want < 0 ? " with " : "", want < 0 ? strerror(want_errno) : "");
	return 1;
}

/* Writes FILE to DEVICE in one write(2): timed (`l4log-timed: MS`), or non-blocking
 * (`l4log-written: N`, what the write returned: a short count is no failure). */
enum write_kind { WRITE_PLAIN, WRITE_TIMED, WRITE_NONBLOCKING };

static int write_file(const char *path, const char *device, enum write_kind kind)
{
	struct timespec start, end;
	struct stat st;
	char *data;
	int in = open(path, O_RDONLY);

	if (in < 0 || fstat(in, &st) < 0)
		return fail(path);
	data = malloc(st.st_size + 1);
	if (!data)
		return fail("malloc");
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = read(in, data + done, st.st_size - done);

		if (n <= 0)
			return fail(path);
		done += n;
	}
	int out = open_named(device);
	if (kind == WRITE_NONBLOCKING && fcntl(out, F_SETFL, O_NONBLOCK) < 0)
		return fail("fcntl");
	clock_gettime(CLOCK_MONOTONIC, &start);
	ssize_t written = write(out, data, st.st_size);
	clock_gettime(CLOCK_MONOTONIC, &end);
	if (kind == WRITE_TIMED)
		printf("l4log-timed: %ld\n",
		       (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000);
	if (kind == WRITE_NONBLOCKING) {
		printf("l4log-written: %zd\n", written);
		return written < 0 ? fail("write") : 0;
	}
	return expect(written, st.st_size, 0);
}

/* COUNT lines "ID N xxx...\n", one write each, of a length that varies with N. */
static int write_lines(const char *device, const char *id, long count)
{
	int out = open_named(device);
	char line[256];

	for (long n = 0; n < count; n++) {
		int len = snprintf(line, sizeof(line), "%s %ld ", id, n);
		int pad = 20 + (int)((n * 37) % 180) - len;

		for (int i = 0; i < pad; i++)
			line[len++] = PATTERN[(n + i) % 26];
		line[len++] = '\n';
		if (expect(write(out, line, len), len, 0))
			return 1;
	}
	return 0;
}

static int zero_length(void)
{
	char byte = 'x';

	return expect(write(open_device(), &byte, 0), 0, 0);
}

static int partly_unmapped(long mapped)
{
	long page = sysconf(_SC_PAGESIZE);
	char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (area == MAP_FAILED)
		return fail("mmap");
	if (mapped > page) {
		fprintf(stderr, "l4log-test: N must be at most %ld\n", page);
		return 1;
	}
	for (long i = 0; i < page; i++)
		area[i] = PATTERN[i % 26];
	if (munmap(area + page, page) < 0)
		return fail("munmap");
	return expect(write(open_device(), area + page - mapped, 2 * mapped + 1),
		      mapped ? mapped : -1, EFAULT);
}

static int write_named(const char *name, const char *device, const char *text)
{
	if (prctl(PR_SET_NAME, name, 0, 0, 0) < 0)
		return fail("prctl");
	return expect(write(open_named(device), text, strlen(text)), strlen(text), 0);
}

/* Loads the module at PATH with ARGS (finit_module); prints `l4log-load: ERRNO`, 0 when it
 * loaded. */
static int load_module(const char *path, const char *args)
{
	int module = open(path, O_RDONLY | O_CLOEXEC);
	long ret;

	if (module < 0)
		return fail(path);
	ret = syscall(SYS_finit_module, module, args, 0);
	printf("l4log-load: %d\n", ret == 0 ? 0 : errno);
	close(module);
	return ret == 0 ? 0 : 1;
}

/* COUNT writes of one newline each to DEVICE; prints `l4log-timed: MS` with the milliseconds
 * they took. */
static int write_newlines(const char *device, long count)
{
	struct timespec start, end;
	int out = open_named(device);

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long n = 0; n < count; n++)
		if (expect(write(out, "\n", 1), 1, 0))
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("l4log-timed: %ld\n",
	       (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000);
	return 0;
}

static long ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* The device's l4log-host-bytes, read through the open file PEEK; -1 if not found. */
static long host_bytes_now(int peek)
{
	char path[64], line[128];
	long bytes = -1;
	FILE *info;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", peek);
	info = fopen(path, "r");
	while (info && fgets(line, sizeof(line), info))
		sscanf(line, "l4log-host-bytes: %ld", &bytes);
	if (info)
		fclose(info);
	return bytes;
}

/* Bytes each held file of `burst` holds: an unfinished line, below the line buffer. */
#define HELD_BYTES 3800

/* A child that opens HELD files of DEVICE, writes HELD_BYTES bytes without a newline to each
 * (held by l4log for their line's end), and ends each line with a newline once GO is
 * readable; returns its pid, or -1. */
static pid_t holder(const char *device, int held, int go)
{
	pid_t pid = fork();
	static char text[HELD_BYTES];
	int fds[16];

	if (pid != 0)
		return pid;
	memset(text, 'h', sizeof(text));
	for (int i = 0; i < held && i < 16; i++) {
		fds[i] = open_named(device);
		if (expect(write(fds[i], text, sizeof(text)), sizeof(text), 0))
			_exit(1);
	}
	if (read(go, text, 1) != 1)
		_exit(1);
	for (int i = 0; i < held && i < 16; i++)
		if (expect(write(fds[i], "\n", 1), 1, 0))
			_exit(1);
	_exit(0);
}

/* HELD files of DEVICE hold an unfinished line each, taken 2 s before; then their lines end
 * while a child writes COUNT newlines to DEVICE in one write(2), and this process reads the device's
 * host bytes every 5 ms. Prints the most of them beyond what RATE bytes per second allow since
 * just before the closes and the write (each sample's time is taken after its read, which
 * allows the most). */
static int write_burst(const char *device, long count, long rate, int held)
{
	int peek = open_named(device), status, go[2], ok = 1;
	long before, most = 0;
	char *newlines = malloc(count);
	struct timespec start, pause = { 0, 5000000 }, settle = { 2, 0 };
	pid_t writer, closer;

	if (!newlines || pipe(go))
		return fail("burst");
	memset(newlines, '\n', count);
	closer = holder(device, held, go[0]);
	nanosleep(&settle, NULL);
	before = host_bytes_now(peek);
	if (before < 0 || closer < 0)
		return fail("host bytes");
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (write(go[1], "g", 1) != 1)
		return fail("go");
	writer = fork();
	if (writer == 0)
		_exit(expect(write(open_named(device), newlines, count), count, 0));
	for (int left = 2; left;) {
		pid_t done = waitpid(-1, &status, WNOHANG);
		long sent = host_bytes_now(peek) - before;
		long beyond = sent - rate * ms_since(&start) / 1000;

		if (beyond > most)
			most = beyond;
		if (done == writer || done == closer) {
			ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
			left--;
			continue;
		}
		nanosleep(&pause, NULL);
	}
	printf("l4log-burst: %ld\n", most);
	return ok ? 0 : 1;
}

/* COUNT opens of DEVICE, each writing one byte that only the close sends (stamped, on a
 * stamped channel: tens of bytes on the host); prints the most host bytes beyond what RATE
 * bytes per second allow since the first open, read after each close. */
static int write_closes(const char *device, long count, long rate)
{
	int peek = open_named(device);
	long before = host_bytes_now(peek), most = 0;
	struct timespec start;

	if (before < 0)
		return fail("host bytes");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < count; i++) {
		int out = open_named(device);
		long beyond;

		if (out < 0 || expect(write(out, "x", 1), 1, 0) || close(out))
			return fail("closes");
		beyond = host_bytes_now(peek) - before - rate * ms_since(&start) / 1000;
		if (beyond > most)
			most = beyond;
	}
	printf("l4log-closes: %ld\n", most);
	return 0;
}

/* Writes TEXT (an unfinished line) to DEVICE and closes it; prints the milliseconds the close
 * took and what the device counts dropped. */
static int close_timed(const char *device, const char *text)
{
	struct timespec start, end;
	int out = open_named(device), peek;
	char path[64], line[128];
	long dropped = -1;
	FILE *info;

	if (expect(write(out, text, strlen(text)), strlen(text), 0))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (close(out) < 0)
		return fail("close");
	clock_gettime(CLOCK_MONOTONIC, &end);
	peek = open_named(device);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", peek);
	info = fopen(path, "r");
	while (info && fgets(line, sizeof(line), info))
		sscanf(line, "l4log-dropped-bytes: %ld", &dropped);
	printf("l4log-close: %ld ms, dropped %ld\n",
	       (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000, dropped);
	return 0;
}

/* COUNT sleeps of MS milliseconds each; prints `l4log-slept: MS` with the milliseconds they
 * took in all: how late this guest wakes up now, the baseline of a timed case. */
static int timed_sleeps(long count, long ms)
{
	struct timespec start, end, pause = { ms / 1000, ms % 1000 * 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long n = 0; n < count; n++)
		nanosleep(&pause, NULL);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("l4log-slept: %ld\n",
	       (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "write"))
		return write_file(argv[2], argc == 4 ? argv[3] : DEVICE, WRITE_PLAIN);
	if (argc == 4 && !strcmp(argv[1], "timed"))
		return write_file(argv[2], argv[3], WRITE_TIMED);
	if (argc == 4 && !strcmp(argv[1], "nonblocking"))
		return write_file(argv[2], argv[3], WRITE_NONBLOCKING);
	if (argc == 5 && !strcmp(argv[1], "named"))
		return write_named(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "lines"))
		return write_lines(argv[2], argv[3], atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "load"))
		return load_module(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "newlines"))
		return write_newlines(argv[2], atol(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "burst"))
		return write_burst(argv[2], atol(argv[3]), atol(argv[4]), atoi(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "closes"))
		return write_closes(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "close"))
		return close_timed(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "sleeps"))
		return timed_sleeps(atol(argv[2]), atol(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "zero"))
		return zero_length();
	if (argc == 3 && !strcmp(argv[1], "fault"))
		return partly_unmapped(atol(argv[2]));
	fprintf(stderr, "usage: l4log-test write FILE [DEVICE] | timed FILE DEVICE | nonblocking FILE DEVICE | lines DEVICE ID COUNT | "
		"named NAME DEVICE TEXT | close DEVICE TEXT | closes DEVICE COUNT RATE | newlines DEVICE COUNT | "
		"burst DEVICE COUNT RATE HELD | "
		"load MODULE ARGS | sleeps COUNT MS | "
		"zero | fault N\n");
	return 2;
}
