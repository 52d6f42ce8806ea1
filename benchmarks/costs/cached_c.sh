#!/bin/bash
# Item 2 (C part): 512 MiB file, fully cached, then ./cachedread. Usage: cached_c.sh OUT
# Needs ./cachedread, built first with: gcc -O2 -o cachedread cachedread.c
# Runs in this script's own folder (for common.py and the binary); a relative OUT is
# therefore relative to it, e.g. raw/cached_c-run1.txt.
set -e
cd "$(dirname "$(readlink -f "$0")")"
D=$(mktemp -d /var/tmp/costs-XXXXXX)
trap 'rm -rf "$D"' EXIT
python3 -c "import sys; from common import make_file; make_file(sys.argv[1], 512<<20)" "$D/data"
dd if="$D/data" of=/dev/null bs=2M status=none   # cache it
fincore --bytes "$D/data" > "$1"
./cachedread "$D/data" 7 >> "$1"
fincore --bytes "$D/data" >> "$1"
