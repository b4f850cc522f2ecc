/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stand-in for L4Linux's <asm/generic/vcpu.h>, for the compile check only
 * (tests/l4/compile-check): the vCPU lock macros in their CONFIG_L4_VCPU
 * shape (a flags variable, save, restore, and L4XV_FN around a call), with
 * the save and restore as calls to functions that nothing defines. The check
 * then finds both calls in rust/l4re.o, so a helper that dropped the lock
 * fails it.
 */
#ifndef L4LOG_CHECK_ASM_GENERIC_VCPU_H
#define L4LOG_CHECK_ASM_GENERIC_VCPU_H

void l4log_check_vcpu_lock(unsigned long *flags);
void l4log_check_vcpu_unlock(unsigned long flags);

#define L4XV_V(n) unsigned long n
#define L4XV_L(n) l4log_check_vcpu_lock(&(n))
#define L4XV_U(n) l4log_check_vcpu_unlock(n)

/* Runs @fn under the lock and gives its value, as L4Linux's macro of the name. */
#define L4XV_FN(rettype, fn) \
	({ rettype __r; L4XV_V(__f); L4XV_L(__f); __r = fn; L4XV_U(__f); __r; })
#define L4XV_FN_i(fn) L4XV_FN(int, fn)
#define L4XV_FN_ul(fn) L4XV_FN(unsigned long, fn)

#endif /* L4LOG_CHECK_ASM_GENERIC_VCPU_H */
