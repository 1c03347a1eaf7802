#!/usr/bin/env bash
# Builds the libbpf reference loader (benches/reference/libbpf_tcpconnect.c) the way the
# reference figures in BENCHMARKS.md were taken: Debian's libbpf-dev 1.1, static glibc,
# libbpf.a + libelf.a + libz.a, -O2, stripped. Output: target/bench/libbpf_tcpconnect.
# The reference is only ever built here: it is never linked into the tool.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
for p in libbpf-dev libelf-dev zlib1g-dev gcc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p target/bench
gcc -O2 -static -o target/bench/libbpf_tcpconnect benches/reference/libbpf_tcpconnect.c \
    -lbpf -lelf -lz
strip target/bench/libbpf_tcpconnect
echo "target/bench/libbpf_tcpconnect: $(stat -c %s target/bench/libbpf_tcpconnect) bytes" \
    "(libbpf $(dpkg-query -W -f '${Version}' libbpf-dev))"
