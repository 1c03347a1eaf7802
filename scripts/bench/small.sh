#!/usr/bin/env bash
# The small static binary beside stable's musl build and the libbpf reference, in one run
# (BENCHMARKS.md, "tcpconnect under 0.75 of libbpf"; issue 21's targets):
#   1. sizes: stripped file, its sections, the ratio to libbpf's static binary;
#   2. start-up: exec to ready, peak RSS, start-up CPU (benches/startup.rs), RUNS runs each,
#      the three taking turns;
#   3. connect storm: CONNECTS loopback connects, ROUNDS rounds, the three taking turns
#      (benches/connect_storm.rs): tracer CPU, events received and lost.
# usage: scripts/bench/small.sh [RUNS] [CONNECTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-30}
connects=${2:-20000}
rounds=${3:-3}
target=x86_64-unknown-linux-musl

cargo build -q --release --target $target --bin tcpconnect
scripts/build-small --target $target tcpconnect >/dev/null
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null
cargo bench -q --bench startup --no-run 2>/dev/null
cargo bench -q --bench connect_storm --no-run 2>/dev/null
startup=$(ls -t target/release/deps/startup-* | grep -v '\.d$' | head -1)
storm=$(ls -t target/release/deps/connect_storm-* | grep -v '\.d$' | head -1)

stable=target/$target/release/tcpconnect
small=target/small/$target/release/tcpconnect
ref=target/bench/libbpf_tcpconnect
libbpf=$(stat -c %s $ref)

echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(rustc --version) ; small: $(sed -n 's/^toolchain=//p' scripts/build-small)"
echo "== sizes (stripped), target 0.75 of libbpf = $((libbpf * 3 / 4)) B"
for bin in $stable $small $ref; do
    printf '%-50s %9s B  %.3f of libbpf  %s\n' "$bin" "$(stat -c %s "$bin")" \
        "$(awk -v a="$(stat -c %s "$bin")" -v b="$libbpf" 'BEGIN { print a / b }')" \
        "$(size -A "$bin" | awk '$1 ~ /^\.(text|rodata|eh_frame)$/ { printf "%s %s  ", $1, $2 }')"
done

echo; echo "== exec to ready, peak RSS, start-up CPU ($runs runs each, taking turns)"
"$startup" --runs "$runs" --tool stable-musl "$stable --duration 600" \
    --tool small "$small --duration 600" --tool libbpf "$ref -d 600" | sed -n '/^tracer/,$p'

echo; echo "== connect storm ($connects connects, $rounds rounds, taking turns)"
for round in $(seq "$rounds"); do
    echo "=== round $round"
    for bin in $stable $small $ref; do
        echo "--- $bin"
        "$storm" --connects "$connects" --tool "$bin"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
