/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bindgen input of l4log's L4Re transport: the helpers of l4re.h and the
 * L4Re constants that l4bridge/l4re.rs uses. The bindgen options (what is
 * allowed through, and the rename of RUST_CONST_HELPER_*) are in
 * l4re.bindgen, shared by the module build (l4re.kbuild) and the compile
 * check (tests/l4/compile-check).
 *
 * Constants: the enum constants of L4Re's headers reach Rust with the type of
 * an anonymous enum, and an object-like macro built from other macros not at
 * all. As the kernel does in rust/bindings/bindings_helper.h, each one is
 * copied here into a typed constant named RUST_CONST_HELPER_<name>, which
 * bindgen evaluates (so the value is the headers' value) and the build
 * renames to <name>.
 */

#include <l4/sys/consts.h>
#include <l4/sys/ipc.h>
#include <l4/sys/types.h>
#include <l4/sys/utcb.h>
#include <l4/sys/vcon.h>

#include "l4re.h"

/* Most bytes one vcon write IPC carries: (MRs - 2) words. */
const l4_umword_t RUST_CONST_HELPER_L4_VCON_WRITE_SIZE = L4_VCON_WRITE_SIZE;
/* Message registers in the UTCB (the 2 above are opcode and length). */
const l4_umword_t RUST_CONST_HELPER_L4_UTCB_GENERIC_DATA_SIZE =
	L4_UTCB_GENERIC_DATA_SIZE;
/* Bytes per message register. */
const l4_umword_t RUST_CONST_HELPER_L4_MWORD_BYTES = sizeof(l4_umword_t);
/* The IPC error l4log_vcon_send() returns for an oversized chunk. */
const l4_umword_t RUST_CONST_HELPER_L4_IPC_SEMSGCUT = L4_IPC_SEMSGCUT;
