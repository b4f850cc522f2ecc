// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-adversary: the adversarial cases of l4log's test suite, run in the
 * guest (statically linked). Each subcommand does its system calls, checks
 * what the kernel returned, prints `l4log-adv: ...` lines that the host side
 * (tests/suite/adversarial.py) reads, and exits 0 only when every return
 * value was the expected one. The host then compares its log with what was
 * written.
 *
 *   unmapped             a write from an unmapped page: EFAULT, nothing sent
 *   small                zero-length and 1-byte writes
 *   big MIB              one write of MIB MiB (the 251-byte block of
 *                        block_byte() repeated), sampling guest memory meanwhile
 *   writev COUNT SEED    one writev of COUNT small iovecs (PRNG data)
 *   lines WRITERS LINES  WRITERS processes, each its own open file, each
 *                        writing LINES lines in random fragments at once
 *   shared threads|fork WRITERS LINES
 *                        WRITERS threads (or processes, forked after the
 *                        open) sharing one open file, each writing LINES
 *                        lines in writes of 1 to 20 whole lines at once
 *   throttle             signals and O_NONBLOCK against the rate limit
 *   sleeper              a write sleeping on the rate limit; rmmod meanwhile
 *   nonroot UID GID      open as UID:GID (supplementary group GID): prints
 *                        the result (the host knows which one to expect)
 *   efault UID           as UID, system calls whose user memory is not
 *                        (all) mapped: writes to a tmpfs file, a pipe and
 *                        /dev/l4log from partly and wholly unmapped
 *                        buffers, reads into unmapped buffers, poll and
 *                        select with unmapped arrays, pipe, futex, prctl
 *                        and getsockopt (where there are sockets) with
 *                        unmapped arguments; each must fail with EFAULT
 *                        (a partly mapped write may instead take the
 *                        mapped bytes)
 *   fuzz SECONDS SEED    random sizes and offsets, write and writev, for
 *                        SECONDS and at least 20 operations; prints how
 *                        many operations ran
 *
 * The PRNG is xorshift64*, the same as tests/suite/harness.py's, so that the
 * host can compute the bytes that were written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEVICE "/dev/l4log"
#define PARAMS "/sys/module/l4log/parameters/"
#define FUZZ_BUFFER (1 << 20)

static int failures;

static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failed(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "l4log-adversary: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static int open_device(int flags)
{
	int fd = open(DEVICE, O_WRONLY | flags);

	if (fd < 0) {
		fprintf(stderr, "l4log-adversary: open %s: %s\n", DEVICE, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Checks a write's result: `want` bytes, or -1 with `want_errno`. */
static void expect(const char *what, ssize_t got, ssize_t want, int want_errno)
{
	if (got == want && (want >= 0 || errno == want_errno))
		return;
	failed("%s: returned %zd (%s), expected %zd (%s)", what, got,
	       got < 0 ? strerror(errno) : "no error", want,
	       want < 0 ? strerror(want_errno) : "no error");
}

static void set_param(const char *name, const char *value)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) {
		fprintf(stderr, "l4log-adversary: setting %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return rng() % n;
}

static void seed(uint64_t value)
{
	rng_state = value ? value : 1;
}

/* Fills `buf` with PRNG bytes, eight (little endian) per number. */
static void fill_random(unsigned char *buf, size_t size)
{
	for (size_t i = 0; i < size; i += 8) {
		uint64_t r = rng();

		for (size_t j = 0; j < 8 && i + j < size; j++)
			buf[i + j] = r >> (8 * j);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- unmapped, small ------------------------------------------------------ */

static void unmapped(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *area = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *volatile low_address = (char *)1; /* volatile: no compile-time check */
	int fd = open_device(0);

	munmap(area, page);
	expect("write from an unmapped page", write(fd, area, 10), -1, EFAULT);
	expect("write from address 1", write(fd, low_address, 1), -1, EFAULT);
	close(fd);
}

static void small(void)
{
	int fd = open_device(0);

	expect("zero-length write", write(fd, "z", 0), 0, 0);
	expect("1-byte write", write(fd, "a", 1), 1, 0);
	expect("1-byte write", write(fd, "\n", 1), 1, 0);
	expect("zero-length write from NULL", write(fd, NULL, 0), 0, 0);
	close(fd);
}

/* --- big ------------------------------------------------------------------ */

/* The i-th byte of the 251-byte block `big` repeats. */
static unsigned char block_byte(size_t i)
{
	return (i * 37 + 11) & 0xff;
}

static long meminfo_kib(const char *key)
{
	char line[256];
	long value = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			value = atol(line + strlen(key) + 1);
	if (f)
		fclose(f);
	return value;
}

static void big(long mib)
{
	size_t size = (size_t)mib << 20;
	unsigned char *buf = malloc(size);
	long before = meminfo_kib("MemFree"), slab_before = meminfo_kib("Slab");
	int pipefd[2];
	pid_t sampler;
	double start;
	ssize_t got;

	if (!buf || pipe(pipefd) < 0) {
		failed("no memory for %ld MiB", mib);
		return;
	}
	for (size_t i = 0; i < size; i++)
		buf[i] = block_byte(i % 251);
	before = meminfo_kib("MemFree");
	slab_before = meminfo_kib("Slab");
	sampler = fork();
	if (sampler == 0) {
		long low = before, slab_high = slab_before;
		char c;

		close(pipefd[1]);
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		while (read(pipefd[0], &c, 1) < 0 && errno == EAGAIN) {
			long free_now = meminfo_kib("MemFree"), slab = meminfo_kib("Slab");

			low = free_now < low ? free_now : low;
			slab_high = slab > slab_high ? slab : slab_high;
			usleep(20000);
		}
		printf("l4log-adv: memory-kib free-before=%ld free-lowest=%ld slab-before=%ld slab-highest=%ld\n",
		       before, low, slab_before, slab_high);
		exit(0);
	}
	close(pipefd[0]);
	start = now();
	got = write(open_device(0), buf, size);
	printf("l4log-adv: big-write %zd bytes in %.1f s\n", got, now() - start);
	expect("big write", got, size, 0);
	write(pipefd[1], "x", 1);
	waitpid(sampler, NULL, 0);
	printf("l4log-adv: memory-kib free-after=%ld\n", meminfo_kib("MemFree"));
}

/* --- writev --------------------------------------------------------------- */

static void many_iovecs(int count, uint64_t seed_value)
{
	static unsigned char data[1 << 16];
	struct iovec *iov = calloc(count, sizeof(*iov));
	size_t total = 0;

	seed(seed_value);
	fill_random(data, sizeof(data));
	for (int i = 0; i < count; i++) {
		size_t len = below(8);

		iov[i].iov_base = data + below(sizeof(data) - 8);
		iov[i].iov_len = len;
		total += len;
	}
	expect("writev", writev(open_device(0), iov, count), total, 0);
}

/* --- lines ---------------------------------------------------------------- */

/* Line `n` of writer `w`: "wW lNNNN " and letters, then a newline. */
static size_t make_line(char *buf, int w, int n)
{
	size_t len = sprintf(buf, "w%d l%04d ", w, n);
	size_t letters = ((size_t)w * 1000 + n) * 13 % 300;

	memset(buf + len, 'a' + (w + n) % 26, letters);
	len += letters;
	buf[len++] = '\n';
	return len;
}

static int writer(int w, int lines)
{
	int fd = open_device(0);
	char buf[8192];
	size_t len = 0;

	seed(1000 + w);
	for (int n = 0; n < lines; n++) {
		len += make_line(buf + len, w, n);
		/* Sometimes several lines go in one write. */
		if (len < 2048 && below(4) == 0 && n + 1 < lines)
			continue;
		for (size_t done = 0; done < len;) {
			size_t piece = 1 + below(len - done);
			ssize_t got = write(fd, buf + done, piece);

			if (got != (ssize_t)piece) {
				fprintf(stderr, "writer %d: write returned %zd of %zu\n", w, got, piece);
				return 1;
			}
			done += piece;
		}
		len = 0;
	}
	return close(fd) ? 1 : 0;
}

static void concurrent_lines(int writers, int lines)
{
	for (int w = 0; w < writers; w++)
		if (fork() == 0)
			exit(writer(w, lines));
	for (int w = 0; w < writers; w++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed("a writer failed");
	}
}

/* Writer `w` of a shared file: its lines in writes of 1 to 20 lines (up to about 6 KiB, more
 * than a line buffer holds, so that a write takes several steps). */
static int shared_writer(int fd, int w, int lines)
{
	char buf[20 * 320];
	uint64_t state = 0x5eed + w;

	for (int n = 0; n < lines;) {
		size_t len = 0;
		int batch;

		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		batch = 1 + (state >> 33) % 20;
		for (int i = 0; i < batch && n < lines; i++)
			len += make_line(buf + len, w, n++);
		if (write(fd, buf, len) != (ssize_t)len) {
			fprintf(stderr, "shared writer %d: write of %zu bytes: %s\n", w, len, strerror(errno));
			return 1;
		}
	}
	return 0;
}

struct shared_thread {
	pthread_t thread;
	int fd, w, lines, status;
};

static void *shared_thread(void *arg)
{
	struct shared_thread *t = arg;

	t->status = shared_writer(t->fd, t->w, t->lines);
	return NULL;
}

static void shared_lines(const char *how, int writers, int lines)
{
	int fd = open_device(0);

	if (!strcmp(how, "threads")) {
		struct shared_thread t[64];

		if (writers > 64)
			writers = 64;
		for (int w = 0; w < writers; w++) {
			t[w] = (struct shared_thread){ .fd = fd, .w = w, .lines = lines };
			if (pthread_create(&t[w].thread, NULL, shared_thread, &t[w]))
				failed("pthread_create");
		}
		for (int w = 0; w < writers; w++) {
			pthread_join(t[w].thread, NULL);
			if (t[w].status)
				failed("shared thread %d failed", w);
		}
	} else {
		for (int w = 0; w < writers; w++)
			if (fork() == 0)
				exit(shared_writer(fd, w, lines));
		for (int w = 0; w < writers; w++) {
			int status;

			if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
				failed("a forked writer failed");
		}
	}
	if (close(fd))
		failed("close of the shared file: %s", strerror(errno));
}

/* --- rate limit ----------------------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
}

/* Arms SIGALRM `seconds` from now; its handler does not restart system calls. */
static void alarm_in(double seconds)
{
	struct itimerval timer = { .it_value = {
		.tv_sec = (time_t)seconds,
		.tv_usec = (suseconds_t)((seconds - (time_t)seconds) * 1e6) } };

	setitimer(ITIMER_REAL, &timer, NULL);
}

/* Writes `size` bytes of `letter`; prints what the host should get: the
 * letter's code and how many were taken. */
static ssize_t write_letters(int fd, char letter, size_t size)
{
	char buf[8192];
	ssize_t got;

	memset(buf, letter, size);
	got = write(fd, buf, size);
	printf("l4log-adv: wrote %d %zd\n", letter, got < 0 ? 0 : got);
	fflush(stdout);
	return got;
}

static void throttle(void)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	int fd;
	ssize_t got;
	double start;

	sigaction(SIGALRM, &sa, NULL);
	set_param("rate_limit", "1000");
	fd = open_device(0);
	/* A blocking write over the limit sleeps; a signal returns what was taken. */
	alarm_in(1.5);
	start = now();
	got = write_letters(fd, 'a', 4000);
	if (got <= 0 || got >= 4000)
		failed("throttled write interrupted after 1.5 s: %zd bytes, want some but not all", got);
	if (now() - start < 1.0)
		failed("throttled write returned after %.2f s, before the signal", now() - start);
	/*
	 * At 1 byte/s, a 2-byte write waits for its bytes and returns as it
	 * takes the second: the bucket is empty then, and a signal within
	 * 0.3 s comes before the next byte, so no byte is taken: EINTR.
	 */
	set_param("rate_limit", "1");
	got = write_letters(fd, 'b', 2);
	expect("write of 2 bytes at 1 byte/s", got, 2, 0);
	alarm_in(0.3);
	got = write_letters(fd, 'c', 10);
	expect("write at 1 byte/s, signal before any byte", got, -1, EINTR);
	close(fd);
	/* Non-blocking: EAGAIN at once when the bucket is empty, a short count when not. */
	fd = open_device(O_NONBLOCK);
	start = now();
	got = write_letters(fd, 'd', 10);
	expect("non-blocking write over the limit", got, -1, EAGAIN);
	if (now() - start > 0.5)
		failed("non-blocking write took %.2f s", now() - start);
	sleep(1);
	got = write_letters(fd, 'e', 10);
	expect("non-blocking write after 1 s at 1 byte/s", got, 1, 0);
	close(fd);
	set_param("rate_limit", "0");
	fd = open_device(0);
	got = write_letters(fd, '\n', 1);
	expect("write without a limit", got, 1, 0);
	close(fd);
}

/* A writer sleeps on the rate limit; rmmod must fail; SIGKILL ends the sleep. */
static void sleeper(void)
{
	pid_t child;
	int status;

	set_param("rate_limit", "1");
	/* A second at 1 byte/s fills the bucket: the write takes its first byte at once, holds it
	 * (no newline) and sleeps for the second; the close at the writer's death sends the 'k'. */
	usleep(1100000);
	child = fork();
	if (child == 0) {
		char buf[64];

		memset(buf, 'k', sizeof(buf));
		write(open_device(0), buf, sizeof(buf)); /* sleeps for about a minute */
		exit(3);
	}
	usleep(500000);
	if (system("rmmod l4log 2>/dev/null") == 0)
		failed("rmmod succeeded while a write was sleeping");
	kill(child, SIGKILL);
	if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status))
		failed("the sleeping writer did not die of SIGKILL");
	set_param("rate_limit", "0");
	if (system("rmmod l4log") != 0)
		failed("rmmod after the writer died failed");
}

/* --- access --------------------------------------------------------------- */

static void nonroot(uid_t uid, gid_t gid)
{
	pid_t child = fork();
	int status;

	if (child == 0) {
		int fd;

		if (setgroups(1, &gid) || setgid(gid) || setuid(uid)) {
			perror("l4log-adversary: dropping root");
			exit(2);
		}
		fd = open(DEVICE, O_WRONLY);
		if (fd < 0) {
			printf("l4log-adv: nonroot open: %s\n", strerror(errno));
			exit(0);
		}
		printf("l4log-adv: nonroot open: ok\n");
		write_letters(fd, 'n', 3);
		exit(0);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		failed("the non-root child failed");
}

/* --- user accesses that fault --------------------------------------------- */

/* A result that must be EFAULT, or with `mapped` > 0 that many bytes (a partly mapped buffer's
 * mapped part; Linux before 5.18 fails such a write to a file whole). */
static void efault_expect(const char *what, ssize_t got, ssize_t mapped)
{
	if ((got == -1 && errno == EFAULT) || (mapped > 0 && got == mapped))
		printf("l4log-adv: efault %s: %s\n", what, got < 0 ? "EFAULT" : "mapped part");
	else
		failed("%s as a user: returned %zd (%s), want EFAULT%s", what, got,
		       got < 0 ? strerror(errno) : "no error", mapped > 0 ? " or the mapped part" : "");
}

static void efault_calls(void)
{
	long page = sysconf(_SC_PAGESIZE);
	/* Two pages: the first mapped and filled, the second unmapped. */
	char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = area + page, *partly = hole - 100;
	int pipes[2], file = open("/tmp/l4log-efault", O_WRONLY), dev = open_device(0), sock;
	struct pollfd *fds = (struct pollfd *)hole;
	struct timeval zero = { 0 };
	socklen_t *len = (socklen_t *)hole;

	memset(area, 'u', page);
	munmap(hole, page);
	/* Non-blocking: a mistake here fails the case instead of hanging it. */
	if (file < 0 || pipe2(pipes, O_NONBLOCK))
		failed("efault: setting up: %s", strerror(errno));
	efault_expect("tmpfs write, partly mapped", write(file, partly, 200), 100);
	efault_expect("tmpfs write, unmapped", write(file, hole, 200), 0);
	efault_expect("pipe write, partly mapped", write(pipes[1], partly, 200), 100);
	efault_expect("pipe write, unmapped", write(pipes[1], hole, 200), 0);
	efault_expect("l4log write, partly mapped", write(dev, partly, 200), 100);
	efault_expect("l4log write, unmapped", write(dev, hole, 200), 0);
	/* Bytes in the pipe, to be read into unmapped memory. */
	if (write(pipes[1], "abc", 3) != 3)
		failed("efault: filling the pipe: %s", strerror(errno));
	efault_expect("pipe read into unmapped", read(pipes[0], hole, 10), 0);
	efault_expect("poll with an unmapped array", poll(fds, 1, 0), 0);
	efault_expect("select with an unmapped set", select(1, (fd_set *)hole, NULL, NULL, &zero), 0);
	efault_expect("pipe() into unmapped", pipe((int *)hole), 0);
	/* get_user and put_user of single values. */
	efault_expect("futex wait on unmapped", syscall(SYS_futex, hole, FUTEX_WAIT, 0, NULL, NULL, 0), 0);
	efault_expect("prctl result into unmapped", prctl(PR_GET_PDEATHSIG, hole), 0);
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0) {
		/* The test kernels of qemu and uml have no networking. */
		printf("l4log-adv: efault getsockopt with an unmapped length: no sockets here\n");
		printf("l4log-adv: efault getsockopt with an unmapped value: no sockets here\n");
	} else {
		efault_expect("getsockopt with an unmapped length",
			      getsockopt(sock, SOL_SOCKET, SO_TYPE, area, len), 0);
		/* A length that is mapped, a value that is not: the kernel's put_user of it. */
		*(socklen_t *)area = sizeof(int);
		efault_expect("getsockopt with an unmapped value",
			      getsockopt(sock, SOL_SOCKET, SO_TYPE, hole, (socklen_t *)area), 0);
		close(sock);
	}
	close(dev);
	close(file);
}

static void efault(uid_t uid)
{
	pid_t child;
	int status, fd = open("/tmp/l4log-efault", O_WRONLY | O_CREAT | O_TRUNC, 0600);

	/* The user's own file, and /dev/l4log open to all for the run. */
	if (fd < 0 || fchown(fd, uid, uid) || chmod(DEVICE, 0666))
		failed("efault: setting up: %s", strerror(errno));
	close(fd);
	child = fork();
	if (child == 0) {
		if (setgroups(0, NULL) || setgid(uid) || setuid(uid)) {
			perror("l4log-adversary: dropping root");
			exit(2);
		}
		efault_calls();
		exit(failures ? 1 : 0);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		failed("the unprivileged child failed");
	chmod(DEVICE, 0600);
	unlink("/tmp/l4log-efault");
}

/* --- fuzz ----------------------------------------------------------------- */

/* One random operation on `fd`; its choices must match tests/suite/adversarial.py's fuzz_stream. */
static void fuzz_op(int fd, const unsigned char *buf)
{
	uint64_t kind = below(8);
	size_t size;

	if (kind == 7) {
		struct iovec iov[64];
		int count = 1 + below(64);
		size_t total = 0;

		for (int i = 0; i < count; i++) {
			iov[i].iov_len = below(200);
			iov[i].iov_base = (void *)(buf + below(FUZZ_BUFFER - 200));
			total += iov[i].iov_len;
		}
		expect("fuzz writev", writev(fd, iov, count), total, 0);
		return;
	}
	size = kind == 0 ? 0 : kind <= 2 ? 1 + below(16) : kind <= 5 ? 1 + below(8192) : 1 + below(70000);
	expect("fuzz write", write(fd, buf + below(FUZZ_BUFFER - size), size), size, 0);
}

#define FUZZ_MIN_OPS 20

static void fuzz(double seconds, uint64_t seed_value)
{
	unsigned char *buf = malloc(FUZZ_BUFFER);
	int fd = open_device(0);
	double end = now() + seconds;
	long ops = 0;

	seed(seed_value);
	fill_random(buf, FUZZ_BUFFER);
	/* At least FUZZ_MIN_OPS operations however slow the guest runs (a debug kernel under
	 * TCG beside other guests): the host checks that many ran. */
	while ((now() < end || ops < FUZZ_MIN_OPS) && !failures) {
		fuzz_op(fd, buf);
		ops++;
	}
	close(fd);
	printf("l4log-adv: fuzz-ops %ld\n", ops);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "unmapped") && argc == 2)
		unmapped();
	else if (!strcmp(cmd, "small") && argc == 2)
		small();
	else if (!strcmp(cmd, "big") && argc == 3)
		big(atol(argv[2]));
	else if (!strcmp(cmd, "writev") && argc == 4)
		many_iovecs(atoi(argv[2]), strtoull(argv[3], NULL, 0));
	else if (!strcmp(cmd, "lines") && argc == 4)
		concurrent_lines(atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(cmd, "shared") && argc == 5)
		shared_lines(argv[2], atoi(argv[3]), atoi(argv[4]));
	else if (!strcmp(cmd, "throttle") && argc == 2)
		throttle();
	else if (!strcmp(cmd, "sleeper") && argc == 2)
		sleeper();
	else if (!strcmp(cmd, "nonroot") && argc == 4)
		nonroot(atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(cmd, "efault") && argc == 3)
		efault(atoi(argv[2]));
	else if (!strcmp(cmd, "fuzz") && argc == 4)
		fuzz(atof(argv[2]), strtoull(argv[3], NULL, 0));
	else {
		fprintf(stderr, "usage: see the comment at the top of l4log-adversary.c\n");
		return 2;
	}
	if (failures)
		fprintf(stderr, "l4log-adversary %s: %d check(s) failed\n", cmd, failures);
	return failures ? 1 : 0;
}
