#!/usr/bin/env bash
# Binary size, side by side (BENCHMARKS.md, "Binary size"), all with the crate's release
# profile (stripped by the profile):
#   - `cargo build --release` as the README says: static glibc, non-PIE (.cargo/config.toml);
#   - the same as a static-pie (+crt-static alone);
#   - the same without the config's +crt-static (RUSTFLAGS= replaces it): dynamic glibc PIE;
#   - static musl (--target x86_64-unknown-linux-musl): non-PIE, as .cargo/config.toml links
#     it since 2026-12-07 (-C relocation-model=static, as the libbpf reference is linked:
#     gcc -static), and the static-pie rustc makes without that flag (RUSTFLAGS= replaces it);
#   - each crate's share of .text (cargo bloat --crates, on an unstripped musl copy built in
#     target/bloat so that the measured binaries are not overwritten);
#   - the crates in the normal dependency tree;
#   - the libbpf reference (scripts/bench/build-reference.sh).
# Needs: rustup target x86_64-unknown-linux-musl; cargo install cargo-bloat.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=x86_64-unknown-linux-musl

cargo build -q --release
gnu=target/release/tcpconnect
CARGO_TARGET_DIR=target/dynamic RUSTFLAGS= cargo build -q --release
dynamic=target/dynamic/release/tcpconnect
CARGO_TARGET_DIR=target/staticpie RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release
staticpie=target/staticpie/release/tcpconnect
CARGO_TARGET_DIR=target/musl-pie RUSTFLAGS= cargo build -q --release --target $T
pie=target/musl-pie/$T/release/tcpconnect
cargo build -q --release --target $T
nonpie=target/$T/release/tcpconnect
[ -x target/bench/libbpf_tcpconnect ] || scripts/bench/build-reference.sh >/dev/null 2>&1
ref=target/bench/libbpf_tcpconnect

bytes() { stat -c %s "$1"; }
echo "== sizes (bytes)"
row() { printf '%-46s %9s  %s; ldd: %s\n' "$1" "$(bytes "$2")" "$(file -b "$2" | cut -d, -f1-4)" \
    "$(ldd "$2" 2>&1 | sed -E 's/ =>.*| \(0x.*//; s/^[[:space:]]*//' | paste -sd' ')"; }
row "tcpconnect, cargo build --release (glibc)" $gnu
row "tcpconnect, glibc static-pie" $staticpie
row "tcpconnect, glibc without +crt-static" $dynamic
row "tcpconnect, musl static-pie" $pie
row "tcpconnect, musl non-PIE (--target, as built)" $nonpie
row "libbpf reference (gcc -static, libbpf 1.1)" $ref
awk -v g="$(bytes $gnu)" -v a="$(bytes $pie)" -v b="$(bytes $nonpie)" -v r="$(bytes $ref)" 'BEGIN {
    printf "ratio to libbpf: glibc static %.3f, musl static-pie %.3f, musl non-PIE %.3f (target <= 0.75: %d bytes)\n", g/r, a/r, b/r, 0.75*r }'

echo; echo "== sections of the non-PIE binary (> 1 KB)"
size -A "$nonpie" | awk 'NR>2 && $2>1024 {printf "%-20s %8d\n", $1, $2}'

echo; echo "== .text by crate (cargo bloat --crates, non-PIE, unstripped copy)"
CARGO_TARGET_DIR=target/bloat RUSTFLAGS="-C relocation-model=static" CARGO_PROFILE_RELEASE_STRIP=false \
    cargo bloat -q --release --target $T --crates -n 30 2>/dev/null | sed -n '/File/,/section size/p'

echo; echo "== normal dependency tree (cargo tree -e normal)"
cargo tree -q -p tcpconnect -e normal --prefix none | sort -u | grep -v '^tcpconnect ' | sed 's/ (\*)//' | sort -u
echo "crates linked into the binary: $(cargo tree -q -p tcpconnect -e normal --prefix none | sort -u | grep -v '^tcpconnect ' \
    | grep -v 'proc-macro' | sed 's/ (\*)//' | sort -u | grep -cvE '^(heck|proc-macro2|quote|syn|unicode-ident) ')"
