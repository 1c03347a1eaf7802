//! Any text as a USDT note's argument specs (`-4@%edi 8@-16(%rbp)`), register names,
//! and `/proc/PID/maps` lines. The steps are `usdt_args` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::usdt_args(data));
