/* SPDX-License-Identifier: GPL-2.0 */
/*
 * l4log's C side, called from the Rust crate (chardev/params.rs declares the
 * same functions). Out of tree there is no bindgen run for a module's own
 * headers, so the Rust declarations are written by hand: keep the two in step.
 */
#ifndef L4LOG_RUST_HELPERS_H
#define L4LOG_RUST_HELPERS_H

#include <linux/types.h>

struct miscdevice;

bool l4log_escape(void);
unsigned int l4log_rate_limit(void);
unsigned short l4log_mode(void);
unsigned int l4log_group(void);
const char *l4log_channels(void);
const char *l4log_stamp(void);
int l4log_check_node_access(const char *name, unsigned short mode, unsigned int group);
int l4log_apply_node_access(struct miscdevice *misc, unsigned short mode, unsigned int group);
void l4log_current_writer(char *comm, int *tgid, unsigned long long *started,
			  unsigned long long *ns);
void l4log_cond_resched(void);
/* UML only (rust/hostfd.c): the host device and inode of the UML process's
 * descriptor @fd, or the negative host errno. */
int l4log_host_fd_file(int fd, u64 *dev, u64 *ino);

#endif /* L4LOG_RUST_HELPERS_H */
