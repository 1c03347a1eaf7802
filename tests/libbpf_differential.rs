//! The loader against libbpf, program by program, on the real-world corpus
//! (`../shared/corpus`) and the tool's own object: for every program, libbpf's verdict and
//! the kernel's tag of what it loaded (`bpf_prog_info.tag`, a hash of the instructions with
//! map fds masked) beside this loader's (`ebpf-loader load`). Same verdict and same tag:
//! the same instructions reached the same verifier.
//!
//! The reference is `tests/reference/libbpf_loadall.c`, built here with the system's cc and
//! Debian's libbpf (tests/all installs libbpf-dev). Needs root.
//!
//! `DIFF_TABLE=PATH cargo test --test libbpf_differential` also writes the whole
//! table as Markdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOOL: &str = env!("CARGO_BIN_EXE_ebpf-loader");

/// What one loader did with one program.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Loaded { tag: String },
    Refused,
}

/// The reference, built once per test process (the tests run in parallel: one writing it
/// while another executes it would fail with `ETXTBSY`).
fn reference() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libbpf_loadall");
            let status = Command::new("cc")
                .args(["-O2", "-o"])
                .arg(&out)
                .arg("tests/reference/libbpf_loadall.c")
                .arg("-lbpf")
                .status()
                .expect("cc");
            assert!(status.success(), "building the libbpf reference");
            out
        })
        .clone()
}

fn libbpf(reference: &Path, object: &Path) -> Option<BTreeMap<String, Verdict>> {
    libbpf_with(reference, &[], object)
}

/// What libbpf did with each program of an object, in one run of the reference.
struct LibbpfRun {
    verdicts: BTreeMap<String, Verdict>,
    /// The errno `bpf_object__load` returned, for the programs it refused.
    errnos: BTreeMap<String, i32>,
    /// libbpf's own messages (its warnings, the verifier's logs).
    stderr: String,
}

/// `libbpf_loadall [ARGS] OBJECT` (`--btf PATH`: CO-RE's target); `None` when libbpf
/// cannot open the object.
fn libbpf_run(reference: &Path, args: &[&str], object: &Path) -> Option<LibbpfRun> {
    let out = Command::new(reference)
        .args(args)
        .arg(object)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.starts_with("open\tfailed") {
        return None;
    }
    let mut run = LibbpfRun {
        verdicts: BTreeMap::new(),
        errnos: BTreeMap::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [name, "loaded", tag] => {
                let tag = tag.to_string();
                run.verdicts
                    .insert(name.to_string(), Verdict::Loaded { tag });
            }
            [name, _, errno] => {
                run.verdicts.insert(name.to_string(), Verdict::Refused);
                if let Ok(errno) = errno.parse() {
                    run.errnos.insert(name.to_string(), errno);
                }
            }
            _ => {}
        }
    }
    Some(run)
}

fn libbpf_with(
    reference: &Path,
    args: &[&str],
    object: &Path,
) -> Option<BTreeMap<String, Verdict>> {
    libbpf_run(reference, args, object).map(|run| run.verdicts)
}

fn ours(object: &Path) -> BTreeMap<String, Verdict> {
    ours_with(object, &[]).0
}

/// `ebpf-loader load [ARGS] OBJECT`: the verdicts, and the tool's stderr (one line per
/// refused program, with the verifier's reason).
fn ours_with(object: &Path, args: &[&str]) -> (BTreeMap<String, Verdict>, String) {
    let out = Command::new(TOOL)
        .arg("load")
        .args(args)
        .arg(object)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = String::from_utf8_lossy(&out.stdout);
    let verdicts = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let name = words.first()?.to_string();
            let verdict = match *words.get(2)? {
                "loaded" => Verdict::Loaded {
                    tag: words.get(6)?.to_string(),
                },
                "refused" => Verdict::Refused,
                _ => return None,
            };
            Some((name, verdict))
        })
        .collect();
    (verdicts, stderr)
}

fn objects() -> Vec<PathBuf> {
    let mut objects = vec![PathBuf::from("bpf/main.bpf.o")];
    // `../shared/corpus` from the project's root; from a worktree one level deeper, the
    // nearest ancestor's `shared/corpus` (as tests/elf/real_world.rs finds it).
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("../shared/corpus"));
    for dir in ["libbpf-tools", "libbpf-bootstrap"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(dir)) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "o"))
            .collect();
        found.sort();
        objects.extend(found);
    }
    objects
}

fn show(verdict: Option<&Verdict>) -> String {
    match verdict {
        Some(Verdict::Loaded { tag }) => format!("loaded `{tag}`"),
        Some(Verdict::Refused) => "refused".to_string(),
        None => "-".to_string(),
    }
}

#[test]
fn every_program_loads_as_libbpf_loads_it() {
    let reference = reference();
    let objects = objects();
    if objects.len() == 1 {
        eprintln!("../shared/corpus is not there: only the tool's own object is compared");
    }
    let mut table = String::from(
        "| object | program | libbpf 1.1 | this loader | same |\n|---|---|---|---|---|\n",
    );
    let mut differences = Vec::new();
    let (mut programs, mut same) = (0, 0);
    for object in &objects {
        let name = object
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".bpf.o")
            .to_string();
        let theirs = libbpf(&reference, object);
        let mine = ours(object);
        let names: Vec<&String> = match &theirs {
            Some(theirs) => theirs.keys().chain(mine.keys()).collect(),
            None => mine.keys().collect(),
        };
        let mut names = names;
        names.sort();
        names.dedup();
        for program in names {
            programs += 1;
            let a = theirs.as_ref().and_then(|t| t.get(program));
            let b = mine.get(program);
            let agree = theirs.is_some() && a == b;
            if agree {
                same += 1;
            } else {
                differences.push(format!("{name}/{program}"));
            }
            table.push_str(&format!(
                "| {name} | {program} | {} | {} | {} |\n",
                if theirs.is_some() {
                    show(a)
                } else {
                    "cannot open".to_string()
                },
                show(b),
                if agree { "yes" } else { "**no**" }
            ));
        }
    }
    table.push_str(&format!("\n{same} of {programs} programs alike.\n"));
    if let Ok(path) = std::env::var("DIFF_TABLE") {
        std::fs::write(path, &table).unwrap();
    }
    eprintln!("{table}");
    assert_eq!(differences, KNOWN_DIFFERENCES, "the table:\n{table}");
}

/// Programs where this loader does not do what libbpf does, on this host (6.18, no kprobes,
/// no fentry): none. A program that appears here is a regression to fix, not an answer.
const KNOWN_DIFFERENCES: &[&str] = &[];

/// One of this repository's fixtures (`tests/fixtures/NAME.bpf.o`), loaded program by
/// program by libbpf and by `ebpf-loader load`: both loaders' verdicts (which must be the
/// same, tag for tag), libbpf's errnos, and our stderr.
struct Fixture {
    verdicts: BTreeMap<String, Verdict>,
    libbpf_errnos: BTreeMap<String, i32>,
    /// libbpf's stderr.
    libbpf_stderr: String,
    /// Ours.
    stderr: String,
}

fn fixture(name: &str) -> Fixture {
    let object = Path::new("tests/fixtures").join(format!("{name}.bpf.o"));
    let reference = reference();
    let theirs = libbpf_run(&reference, &[], &object).expect("libbpf opens the fixture");
    let (mine, stderr) = ours_with(&object, &[]);
    assert_eq!(
        mine, theirs.verdicts,
        "{name}: ours, libbpf's; our stderr:\n{stderr}"
    );
    Fixture {
        verdicts: mine,
        libbpf_errnos: theirs.errnos,
        libbpf_stderr: theirs.stderr,
        stderr,
    }
}

impl Fixture {
    fn tag(&self, program: &str) -> &str {
        match self.verdicts.get(program) {
            Some(Verdict::Loaded { tag }) => tag,
            other => panic!("{program}: {other:?}\n{}", self.stderr),
        }
    }

    /// `program` was refused by both, libbpf with `errno`, ours with a line of stderr
    /// holding `reason` (and the same errno, `errno_name`, where the kernel refused it).
    fn assert_refused(&self, program: &str, errno: i32, errno_name: Option<&str>, reason: &str) {
        assert_eq!(self.verdicts.get(program), Some(&Verdict::Refused));
        assert_eq!(
            self.libbpf_errnos.get(program),
            Some(&errno),
            "libbpf's errno"
        );
        let line = self
            .stderr
            .lines()
            .find(|line| line.starts_with(&format!("ebpf-loader: {program}: ")))
            .unwrap_or_else(|| panic!("no error for {program} in:\n{}", self.stderr));
        if let Some(name) = errno_name {
            assert!(line.contains(&format!("({name})")), "{line}");
        }
        assert!(line.contains(reason), "{line}");
    }
}

/// Rule 1: a verifier refusal is final. Global functions are checked alone, from their BTF:
/// passing a stack buffer where the context is expected, and returning a value the caller
/// cannot bound, are refused, by libbpf and by us, with the verifier's own reason; a loader
/// that retried without func_info would have loaded both (as static functions).
#[test]
fn a_refused_global_function_is_never_loaded_without_its_btf() {
    let f = fixture("global_func");
    f.assert_refused(
        "bad_argument",
        libc::EINVAL,
        Some("EINVAL"),
        "Caller passes invalid args into func#1 ('skb_len')",
    );
    f.assert_refused(
        "bad_return",
        libc::EINVAL,
        Some("EINVAL"),
        "At program exit the register R0 has unknown scalar value should have been in",
    );
    assert_eq!(f.tag("good_call").len(), 16);
}

/// Rule 2: subprograms are laid out depth-first in the order of the calls, as libbpf's
/// `bpf_object__reloc_code` appends them: `layout` calls a() then b(), a() calls c(), c()
/// calls d(), b() calls d() and e(). The exact layout, the exact call offsets, and the
/// kernel's tag equal to libbpf's.
#[test]
fn subprograms_are_laid_out_depth_first_as_libbpf_does() {
    let f = fixture("subprog_order");
    assert_eq!(f.tag("layout").len(), 16);

    let bytes = std::fs::read("tests/fixtures/subprog_order.bpf.o").unwrap();
    let spec = ebpf_loader::elf::ObjectSpec::parse(&bytes).unwrap();
    let relocated = spec.relocate("layout", &[], None).unwrap();
    let layout: Vec<(&str, usize)> = relocated
        .layout
        .iter()
        .map(|(name, start)| (name.as_str(), *start))
        .collect();
    let size = |name: &str| {
        spec.subprograms
            .iter()
            .chain(&spec.programs)
            .find(|f| f.name == name)
            .unwrap()
            .insns
            .len()
    };
    let mut expected = Vec::new();
    let mut at = 0;
    for name in ["layout", "a", "c", "d", "b", "e"] {
        expected.push((name, at));
        at += size(name);
    }
    assert_eq!(layout, expected);
    assert_eq!(relocated.insns.len(), at);
    // Every call lands on the first instruction of the callee its relocation names.
    let start = |name: &str| expected.iter().find(|(n, _)| *n == name).unwrap().1;
    let calls: Vec<(usize, &str, usize)> = relocated
        .applied
        .iter()
        .filter(|a| matches!(a.kind, ebpf_loader::elf::RelocationKind::Call { .. }))
        .map(|a| {
            let insn = relocated.insns[a.insn];
            (
                a.insn,
                a.target.as_str(),
                (a.insn as i64 + 1 + i64::from(insn.imm)) as usize,
            )
        })
        .collect();
    let callers: Vec<(&str, &str)> = calls
        .iter()
        .map(|&(at, callee, _)| {
            let caller = expected.iter().rev().find(|(_, s)| *s <= at).unwrap().0;
            (caller, callee)
        })
        .collect();
    assert_eq!(
        callers,
        [
            ("layout", "a"),
            ("layout", "b"),
            ("a", "c"),
            ("c", "d"),
            ("b", "d"),
            ("b", "e")
        ]
    );
    for (_, callee, lands) in calls {
        assert_eq!(lands, start(callee), "call of {callee}");
    }
}

/// Rule 3: type-based relocations (`bpf_core_type_size`, `bpf_core_type_id_kernel`,
/// `bpf_core_type_exists`) of a type the kernel lacks resolve to 0, as libbpf's
/// `bpf_core_calc_type_relo` does: the program is `r0 = 0 + 0 + 0; exit`, loaded by both
/// with the same tag (a poisoned instruction would have had it refused).
#[test]
fn a_missing_type_gives_zero_to_type_relocations() {
    let f = fixture("core_rules");
    assert_eq!(f.tag("type_missing").len(), 16);
    let bytes = std::fs::read("tests/fixtures/core_rules.bpf.o").unwrap();
    let spec = ebpf_loader::elf::ObjectSpec::parse(&bytes).unwrap();
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    let relocated = spec.relocate("type_missing", &[], Some(&kernel)).unwrap();
    let fixups: Vec<(Option<u64>, bool)> = relocated
        .core
        .iter()
        .map(|c| (c.target_value, c.poisoned))
        .collect();
    // size, kernel type id, exists: 0, 0, 0; nothing poisoned.
    assert_eq!(fixups, [(Some(0), false); 3]);
}

/// How many types of `kind` called `name` the running kernel's BTF has.
fn kernel_types(name: &str, kind: ebpf_loader::btf::Kind) -> usize {
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    kernel.ids_by_essential_name(name, kind).len()
}

/// Rule 4: several candidates that match with different results refuse the relocation,
/// and so the program, as libbpf's `bpf_core_calc_relo_insn` does (`-EINVAL`, before any
/// load): a field at two bit offsets (even where its size, the value asked, agrees), a
/// type of two sizes. Needs a kernel with two `struct walk_control` (btrfs built in) and
/// several `struct perf_aux_event` (6.x): elsewhere both loaders load both, alike.
#[test]
fn ambiguous_candidates_refuse_the_relocation_as_libbpf() {
    let f = fixture("core_rules");
    let s = ebpf_loader::btf::Kind::Struct;
    if kernel_types("walk_control", s) >= 2 {
        f.assert_refused(
            "ambiguous_offset",
            libc::EINVAL,
            None,
            "CO-RE insn #0 struct walk_control.stage: ambiguous: target [",
        );
    } else {
        eprintln!("this kernel has one struct walk_control at most: no ambiguity to check");
    }
    if kernel_types("perf_aux_event", s) >= 2 {
        f.assert_refused(
            "ambiguous_size",
            libc::EINVAL,
            None,
            "CO-RE insn #0 struct perf_aux_event: ambiguous: target [",
        );
    } else {
        eprintln!("this kernel has one struct perf_aux_event at most: no ambiguity to check");
    }
}

/// Rule 5: a zero-length array is flexible only as its struct's last member:
/// `r->data[2]` of `struct { u32 n; u32 data[0]; }` is a valid record (no kernel has the
/// type: exists gives 0), of `struct { u32 data[0]; u32 n; }` a record libbpf refuses
/// when it parses it (`bpf_core_parse_spec`: -EINVAL), and so do we.
#[test]
fn a_zero_length_array_is_flexible_only_as_the_last_member() {
    let f = fixture("core_rules");
    assert_eq!(f.tag("flex_last").len(), 16);
    f.assert_refused(
        "flex_not_last",
        libc::EINVAL,
        None,
        "access '0:0:2' on local type [",
    );
}

/// Rule 6: `__kconfig` externs typed as libbpf's `find_kcfg_type` types them: a
/// `const char[8]`, a typedef of a `const volatile` array of a typedef of `unsigned
/// char`, a `const volatile signed char`. The program reads them from the frozen
/// `.kconfig` map, whose bytes the verifier knows: it loads only if `CONFIG_CC_VERSION_TEXT`
/// was cut to 7 bytes and a NUL and `CONFIG_BPF_SYSCALL` is `'y'`. The cut is reported in
/// libbpf's words, by libbpf and by us.
#[test]
fn kconfig_externs_are_typed_and_cut_as_libbpf_does() {
    let f = fixture("kconfig_rules");
    assert_eq!(f.tag("kconfig_types").len(), 16);
    let theirs = &f.libbpf_stderr;
    let warning = theirs
        .lines()
        .find_map(|line| line.strip_prefix("libbpf: extern (kcfg) 'CONFIG_CC_VERSION_TEXT'"))
        .unwrap_or_else(|| panic!("libbpf's stderr:\n{theirs}"));
    assert!(warning.ends_with("truncated to 7 bytes"), "{warning}");
    let ours = format!(
        "ebpf-loader: kconfig_types: warning: extern (kcfg) 'CONFIG_CC_VERSION_TEXT'{warning}"
    );
    assert!(f.stderr.lines().any(|line| line == ours), "{}", f.stderr);
}

/// Rule 7: a ring buffer's size is rounded up to a power-of-two multiple of the page size
/// before `BPF_MAP_CREATE`, as libbpf's `adjust_ringbuf_sz` does: declared 1000, 5000 and
/// 8192, created (and shown on the map's handle, and by the kernel) as one page, two, and
/// 8192. Both loaders load the program that writes to the three.
#[test]
fn ring_buffer_sizes_are_rounded_up_as_libbpf_does() {
    let f = fixture("ringbuf_size");
    assert_eq!(f.tag("ringbuf_sizes").len(), 16);

    let page = 4096u32;
    assert_eq!(ebpf_loader::load::adjust_ringbuf_size(1000, page), 4096);
    assert_eq!(ebpf_loader::load::adjust_ringbuf_size(5000, page), 8192);
    assert_eq!(ebpf_loader::load::adjust_ringbuf_size(8192, page), 8192);
    assert_eq!(
        ebpf_loader::load::adjust_ringbuf_size(3 * 4096, page),
        16384
    );
    assert_eq!(ebpf_loader::load::adjust_ringbuf_size(0, page), 0);
    // No power-of-two multiple below 4 GiB is larger: left for the kernel to refuse.
    assert_eq!(
        ebpf_loader::load::adjust_ringbuf_size(u32::MAX, page),
        u32::MAX
    );

    let bytes = std::fs::read("tests/fixtures/ringbuf_size.bpf.o").unwrap();
    let spec = ebpf_loader::elf::ObjectSpec::parse(&bytes).unwrap();
    let object = ebpf_loader::load::Object::load(&spec, &Default::default()).unwrap();
    // The machines of this project (x86-64) have 4 KiB pages.
    for (name, size) in [("small", 4096), ("middle", 8192), ("exact", 8192)] {
        let map = object.map(name).unwrap();
        assert_eq!(map.max_entries(), size, "{name}");
        assert_eq!(
            map.info().unwrap().max_entries,
            size,
            "{name}: the kernel's"
        );
    }
}

/// Rule 8: `--btf FILE` is CO-RE's target only, as libbpf's `btf_custom_path`: given the
/// fixture itself as the BTF file, its `task_struct.pid` read is relocated against the
/// file (offset 0, another tag than against the kernel), while the `tp_btf` target
/// `btf_trace_sched_switch`, which the file lacks, is found in the running kernel's BTF.
/// Both loaders load it, with the same tag, with and without `--btf`.
#[test]
fn a_btf_file_is_the_target_of_core_only() {
    let object = Path::new("tests/fixtures/attach_btf.bpf.o");
    let path = object.to_str().unwrap();
    let reference = reference();
    let theirs = libbpf_with(&reference, &["--btf", path], object).unwrap();
    let (mine, stderr) = ours_with(object, &["--btf", path]);
    assert_eq!(mine, theirs, "with --btf; our stderr:\n{stderr}");
    let with_file = match mine.get("on_switch") {
        Some(Verdict::Loaded { tag }) => tag.clone(),
        other => panic!("{other:?}: {stderr}"),
    };
    let f = fixture("attach_btf");
    assert_ne!(f.tag("on_switch"), with_file, "CO-RE followed the file");

    // What was looked up where: the target in the running kernel's BTF, the field in the
    // file's.
    let bytes = std::fs::read(object).unwrap();
    let spec = ebpf_loader::elf::ObjectSpec::parse(&bytes).unwrap();
    let file =
        ebpf_loader::btf::Btf::parse(spec.btf.as_ref().unwrap().as_bytes().to_vec()).unwrap();
    let options = ebpf_loader::load::LoadOptions {
        target_btf: ebpf_loader::load::TargetBtf::Btf(&file),
        ..Default::default()
    };
    let loaded = ebpf_loader::load::Object::load(&spec, &options).unwrap();
    let program = loaded.program("on_switch").unwrap();
    let kernel = ebpf_loader::btf::kernel::load().unwrap();
    let attach = program.attach_btf().unwrap();
    assert_eq!(attach.name, "btf_trace_sched_switch");
    assert_eq!(
        Ok(attach.type_id),
        kernel.find_by_name_kind("btf_trace_sched_switch", ebpf_loader::btf::Kind::Typedef)
    );
    let core = &program.relocated().core;
    assert_eq!(core.len(), 1);
    assert_eq!(core[0].target_value, Some(0));
}

/// The largest programs: `near_limit` (900,000 instructions walked) loads, with libbpf's
/// tag; `refused_mid`, `refused_late` (a read of a register never written, after 200,000
/// and 750,000 instructions) and `over_limit` (more than the verifier's million) are
/// refused as libbpf refuses them: the same errno (`EACCES`, `E2BIG`), the verifier's own,
/// even where the log did not fit its buffer, and the verifier's reason.
/// `scripts/bench/large-load.sh` times them beside libbpf.
#[test]
fn the_largest_programs_load_and_are_refused_as_libbpf_does() {
    let f = fixture("large");
    assert_eq!(f.tag("near_limit").len(), 16);
    for program in ["refused_mid", "refused_late"] {
        f.assert_refused(program, libc::EACCES, Some("EACCES"), "R9 !read_ok");
    }
    f.assert_refused(
        "over_limit",
        libc::E2BIG,
        Some("E2BIG"),
        "BPF program is too large. Processed 1000001 insn",
    );
}
