//! Any bytes as the executable or shared library a uprobe or USDT probe names: its
//! type, functions' file offsets (symbols), addresses to file offsets (program headers),
//! its `.note.stapsdt` probes and their arguments. The steps are `executable` in fuzz/bodies.rs, which
//! tests/elf/corpus.rs also runs over fuzz/seeds and fuzz/regressions.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target runs one of the bodies
mod bodies;

fuzz_target!(|data: &[u8]| bodies::executable(data));
