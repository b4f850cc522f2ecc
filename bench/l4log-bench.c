// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-bench: measures, in one boot, the cost of writing to /dev/l4log, to
 * /dev/null (the system-call floor) and to the raw host channel with the
 * same chunk size, for several write sizes. Prints CSV lines:
 *
 *   bench,PATH,SIZE,ROUND,WRITES,NANOSECONDS,HOST_CALLS
 *   mem,WHAT,KIB
 *
 * PATH is l4log, null or raw. HOST_CALLS is what l4log counted for the
 * round (l4log only; -1 elsewhere). Each round writes for at least
 * --min-ms milliseconds. The raw path sends CHUNK bytes per host call, as
 * l4log does: with --raw-port, `rep outsb` to that I/O port from user space
 * (x86, needs ioperm: the qemu target's debug console); with --raw-fd, one
 * write(2) per chunk to that descriptor (run on the host of a uml guest);
 * with --no-device only the raw path is measured.
 *
 *   l4log-bench [--rounds N] [--min-ms MS] [--chunk BYTES]
 *               [--raw-port PORT | --raw-fd FD [--no-device]] SIZE...
 *   l4log-bench --memory MIB
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/io.h>
#endif

static int rounds = 5;
static long min_ns = 50L * 1000 * 1000;
static size_t chunk = 4096;
static int raw_port = -1;
static int raw_fd = -1;
static int device = 1;

static void die(const char *what)
{
	fprintf(stderr, "l4log-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* l4log's host-call counter, from the fdinfo of `fd` (an open /dev/l4log). */
static long host_calls(int fd)
{
	char path[64], line[128];
	long calls = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "l4log-host-calls: %ld", &calls);
	fclose(f);
	return calls;
}

static void write_all(int fd, const char *buf, size_t size)
{
	ssize_t n = write(fd, buf, size);

	if (n != (ssize_t)size) {
		fprintf(stderr, "l4log-bench: write of %zu returned %zd\n", size, n);
		die("write");
	}
}

/* The raw channel: what l4log's transport does per chunk, from user space. */
static void raw_write(const char *buf, size_t size)
{
	for (size_t done = 0; done < size; done += chunk) {
		size_t len = size - done < chunk ? size - done : chunk;
		const char *p = buf + done;

		if (raw_fd >= 0) {
			write_all(raw_fd, p, len);
			continue;
		}
#if defined(__x86_64__)
		__asm__ volatile("rep outsb"
				 : "+S"(p), "+c"(len)
				 : "d"((uint16_t)raw_port)
				 : "memory");
#endif
	}
}

static void measure(const char *path, const char *buf, size_t size, int round)
{
	int fd = -1, is_raw = !strcmp(path, "raw");
	long calls0 = -1, calls = -1, start, elapsed;
	long writes = 0;

	if (!is_raw) {
		fd = open(!strcmp(path, "l4log") ? "/dev/l4log" : "/dev/null", O_WRONLY);
		if (fd < 0)
			die(path);
	}
	if (!strcmp(path, "l4log"))
		calls0 = host_calls(fd);
	start = now_ns();
	do {
		if (is_raw) {
			raw_write(buf, size);
		} else {
			write_all(fd, buf, size);
		}
		writes++;
		elapsed = now_ns() - start;
	} while (elapsed < min_ns || writes < 3);
	if (calls0 >= 0)
		calls = host_calls(fd) - calls0;
	if (fd >= 0)
		close(fd);
	printf("bench,%s,%zu,%d,%ld,%ld,%ld\n", path, size, round, writes, elapsed, calls);
	fflush(stdout);
}

static long meminfo_kib(const char *key)
{
	char line[128];
	long value = -1, v;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && sscanf(line + strlen(key), ": %ld", &v) == 1)
			value = v;
	fclose(f);
	return value;
}

/* Guest memory in use (MemTotal - MemAvailable), in KiB. */
static long used_kib(void)
{
	return meminfo_kib("MemTotal") - meminfo_kib("MemAvailable");
}

static void memory(size_t mib)
{
	enum { FILES = 256 };
	int fds[FILES], pipefd[2];
	size_t size = mib << 20;
	char *buf = malloc(size);
	long before, peak = 0;
	pid_t sampler;

	if (!buf)
		die("malloc");
	memset(buf, 'm', size);

	before = used_kib();
	for (int i = 0; i < FILES; i++) {
		fds[i] = open("/dev/l4log", O_WRONLY);
		if (fds[i] < 0)
			die("open /dev/l4log");
	}
	printf("mem,per_open_file_bytes,%ld\n", (used_kib() - before) * 1024 / FILES);
	for (int i = 0; i < FILES; i++)
		close(fds[i]);

	/* A child samples memory in use while the parent makes one big write. */
	if (pipe(pipefd) < 0)
		die("pipe");
	before = used_kib();
	sampler = fork();
	if (sampler == 0) {
		char c;

		close(pipefd[1]);
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		while (read(pipefd[0], &c, 1) < 0) {
			long used = used_kib();

			if (used > peak)
				peak = used;
			usleep(2000);
		}
		printf("mem,during_write_peak_delta_kib,%ld\n", peak - before);
		fflush(stdout);
		_exit(0);
	}
	close(pipefd[0]);
	int fd = open("/dev/l4log", O_WRONLY);

	if (fd < 0)
		die("open /dev/l4log");
	long start = now_ns();

	write_all(fd, buf, size);
	printf("mem,write_mib,%zu\nmem,write_ns,%ld\n", mib, now_ns() - start);
	fflush(stdout);
	close(fd);
	close(pipefd[1]);
	waitpid(sampler, NULL, 0);
}

static void usage(void)
{
	fprintf(stderr, "usage: l4log-bench [--rounds N] [--min-ms MS] [--chunk B] "
			"[--raw-port P | --raw-fd FD [--no-device]] SIZE... | --memory MIB\n");
	exit(2);
}

static void parse_options(int argc, char **argv)
{
	static const struct option options[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "min-ms", required_argument, NULL, 'm' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "raw-port", required_argument, NULL, 'p' },
		{ "raw-fd", required_argument, NULL, 'f' },
		{ "no-device", no_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'M' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'm': min_ns = atol(optarg) * 1000 * 1000; break;
		case 'c': chunk = strtoul(optarg, NULL, 0); break;
		case 'p': raw_port = strtol(optarg, NULL, 0); break;
		case 'f': raw_fd = atoi(optarg); break;
		case 'n': device = 0; break;
		case 'M': memory(strtoul(optarg, NULL, 0)); exit(0);
		default: usage();
		}
	}
	if (optind >= argc || chunk == 0 || rounds < 1)
		usage();
}

int main(int argc, char **argv)
{
	size_t max = 0;
	char *buf;

	parse_options(argc, argv);
#if defined(__x86_64__)
	if (raw_port >= 0 && ioperm(raw_port, 1, 1) < 0)
		die("ioperm");
#else
	if (raw_port >= 0) {
		fprintf(stderr, "l4log-bench: --raw-port needs x86\n");
		return 2;
	}
#endif
	for (int i = optind; i < argc; i++)
		if (strtoul(argv[i], NULL, 0) > max)
			max = strtoul(argv[i], NULL, 0);
	buf = malloc(max);
	if (!buf)
		die("malloc");
	for (size_t i = 0; i < max; i++)
		buf[i] = 'a' + i % 26;
	for (int round = 0; round < rounds; round++)
		for (int i = optind; i < argc; i++) {
			size_t size = strtoul(argv[i], NULL, 0);
			char saved = buf[size - 1];

			/* Each write is one line, as a logging program's would be. */
			buf[size - 1] = '\n';
			if (device) {
				measure("l4log", buf, size, round);
				measure("null", buf, size, round);
			}
			if (raw_port >= 0 || raw_fd >= 0)
				measure("raw", buf, size, round);
			buf[size - 1] = saved;
		}
	return 0;
}
