// SPDX-License-Identifier: GPL-2.0
/*
 * l4log's C helpers for the L4Re log transport: see l4re.h.
 *
 * Built only on L4Linux (CONFIG_L4), with the L4Re include paths that
 * arch/l4/Makefile adds to KBUILD_CPPFLAGS. The vCPU lock macros come from
 * L4Linux's <asm/generic/vcpu.h>: with CONFIG_L4_VCPU they turn interrupt
 * delivery off around the IPC, so that no interrupt handler runs an IPC of
 * its own on this vCPU's UTCB between filling the message registers and
 * reading the error back.
 */

/* Linux's static_assert first: L4Re's headers define theirs only where there is none. */
#include <linux/build_bug.h>

#include <asm/generic/vcpu.h>
#include <l4/re/env.h>
#include <l4/sys/consts.h>
#include <l4/sys/ipc.h>
#include <l4/sys/task.h>
#include <l4/sys/types.h>
#include <l4/sys/utcb.h>
#include <l4/sys/vcon.h>

#include "l4re.h"

l4_cap_idx_t l4log_l4re_log_cap(void)
{
	return l4re_env()->log;
}

int l4log_l4re_named_cap(const char *name, unsigned int len, l4_cap_idx_t *cap)
{
	const l4re_env_cap_entry_t *entry = l4re_env_get_cap_l(name, len, l4re_env());

	if (!entry)
		return 1;
	*cap = entry->cap;
	return 0;
}

int l4log_l4_is_invalid_cap(l4_cap_idx_t cap)
{
	return l4_is_invalid_cap(cap) ? 1 : 0;
}

unsigned long l4log_l4_ipc_error(l4_msgtag_t tag, l4_utcb_t *utcb)
{
	return l4_ipc_error(tag, utcb);
}

/* The system call and the read of its result, which must both run under the lock. */
static int l4log_cap_equal(l4_cap_idx_t a, l4_cap_idx_t b)
{
	l4_msgtag_t tag = l4_task_cap_equal(L4_BASE_TASK_CAP, a, b);

	return !l4_ipc_error(tag, l4_utcb()) && l4_msgtag_label(tag) == 1;
}

int l4log_l4_same_object(l4_cap_idx_t a, l4_cap_idx_t b)
{
	return L4XV_FN_i(l4log_cap_equal(a, b));
}

/* The IPC and the read of its error, which must both run under the lock. */
static unsigned long l4log_vcon_send_ipc(l4_cap_idx_t cap, const char *buf,
					 unsigned int len)
{
	l4_msgtag_t tag = l4_vcon_send(cap, buf, len);

	return l4log_l4_ipc_error(tag, l4_utcb());
}

unsigned long l4log_vcon_send(l4_cap_idx_t cap, const char *buf,
			      unsigned int len)
{
	/* l4_vcon_send() copies @len bytes into the UTCB without a check. */
	if (len > L4_VCON_WRITE_SIZE)
		return L4_IPC_SEMSGCUT;

	return L4XV_FN_ul(l4log_vcon_send_ipc(cap, buf, len));
}
