#!/usr/bin/env bash
# `btf dump` of this host's kernel BTF as a C header, ours beside bpftool's, in one run
# (BENCHMARKS.md, "btf dump"): RUNS runs each, taking turns, to /dev/null; the median of
# wall time, user and system CPU, and peak RSS (/usr/bin/time). Ours is the library's
# `btf::dump_c::header` through the workbench, `ebpf-loader btf dump`, built by
# `cargo build --release` (opt-level "z", LTO). First the
# two headers are compared (they differ only by `mode(byte)` on one-byte enums).
# With BEFORE=PATH, that `ebpf-loader` (an older build) takes its turn in the same runs too,
# its header compared with ours.
# usage: [BEFORE=path/to/ebpf-loader] scripts/bench/btf-dump.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
vmlinux=/sys/kernel/btf/vmlinux
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
command -v bpftool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftool >/dev/null; }
cargo build -q --release --bin ebpf-loader
ours() { target/release/ebpf-loader btf dump "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ours "$vmlinux" >"$work/ours.h"
bpftool btf dump file "$vmlinux" format c >"$work/bpftool.h"
strip_mode() { sed 's/ __attribute__((mode(byte)))//' "$1"; }
before=${BEFORE:-}
whos="ours bpftool"
if [ -n "$before" ]; then
    whos="before ours bpftool"
    "$before" btf dump "$vmlinux" >"$work/before.h"
    cmp -s "$work/before.h" "$work/ours.h" && echo "before: the same header as ours" ||
        echo "before: a different header from ours"
fi
if cmp -s <(strip_mode "$work/ours.h") <(strip_mode "$work/bpftool.h"); then
    echo "headers: identical but for mode(byte) ($(wc -l <"$work/ours.h") lines, $(stat -c %s "$work/ours.h") bytes)"
else
    echo "headers differ:" && diff <(strip_mode "$work/ours.h") <(strip_mode "$work/bpftool.h") | head
fi

echo "machine: $(nproc) CPUs, $(uname -r), $(bpftool version | head -1), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -a -o "$work/ours.t" target/release/ebpf-loader btf dump "$vmlinux" >/dev/null
    /usr/bin/time -f "%e %U %S %M" -a -o "$work/bpftool.t" bpftool btf dump file "$vmlinux" format c >/dev/null
    if [ -n "$before" ]; then
        /usr/bin/time -f "%e %U %S %M" -a -o "$work/before.t" "$before" btf dump "$vmlinux" >/dev/null
    fi
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %10s %10s %10s %12s\n' "" "wall s" "user s" "sys s" "peak RSS KB"
for who in $whos; do
    printf '%-10s %10s %10s %10s %12s\n' "$who" \
        "$(cut -d' ' -f1 "$work/$who.t" | median)" "$(cut -d' ' -f2 "$work/$who.t" | median)" \
        "$(cut -d' ' -f3 "$work/$who.t" | median)" "$(cut -d' ' -f4 "$work/$who.t" | median)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
