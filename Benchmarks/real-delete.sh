#!/usr/bin/env bash
# Deleting 1,000 read-only stray snapshots on a real btrfs, three ways:
#   (a) the original procedure: two processes per subvolume
#       (btrfs property set -ts S ro false; btrfs subvolume delete S);
#   (b) one `btrfs subvolume delete` given all the paths, without flipping
#       read-only (close to what the kernel allows; it does not commit);
#   (c) buildos-clean cleanup (scan, identity checks, delete by id, one sync).
# Each measurement runs on a fresh loop-mounted filesystem; the median of
# RUNS runs is reported. Needs root and btrfs-progs; builds buildos-clean
# unless BUILDOS_CLEAN_BINARY names one.
#
#   Benchmarks/real-delete.sh [RUNS] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
count=${2:-1000}
# The binary as a build host gets it (the package's: release, Swift runtime
# linked statically).
binary=${BUILDOS_CLEAN_BINARY:-$(scripts/build-production)}
[ "$(id -u)" -eq 0 ] || { echo "real-delete: needs root" >&2; exit 1; }

work=$(mktemp -d /tmp/buildos-clean-bench.XXXXXX)
loop=
release() {
  mountpoint -q "$work/mnt" 2>/dev/null && { umount "$work/mnt" || umount -l "$work/mnt"; }
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null || true
  rm -rf "$work"
}
trap release EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh filesystem holding one machine: its revision, its link, and
# COUNT read-only stray snapshots of the revision.
fresh() {
  release_mount
  truncate -s 4G "$work/img"
  mkfs.btrfs -q -f "$work/img" >/dev/null
  loop=$(losetup --find --show "$work/img")
  mkdir -p "$work/mnt"
  mount -o user_subvol_rm_allowed "$loop" "$work/mnt"
  machine="$work/mnt/machines/v/m"
  mkdir -p "$machine"
  btrfs -q subvolume create "$machine/m-1"
  btrfs property set -ts "$machine/m-1" ro true
  ln -s m-1 "$machine/m"
  for i in $(seq 1 "$count"); do btrfs -q subvolume snapshot -r "$machine/m-1" "$machine/m-default-$i-1"; done
  btrfs filesystem sync "$work/mnt"
  sync
}

release_mount() {
  if mountpoint -q "$work/mnt" 2>/dev/null; then umount "$work/mnt"; fi
  if [ -n "$loop" ]; then losetup -d "$loop"; loop=; fi
  rm -f "$work/img"
}


original() {
  for s in "$machine"/m-default-*; do
    btrfs property set -ts "$s" ro false 2>/dev/null
    btrfs -q subvolume delete "$s"
  done
}
one_process() { btrfs -q subvolume delete "$machine"/m-default-*; }
cleanup() { "$binary" cleanup --root "$work/mnt/machines" --toolchain default >/dev/null; }

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Rounds interleave the contenders, so that a drift of the machine (page
# cache, the image file's host filesystem) weighs on all three alike.
declare -A times last
ratios=
for _ in $(seq 1 "$runs"); do
  for contender in original one_process cleanup; do
    fresh
    start=$EPOCHREALTIME  # bash reads the clock itself: no process
    $contender
    end=$EPOCHREALTIME
    left=$(find "$machine" -maxdepth 1 -name 'm-default-*' | wc -l)
    [ "$left" -eq 0 ] || { echo "real-delete: $contender left $left strays" >&2; exit 1; }
    times[$contender]+="$(echo "$end - $start" | bc -l) "
    last[$contender]=$(echo "$end - $start" | bc -l)
  done
  ratios+="$(echo "${last[cleanup]} / ${last[one_process]}" | bc -l) "
done
declare -A results
for contender in original one_process cleanup; do
  results[$contender]=$(printf '%s\n' ${times[$contender]} | median)
  echo "$contender: ${times[$contender]}" >&2
done

a=${results[original]}; b=${results[one_process]}; c=${results[cleanup]}
printf 'deleting %d read-only stray snapshots, median of %d runs on fresh filesystems\n' "$count" "$runs"
printf '  (a) original, two processes per subvolume:   %8.3f s\n' "$a"
printf '  (b) one btrfs subvolume delete, all paths:   %8.3f s\n' "$b"
printf '  (c) buildos-clean cleanup:                   %8.3f s\n' "$c"
printf '  (a)/(c) = %.1f times faster;  (c)/(b) = %.2f (of the medians), %.2f (median of the rounds)\n' \
  "$(echo "$a / $c" | bc -l)" "$(echo "$c / $b" | bc -l)" "$(printf '%s\n' $ratios | median)"
