#!/usr/bin/env bash
# Builds the kernel fast path object from its C source with Debian's clang (clang, libbpf-dev, llvm).
# Deterministic: the source is compiled from its own directory under a fixed name, DWARF is stripped (BTF stays:
# libbpf needs it for the maps), so the same compiler always gives the same bytes.
#   build.sh [OUT]   (default: channel-data.bpf.o next to the source)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/channel-data.bpf.o}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$here/channel-data.bpf.c" "$tmp/channel-data.bpf.c"
cd "$tmp"
clang -O2 -g -target bpf -mcpu=v3 -Wall -Werror \
  -I/usr/include/x86_64-linux-gnu -fdebug-prefix-map="$tmp"=. \
  -c channel-data.bpf.c -o channel-data.bpf.o
llvm-strip --strip-debug channel-data.bpf.o -o stripped.o
mv stripped.o "$out"
