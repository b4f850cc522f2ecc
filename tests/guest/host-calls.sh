#!/bin/sh
# Checks that a write of SIZE bytes costs ceil(SIZE / CHUNK) host calls, for
# each SIZE given, and prints `l4log-measure: SIZE bytes -> N host calls`.
# Usage: host-calls.sh CHUNK SIZE...
chunk=$1
shift
exec 3>/dev/l4log
calls() { sed -n 's/^l4log-host-calls:[[:space:]]*//p' /proc/self/fdinfo/3; }
status=0
for size in "$@"; do
	# No NUL: on L4Linux each NUL ends its IPC (l4bridge/l4re.rs).
	head -c "$size" /dev/zero | tr '\0' a >/tmp/data
	before=$(calls)
	./l4log-test write /tmp/data || exit 1
	after=$(calls)
	got=$((after - before))
	want=$(((size + chunk - 1) / chunk))
	echo "l4log-measure: $size bytes -> $got host calls"
	if [ "$got" != "$want" ]; then
		echo "host calls for a $size-byte write: $got, want $want" >&2
		status=1
	fi
done
exit $status
