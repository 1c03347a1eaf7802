#!/usr/bin/env bash
# Loading the largest corpus objects (BENCHMARKS.md, "Loading the corpus"): wall time and peak
# RSS of `ebpf-loader load OBJECT` beside libbpf's reference (tests/reference/libbpf_loadall.c,
# the differential test's, static: Debian's libbpf 1.1.2), both loading every program of the
# object alone (each with all the object's maps) and unloading it, in one run on this host.
# A third column: libbpf loading those of the programs that load alone all together, from one
# open of the object (libbpf_loadall --together), as a tool loads its object: one parse and
# one read of the kernel's BTF, each map created once; `ebpf-loader load` and libbpf_loadall
# create the maps for every program (libbpf_loadall also opens the object, and reads the
# kernel's BTF, once per program; ebpf-loader load parses both once).
# Each command runs RUNS times, taking turns; the median wall time and the largest maximum
# RSS (/usr/bin/time -v) are printed. Needs root and ../shared/corpus (or CORPUS_DIR=...).
# usage: scripts/bench/corpus-load.sh [RUNS] [OBJECT...]   (OBJECT: a corpus object's name)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
shift || true
objects=("$@")
[ ${#objects[@]} -gt 0 ] ||
    objects=(klockstat memleak fsdist vfsstat fsslower execsnoop tcptracer runqslower biolatency)
corpus=${CORPUS_DIR:-../shared/corpus}
[ -d "$corpus" ] || { echo "no corpus at $corpus" >&2; exit 2; }
[ -x /usr/bin/time ] || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}
need=()
for p in libbpf-dev libelf-dev zlib1g-dev gcc; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build -q --release --bin ebpf-loader
ours=target/release/ebpf-loader
mkdir -p target/bench
ref=target/bench/libbpf_loadall
gcc -O2 -static -o "$ref" tests/reference/libbpf_loadall.c -lbpf -lelf -lz
strip "$ref"

# measure CMD...: "SECONDS KIB" of one run (wall clock, maximum resident set size).
measure() {
    /usr/bin/time -f '%e %M' -o /tmp/corpus-load.$$ "$@" >/dev/null 2>&1 || true
    cat /tmp/corpus-load.$$
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { sort -n | tail -n1; }

echo "machine: $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg); libbpf $(dpkg-query -W -f '${Version}' libbpf-dev); $runs runs each"
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' object "size (KiB)" programs "loaded (both)" \
    "ebpf-loader load" "libbpf, each alone" "ratio" "libbpf, together"
echo "|---|---|---|---|---|---|---|---|"
for name in "${objects[@]}"; do
    obj=$(ls "$corpus"/*/"$name".bpf.o | head -n1)
    : >/tmp/corpus-load-ours.$$
    : >/tmp/corpus-load-ref.$$
    : >/tmp/corpus-load-all.$$
    alone=$("$ref" "$obj" 2>/dev/null | awk -F'\t' '$2 == "loaded" { print $1 }')
    for _ in $(seq "$runs"); do
        measure "$ours" load "$obj" >>/tmp/corpus-load-ours.$$
        measure "$ref" "$obj" >>/tmp/corpus-load-ref.$$
        # shellcheck disable=SC2086 # the names, one word each
        measure "$ref" --together "$obj" $alone >>/tmp/corpus-load-all.$$
    done
    programs=$("$ref" "$obj" 2>/dev/null | wc -l)
    loaded_ref=$("$ref" "$obj" 2>/dev/null | grep -c '	loaded	' || true)
    loaded_ours=$( ("$ours" load "$obj" 2>/dev/null || true) | awk 'NR > 1 && $3 == "loaded"' | wc -l)
    t_ours=$(cut -d' ' -f1 /tmp/corpus-load-ours.$$ | median)
    t_ref=$(cut -d' ' -f1 /tmp/corpus-load-ref.$$ | median)
    m_ours=$(cut -d' ' -f2 /tmp/corpus-load-ours.$$ | max)
    m_ref=$(cut -d' ' -f2 /tmp/corpus-load-ref.$$ | max)
    t_all=$(cut -d' ' -f1 /tmp/corpus-load-all.$$ | median)
    m_all=$(cut -d' ' -f2 /tmp/corpus-load-all.$$ | max)
    # shellcheck disable=SC2086
    together=$("$ref" --together "$obj" $alone 2>/dev/null | grep -c '	loaded	' || true)
    printf '| %s | %d | %d | %s | %.2f s, %.1f MiB | %.2f s, %.1f MiB | %s | %.2f s, %.1f MiB (%s loaded) |\n' "$name" \
        $(( $(stat -c %s "$obj") / 1024 )) "$programs" \
        "$([ "$loaded_ours" = "$loaded_ref" ] && echo "$loaded_ours" || echo "ours $loaded_ours, libbpf $loaded_ref")" \
        "$t_ours" "$(echo "$m_ours" | awk '{ print $1 / 1024 }')" \
        "$t_ref" "$(echo "$m_ref" | awk '{ print $1 / 1024 }')" \
        "$(awk -v a="$t_ours" -v b="$t_ref" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }')" \
        "$t_all" "$(echo "$m_all" | awk '{ print $1 / 1024 }')" "$together"
done
rm -f /tmp/corpus-load.$$ /tmp/corpus-load-ours.$$ /tmp/corpus-load-ref.$$ /tmp/corpus-load-all.$$
