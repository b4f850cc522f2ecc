/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stand-in for Linux's <linux/build_bug.h>, for the compile check only
 * (tests/l4/compile-check): its static_assert, which rust/l4re.c includes
 * before L4Re's headers so that L4Re's own static_assert (defined only where
 * there is none yet) stays out, as in L4Linux's drivers.
 */
#ifndef L4LOG_CHECK_LINUX_BUILD_BUG_H
#define L4LOG_CHECK_LINUX_BUILD_BUG_H

#define static_assert(expr, ...) __static_assert(expr, ##__VA_ARGS__, #expr)
#define __static_assert(expr, msg, ...) _Static_assert(expr, msg)

#endif /* L4LOG_CHECK_LINUX_BUILD_BUG_H */
