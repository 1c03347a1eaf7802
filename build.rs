//! One linker flag for the shipped static musl binaries, and nothing else: no code is
//! generated here.
//!
//! `.eh_frame_hdr` (`PT_GNU_EH_FRAME`) is the sorted index an unwinder searches to find a
//! function's unwind rules (the System V x86-64 ABI, "Unwind Table"; LLVM's libunwind, which
//! Rust's musl targets link, looks for it through `dl_iterate_phdr`). rustc asks the linker
//! for it on every target (`--eh-frame-hdr`). The release binaries abort on panic
//! (`panic = "abort"`): nothing in them unwinds; the index would only let a panic print a
//! backtrace under `RUST_BACKTRACE=1`, and a stripped binary's backtrace is bare addresses.
//! Without it, tcpconnect's musl build is 20 KB smaller (BENCHMARKS.md, 2026-12-07), and a
//! panic still prints its message and location before the abort; gcc leaves the index out of
//! `-static` links too (its specs pass `--eh-frame-hdr` only to dynamic ones), as in the
//! libbpf reference.
//!
//! Only the release profile's binaries on musl: test harnesses unwind to report a failing
//! test (they need the index), and static glibc's own unwinder (libgcc) is not touched.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let musl = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "musl");
    if release && musl {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    }
}
