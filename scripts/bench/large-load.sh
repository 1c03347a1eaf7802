#!/usr/bin/env bash
# Loading the largest programs the verifier walks (BENCHMARKS.md, "Loading the largest
# programs"): tests/fixtures/large.bpf.o, program by program, `ebpf-loader load --program
# NAME` beside libbpf loading the same program alone (tests/reference/libbpf_loadall.c
# --together OBJECT NAME: the object opened, that program's autoload on, loaded), in one
# run on this host, taking turns. Verification dominates: each attempt at BPF_PROG_LOAD
# walks the whole program again, so the table also counts the attempts (strace).
# BEFORE=PATH adds a column for another build that has `load` (an older tcpconnect, or an
# older ebpf-loader), to compare.
# Each command runs RUNS times; the median wall time is printed. Needs root.
# usage: scripts/bench/large-load.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
obj=tests/fixtures/large.bpf.o
[ -x /usr/bin/time ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}
need=()
for p in libbpf-dev gcc strace; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build -q --release --bin ebpf-loader
ours=target/release/ebpf-loader
mkdir -p target/bench
ref=target/bench/libbpf_loadall_dyn
gcc -O2 -o "$ref" tests/reference/libbpf_loadall.c -lbpf

seconds() {
    /usr/bin/time -f '%e' -o /tmp/large-load.$$ "$@" >/dev/null 2>&1 || true
    cat /tmp/large-load.$$
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# attempts NAME CMD...: how many BPF_PROG_LOAD calls load program NAME (not the probes).
attempts() {
    local name=$1
    shift
    strace -f -s 64 -e trace=bpf -e signal=none "$@" 2>&1 >/dev/null |
        grep 'BPF_PROG_LOAD' | grep -c "prog_name=\"$name\"" || true
}
verdict() { "$ref" --together "$obj" "$1" 2>/dev/null | cut -f2,3 | tr '\t' ' '; }

echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg); libbpf $(dpkg-query -W -f '${Version}' libbpf-dev); $runs runs each"
header='| program | libbpf says | ebpf-loader load | libbpf | ratio | attempts (ours, libbpf) |'
rule='|---|---|---|---|---|---|'
if [ -n "${BEFORE:-}" ]; then
    header="$header before | attempts before |"
    rule="$rule---|---|"
fi
echo "$header"
echo "$rule"
for name in near_limit refused_mid refused_late over_limit; do
    : >/tmp/large-load-ours.$$
    : >/tmp/large-load-ref.$$
    : >/tmp/large-load-before.$$
    for _ in $(seq "$runs"); do
        seconds "$ours" load --program "$name" "$obj" >>/tmp/large-load-ours.$$
        seconds "$ref" --together "$obj" "$name" >>/tmp/large-load-ref.$$
        if [ -n "${BEFORE:-}" ]; then
            seconds "$BEFORE" load --program "$name" "$obj" >>/tmp/large-load-before.$$
        fi
    done
    t_ours=$(median </tmp/large-load-ours.$$)
    t_ref=$(median </tmp/large-load-ref.$$)
    line=$(printf '| %s | %s | %.2f s | %.2f s | %s | %s, %s |' "$name" "$(verdict "$name")" \
        "$t_ours" "$t_ref" "$(awk -v a="$t_ours" -v b="$t_ref" 'BEGIN { printf "%.2f", a / b }')" \
        "$(attempts "$name" "$ours" load --program "$name" "$obj")" \
        "$(attempts "$name" "$ref" --together "$obj" "$name")")
    if [ -n "${BEFORE:-}" ]; then
        t_before=$(median </tmp/large-load-before.$$)
        line="$line $(printf '%.2f s | %s |' "$t_before" "$(attempts "$name" "$BEFORE" load --program "$name" "$obj")")"
    fi
    echo "$line"
done
rm -f /tmp/large-load.$$ /tmp/large-load-ours.$$ /tmp/large-load-ref.$$ /tmp/large-load-before.$$
