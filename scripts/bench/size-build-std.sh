#!/usr/bin/env bash
# Where tcpconnect's remaining bytes are (BENCHMARKS.md, "tcpconnect small again", "std
# rebuilt"): the musl binary as the crate builds it on stable Rust, beside the same source
# built by a nightly toolchain that rebuilds the standard library (`-Z build-std`), once
# without std's `backtrace` feature (its DWARF symbolizer: gimli, addr2line, miniz_oxide)
# and without unwind tables (`-C force-unwind-tables=no`, which LTO ignores on stable
# because the prebuilt std carries the uwtable flag), panics still printing their message;
# and once with `panic = immediate-abort` (a panic is a bare trap, no message). Each is run
# once (`--help`, `inspect` of its own object) to show it works. A measurement, not a build
# the project ships (its binaries are built on stable).
# Needs: rustup toolchain install nightly; rustup component add rust-src --toolchain nightly;
# rustup target add x86_64-unknown-linux-musl --toolchain nightly (and for stable).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=x86_64-unknown-linux-musl
out=target/build-std
libbpf=1203784 # benches/reference: libbpf's static reference (scripts/bench/build-reference.sh)

row() { # LABEL PATH
    local size
    size=$(stat -c %s "$2")
    "$2" --help >/dev/null
    "$2" inspect >/dev/null
    printf '%-58s %10s  %.3f of libbpf  .eh_frame %s\n' "$1" "$size" \
        "$(awk -v a="$size" -v b="$libbpf" 'BEGIN { print a / b }')" "$(size -A "$2" | awk '$1 == ".eh_frame" { print $2 }')"
}

cargo build -q --release --target $target --bin tcpconnect
row "stable $(rustc --version | cut -d' ' -f2), the crate's build" target/$target/release/tcpconnect

RUSTFLAGS="-C relocation-model=static -C force-unwind-tables=no" CARGO_TARGET_DIR=$out/messages \
    cargo +nightly build -q --release --target $target --bin tcpconnect \
    -Z build-std=std,panic_abort -Z build-std-features=
row "nightly build-std, no backtrace, no unwind tables" $out/messages/$target/release/tcpconnect

RUSTFLAGS="-C relocation-model=static -C force-unwind-tables=no -Zunstable-options -Cpanic=immediate-abort" \
    CARGO_TARGET_DIR=$out/immediate \
    cargo +nightly build -q --release --target $target --bin tcpconnect -Z build-std=std,panic_abort
row "nightly build-std, panic=immediate-abort" $out/immediate/$target/release/tcpconnect
echo "target (0.75 of libbpf's $libbpf B): $((libbpf * 3 / 4)) B"
