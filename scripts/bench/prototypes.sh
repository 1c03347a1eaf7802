#!/usr/bin/env bash
# The "prototype" rows of BENCHMARKS.md: measured plans for the targets not met yet.
# Each is a scratch copy of the crate in target/prototype/NAME with patches applied
# (never to src/):
#   btf          prototype-btf-index.patch (the kernel BTF index loops; for src/btf's owner)
#   btf-noclap   the same plus prototype-no-clap.patch (hand-written arguments, no clap)
# built for musl at opt-level s and z, static-pie and non-PIE; prints the sizes, then
# exec to ready against the tool as committed and the libbpf reference.
# usage: scripts/bench/prototypes.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-30}
T=x86_64-unknown-linux-musl
here=$PWD
cargo build -q --release --target $T
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null

build() { # name opt-level rustflags patches...
    local name=$1 opt=$2 flags=$3; shift 3
    local dir=target/prototype/$name
    rm -rf "$dir/src" && mkdir -p "$dir"
    cp -r Cargo.toml Cargo.lock src bpf benches examples "$dir/"
    for p in "$@"; do (cd "$dir" && patch -s -p1 < "$here/scripts/bench/$p"); done
    (cd "$dir" && CARGO_TARGET_DIR=target-$opt-${flags:+nonpie} CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt \
        RUSTFLAGS="$flags" cargo build -q --release --target $T 2>/dev/null)
    echo "$dir/target-$opt-${flags:+nonpie}/$T/release/tcpconnect"
}

declare -A bin
for opt in s z; do
    bin[btf-$opt]=$(build btf $opt "" prototype-btf-index.patch)
    bin[btf-noclap-$opt]=$(build btf-noclap $opt "" prototype-btf-index.patch prototype-no-clap.patch)
    bin[btf-noclap-$opt-nonpie]=$(build btf-noclap $opt "-C relocation-model=static" \
        prototype-btf-index.patch prototype-no-clap.patch)
done
ref=$(stat -c %s target/bench/libbpf_tcpconnect)
echo "== sizes (libbpf reference: $ref bytes)"
for k in btf-s btf-z btf-noclap-s btf-noclap-z btf-noclap-s-nonpie btf-noclap-z-nonpie; do
    s=$(stat -c %s "${bin[$k]}")
    printf '%-22s %9d  %.3f\n' "$k" "$s" "$(echo "$s / $ref" | bc -l)"
done
echo; echo "== exec to ready ($runs runs each, load: $(cut -d' ' -f1-3 /proc/loadavg))"
cargo bench -q --bench startup -- --runs "$runs" \
    --tool tcpconnect target/$T/release/tcpconnect \
    --tool libbpf target/bench/libbpf_tcpconnect \
    --tool btf-s "${bin[btf-s]}" --tool btf-z "${bin[btf-z]}" \
    --tool btf-noclap-z "${bin[btf-noclap-z-nonpie]}" 2>/dev/null | sed -n '/^tracer/,$p'
