#!/usr/bin/env bash
# Installs the Debian packages the test suite drives (real coturn clients, BIRD,
# redis-server, Chromium, Firefox ESR, baresip, iproute2). As root it installs what is missing
# (apt-get update once, then apt-get install -y); otherwise it stops and prints
# the exact command to run. It never stops a process (see the end).
set -euo pipefail

# package -> a file it provides (checked instead of asking dpkg, so a manual
# install counts too)
declare -A PROVIDES=(
  [coturn]=/usr/bin/turnutils_uclient
  [bird2]=/usr/sbin/bird
  [redis-server]=/usr/bin/redis-server
  [chromium]=/usr/bin/chromium
  [firefox-esr]=/usr/bin/firefox-esr
  [baresip]=/usr/bin/baresip
  [iproute2]=/usr/sbin/ip
  [nftables]=/usr/sbin/nft
  [procps]=/usr/bin/pgrep
  [openssl]=/usr/bin/openssl
  [ansible-lint]=/usr/bin/ansible-lint
  [ansible]=/usr/lib/python3/dist-packages/ansible_collections/ansible/posix
  [prometheus]=/usr/bin/promtool
  [nftables]=/usr/sbin/nft
  [openssh-server]=/usr/sbin/sshd
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
# Nothing installed here is stopped or disabled: a system turnserver (coturn's service, on 3478/5349) or BIRD
# (bird2's service, /run/bird/bird.ctl) keeps running. The tests never need them gone: their relays listen on free
# loopback ports or inside network namespaces they make, and their BIRDs run in namespaces with their own config,
# control socket and pid file. Tests stop only the processes they started, by PID.
