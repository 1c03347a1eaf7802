//! The fuzz seeds and every input the fuzzers once crashed on (fuzz/seeds,
//! fuzz/regressions), run through the same steps as the fuzz targets: what a fuzzer
//! found stays a test.

use std::path::Path;

use ebpf_loader::btf::ext::BtfExt;
use ebpf_loader::btf::Btf;
use ebpf_loader::elf::ObjectSpec;

// The fuzz targets' own bodies, so the corpus runs through exactly their steps.
#[path = "../../fuzz/bodies.rs"]
mod bodies;
use bodies::{btf_parse, parse_relocate};

/// The files of `fuzz/<kind>/<target>/`, sorted.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let bytes = std::fs::read(&path).expect("readable corpus file");
                files.push((path.display().to_string(), bytes));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn parse_relocate_corpus() {
    let files = inputs("parse_relocate");
    assert!(
        files.iter().any(|(name, _)| name.ends_with("main.bpf.o")),
        "the seed object is missing"
    );
    for (name, bytes) in &files {
        let result = std::panic::catch_unwind(|| parse_relocate(bytes));
        assert!(result.is_ok(), "{name} panics");
    }
}

#[test]
fn btf_parse_corpus() {
    let files = inputs("btf_parse");
    assert!(!files.is_empty());
    for (name, bytes) in &files {
        let result = std::panic::catch_unwind(|| btf_parse(bytes));
        assert!(result.is_ok(), "{name} panics");
    }
}

#[test]
fn the_seeds_parse() {
    // The seeds are valid inputs: they reach the deep end of each target.
    let object = &inputs("parse_relocate")
        .into_iter()
        .find(|(name, _)| name.ends_with("main.bpf.o"))
        .unwrap()
        .1;
    let spec = ObjectSpec::parse(object).unwrap();
    assert_eq!(spec.programs.len(), 2);
    let tiny = &inputs("parse_relocate")
        .into_iter()
        .find(|(name, _)| name.ends_with("tiny.bpf.o"))
        .unwrap()
        .1;
    let spec = ObjectSpec::parse_named(tiny, "tiny").unwrap();
    let maps: Vec<&str> = spec.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(maps, ["m", "tiny.rodata", "tiny.bss"]);
    let programs: Vec<(&str, &str)> = spec
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.prog_type.name()))
        .collect();
    assert_eq!(programs, [("prog", "xdp"), ("tp", "tracepoint")]);
    let linked = spec.relocate("tp", &[3, 4, 5], None).unwrap();
    assert_eq!(
        linked.layout,
        [("tp".to_string(), 0), ("helper".to_string(), 3)]
    );
    let btf = &inputs("btf_parse")[0].1;
    let len = usize::from(u16::from_le_bytes([btf[0], btf[1]]));
    let parsed = Btf::parse(btf[2..2 + len].to_vec()).unwrap();
    assert!(BtfExt::parse(&btf[2 + len..], &parsed).is_ok());
}
