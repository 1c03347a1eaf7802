#!/usr/bin/env bash
# The static tcpconnect for each architecture, side by side (BENCHMARKS.md, "Binary size",
# "arm64 beside x86-64"): the README's glibc build and the musl one, each with the crate's
# release profile, for x86-64 (this machine) and arm64 (cross-built: .cargo/config.toml's
# linker, Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross).
# Needs: rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-gnu
# aarch64-unknown-linux-musl.
set -euo pipefail
cd "$(dirname "$0")/../.."

row() { # LABEL PATH
    printf '%-34s %10s  %s\n' "$1" "$(stat -c %s "$2")" "$(file -b "$2" | cut -d, -f1-2,4)"
}
cargo build -q --release --bin tcpconnect
row "x86-64, glibc static" target/release/tcpconnect
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl; do
    cargo build -q --release --bin tcpconnect --target "$target"
    case "$target" in
        x86_64*musl) label="x86-64, musl static" ;;
        aarch64*gnu) label="arm64, glibc static" ;;
        aarch64*musl) label="arm64, musl static" ;;
    esac
    row "$label" "target/$target/release/tcpconnect"
done
