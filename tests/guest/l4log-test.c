// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-test: the system calls the l4log tests make in the guest.
 *
 *   l4log-test write FILE     write FILE to /dev/l4log in one write(2)
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
#include <sys/stat.h>
#include <unistd.h>

#define DEVICE "/dev/l4log"
static const char PATTERN[] = "abcdefghijklmnopqrstuvwxyz";

static int fail(const char *what)
{
	fprintf(stderr, "l4log-test: %s: %s\n", what, strerror(errno));
	return 1;
}

static int open_device(void)
{
	int fd = open(DEVICE, O_WRONLY);

	if (fd < 0)
		exit(fail("open " DEVICE));
	return fd;
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

static int write_file(const char *path)
{
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
	return expect(write(open_device(), data, st.st_size), st.st_size, 0);
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

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "write"))
		return write_file(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "zero"))
		return zero_length();
	if (argc == 3 && !strcmp(argv[1], "fault"))
		return partly_unmapped(atol(argv[2]));
	fprintf(stderr, "usage: l4log-test write FILE | zero | fault N\n");
	return 2;
}
