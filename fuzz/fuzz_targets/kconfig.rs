//! Any text as a kernel release and config (`CONFIG_X=y` lines), written into the
//! `.kconfig` of an object with an extern of every type. The steps are `kconfig` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::kconfig(data));
