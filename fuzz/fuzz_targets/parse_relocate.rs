//! Any bytes through the whole pure pipeline: parse, relocate every program (without and
//! with CO-RE), render the inspect view. A panic, an abort or a hang is a bug; an error
//! is the expected answer.
//! tests/elf/corpus.rs runs the same steps over fuzz/seeds and fuzz/regressions.
#![no_main]

use ebpf_loader::elf::ObjectSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = ObjectSpec::parse_named(data, "fuzz") else {
        return;
    };
    let fds: Vec<i32> = (0..spec.maps.len() as i32).collect();
    for program in &spec.programs {
        let _ = spec.relocate(&program.name, &fds, None);
        // CO-RE too, with the object's own BTF standing in for the kernel's.
        let _ = spec.relocate(&program.name, &fds, spec.btf.as_ref());
    }
    let _ = ebpf_loader::inspect::render(&spec, "fuzz");
});
