// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-bench: measures, in one boot, the cost of writing to /dev/l4log with
 * escaping on and off, to /dev/null (the system-call floor) and to the raw
 * host channel, for several write sizes and three kinds of text (ascii: log
 * lines; utf8: lines of multi-byte UTF-8 text; binary: random bytes), round
 * by round so that figures compared are taken moments apart. Prints CSV:
 *
 *   target,NAME
 *   bench,PATH,KIND,SIZE,ROUND,WRITES,NANOSECONDS,CPU_NANOSECONDS,HOST_CALLS,HOST_BYTES
 *   mem,WHAT,KIB
 *
 * The target line comes first, with --target NAME only: the name the caller
 * files the figures under. PATH is on (l4log, escape=Y), off (l4log,
 * escape=N), null, raw-on, raw-off or (with --tty-fd) tty. CPU_NANOSECONDS is
 * the writer's CPU time in the measurement (user and system, getrusage()). HOST_CALLS and HOST_BYTES are per round, as l4log counted them
 * (l4log's paths); on the raw paths HOST_BYTES is what each write sends: the
 * bytes l4log's host got per write of the same text with escaping on
 * (raw-on) or off (raw-off, = SIZE). The raw channel sends CHUNK bytes per
 * host call, as l4log does: with --raw-port, `rep outsb` to that I/O port
 * from user space (x86, needs ioperm: the qemu target's debug console); with
 * --raw-fd, one write(2) per chunk to that descriptor. With --raw-dev, one
 * write(2) per write to that device, which sends it in chunks itself (the uml
 * target's /dev/l4log-raw, bench/rawhost; L4Linux's /dev/l4log-rawvcon,
 * bench/rawvcon). With --tty-fd, the path tty writes the text unescaped, one
 * write(2) of SIZE per write, to that descriptor (a tty in raw mode). l4log's
 * paths write to --device (default /dev/l4log). Each measurement writes for
 * at least --min-ms milliseconds and 3 writes.
 *
 *   l4log-bench [--target NAME] [--rounds N] [--min-ms MS] [--chunk BYTES]
 *               [--device PATH] [--tty-fd FD]
 *               [--raw-port PORT | --raw-fd FD | --raw-dev PATH] SIZE...
 *   l4log-bench --channels NAME,NAME... [--rounds N] [--min-ms MS] SIZE...
 *   l4log-bench --stamps STAMPED,PLAIN [--rounds N] [--min-ms MS] SIZE...
 *   l4log-bench --memory MIB
 *
 * --kind NAME measures only that kind of text (to profile one).
 *
 * --channels: named channels written at once against one alone, ascii text.
 * Each round, for each size, one writer alone on each /dev/l4log-NAME in turn,
 * and one writer process per channel, all started together (they open their
 * devices, then wait for one signal) and each writing for the same time.
 * Prints the guest's CPUs online, then per channel and measurement:
 *
 *   cpus,N
 *   chan,MODE,NAME,SIZE,ROUND,WRITES,NANOSECONDS,HOST_CALLS,HOST_BYTES
 *
 * MODE is alone or together (N writers at once, N the channels named).
 *
 * --stamps: a stamped channel against an unstamped one, the same ascii text,
 * /dev/l4log-STAMPED and /dev/l4log-PLAIN, which goes first alternating by
 * round (after a warm-up). HOST_BYTES counts the stamps:
 *
 *   stamp,ROLE,NAME,SIZE,ROUND,WRITES,NANOSECONDS,HOST_CALLS,HOST_BYTES
 *
 * ROLE is stamped or plain.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
static const char *raw_dev;
static const char *device = "/dev/l4log";
static int tty_fd = -1;
static int only_kind = -1;
/* --channels and --stamps: the named channels, from a comma-separated list. */
enum { CHANNELS_MAX = 16 };
static char *channels[CHANNELS_MAX];
static int channel_count;
static int stamps;

#define ESCAPE_PARAM "/sys/module/l4log/parameters/escape"

enum kind { ASCII, UTF8, BINARY, KINDS };
static const char *const kind_names[KINDS] = { "ascii", "utf8", "binary" };

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

/* xorshift64*, as the test programs have it. */
static uint64_t prng_state = 0x6c346c6f67;

static uint64_t prng(void)
{
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * 0x2545F4914F6CDD1DULL;
}

/* Whether a write size ends at `at` (its last byte is made a newline). */
static int ends_a_write(size_t at, char **sizes, int count)
{
	for (int i = 0; i < count; i++)
		if (strtoul(sizes[i], NULL, 0) - 1 == at)
			return 1;
	return 0;
}

/*
 * `size` bytes of text of `kind`. Lines of text are 30 to 126 bytes long;
 * utf8 lines mix ASCII with 2-, 3- and 4-byte characters (about half the
 * bytes), never across the last byte of a write size, which becomes '\n'.
 */
static char *make_text(enum kind kind, size_t size, char **sizes, int count)
{
	static const char *const words[] = { "caf\xc3\xa9", "na\xc3\xafve", "Gr\xc3\xb6\xc3\x9f" "e",
					     "\xe6\x9d\xb1\xe4\xba\xac", "\xd0\xbb\xd0\xbe\xd0\xb3",
					     "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xce\xb1\xce\xb2\xce\xb3",
					     "ok", "log", "request", "=", "42" };
	static const char ascii[] = "abcdefghijklmnopqrstuvwxyz0123456789 :=/[]-.,";
	char *buf = malloc(size);
	size_t at = 0, line_end = 29 + prng() % 91;

	if (!buf)
		die("malloc");
	while (at < size) {
		if (kind == BINARY) {
			buf[at++] = (char)prng();
			continue;
		}
		if (at >= line_end) {
			buf[at++] = '\n';
			line_end = at + 29 + prng() % 91;
			continue;
		}
		if (kind == UTF8 && prng() % 2) {
			const char *word = words[prng() % (sizeof(words) / sizeof(words[0]))];
			size_t len = strlen(word), i;

			for (i = 0; i < len && at + i < size && !ends_a_write(at + i, sizes, count); i++)
				;
			if (i == len) {
				memcpy(buf + at, word, len);
				at += len;
				continue;
			}
		}
		buf[at++] = ascii[prng() % (sizeof(ascii) - 1)];
	}
	return buf;
}

/* l4log's counters, from the fdinfo of `fd` (an open /dev/l4log). */
static void host_counters(int fd, long *calls, long *bytes)
{
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "l4log-host-calls: %ld", calls);
		sscanf(line, "l4log-host-bytes: %ld", bytes);
	}
	fclose(f);
}

static void set_escape(int on)
{
	int fd = open(ESCAPE_PARAM, O_WRONLY);

	if (fd < 0 || write(fd, on ? "Y" : "N", 1) != 1)
		die(ESCAPE_PARAM);
	close(fd);
}

static void write_all(int fd, const char *buf, size_t size)
{
	ssize_t n = write(fd, buf, size);

	if (n != (ssize_t)size) {
		fprintf(stderr, "l4log-bench: write of %zu returned %zd\n", size, n);
		die("write");
	}
}

/*
 * The raw channel: what l4log's transport does per chunk, from user space, or
 * (--raw-dev) the whole write to a device that does it in the kernel.
 */
static void raw_write(const char *buf, size_t size)
{
	if (raw_dev) {
		write_all(raw_fd, buf, size);
		return;
	}
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

struct result {
	long writes, ns, cpu_ns, calls, bytes;
};

/* The CPU time this process has used, user and system, in nanoseconds. */
static long cpu_ns(void)
{
	struct rusage usage;

	if (getrusage(RUSAGE_SELF, &usage) < 0)
		die("getrusage");
	return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000L +
	       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000L;
}

/* Whether `path` is one of l4log's devices (/dev/l4log, /dev/l4log-NAME), which count host calls. */
static int is_l4log(const char *path)
{
	return !strncmp(path, "/dev/l4log", 10) && !(raw_dev && !strcmp(path, raw_dev));
}

/* Writes `size` bytes of `buf` to the open `fd` until the time is up; counts l4log's host calls. */
static struct result measure_fd(int fd, int l4log, const char *buf, size_t size)
{
	struct result r = { 0, 0, 0, -1, -1 };
	long calls0 = 0, bytes0 = 0, start, cpu0;

	if (l4log)
		host_counters(fd, &calls0, &bytes0);
	cpu0 = cpu_ns();
	start = now_ns();
	do {
		write_all(fd, buf, size);
		r.writes++;
		r.ns = now_ns() - start;
	} while (r.ns < min_ns || r.writes < 3);
	r.cpu_ns = cpu_ns() - cpu0;
	if (l4log) {
		host_counters(fd, &r.calls, &r.bytes);
		r.calls -= calls0;
		r.bytes -= bytes0;
	}
	return r;
}

/* Writes `size` bytes of `buf` to `path` (an l4log device or /dev/null) until the time is up. */
static struct result measure_device(const char *path, const char *buf, size_t size)
{
	struct result r;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		die(path);
	r = measure_fd(fd, is_l4log(path), buf, size);
	close(fd);
	return r;
}

/* Sends `bytes` bytes per write through the raw channel until the time is up. */
static struct result measure_raw(const char *buf, size_t bytes)
{
	struct result r = { 0, 0, 0, -1, (long)bytes };
	long cpu0 = cpu_ns(), start = now_ns();

	do {
		raw_write(buf, bytes);
		r.writes++;
		r.ns = now_ns() - start;
	} while (r.ns < min_ns || r.writes < 3);
	r.cpu_ns = cpu_ns() - cpu0;
	return r;
}

static void report(const char *path, enum kind kind, size_t size, int round, struct result r)
{
	printf("bench,%s,%s,%zu,%d,%ld,%ld,%ld,%ld,%ld\n", path, kind_names[kind], size, round, r.writes, r.ns,
	       r.cpu_ns, r.calls, r.bytes);
	fflush(stdout);
}

/* A buffer of at least `bytes` bytes for the raw channel: `text` repeated. */
static const char *raw_buffer(const char *text, size_t size, size_t bytes)
{
	static char *buf;
	static size_t capacity;

	if (bytes <= size)
		return text;
	if (bytes > capacity) {
		free(buf);
		buf = malloc(bytes);
		if (!buf)
			die("malloc");
		capacity = bytes;
	}
	for (size_t at = 0; at < bytes; at += size)
		memcpy(buf + at, text, bytes - at < size ? bytes - at : size);
	return buf;
}

/* One round of one size and kind: l4log with escaping on and off, /dev/null, the raw channel
 * and the tty. */
static void measure_all(char *text, enum kind kind, size_t size, int round)
{
	int raw = raw_port >= 0 || raw_fd >= 0;
	char saved = text[size - 1];
	struct result on, off;

	/* Each write ends a line, as a logging program's would. */
	if (kind != BINARY)
		text[size - 1] = '\n';
	/*
	 * A first measurement after a change of size or kind runs slower (on uml, about 10 us
	 * per 64 KiB write while the host's reader catches up): a warm-up write phase, not
	 * counted, then on first in even rounds and off first in odd ones.
	 */
	set_escape(round % 2 == 0);
	measure_device(device, text, size);
	for (int i = 0; i < 2; i++) {
		int escape = (i + round) % 2 == 0;

		set_escape(escape);
		if (escape)
			on = measure_device(device, text, size);
		else
			off = measure_device(device, text, size);
	}
	report("on", kind, size, round, on);
	report("off", kind, size, round, off);
	report("null", kind, size, round, measure_device("/dev/null", text, size));
	if (raw) {
		size_t on_bytes = (size_t)(on.bytes / on.writes);

		report("raw-on", kind, size, round, measure_raw(raw_buffer(text, size, on_bytes), on_bytes));
		report("raw-off", kind, size, round, measure_raw(text, size));
	}
	if (tty_fd >= 0)
		report("tty", kind, size, round, measure_fd(tty_fd, 0, text, size));
	text[size - 1] = saved;
}

static void channel_path(char *path, size_t len, const char *name)
{
	snprintf(path, len, "/dev/l4log-%s", name);
}

static void report_named(const char *what, const char *mode, const char *name, size_t size, int round,
			 struct result r)
{
	printf("%s,%s,%s,%zu,%d,%ld,%ld,%ld,%ld\n", what, mode, name, size, round, r.writes, r.ns, r.calls,
	       r.bytes);
	fflush(stdout);
}

/*
 * One writer process per channel, all started together: each opens its device and says so,
 * then all wait for the same signal (the end of a pipe) and write for the same time.
 */
static void measure_together(const char *text, size_t size, int round, int counted)
{
	int ready[2], go[2];
	pid_t pids[CHANNELS_MAX];

	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	fflush(stdout);
	for (int i = 0; i < channel_count; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			char path[64], c = 1;
			struct result r;
			int fd;

			close(ready[0]);
			close(go[1]);
			channel_path(path, sizeof(path), channels[i]);
			fd = open(path, O_WRONLY);
			if (fd < 0)
				die(path);
			if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 0)
				die("start");
			r = measure_fd(fd, 1, text, size);
			close(fd);
			if (counted)
				report_named("chan", "together", channels[i], size, round, r);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (int i = 0; i < channel_count; i++) {
		char c;

		if (read(ready[0], &c, 1) != 1)
			die("a writer did not start");
	}
	close(go[1]); /* go */
	close(ready[0]);
	for (int i = 0; i < channel_count; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "l4log-bench: the writer on %s failed\n", channels[i]);
			exit(1);
		}
	}
}

/* One round of one size: each channel alone, and all together (which first alternates by round). */
static void measure_channels(char *text, size_t size, int round)
{
	char saved = text[size - 1];

	text[size - 1] = '\n';
	/* A warm-up of every channel at this size, not counted (see measure_all). */
	measure_together(text, size, round, 0);
	for (int i = 0; i < 2; i++) {
		if ((i + round) % 2 == 0) {
			measure_together(text, size, round, 1);
			continue;
		}
		for (int c = 0; c < channel_count; c++) {
			int ch = (c + round) % channel_count;
			char path[64];

			channel_path(path, sizeof(path), channels[ch]);
			report_named("chan", "alone", channels[ch], size, round, measure_device(path, text, size));
		}
	}
	text[size - 1] = saved;
}

/* One round of one size: the stamped channel (channels[0]) and the plain one (channels[1]). */
static void measure_stamps(char *text, size_t size, int round)
{
	char saved = text[size - 1], stamped[64], plain[64];

	text[size - 1] = '\n';
	channel_path(stamped, sizeof(stamped), channels[0]);
	channel_path(plain, sizeof(plain), channels[1]);
	/* A warm-up of both at this size, not counted (see measure_all). */
	measure_device(round % 2 ? plain : stamped, text, size);
	measure_device(round % 2 ? stamped : plain, text, size);
	for (int i = 0; i < 2; i++) {
		if ((i + round) % 2 == 0)
			report_named("stamp", "stamped", channels[0], size, round, measure_device(stamped, text, size));
		else
			report_named("stamp", "plain", channels[1], size, round, measure_device(plain, text, size));
	}
	text[size - 1] = saved;
}

static void parse_channels(char *list)
{
	for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
		if (channel_count == CHANNELS_MAX) {
			fprintf(stderr, "l4log-bench: more than %d channels\n", CHANNELS_MAX);
			exit(2);
		}
		channels[channel_count++] = name;
	}
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
	fprintf(stderr, "usage: l4log-bench [--target NAME] [--rounds N] [--min-ms MS] [--chunk B] "
			"[--device PATH] [--tty-fd FD] [--raw-port P | --raw-fd FD | --raw-dev PATH] [--kind K] "
			"SIZE... | --memory MIB\n"
			"       l4log-bench (--channels NAME,NAME... | --stamps STAMPED,PLAIN) [--rounds N] "
			"[--min-ms MS] SIZE...\n");
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
		{ "raw-dev", required_argument, NULL, 'd' },
		{ "memory", required_argument, NULL, 'M' },
		{ "kind", required_argument, NULL, 'k' },
		{ "channels", required_argument, NULL, 'C' },
		{ "stamps", required_argument, NULL, 'S' },
		{ "device", required_argument, NULL, 'D' },
		{ "tty-fd", required_argument, NULL, 't' },
		{ "target", required_argument, NULL, 'T' },
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
		case 'd': raw_dev = optarg; break;
		case 'D': device = optarg; break;
		case 't': tty_fd = atoi(optarg); break;
		case 'T': printf("target,%s\n", optarg); break;
		case 'k':
			for (int kind = 0; kind < KINDS; kind++)
				if (!strcmp(optarg, kind_names[kind]))
					only_kind = kind;
			if (only_kind < 0)
				usage();
			break;
		case 'C': parse_channels(optarg); break;
		case 'S': parse_channels(optarg); stamps = 1; break;
		case 'M': memory(strtoul(optarg, NULL, 0)); exit(0);
		default: usage();
		}
	}
	if (chunk == 0 || rounds < 1 || optind >= argc ||
	    (raw_port >= 0) + (raw_fd >= 0) + !!raw_dev > 1 ||
	    (stamps && channel_count != 2) || (channel_count && (raw_port >= 0 || raw_fd >= 0 || raw_dev)))
		usage();
}

int main(int argc, char **argv)
{
	size_t max = 0;
	char *texts[KINDS];

	parse_options(argc, argv);
	if (raw_dev) {
		raw_fd = open(raw_dev, O_WRONLY);
		if (raw_fd < 0)
			die(raw_dev);
	}
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
	for (int kind = 0; kind < KINDS; kind++)
		texts[kind] = make_text(kind, max, argv + optind, argc - optind);
	if (channel_count) {
		if (!stamps)
			printf("cpus,%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
		for (int round = 0; round < rounds; round++)
			for (int i = optind; i < argc; i++) {
				size_t size = strtoul(argv[i], NULL, 0);

				if (stamps)
					measure_stamps(texts[ASCII], size, round);
				else
					measure_channels(texts[ASCII], size, round);
			}
		return 0;
	}
	for (int round = 0; round < rounds; round++)
		for (int i = optind; i < argc; i++)
			for (int kind = 0; kind < KINDS; kind++)
				if (only_kind < 0 || kind == only_kind)
					measure_all(texts[kind], kind, strtoul(argv[i], NULL, 0), round);
	set_escape(1);
	return 0;
}
