// SPDX-License-Identifier: GPL-2.0
/*
 * l4log's C side: what the kernel's Rust API of 7.2 does not offer a module.
 *
 * - Parameters writable at run time. Rust module parameters are load-time
 *   only (the module! macro registers them with permission 0), so `escape`
 *   and `rate_limit` live here, under /sys/module/l4log/parameters/.
 * - The named channels' specification (a string; Rust module parameters
 *   are integers only).
 * - The device nodes' mode and group. kernel::miscdevice registers with
 *   neither, and the misc class gives devtmpfs no group, so the node is
 *   changed after registration the way devtmpfs sets up its own nodes.
 * - cond_resched(), which is a macro, and the writer's command name,
 *   thread-group id and time for stamps (kernel::task has no command name).
 */

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/version.h>

#include "helpers.h"

static bool escape = true;
module_param(escape, bool, 0644);
MODULE_PARM_DESC(escape,
		 "Show control bytes other than newline and tab as \\xNN (default Y; N: byte-exact)");

static unsigned int rate_limit;
module_param(rate_limit, uint, 0644);
MODULE_PARM_DESC(rate_limit,
		 "Most bytes per second all writers together may write; writers over it wait (0: no limit)");

static ushort mode = 0600;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "Permissions of /dev/l4log (default 0600)");

static uint group;
module_param(group, uint, 0444);
MODULE_PARM_DESC(group, "Group id of /dev/l4log (default 0)");

static char *stamp = "none";
module_param(stamp, charp, 0444);
MODULE_PARM_DESC(stamp, "What starts each line of /dev/l4log on the host: none, task, time or task+time");

static char *channels;
module_param(channels, charp, 0444);
MODULE_PARM_DESC(channels,
		 "Named channels, each a device /dev/l4log-NAME: NAME[=ADDRESS][:KEY=VALUE...][,...] (README)");

bool l4log_escape(void)
{
	return READ_ONCE(escape);
}

unsigned int l4log_rate_limit(void)
{
	return READ_ONCE(rate_limit);
}

unsigned short l4log_mode(void)
{
	return mode;
}

unsigned int l4log_group(void)
{
	return group;
}

const char *l4log_channels(void)
{
	return channels;
}

const char *l4log_stamp(void)
{
	return stamp;
}

/* chardev/stamp.rs keeps a command name in 16 bytes. */
static_assert(TASK_COMM_LEN == 16);

/*
 * The current task's command name (TASK_COMM_LEN bytes, NUL-padded), its
 * thread-group id in the initial PID namespace, when its thread group began
 * (which tells it from a later one that got the same id), and the monotonic
 * clock in nanoseconds: a line's stamp.
 */
void l4log_current_writer(char *comm, int *tgid, unsigned long long *started,
			  unsigned long long *ns)
{
	char name[TASK_COMM_LEN];

	get_task_comm(name, current);
	memcpy(comm, name, TASK_COMM_LEN);
	*tgid = task_tgid_nr(current);
	*started = current->group_leader->start_time;
	*ns = ktime_get_ns();
}

void l4log_cond_resched(void)
{
	cond_resched();
}

/* Sets the mode and group of the node at `path`, which must be `devt`'s. */
static int set_node_access(const char *path, dev_t devt, umode_t mode, kgid_t gid)
{
	struct iattr attrs = {
		.ia_valid = ATTR_MODE | ATTR_GID,
		.ia_mode = S_IFCHR | mode,
		.ia_gid = gid,
	};
	struct path node;
	struct inode *inode;
	int err;

	err = kern_path(path, LOOKUP_FOLLOW, &node);
	if (err)
		return err;
	inode = d_inode(node.dentry);
	err = -ENODEV;
	if (!S_ISCHR(inode->i_mode) || inode->i_rdev != devt)
		goto out;
	err = mnt_want_write(node.mnt);
	if (err)
		goto out;
	inode_lock(inode);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	err = notify_change(mnt_idmap(node.mnt), node.dentry, &attrs, NULL);
#else
	/* L4Linux 5.17: mounts carry a user namespace, not an idmap. */
	err = notify_change(mnt_user_ns(node.mnt), node.dentry, &attrs, NULL);
#endif
	inode_unlock(inode);
	mnt_drop_write(node.mnt);
out:
	path_put(&node);
	return err;
}

/*
 * Checks a device's mode and group, before anything is registered: -EINVAL,
 * with a message, for a mode with bits other than permissions or a group id
 * that the loading process's user namespace does not map.
 */
int l4log_check_node_access(const char *name, unsigned short mode, unsigned int group)
{
	if (mode & ~0777) {
		pr_err("l4log: /dev/%s: mode=%#o has bits other than permissions\n", name, mode);
		return -EINVAL;
	}
	if (!gid_valid(make_kgid(current_user_ns(), group))) {
		pr_err("l4log: /dev/%s: group=%u is no group here\n", name, group);
		return -EINVAL;
	}
	return 0;
}

/*
 * Gives `misc`'s node under /dev `mode` and `group`, which
 * l4log_check_node_access() accepted. Nothing to do for 0600 and group 0:
 * devtmpfs makes nodes 0600 root:root. Otherwise the node is looked up as
 * /dev/NAME in the namespace of the process loading the module, which is
 * devtmpfs when devtmpfs is mounted on /dev.
 */
int l4log_apply_node_access(struct miscdevice *misc, unsigned short mode, unsigned int group)
{
	const char *name = dev_name(misc->this_device);
	kgid_t gid = make_kgid(current_user_ns(), group);
	char *path;
	int err;

	if (mode == 0600 && group == 0)
		return 0;
	path = kasprintf(GFP_KERNEL, "/dev/%s", name);
	if (!path)
		return -ENOMEM;
	err = set_node_access(path, misc->this_device->devt, mode, gid);
	if (err)
		pr_err("l4log: cannot give %s mode %#o and group %u (error %d)%s\n", path, mode, group, err,
		       err == -ENOENT ? "; is devtmpfs mounted on /dev?" : "");
	kfree(path);
	return err;
}
