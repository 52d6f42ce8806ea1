#!/bin/bash
# Item 2 (C): effect of the destination buffer's alignment on a cached 4 KiB pread/preadv.
# cachedread with its third argument: the buffer at that byte offset in an 8 KiB
# page-aligned array. Usage: cached_c_alignment.sh OUT
# Runs in this script's own folder (for common.py and the binary); a relative OUT is
# therefore relative to it, e.g. raw/cached_c_alignment-run2.txt.
set -e
cd "$(dirname "$(readlink -f "$0")")"
gcc -O2 -o cachedread cachedread.c
D=$(mktemp -d /var/tmp/costs-XXXXXX)
trap 'rm -rf "$D"' EXIT
python3 -c "import sys; from common import make_file; make_file(sys.argv[1], 512<<20)" "$D/data"
dd if="$D/data" of=/dev/null bs=2M status=none
: > "$1"
for o in 0 16 2064; do echo "bufoffset=$o" >> "$1"; ./cachedread "$D/data" 3 $o >> "$1"; done
fincore --bytes "$D/data" >> "$1"
