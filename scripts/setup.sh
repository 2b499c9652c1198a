#!/usr/bin/env bash
# Installs what vtep and its tests need on a fresh Debian machine (run as root): system tools for the
# captures and network-namespace tests, then the npm dependencies (which build the native addon).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(tcpdump tshark iproute2 ethtool socat iperf3 netsniff-ng python3 make g++ procps)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${missing[*]}: run as root (or apt-get install them)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
