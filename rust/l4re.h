/* SPDX-License-Identifier: GPL-2.0 */
/*
 * l4log's C helpers for the L4Re log transport (l4bridge/l4re.rs).
 *
 * L4Re's vcon and IPC functions are L4_INLINE: they exist only as C source in
 * the headers, so Rust cannot call them. These wrappers are real functions
 * (the kernel's rust/helpers pattern); bindgen reads this header through
 * bindings_l4re.h, so the Rust declarations come from here, not by hand.
 *
 * This header includes L4Re headers only (no Linux headers), so that the
 * bindgen run and the compile check (tests/l4/compile-check) need nothing but
 * an L4Re build directory.
 */
#ifndef L4LOG_RUST_L4RE_H
#define L4LOG_RUST_L4RE_H

#include <l4/sys/types.h>
#include <l4/sys/utcb.h>

/*
 * The guest's log capability, l4re_env()->log: the vcon that ned handed to
 * L4Linux as "log" (the kernel's log object, or a ned-made one).
 */
l4_cap_idx_t l4log_l4re_log_cap(void);

/*
 * The capability named by the @len bytes at @name in this task's L4Re
 * environment (ned's caps table), written to @cap: 0 when there is one, 1
 * when not. Reads the environment only, no IPC.
 */
int l4log_l4re_named_cap(const char *name, unsigned int len, l4_cap_idx_t *cap);

/*
 * Whether @cap names no object (l4_is_invalid_cap()). Returns 1 or 0.
 */
int l4log_l4_is_invalid_cap(l4_cap_idx_t cap);

/*
 * Whether @a and @b name the same kernel object with the same rights in
 * this task (l4_task_cap_equal(), a system call to the task, made under the
 * L4Linux vCPU lock as the kernel's IPCs are). Returns 1 or 0; 0 also when
 * the call fails.
 */
int l4log_l4_same_object(l4_cap_idx_t a, l4_cap_idx_t b);

/*
 * The IPC error in @tag, read from @utcb: 0 when the IPC succeeded, otherwise
 * an L4_IPC_* code (l4_ipc_error()). Only meaningful before anything else
 * uses that UTCB.
 */
unsigned long l4log_l4_ipc_error(l4_msgtag_t tag, l4_utcb_t *utcb);

/*
 * One vcon write IPC of @len bytes from @buf to @cap, under the L4Linux vCPU
 * lock (interrupt delivery off, as the ttyLv console does it), with the IPC
 * error read under the same lock. Returns 0 when the log took the bytes, an
 * L4_IPC_* code when the IPC failed, and L4_IPC_SEMSGCUT without any IPC when
 * @len is more than L4_VCON_WRITE_SIZE. The IPC blocks until the log server
 * has received the message; it never sleeps in Linux's sense.
 */
unsigned long l4log_vcon_send(l4_cap_idx_t cap, const char *buf,
			      unsigned int len);

#endif /* L4LOG_RUST_L4RE_H */
