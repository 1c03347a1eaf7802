//! The loader against libbpf, program by program, on the real-world corpus
//! (`../shared/corpus`) and the tool's own object: for every program, libbpf's verdict and
//! the kernel's tag of what it loaded (`bpf_prog_info.tag`, a hash of the instructions with
//! map fds masked) beside this loader's (`tcpconnect load`). Same verdict and same tag:
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

const TOOL: &str = env!("CARGO_BIN_EXE_tcpconnect");

/// What one loader did with one program.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Loaded { tag: String },
    Refused,
}

fn reference() -> PathBuf {
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
}

fn libbpf(reference: &Path, object: &Path) -> Option<BTreeMap<String, Verdict>> {
    let out = Command::new(reference).arg(object).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.starts_with("open\tfailed") {
        return None;
    }
    Some(
        text.lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let name = fields.next()?.to_string();
                let verdict = match (fields.next()?, fields.next()?) {
                    ("loaded", tag) => Verdict::Loaded {
                        tag: tag.to_string(),
                    },
                    _ => Verdict::Refused,
                };
                Some((name, verdict))
            })
            .collect(),
    )
}

fn ours(object: &Path) -> BTreeMap<String, Verdict> {
    let out = Command::new(TOOL).arg("load").arg(object).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
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
        .collect()
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
