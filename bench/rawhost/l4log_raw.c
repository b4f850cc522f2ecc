// SPDX-License-Identifier: GPL-2.0
/*
 * l4log_raw: the raw host channel of `make bench` on User-Mode Linux, a test
 * fixture (not the product). A write to /dev/l4log-raw goes to a host file
 * descriptor of the UML process the way l4log's uml transport
 * (l4bridge/hostfd.rs) sends its chunks: each chunk of at most 4096 bytes is
 * copied from user memory and given to the host with os_write_file(), a host
 * write(2), repeated for the rest when the host takes less and again when it
 * is interrupted (EINTR). Nothing more: no line buffer, no escaping, no
 * counters. The time of a write is the system call, the copy from user
 * memory and the host calls, which no implementation of l4log can avoid.
 *
 * host_channel names the host descriptor, as l4log's parameter of that name
 * does; the benchmark gives both the same one. Any host error ends the write
 * as that errno, also EAGAIN (l4log waits for a full non-blocking descriptor;
 * the benchmark's host log blocks).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <os.h>

/* Bytes per host call, as l4log's uml transport sends them (MAX_CHUNK). */
#define RAW_CHUNK 4096

static int host_channel = 2;
module_param(host_channel, int, 0444);
MODULE_PARM_DESC(host_channel, "Host file descriptor to write to (default 2, standard error)");

/* The chunk being sent; one writer at a time, as l4log sends one chunk at a time. */
static DEFINE_MUTEX(raw_lock);
static char raw_chunk[RAW_CHUNK];

/* Gives the host all @len bytes at @buf: 0, or the negative errno of the host's error. */
static int raw_send(const char *buf, int len)
{
	while (len > 0) {
		int n = os_write_file(host_channel, buf, len);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Sends @count bytes chunk by chunk. Returns the bytes of the chunks the host
 * got whole, or the error when it got none.
 */
static ssize_t raw_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	size_t done = 0;
	int err = 0;

	if (mutex_lock_interruptible(&raw_lock))
		return -ERESTARTSYS;
	while (done < count) {
		size_t len = min_t(size_t, count - done, RAW_CHUNK);

		if (done && signal_pending(current))
			break;
		cond_resched();
		if (copy_from_user(raw_chunk, ubuf + done, len)) {
			err = -EFAULT;
			break;
		}
		err = raw_send(raw_chunk, len);
		if (err)
			break;
		done += len;
	}
	mutex_unlock(&raw_lock);
	return done ? done : err;
}

static const struct file_operations raw_fops = {
	.owner = THIS_MODULE,
	.write = raw_write,
	.llseek = noop_llseek,
};

static struct miscdevice raw_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "l4log-raw",
	.fops = &raw_fops,
};

static int __init raw_init(void)
{
	/* A zero-length write checks that the descriptor is open for writing. */
	int n = os_write_file(host_channel, NULL, 0);

	if (n < 0) {
		pr_err("host file descriptor %d cannot be written (host error %d)\n",
		       host_channel, -n);
		return -ENODEV;
	}
	return misc_register(&raw_device);
}

static void __exit raw_exit(void)
{
	misc_deregister(&raw_device);
}

module_init(raw_init);
module_exit(raw_exit);
MODULE_DESCRIPTION("l4log benchmark fixture: the raw host channel of User-Mode Linux");
MODULE_LICENSE("GPL");
