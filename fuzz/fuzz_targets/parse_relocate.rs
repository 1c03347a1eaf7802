//! Any bytes through the whole pure pipeline: parse, relocate every program (without and
//! with CO-RE), render the inspect views. A panic, an abort or a hang is a bug; an error
//! is the expected answer. The steps are `parse_relocate` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::parse_relocate(data));
