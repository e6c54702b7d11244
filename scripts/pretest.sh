#!/usr/bin/env bash
# Installs the Debian packages the test suite drives (real coturn clients, BIRD,
# redis-server, Chromium, iproute2). As root it installs what is missing
# (apt-get update once, then apt-get install -y); otherwise it stops and prints
# the exact command to run.
set -euo pipefail

# package -> a file it provides (checked instead of asking dpkg, so a manual
# install counts too)
declare -A PROVIDES=(
  [coturn]=/usr/bin/turnutils_uclient
  [bird2]=/usr/sbin/bird
  [redis-server]=/usr/bin/redis-server
  [chromium]=/usr/bin/chromium
  [iproute2]=/usr/sbin/ip
  [procps]=/usr/bin/pgrep
  [openssl]=/usr/bin/openssl
  [ansible-lint]=/usr/bin/ansible-lint
  [ansible]=/usr/lib/python3/dist-packages/ansible_collections/ansible/posix
  # eBPF offload: the object is rebuilt and compared (clang, llvm-strip, libbpf headers); libbpf1 loads it
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-strip
  [libbpf-dev]=/usr/include/bpf/bpf_helpers.h
  [libbpf1]=/usr/lib/x86_64-linux-gnu/libbpf.so.1
)

missing=()
for pkg in "${!PROVIDES[@]}"; do
  [ -e "${PROVIDES[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

IFS=$'\n' sorted=($(sort <<<"${missing[*]}")); unset IFS
cmd="apt-get update && apt-get install -y ${sorted[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "The test suite needs these Debian packages: ${sorted[*]}" >&2
  echo "Run as root:  $cmd" >&2
  exit 1
fi

echo "pretest: installing ${sorted[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${sorted[@]}"
# The coturn package starts a system turnserver on 3478; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now coturn >/dev/null 2>&1 || true; fi
pkill -x turnserver >/dev/null 2>&1 || true
pkill -x bird >/dev/null 2>&1 || true
