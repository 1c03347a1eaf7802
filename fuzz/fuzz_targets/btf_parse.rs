//! Any bytes as BTF and .BTF.ext: every type decoded and sized. The steps are
//! `ebpf_loader::fuzz::btf_parse`, which tests/elf/corpus.rs also runs over fuzz/seeds and
//! fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ebpf_loader::fuzz::btf_parse(data));
