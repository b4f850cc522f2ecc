// SPDX-License-Identifier: GPL-2.0
/*
 * l4log-signals: check that FPU/SSE/AVX state survives signal delivery and
 * sigreturn, with the XSAVE signal frame placed at every 64 byte offset
 * within a page (so it regularly straddles a page boundary), on fresh
 * (not yet faulted in) stack pages, on copy-on-write stack pages after
 * fork(), and with asynchronous timer signals.
 *
 * Written for L4Linux (x86_64), where the kernel cannot access user memory
 * directly and the XSAVE/XRSTOR signal frame code must copy through kernel
 * memory. Runs on any x86_64 Linux.
 *
 * Build (static, for a busybox initramfs):
 *   gcc -O2 -static -o l4log-signals l4log-signals.c
 *
 * Exit status 0 and a final "PASS" line on success.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define FP_XSTATE_MAGIC1	0x46505853U
#define FP_XSTATE_MAGIC2	0x46505845U
#define PAGE			4096UL
#define ALTSTACK_SIZE		(64 * 1024UL)

#define MXCSR_TEST		0x7f80U	/* round toward zero, all masked */
#define MXCSR_DEFAULT		0x1f80U
#define FCW_TEST		0x0c7fU	/* round toward zero */
#define FCW_DEFAULT		0x037fU

static int have_avx;
static int os_xsave;	/* XSAVE enabled by the OS: XSAVE-format frames */
static unsigned int ymm_off;	/* offset of YMM_Hi128 in the XSAVE area */
static int verbose;

static uint8_t pat[16][32] __attribute__((aligned(64)));
static uint8_t out[16][32] __attribute__((aligned(64)));
static uint8_t zero[32] __attribute__((aligned(64)));
static uint32_t mxcsr_out;
static uint16_t fcw_out;

/* filled by the SIGUSR1 handler */
static volatile int h_errors;
static volatile int h_calls;
static volatile int h_xsave_frames;
static volatile int h_crossing;
static volatile unsigned long h_offset_seen[PAGE / 64 / 64 + 1];

static volatile int alarms;
static volatile int a_errors;

static void fail(const char *what, int i)
{
	printf("FAIL: %s (%d)\n", what, i);
	h_errors++;
}

static void clobber_regs(void)
{
	uint32_t mx = MXCSR_DEFAULT;
	uint16_t cw = FCW_DEFAULT;

	if (have_avx)
		asm volatile("vmovdqu (%0), %%ymm0\n\t"
			     "vmovdqu %%ymm0, %%ymm1\n\t"
			     "vmovdqu %%ymm0, %%ymm2\n\t"
			     "vmovdqu %%ymm0, %%ymm3\n\t"
			     "vmovdqu %%ymm0, %%ymm4\n\t"
			     "vmovdqu %%ymm0, %%ymm5\n\t"
			     "vmovdqu %%ymm0, %%ymm6\n\t"
			     "vmovdqu %%ymm0, %%ymm7\n\t"
			     "vmovdqu %%ymm0, %%ymm8\n\t"
			     "vmovdqu %%ymm0, %%ymm9\n\t"
			     "vmovdqu %%ymm0, %%ymm10\n\t"
			     "vmovdqu %%ymm0, %%ymm11\n\t"
			     "vmovdqu %%ymm0, %%ymm12\n\t"
			     "vmovdqu %%ymm0, %%ymm13\n\t"
			     "vmovdqu %%ymm0, %%ymm14\n\t"
			     "vmovdqu %%ymm0, %%ymm15\n\t"
			     : : "r" (zero) : "memory", "xmm0", "xmm1", "xmm2",
			     "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			     "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
			     "xmm14", "xmm15");
	else
		asm volatile("pxor %%xmm0, %%xmm0\n\t"
			     "pxor %%xmm1, %%xmm1\n\t"
			     "pxor %%xmm2, %%xmm2\n\t"
			     "pxor %%xmm3, %%xmm3\n\t"
			     "pxor %%xmm4, %%xmm4\n\t"
			     "pxor %%xmm5, %%xmm5\n\t"
			     "pxor %%xmm6, %%xmm6\n\t"
			     "pxor %%xmm7, %%xmm7\n\t"
			     "pxor %%xmm8, %%xmm8\n\t"
			     "pxor %%xmm9, %%xmm9\n\t"
			     "pxor %%xmm10, %%xmm10\n\t"
			     "pxor %%xmm11, %%xmm11\n\t"
			     "pxor %%xmm12, %%xmm12\n\t"
			     "pxor %%xmm13, %%xmm13\n\t"
			     "pxor %%xmm14, %%xmm14\n\t"
			     "pxor %%xmm15, %%xmm15\n\t"
			     : : : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
			     "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
			     "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	asm volatile("ldmxcsr %0\n\tfldcw %1" : : "m" (mx), "m" (cw));
}

/*
 * SIGUSR1 handler: check the signal frame contents, modify xmm1 (and the
 * upper half of ymm2) in the frame to check that sigreturn restores from
 * the frame, then clobber the live registers.
 */
static void usr1_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uint8_t *fx = (uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic1, xstate_size, magic2, mx;
	uint64_t xfeatures;
	unsigned long off;
	uint16_t cw;
	int i;

	(void)sig;
	(void)si;
	h_calls++;

	/* The handler must start with a clean FPU state */
	asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m" (mx), "=m" (cw));
	if (mx != MXCSR_DEFAULT)
		fail("handler MXCSR not default", mx);
	if (cw != FCW_DEFAULT)
		fail("handler FCW not default", cw);

	if (!fx) {
		fail("no fpstate in sigcontext", 0);
		return;
	}
	if ((uintptr_t)fx & 63)
		fail("fpstate not 64 byte aligned", (int)((uintptr_t)fx & 63));

	memcpy(&cw, fx + 0, 2);
	if (cw != FCW_TEST)
		fail("frame FCW", cw);
	memcpy(&mx, fx + 24, 4);
	if (mx != MXCSR_TEST)
		fail("frame MXCSR", mx);
	for (i = 0; i < 16; i++)
		if (memcmp(fx + 160 + 16 * i, pat[i], 16))
			fail("frame xmm", i);

	memcpy(&magic1, fx + 464, 4);
	memcpy(&xstate_size, fx + 464 + 16, 4);
	/*
	 * Linux writes the software-reserved bytes (FP_XSTATE_MAGIC1 and the
	 * sizes) into FXSAVE frames too; only with XSAVE is the frame an
	 * XSAVE area ending in FP_XSTATE_MAGIC2.
	 */
	if (magic1 == FP_XSTATE_MAGIC1 && os_xsave) {
		h_xsave_frames++;
		memcpy(&magic2, fx + xstate_size, 4);
		if (magic2 != FP_XSTATE_MAGIC2)
			fail("FP_XSTATE_MAGIC2 missing", (int)xstate_size);
		memcpy(&xfeatures, fx + 512, 8);
		if ((xfeatures & 3) != 3)
			fail("xfeatures lacks FP|SSE", (int)xfeatures);
		if (have_avx) {
			if (!(xfeatures & 4))
				fail("xfeatures lacks YMM", (int)xfeatures);
			for (i = 0; i < 16; i++)
				if (memcmp(fx + ymm_off + 16 * i, pat[i] + 16,
					   16))
					fail("frame ymm upper half", i);
			/* modify ymm2[255:128] in the frame */
			for (i = 0; i < 16; i++)
				fx[ymm_off + 16 * 2 + i] ^= 0xff;
		}
		off = (uintptr_t)fx & (PAGE - 1);
		if (off + xstate_size + 4 > PAGE)
			h_crossing++;
	} else {
		off = (uintptr_t)fx & (PAGE - 1);
		if (off + 512 > PAGE)
			h_crossing++;
	}
	h_offset_seen[off / 64 / 64] |= 1UL << ((off / 64) % 64);

	/* modify xmm1 in the frame */
	for (i = 0; i < 16; i++)
		fx[160 + 16 * 1 + i] ^= 0xff;

	clobber_regs();
}

#define LDY(i)	"vmovdqu " #i "*32(%[p]), %%ymm" #i "\n\t"
#define STY(i)	"vmovdqu %%ymm" #i ", " #i "*32(%[o])\n\t"
#define LDX(i)	"movdqu " #i "*32(%[p]), %%xmm" #i "\n\t"
#define STX(i)	"movdqu %%xmm" #i ", " #i "*32(%[o])\n\t"
#define ALL(m)	m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) \
		m(11) m(12) m(13) m(14) m(15)
#define XMM_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", \
	"xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
	"xmm14", "xmm15"

/* Load the pattern with LD, tgkill(SIGUSR1) by a raw syscall, store it with ST. */
#define SIGNAL_WITH_REGS(LD, ST)					\
	asm volatile("ldmxcsr %[mx]\n\tfldcw %[cw]\n\t"			\
		     ALL(LD)						\
		     "syscall\n\t"					\
		     ALL(ST)						\
		     "stmxcsr %[mxo]\n\tfnstcw %[cwo]\n\t"			\
		     "ldmxcsr %[mxd]\n\tfldcw %[cwd]\n\t"			\
		     : "+a" (nr), [mxo] "=m" (mxcsr_out),			\
		       [cwo] "=m" (fcw_out)					\
		     : "D" (pid), "S" (tid), "d" (SIGUSR1),			\
		       [p] "r" (pat), [o] "r" (out), [mx] "m" (mx),		\
		       [cw] "m" (cw), [mxd] "m" (mxd), [cwd] "m" (cwd)	\
		     : "rcx", "r11", "memory", XMM_CLOBBERS)

/* Load the pattern, send SIGUSR1 to ourselves with a raw syscall, store. */
static void signal_with_regs(void)
{
	long nr = SYS_tgkill;
	uint32_t mx = MXCSR_TEST, mxd = MXCSR_DEFAULT;
	uint16_t cw = FCW_TEST, cwd = FCW_DEFAULT;
	int pid = getpid(), tid = syscall(SYS_gettid);

	if (have_avx)
		SIGNAL_WITH_REGS(LDY, STY);
	else
		SIGNAL_WITH_REGS(LDX, STX);
	if (nr)
		fail("tgkill", (int)nr);
}

static void check_after_return(void)
{
	uint8_t exp[32];
	int i, j, len = have_avx ? 32 : 16;

	if (mxcsr_out != MXCSR_TEST)
		fail("MXCSR not restored", mxcsr_out);
	if (fcw_out != FCW_TEST)
		fail("FCW not restored", fcw_out);
	for (i = 0; i < 16; i++) {
		memcpy(exp, pat[i], 32);
		if (i == 1)	/* xmm1 modified in the frame */
			for (j = 0; j < 16; j++)
				exp[j] ^= 0xff;
		if (i == 2 && have_avx && h_xsave_frames)
			for (j = 16; j < 32; j++)
				exp[j] ^= 0xff;
		if (memcmp(out[i], exp, len))
			fail(i == 1 || i == 2 ? "frame modification not restored"
					      : "register not preserved", i);
	}
}

/* One signal per 64 byte step of the alternate stack top over a page */
static void sweep(const char *name, uint8_t *prealloc)
{
	int k, seen = 0, errors_before = h_errors, calls_before = h_calls;
	int cross_before = h_crossing;
	unsigned int w;

	memset((void *)h_offset_seen, 0, sizeof(h_offset_seen));
	for (k = 0; k < 2 * (int)(PAGE / 64); k++) {
		uint8_t *base = prealloc;
		stack_t ss;

		if (!base) {
			base = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (base == MAP_FAILED) {
				perror("mmap");
				exit(2);
			}
		}
		ss.ss_sp = base;
		ss.ss_size = ALTSTACK_SIZE / 2 + (k % (PAGE / 64)) * 64 +
			     (k >= (int)(PAGE / 64) ? 16 : 0);
		ss.ss_flags = 0;
		if (sigaltstack(&ss, NULL)) {
			perror("sigaltstack");
			exit(2);
		}
		signal_with_regs();
		check_after_return();
		ss.ss_flags = SS_DISABLE;
		sigaltstack(&ss, NULL);
		if (!prealloc)
			munmap(base, ALTSTACK_SIZE);
	}
	for (w = 0; w < sizeof(h_offset_seen) / sizeof(h_offset_seen[0]); w++)
		seen += __builtin_popcountl(h_offset_seen[w]);
	printf("%s: %d signals, %d frame page offsets, %d frames crossing a page, %d errors\n",
	       name, h_calls - calls_before, seen, h_crossing - cross_before,
	       h_errors - errors_before);
	if (h_calls - calls_before != 2 * (int)(PAGE / 64))
		fail("handler not called for every signal", h_calls - calls_before);
}

static void alrm_handler(int sig)
{
	(void)sig;
	alarms++;
	clobber_regs();
}

#define CMPY(i)	"vpcmpeqb " #i "*32(%[p]), %%ymm" #i ", %%ymm15\n\t" \
		"vpmovmskb %%ymm15, %%eax\n\t" \
		"cmpl $-1, %%eax\n\t" \
		"jne 3f\n\t"
#define CMPX(i)	"movdqa %%xmm" #i ", %%xmm15\n\t" \
		"pcmpeqb " #i "*32(%[p]), %%xmm15\n\t" \
		"pmovmskb %%xmm15, %%eax\n\t" \
		"cmpl $0xffff, %%eax\n\t" \
		"jne 3f\n\t"
#define SOME(m)	m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) \
		m(11) m(12) m(13) m(14)

/*
 * Load the pattern with LD, then compare the registers with it (CMP) and
 * MXCSR with mx in a loop until `target` alarms or max_loops; bad = 1 on a
 * difference.
 */
#define SPIN_CHECK(LD, CMP)						\
	asm volatile("ldmxcsr %[mx]\n\t"					\
		     ALL(LD)						\
		     "1:\n\t"						\
		     SOME(CMP)						\
		     "stmxcsr %[tmp]\n\t"					\
		     "cmpl %[mxv], %[tmp]\n\t"				\
		     "jne 3f\n\t"						\
		     "incq %[loops]\n\t"					\
		     "cmpq %[max], %[loops]\n\t"				\
		     "jae 2f\n\t"						\
		     "cmpl %[target], %[alarms]\n\t"				\
		     "jl 1b\n\t"						\
		     "jmp 2f\n\t"						\
		     "3: movl $1, %[bad]\n\t"				\
		     "2: ldmxcsr %[mxd]\n\t"					\
		     : [loops] "+r" (loops), [bad] "+m" (bad),			\
		       [tmp] "=m" (mxtmp)					\
		     : [p] "r" (pat), [mx] "m" (mx), [mxd] "m" (mxd),		\
		       [mxv] "r" (mx), [max] "r" (max_loops),			\
		       [target] "r" (target), [alarms] "m" (alarms)		\
		     : "rax", "memory", "cc", XMM_CLOBBERS)

/* Spin with the pattern in registers while SIGALRM hits asynchronously */
static void async_test(int target)
{
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } };
	uint32_t mx = MXCSR_TEST, mxd = MXCSR_DEFAULT, mxtmp;
	unsigned long loops = 0, max_loops = 4000000000UL;
	int bad = 0;

	alarms = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	if (have_avx)
		SPIN_CHECK(LDY, CMPY);
	else
		SPIN_CHECK(LDX, CMPX);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	printf("async: %d SIGALRMs during %lu check loops, %s\n", alarms, loops,
	       bad ? "REGISTER CORRUPTION" : "registers intact");
	if (bad)
		fail("async register corruption", 0);
	if (alarms < target)
		fail("not enough SIGALRMs", alarms);
}

int main(int argc, char **argv __attribute__((unused)))
{
	unsigned int a, b, c, d;
	struct sigaction sa;
	uint8_t *cow;
	int i, j, status;
	pid_t pid;

	verbose = argc > 1;
	setvbuf(stdout, NULL, _IONBF, 0);

	__cpuid(1, a, b, c, d);
	os_xsave = !!(c & (1U << 27));			/* OSXSAVE */
	if ((c & (1U << 27)) && (c & (1U << 28))) {	/* OSXSAVE, AVX */
		uint32_t lo, hi;

		asm volatile("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
		have_avx = (lo & 6) == 6;
		printf("XSAVE enabled by OS, XCR0=0x%x%08x\n", hi, lo);
	} else {
		printf("XSAVE %s by OS, AVX %s\n",
		       (c & (1U << 27)) ? "enabled" : "not enabled",
		       (c & (1U << 28)) ? "present" : "absent");
	}
	if (have_avx) {
		__cpuid_count(0xd, 2, a, b, c, d);
		ymm_off = b;
		printf("testing xmm0-15 + ymm upper halves (YMM_Hi128 at %u)\n",
		       ymm_off);
	} else {
		printf("testing xmm0-15 only\n");
	}

	for (i = 0; i < 16; i++)
		for (j = 0; j < 32; j++)
			pat[i][j] = (uint8_t)(0x11 * (i + 1) + 7 * j + 1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = usr1_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL)) {
		perror("sigaction");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = alrm_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL)) {
		perror("sigaction");
		return 2;
	}

	/* 1. frames on fresh, not yet faulted in pages */
	sweep("fresh-pages", NULL);

	/* 2. frames on present, writable pages */
	cow = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cow == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	memset(cow, 0x5a, ALTSTACK_SIZE);
	sweep("present-pages", cow);

	/* 3. frames on copy-on-write pages in a child */
	memset(cow, 0xa5, ALTSTACK_SIZE);
	pid = fork();
	if (pid == 0) {
		sweep("cow-pages(child)", cow);
		_exit(h_errors ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status))
		fail("child (copy-on-write frames) failed", status);

	/* 4. asynchronous signals while registers are live */
	async_test(200);

	if (!h_xsave_frames)
		printf("NOTE: no XSAVE signal frames seen (no FP_XSTATE_MAGIC1), FXSAVE path tested\n");
	printf("%s (%d errors)\n", h_errors ? "FAIL" : "PASS", h_errors);
	return h_errors ? 1 : 0;
}
