#!/usr/bin/env bash
# TUN write cost: write() per packet vs io_uring batches (see tun-write-uring.c). Root; needs gcc and liburing-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
ns="vtur$$"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$out"' EXIT
gcc -O2 -o "$out/t" "$here/tun-write-uring.c" -luring
ip netns add "$ns"
ip -n "$ns" link set lo up
for round in 1 2; do
  for mode in 0 1; do
    ip netns exec "$ns" bash -c "ip link del vturt0 2>/dev/null || true; timeout 30 '$out/t' $mode ${1:-500000}"
  done
done
