// SPDX-License-Identifier: GPL-2.0
/*
 * l4log_rawvcon: the bare vcon write of `make bench` on L4Linux, a test
 * fixture (not the product). A write to /dev/l4log-rawvcon goes to an L4Re log
 * capability the way l4log's L4Re transport (l4bridge/l4re.rs, rust/l4re.c)
 * sends its chunks: each chunk of at most L4_VCON_WRITE_SIZE bytes is copied
 * from user memory and sent as one vcon write IPC, with the vCPU's interrupts
 * off from filling the message registers to reading the IPC's error. Nothing
 * more: no line buffer, no escaping, no counters. The time of a write is the
 * system call, the copy from user memory and the IPCs, which no
 * implementation of l4log can avoid.
 *
 * cap names the capability in the L4Linux task's environment, as l4log's
 * channels parameter does; the benchmark gives both the same one. An IPC error
 * ends the write with EIO.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

/* Linux's static_assert first: L4Re's headers define theirs only where there is none. */
#include <linux/build_bug.h>

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include <asm/generic/vcpu.h>
#include <l4/re/env.h>
#include <l4/sys/ipc.h>
#include <l4/sys/vcon.h>

static char *cap = "sink";
module_param(cap, charp, 0444);
MODULE_PARM_DESC(cap, "Name of the L4Re log capability to write to (default sink)");

static l4_cap_idx_t vcon = L4_INVALID_CAP;
/* The chunk being sent; one writer at a time, as l4log sends one chunk of a channel at a time. */
static DEFINE_MUTEX(rawvcon_lock);
static char rawvcon_chunk[L4_VCON_WRITE_SIZE];

/* The IPC and the read of its error, which must both run with the vCPU's interrupts off. */
static unsigned long rawvcon_send_ipc(unsigned int len)
{
	l4_msgtag_t tag = l4_vcon_send(vcon, rawvcon_chunk, len);

	return l4_ipc_error(tag, l4_utcb());
}

/*
 * Sends @count bytes chunk by chunk. Returns the bytes of the chunks sent
 * whole, or the error when none was.
 */
static ssize_t rawvcon_write(struct file *file, const char __user *ubuf, size_t count,
			     loff_t *ppos)
{
	size_t done = 0;
	int err = 0;

	if (mutex_lock_interruptible(&rawvcon_lock))
		return -ERESTARTSYS;
	while (done < count) {
		size_t len = min_t(size_t, count - done, L4_VCON_WRITE_SIZE);

		if (done && signal_pending(current))
			break;
		cond_resched();
		if (copy_from_user(rawvcon_chunk, ubuf + done, len)) {
			err = -EFAULT;
			break;
		}
		if (L4XV_FN_ul(rawvcon_send_ipc(len))) {
			err = -EIO;
			break;
		}
		done += len;
	}
	mutex_unlock(&rawvcon_lock);
	return done ? done : err;
}

static const struct file_operations rawvcon_fops = {
	.owner = THIS_MODULE,
	.write = rawvcon_write,
	.llseek = noop_llseek,
};

static struct miscdevice rawvcon_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "l4log-rawvcon",
	.fops = &rawvcon_fops,
};

static int __init rawvcon_init(void)
{
	vcon = l4re_env_get_cap(cap);
	if (l4_is_invalid_cap(vcon)) {
		pr_err("no capability %s in the L4Linux task's environment\n", cap);
		return -ENODEV;
	}
	return misc_register(&rawvcon_device);
}

static void __exit rawvcon_exit(void)
{
	misc_deregister(&rawvcon_device);
}

module_init(rawvcon_init);
module_exit(rawvcon_exit);
MODULE_DESCRIPTION("l4log benchmark fixture: the bare vcon write IPC of L4Linux");
MODULE_LICENSE("GPL");
