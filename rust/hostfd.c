// SPDX-License-Identifier: GPL-2.0
/*
 * l4log's C helper for the uml transport (l4bridge/hostfd.rs): which host
 * file a descriptor of the UML process writes to. UML's host-call layer
 * fills its own struct uml_stat (arch/um/include/shared/os.h), which no
 * Rust binding of a module reaches, so the fields are read here.
 */
#include <linux/types.h>

#include <os.h>

#include "helpers.h"

int l4log_host_fd_file(int fd, u64 *dev, u64 *ino)
{
	struct uml_stat st;
	int err = os_stat_fd(fd, &st);

	if (err < 0)
		return err;
	/* UML keeps the host's st_dev in an int: the bits it keeps, as they are. */
	*dev = (unsigned int)st.ust_dev;
	*ino = st.ust_ino;
	return 0;
}
