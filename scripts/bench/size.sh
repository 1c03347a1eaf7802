#!/usr/bin/env bash
# Binary size, side by side (BENCHMARKS.md, "Binary size"):
#   - tcpconnect, static musl, release profile (stripped by the profile): as the crate
#     builds it (static-pie), and non-PIE (-C relocation-model=static, as the libbpf
#     reference is linked: gcc -static);
#   - each crate's share of .text (cargo bloat --crates, on an unstripped copy built in
#     target/bloat so that the measured binaries are not overwritten);
#   - the crates in the normal dependency tree;
#   - the libbpf reference (scripts/bench/build-reference.sh).
# Needs: rustup target x86_64-unknown-linux-musl; cargo install cargo-bloat.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=x86_64-unknown-linux-musl

cargo build -q --release --target $T
pie=target/$T/release/tcpconnect
CARGO_TARGET_DIR=target/nonpie RUSTFLAGS="-C relocation-model=static" \
    cargo build -q --release --target $T
nonpie=target/nonpie/$T/release/tcpconnect
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null 2>&1
ref=target/bench/libbpf_tcpconnect

bytes() { stat -c %s "$1"; }
echo "== sizes (bytes)"
printf '%-44s %9s  %s\n' "tcpconnect (static-pie, crate default)" "$(bytes $pie)" "$(file -b $pie | cut -d, -f1-4)"
printf '%-44s %9s  %s\n' "tcpconnect (non-PIE, relocation-model=static)" "$(bytes $nonpie)" "$(file -b $nonpie | cut -d, -f1-4)"
printf '%-44s %9s  %s\n' "libbpf reference (gcc -static, libbpf 1.1)" "$(bytes $ref)" "$(file -b $ref | cut -d, -f1-4)"
awk -v a="$(bytes $pie)" -v b="$(bytes $nonpie)" -v r="$(bytes $ref)" 'BEGIN {
    printf "ratio to libbpf: static-pie %.3f, non-PIE %.3f (target <= 0.6: %d bytes)\n", a/r, b/r, 0.6*r }'

echo; echo "== sections of the non-PIE binary (> 1 KB)"
size -A "$nonpie" | awk 'NR>2 && $2>1024 {printf "%-20s %8d\n", $1, $2}'

echo; echo "== .text by crate (cargo bloat --crates, non-PIE, unstripped copy)"
CARGO_TARGET_DIR=target/bloat RUSTFLAGS="-C relocation-model=static" CARGO_PROFILE_RELEASE_STRIP=false \
    cargo bloat -q --release --target $T --crates -n 30 2>/dev/null | sed -n '/File/,/section size/p'

echo; echo "== normal dependency tree (cargo tree -e normal, proc-macros only at build time)"
cargo tree -q -e normal --prefix none | sort -u | grep -v '^tcpconnect ' | sed 's/ (\*)//' | sort -u
echo "crates linked into the binary: $(cargo tree -q -e normal --prefix none | sort -u | grep -v '^tcpconnect ' \
    | grep -v 'proc-macro' | sed 's/ (\*)//' | sort -u | grep -cvE '^(heck|proc-macro2|quote|syn|unicode-ident) ')"
