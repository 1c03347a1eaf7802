//! The fuzz seeds and every input the fuzzers once crashed on (fuzz/seeds,
//! fuzz/regressions), run through the same steps as the fuzz targets: what a fuzzer
//! found stays a test. Every target of fuzz/fuzz_targets has its corpus replayed here
//! (a target without a row in [`BODIES`] fails the test).

use std::path::Path;
use std::sync::Arc;

use ebpf_loader::btf::build::BtfBuilder;
use ebpf_loader::btf::ext::BtfExt;
use ebpf_loader::btf::{Btf, Kind};
use ebpf_loader::elf::target::{address_in_maps, Executable, ExecutableError};
use ebpf_loader::elf::usdt::{parse_usdt_args, usdt_probes, UsdtArgError, UsdtArgKind, UsdtError};
use ebpf_loader::elf::{ExternKind, KconfigInput, ObjectSpec};

// The fuzz targets' own bodies, so the corpus runs through exactly their steps.
#[path = "../../fuzz/bodies.rs"]
mod bodies;

/// A fuzz target's steps: any bytes in, no panic out.
type Body = fn(&[u8]);

/// Each fuzz target and its body.
const BODIES: &[(&str, Body)] = &[
    ("btf_dump", bodies::btf_dump),
    ("btf_parse", bodies::btf_parse),
    ("btf_split", bodies::btf_split),
    ("executable", bodies::executable),
    ("gunzip", bodies::gunzip),
    ("kconfig", bodies::kconfig),
    ("parse_relocate", bodies::parse_relocate),
    ("usdt_args", bodies::usdt_args),
];

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
fn every_target_survives_its_corpus() {
    // The targets cargo-fuzz knows are the files of fuzz/fuzz_targets.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| Some(e.file_name().to_str()?.strip_suffix(".rs")?.to_string()))
        .collect();
    targets.sort();
    let known: Vec<&str> = BODIES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        targets, known,
        "a fuzz target without its replay here, or the reverse"
    );
    for (target, body) in BODIES {
        let files = inputs(target);
        assert!(!files.is_empty(), "{target}: no seeds");
        for (name, bytes) in &files {
            let result = std::panic::catch_unwind(|| body(bytes));
            assert!(result.is_ok(), "{name} panics");
        }
    }
}

/// The file `name` of `fuzz/seeds/target/`.
fn seed(target: &str, name: &str) -> Vec<u8> {
    inputs(target)
        .into_iter()
        .find(|(path, _)| path.ends_with(&format!("seeds/{target}/{name}")))
        .unwrap_or_else(|| panic!("seed {target}/{name} is missing"))
        .1
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

#[test]
fn the_executable_seeds_reach_their_probes() {
    // fuzz/seeds/probes.c, linked at fixed addresses with its symbol table.
    let bytes = seed("executable", "exec");
    let exe = Executable::parse(&bytes).unwrap();
    assert_eq!(exe.fixed_addresses(), Ok(true));
    let main = exe.function_offset("main").unwrap();
    let probes = usdt_probes(&exe).unwrap();
    let names: Vec<String> = probes
        .iter()
        .map(|p| format!("{}:{}", p.provider, p.name))
        .collect();
    assert_eq!(names, ["fuzz:plain", "fuzz:guarded"]);
    for probe in &probes {
        // Each probe is a `nop` inside main, and its address maps to its file offset.
        assert_eq!(bytes.get(probe.file_offset as usize), Some(&0x90));
        assert!(probe.file_offset > main, "{probe:?}");
        assert_eq!(exe.file_offset(probe.address), Some(probe.file_offset));
    }
    assert_eq!(probes[0].semaphore_offset, 0);
    assert_ne!(probes[1].semaphore_offset, 0);
    let args = probes[0].args().unwrap();
    assert_eq!(
        args.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [UsdtArgKind::Reg, UsdtArgKind::Reg, UsdtArgKind::Const]
    );
    assert_eq!(probes[1].args().unwrap()[0].kind, UsdtArgKind::RegDeref);
    // The same program as a 32-bit executable: 4-byte addresses in its notes.
    let bytes = seed("executable", "exec32");
    let exe = Executable::parse(&bytes).unwrap();
    assert!(!exe.is_64());
    let probes = usdt_probes(&exe).unwrap();
    assert_eq!(probes.len(), 2);
    for probe in &probes {
        assert_eq!(bytes.get(probe.file_offset as usize), Some(&0x90));
        assert!(
            probe.address > 0x0804_8000 && probe.address < 0x0805_0000,
            "{probe:?}"
        );
    }
    assert_eq!(probes[0].arguments, "-4@%ecx -4@%eax 4@$5");
    assert_ne!(probes[1].semaphore_offset, 0);
    // The same program, position-independent and stripped: main is in .dynsym only.
    let bytes = seed("executable", "pie");
    let exe = Executable::parse(&bytes).unwrap();
    assert_eq!(exe.fixed_addresses(), Ok(false));
    let main = exe.function_offset("main").unwrap();
    let probes = usdt_probes(&exe).unwrap();
    assert_eq!(probes.len(), 2);
    assert!(probes.iter().all(|p| p.file_offset > main));
}

#[test]
fn the_text_seeds_parse() {
    let args = parse_usdt_args(std::str::from_utf8(&seed("usdt_args", "x86_64")).unwrap());
    assert_eq!(args.unwrap().len(), 5);
    let maps = String::from_utf8(seed("usdt_args", "maps")).unwrap();
    assert_eq!(
        address_in_maps(&maps, Path::new("/usr/bin/app"), 0x1234),
        Some(0x5612b234)
    );
    // The kconfig seed sets every extern of fuzz/kconfig.bpf.o; the other one is refused.
    let object = include_bytes!("../../fuzz/kconfig.bpf.o");
    let spec = ObjectSpec::parse_named(object, "kconfig").unwrap();
    let fill = |name| {
        let text = String::from_utf8(seed("kconfig", name)).unwrap();
        let (release, config) = text.split_once('\n').unwrap();
        let mut spec = spec.clone();
        spec.fill_kconfig(&KconfigInput {
            release: release.into(),
            config: Some(config.into()),
            ..KconfigInput::default()
        })
        .map(|_warnings| spec)
    };
    let filled = fill("config").unwrap();
    let kconfig = filled
        .maps
        .iter()
        .find(|m| m.name == "kconfig.kconfig")
        .unwrap();
    let value = |name: &str| {
        let ext = filled.externs.iter().find(|e| e.name == name).unwrap();
        let ExternKind::Kconfig { offset, size, .. } = ext.kind else {
            panic!("{name} is no kconfig extern")
        };
        kconfig.initial[offset as usize..(offset + size) as usize].to_vec()
    };
    assert_eq!(value("CONFIG_BOOL"), [1]);
    assert_eq!(value("CONFIG_TRI"), 2u32.to_le_bytes());
    assert_eq!(value("CONFIG_U8"), [0x10]);
    assert_eq!(value("CONFIG_S16"), (-2i16).to_le_bytes());
    assert_eq!(value("CONFIG_INT"), 8i32.to_le_bytes());
    assert_eq!(value("CONFIG_U64"), u64::MAX.to_le_bytes());
    assert_eq!(value("CONFIG_S64"), i64::MIN.to_le_bytes());
    assert_eq!(value("LINUX_KERNEL_VERSION"), 0x06_12_03u32.to_le_bytes());
    assert_eq!(spec.externs.len(), 12);
    assert_eq!(fill("refused").unwrap_err().name, "CONFIG_BOOL");
}

#[test]
fn the_gzip_seeds_decode() {
    use ebpf_loader::elf::gunzip::gunzip;
    // config.gz: fuzz/seeds/kconfig/config, `gzip -9n`.
    assert_eq!(
        gunzip(&seed("gunzip", "config.gz")).unwrap(),
        seed("kconfig", "config")
    );
    // The first 6000 bytes of a kernel's config (dynamic Huffman blocks).
    let text = gunzip(&seed("gunzip", "dynamic.gz")).unwrap();
    assert_eq!(text.len(), 6000);
    assert!(text.starts_with(b"#\n# Automatically generated file; DO NOT EDIT."));
    // 400 random bytes: stored blocks, and a file name in the header.
    assert_eq!(gunzip(&seed("gunzip", "stored.gz")).unwrap().len(), 400);
}

/// The split BTF seed: a module's types on the `btf_parse` seed's, written by
/// `BtfBuilder::new_split` (`FUZZ_WRITE_SEEDS=1 cargo test --test elf corpus` rewrites it).
fn split_seed(base: &Btf) -> Vec<u8> {
    let int = base.find_by_name_kind("int", Kind::Int).unwrap();
    let mut b = BtfBuilder::new_split(base);
    let ptr = b.add_ptr(int);
    let u8_ = b.add_int("u8", 1, 0);
    let array = b.add_array(u8_, int, 16);
    let dev = b.add_struct(
        "fuzz_dev",
        24,
        &[
            ("id", int, 0, 0),
            ("name", array, 32, 0),
            ("next", ptr, 128, 0),
        ],
    );
    let dev_ptr = b.add_ptr(dev);
    let konst = b.add_const(dev_ptr);
    let proto = b.add_func_proto(int, &[("dev", konst)]);
    let func = b.add_func("fuzz_dev_open", proto, 1);
    b.add_decl_tag("fuzz_tag", func, -1);
    b.add_enum("fuzz_state", 4, false, &[("FUZZ_UP", 1), ("FUZZ_DOWN", 2)]);
    b.add_typedef("fuzz_dev_t", dev);
    b.add_fwd("fuzz_later", false);
    b.add_union("fuzz_u", 8, &[("a", int, 0, 0), ("b", ptr, 0, 0)]);
    let var = b.add_var("fuzz_count", int, 1);
    b.add_datasec(".data..percpu", 4, &[(var, 0, 4)]);
    b.build()
}

#[test]
fn the_split_seed_is_the_builders_and_parses() {
    let btf = seed("btf_parse", "main.btf");
    let len = usize::from(u16::from_le_bytes([btf[0], btf[1]]));
    let base = Arc::new(Btf::parse(btf[2..2 + len].to_vec()).unwrap());
    let built = split_seed(&base);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/btf_split/module.btf");
    if std::env::var_os("FUZZ_WRITE_SEEDS").is_some() {
        std::fs::write(&path, &built).unwrap();
    }
    assert_eq!(built, seed("btf_split", "module.btf"));
    let split = Btf::parse_split(built, base.clone()).unwrap();
    assert_eq!(split.first_id(), base.len());
    assert_eq!(split.len(), base.len() + 15);
    let dev = split.find_by_name_kind("fuzz_dev", Kind::Struct).unwrap();
    assert_eq!(split.resolve_size(dev).unwrap(), 24);
    let typedef = split
        .find_by_name_kind("fuzz_dev_t", Kind::Typedef)
        .unwrap();
    assert_eq!(split.skip_mods_and_typedefs(typedef).unwrap(), dev);
}

#[test]
fn what_once_overflowed_is_a_typed_error() {
    let regression = |target: &str, name: &str| {
        let path = format!(
            "{}/fuzz/regressions/{target}/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    };
    // A size of i32::MIN: `abs()` overflowed.
    let text = regression("usdt_args", "size-i32-min");
    assert_eq!(
        parse_usdt_args(std::str::from_utf8(&text).unwrap()),
        Err(UsdtArgError::Size {
            arg: "-2147483648@%eax".into()
        })
    );
    // The exec seed with its first PT_LOAD at p_offset 0xffff_ffff_ffff_ffc0: the probe's
    // file offset (p_offset + its distance into the segment) overflowed.
    let bytes = regression("executable", "segment-offset-overflow");
    let exe = Executable::parse(&bytes).unwrap();
    assert!(matches!(
        usdt_probes(&exe),
        Err(UsdtError::NotInSegment { semaphore: false, ref probe, .. }) if probe == "fuzz:plain"
    ));
    // The exec seed with .text at sh_offset 0xffff_ffff_ffff_fff0: _start's file offset
    // (sh_offset + st_value - sh_addr) overflowed.
    let bytes = regression("executable", "section-offset-overflow");
    let exe = Executable::parse(&bytes).unwrap();
    assert_eq!(
        exe.function_offset("_start"),
        Err(ExecutableError::FunctionNotInFile {
            symbol: "_start".into(),
            address: 0x4000fc
        })
    );
}
