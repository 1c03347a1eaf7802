//! Any bytes as split BTF (a kernel module's) on a real base: every type decoded,
//! sized and looked up by name. The steps are `btf_split` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::btf_split(data));
