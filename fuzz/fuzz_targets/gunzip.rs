//! Any bytes as a gzip member (`/proc/config.gz`): RFC 1952 and DEFLATE (RFC 1951). The steps are `gunzip` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::gunzip(data));
