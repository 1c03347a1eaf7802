#!/usr/bin/env bash
# The two binaries' sizes (BENCHMARKS.md, "Two binaries"), before and after, beside the
# libbpf reference, in one run: BEFORE (a commit, default the parent of the split: main at
# b03cd1e) is exported with `git archive` and built in target/size-before/ with its own
# target directory; this tree is built in place. Each is built twice with the crate's
# release profile (stripped by the profile): `cargo build --release` (static glibc,
# non-PIE: .cargo/config.toml) and `--target x86_64-unknown-linux-musl` (static-pie before
# 2026-12-07, non-PIE since: each tree is built with its own .cargo/config.toml).
# Needs: rustup target x86_64-unknown-linux-musl; the reference (build-reference.sh).
# usage: scripts/bench/two-binaries.sh [BEFORE]
set -euo pipefail
cd "$(dirname "$0")/../.."
T=x86_64-unknown-linux-musl
before=${1:-b03cd1e}

dir=target/size-before
rm -rf "$dir/src" && mkdir -p "$dir/src"
git archive "$before" | tar -x -C "$dir/src"
(cd "$dir/src" && CARGO_TARGET_DIR=../target cargo build -q --release --bin tcpconnect \
    && CARGO_TARGET_DIR=../target cargo build -q --release --target $T --bin tcpconnect)
cargo build -q --release --bins
cargo build -q --release --target $T --bins
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null 2>&1
ref=target/bench/libbpf_tcpconnect

bytes() { stat -c %s "$1"; }
r=$(bytes $ref)
row() { awk -v n="$(bytes "$2")" -v r="$r" -v what="$1" \
    'BEGIN { printf "%-58s %10d  %.3f\n", what, n, n / r }'; }
printf '%-58s %10s  %s\n' binary bytes "ratio to libbpf"
row "tcpconnect before ($before), musl" $dir/target/$T/release/tcpconnect
row "tcpconnect after, musl" target/$T/release/tcpconnect
row "ebpf-loader, musl" target/$T/release/ebpf-loader
row "tcpconnect before ($before), cargo build --release (glibc)" $dir/target/release/tcpconnect
row "tcpconnect after, cargo build --release (glibc)" target/release/tcpconnect
row "ebpf-loader, cargo build --release (glibc)" target/release/ebpf-loader
row "libbpf reference (gcc -O2 -static, libbpf 1.1)" $ref
awk -v r="$r" 'BEGIN { printf "target: tcpconnect musl <= 0.75 x libbpf = %d bytes\n", 0.75 * r }'
