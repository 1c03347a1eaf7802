#!/usr/bin/env bash
# Start-up and memory, side by side (BENCHMARKS.md, "Start-up" and "Memory"):
#   1. benches/startup.rs: exec to ready (header line), peak RSS, CPU; RUNS runs each of
#      `cargo build --release`'s binary (static glibc), the static musl build, libbpf
#   2. hyperfine: `--duration 0` / `-d 0`, exec to *exit* (includes the kernel's teardown)
#   3. /usr/bin/time -v: maximum resident set size of one `--duration 0` run each
#   4. scripts/bench/phases.sh: where the time goes, one traced run each
# usage: scripts/bench/startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-50}
for p in hyperfine time strace; do
    command -v "$p" >/dev/null || [ -x /usr/bin/$p ] || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time strace >/dev/null
        break
    }
done
cargo build -q --release
cargo build -q --release --target x86_64-unknown-linux-musl
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null
ours=target/release/tcpconnect
musl=target/x86_64-unknown-linux-musl/release/tcpconnect
ref=target/bench/libbpf_tcpconnect

echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== exec to ready (benches/startup.rs, $runs runs each, taking turns)"
cargo bench -q --bench startup -- --runs "$runs" 2>/dev/null | sed -n '/^tracer/,$p'

echo; echo "== exec to exit, --duration 0 (hyperfine)"
hyperfine -N --warmup 3 --runs "$runs" --style basic "$ours --duration 0" "$musl --duration 0" \
    "$ref -d 0" 2>&1 \
    | grep -E 'Benchmark|Time|Range'

echo; echo "== peak RSS, --duration 0 (/usr/bin/time -v)"
for cmd in "$ours --duration 0" "$musl --duration 0" "$ref -d 0"; do
    printf '%-60s %s\n' "$cmd" "$(/usr/bin/time -v $cmd 2>&1 >/dev/null | grep 'Maximum resident')"
done

echo; echo "== phases (strace; traced times are longer)"
scripts/bench/phases.sh "$ours" --duration 1
scripts/bench/phases.sh "$ref" -d 1
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
