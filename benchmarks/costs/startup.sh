#!/bin/bash
# Item 4: wall time of interpreter start-up, 5 runs each (after 1 warm-up run), ns.
cd /work/main
for label in "python3 -c pass" "/work/main/.venv/bin/python -c pass" "/work/main/.venv/bin/python -c import memcglab.cli.main" "/work/main/.venv/bin/python -c import memcglab.live.worker" "$(pyenv which python3) -c pass"; do
  case "$label" in
    "python3 -c pass") cmd=(python3 -c pass);;
    "/work/main/.venv/bin/python -c pass") cmd=(/work/main/.venv/bin/python -c pass);;
    "/work/main/.venv/bin/python -c import memcglab.cli.main") cmd=(/work/main/.venv/bin/python -c "import memcglab.cli.main");;
    "/work/main/.venv/bin/python -c import memcglab.live.worker") cmd=(/work/main/.venv/bin/python -c "import memcglab.live.worker");;
    *) cmd=($(pyenv which python3) -c pass);;
  esac
  "${cmd[@]}" >/dev/null 2>&1
  ts=()
  for i in 1 2 3 4 5; do
    t0=$(date +%s%N); "${cmd[@]}" >/dev/null 2>&1; rc=$?; t1=$(date +%s%N)
    ts+=($(( t1 - t0 )))
  done
  echo "${cmd[*]} | rc=$rc | ns: ${ts[*]}"
done
echo "which python3: $(command -v python3) -> $(readlink -f "$(command -v python3)")"
