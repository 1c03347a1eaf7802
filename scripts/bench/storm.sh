#!/usr/bin/env bash
# End to end (BENCHMARKS.md, "Connect storm"): 20,000 loopback connects against the
# tool, against the libbpf reference, and against no tracer at all (a shell that prints a
# header and sleeps: the machine's own connect rate), ROUNDS rounds (default 3), the
# tracers taking turns. Default ring size (8 pages per CPU) for both tracers.
#
# usage: scripts/bench/storm.sh [CONNECTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
connects=${1:-20000}
rounds=${2:-3}

cargo build -q --release --target x86_64-unknown-linux-musl
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null
cargo bench -q --bench connect_storm --no-run 2>/dev/null
storm=$(ls -t target/release/deps/connect_storm-* | grep -v '\.d$' | head -1)

echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    echo "=== round $round"
    "$storm" --connects "$connects" --lone 0 --tool /bin/sh -- -c 'echo PID; exec sleep 600' \
        | grep -E '^storm' | sed 's/^/no tracer: /'
    "$storm" --connects "$connects" --tool target/x86_64-unknown-linux-musl/release/tcpconnect
    "$storm" --connects "$connects" --tool target/bench/libbpf_tcpconnect
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
