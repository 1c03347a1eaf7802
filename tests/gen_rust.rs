//! `btf::gen_rust` on every object at hand — the corpus's (`shared/corpus`: libbpf-tools,
//! libbpf-bootstrap), tcpconnect's and the test fixtures' — and the output compiled by
//! rustc against this library: its types, `Pod` impls and accessors type-check, and its
//! compile-time size and offset assertions hold. One crate of one module per object, type
//! checked only (`--emit=metadata` evaluates every `const _: () = assert!(...)`), so that
//! the ~90 objects cost one rustc run.

use std::path::{Path, PathBuf};
use std::process::Command;

use ebpf_loader::btf::gen_rust;
use ebpf_loader::elf::{MapKind, ObjectSpec};

/// The objects: the corpus's (when it is there), `bpf/main.bpf.o`, `tests/fixtures/*.bpf.o`.
fn objects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        root.join("bpf"),
        root.join("tests/fixtures"),
        root.join("examples"),
    ];
    match root
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.exists())
    {
        Some(corpus) => {
            dirs.push(corpus.join("libbpf-tools"));
            dirs.push(corpus.join("libbpf-bootstrap"));
        }
        None => eprintln!("no shared/corpus: only this project's objects"),
    }
    let mut objects = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.to_string_lossy().ends_with(".bpf.o") {
                objects.push(path);
            }
        }
    }
    objects.sort();
    objects
}

/// This library's rlib, as cargo built it for this test: the newest in the deps folder
/// beside the test's executable.
fn library_rlib() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let rlib = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("libebpf_loader-") && name.ends_with(".rlib")
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("libebpf_loader rlib beside the test");
    (rlib, deps)
}

#[test]
fn generated_rust_compiles_and_its_assertions_hold_for_every_object() {
    let objects = objects();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gen_rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut lib = String::new();
    let mut with_maps = 0;
    for (i, object) in objects.iter().enumerate() {
        let spec = ObjectSpec::parse(&std::fs::read(object).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", object.display()));
        let Some(btf) = spec.btf.as_ref() else {
            continue;
        };
        let name = object.file_name().unwrap().to_string_lossy().to_string();
        let source =
            gen_rust::generate(btf, &name).unwrap_or_else(|e| panic!("{}: {e}", object.display()));
        // Every map of `.maps` has its accessor. A legacy `SEC("maps")` map is not in the
        // BTF (its definition is the section's bytes), and a `.struct_ops` map has no typed
        // view: the generator, which reads the `.maps` DATASEC, leaves them out.
        for map in spec
            .maps
            .iter()
            .filter(|m| m.kind == MapKind::Btf && m.section == ".maps")
        {
            assert!(
                source.contains(&format!("object.typed_map({:?})", map.name))
                    || source.contains(&format!("object.map({:?})", map.name)),
                "{name}: no accessor for map {}",
                map.name
            );
            with_maps += 1;
        }
        let file = format!("o{i}.rs");
        std::fs::write(dir.join(&file), source).unwrap();
        lib.push_str(&format!(
            "/// {name}\npub mod o{i} {{\n    include!({file:?});\n}}\n"
        ));
    }
    assert!(objects.len() >= 20, "{} objects", objects.len());
    assert!(with_maps >= 5);
    std::fs::write(dir.join("lib.rs"), lib).unwrap();
    let (rlib, deps) = library_rlib();
    let output = Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "--crate-name",
            "generated",
        ])
        .args(["--emit=metadata", "-A", "dead_code"])
        .arg("--extern")
        .arg(format!("ebpf_loader={}", rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("-o")
        .arg(dir.join("libgenerated.rmeta"))
        .arg(dir.join("lib.rs"))
        .output()
        .expect("rustc runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "rustc on the generated code:\n{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tcpconnects_committed_types_are_what_gen_rust_makes_of_its_object() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = ObjectSpec::parse(&std::fs::read(root.join("bpf/main.bpf.o")).unwrap()).unwrap();
    let generated = gen_rust::generate(spec.btf.as_ref().unwrap(), "main.bpf.o").unwrap();
    let committed = std::fs::read_to_string(root.join("src/tool/main_bpf.rs")).unwrap();
    assert!(
        generated == committed,
        "src/tool/main_bpf.rs is stale: run \
         `cargo run --bin ebpf-loader -- gen rust bpf/main.bpf.o > src/tool/main_bpf.rs` and commit it"
    );
}
