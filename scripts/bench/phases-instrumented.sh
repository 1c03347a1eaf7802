#!/usr/bin/env bash
# Phases of start-up without strace's overhead: a temporary build with timing marks
# (scripts/bench/phases-instrument.patch, applied to a scratch copy in target/instrumented,
# never to src/), and the libbpf reference's own -t marks. RUNS runs each.
# usage: scripts/bench/phases-instrumented.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
scratch=target/instrumented
rm -rf "$scratch/src" && mkdir -p "$scratch"
cp -r Cargo.toml Cargo.lock src bpf benches examples "$scratch/"
(cd "$scratch" && patch -s -p1 < ../../scripts/bench/phases-instrument.patch \
    && cargo build -q --release --target x86_64-unknown-linux-musl)
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null
echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
    echo "--- run $i: tcpconnect"
    PHASES=1 "$scratch/target/x86_64-unknown-linux-musl/release/tcpconnect" --duration 0 2>&1 \
        | grep -E '^(phase|  of which)'
    echo "--- run $i: libbpf"
    target/bench/libbpf_tcpconnect -t -d 0 2>&1
done
