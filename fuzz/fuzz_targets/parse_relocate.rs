//! Any bytes through the whole pure pipeline: parse, relocate every program (without and
//! with CO-RE), render the inspect views. A panic, an abort or a hang is a bug; an error
//! is the expected answer. The steps are `ebpf_loader::fuzz::parse_relocate`, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ebpf_loader::fuzz::parse_relocate(data));
