#!/usr/bin/env bash
# The start time of a binary: `BINARY --version`, RUNS times each, the
# binaries interleaved (a drift of the machine weighs on all alike), the
# wall time of each run from bash's EPOCHREALTIME (no process around the
# measured one); prints the median and the fastest run per binary, and the
# stripped size.
#
#   Benchmarks/startup.sh [RUNS] [BINARY...]
# Without binaries: the production binary as packaged (scripts/build-production).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
shift || true
binaries=("$@")
[ "${#binaries[@]}" -gt 0 ] || binaries=("$(scripts/build-production)")

declare -A times
for ((round = 0; round < runs; round++)); do
  for binary in "${binaries[@]}"; do
    start=$EPOCHREALTIME
    "$binary" --version >/dev/null
    end=$EPOCHREALTIME
    times[$binary]+="$(((${end/./} - ${start/./})))"$'\n'
  done
done
for binary in "${binaries[@]}"; do
  stripped=$(mktemp)
  strip -o "$stripped" "$binary"
  printf '%s\n' "${times[$binary]}" | sort -n | awk -v name="$binary" -v size="$(stat -c %s "$stripped")" -v whole="$(stat -c %s "$binary")" '
    NF { t[n++] = $1 }
    END { printf "%s: --version median %.2f ms, fastest %.2f ms (%d runs); %d bytes, %d stripped\n",
            name, t[int(n / 2)] / 1000, t[0] / 1000, n, whole, size }'
  rm -f "$stripped"
done
