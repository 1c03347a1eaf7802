//! Any bytes as BTF, told as a C header (`btf::dump_c`) and as Rust (`btf::gen_rust`). The
//! steps are `btf_dump` in
//! fuzz/bodies.rs, which tests/elf/corpus.rs also runs over fuzz/seeds and
//! fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::btf_dump(data));
