//! The layering test: reads every file of `src/`, collects the module edges its code makes
//! (`use crate::…`, `use super::…`, `use self::…`, a `use` of a child module, and `crate::` /
//! `super::` / `self::` paths written in code), and fails on any edge against the order that
//! `docs/architecture.md` draws:
//!
//! ```text
//! arch → uapi → insn → pod → sort → btf → elf → inspect │ syscall → features → load → attach → features::report
//!                                            → perf → ringbuf → records → the crate root
//! ```
//!
//! A module may use its own unit (the files under one entry of [`LAYERS`]) freely and any
//! unit *left* of it; never one to its right. The pure half (left of `syscall`) also must not
//! touch the host: no file system, no process, no environment, no `libc` in code that is not a
//! test ([`PURE`], [`HOST_ACCESS`]), `btf::kernel` (the kernel's BTF file) aside. Each
//! binary's modules form no circle: tcpconnect's (`src/main.rs`, `src/tool/X.rs`) and the
//! workbench's (`src/bin/ebpf-loader/X.rs`), which shares only the files of [`SHARED`] with
//! tcpconnect, and tcpconnect none of its own. Edges are read in test modules
//! too (a test of `syscall` may not call up into `features`); host access is allowed there.
//!
//! Comments and string literals are blanked before reading, so a doc link such as
//! ``[`crate::attach::Link`]`` is not an edge: documentation may point anywhere.
//!
//! Temporary exceptions are listed in [`EXCEPTIONS`], each with the branch that removes it;
//! once that branch is merged the entry goes, and the test says so if it is forgotten.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The library's units, lowest first. An entry is a module path; a file belongs to the
/// longest entry that prefixes its module path.
const LAYERS: &[&str] = &[
    // The pure half: bytes in, values out, no host access.
    // The target's facts (registers, syscall prefix): constants, importing nothing.
    "arch",
    "uapi",
    "insn",
    "pod",
    "sort",
    "btf",
    "elf",
    "inspect",
    // The kernel half.
    "syscall",
    "features",
    "load",
    "attach",
    // The report of every feature names tracefs and the kprobe PMU, which attach owns.
    "features::report",
    "perf",
    "ringbuf",
    "records",
    // `src/lib.rs`: it declares and re-exports everything.
    "",
];

/// The units whose code must not touch the host (the file system, processes, the
/// environment, `libc`), except their test modules.
const PURE: &[&str] = &[
    "arch", "uapi", "insn", "pod", "sort", "btf", "elf", "inspect",
];

/// Inside [`PURE`], the one module that reads the host by design: the kernel's own BTF
/// (`/sys/kernel/btf/vmlinux`, mapped), the input of CO-RE; it is the pure half's one I/O,
/// named in `src/lib.rs` and `docs/architecture.md`.
const PURE_BUT_READS_KERNEL_BTF: &str = "btf::kernel";

/// What "touching the host" looks like in code.
const HOST_ACCESS: &[&str] = &[
    "std::fs",
    "fs::read",
    "File::open",
    "std::process",
    "std::env",
    "std::net",
    "libc::",
    "MmapOptions",
];

/// The files of tcpconnect's `src/tool/` that the workbench (`src/bin/ebpf-loader/`)
/// compiles too, with `#[path]`: the tour and the feature report. Nothing else crosses
/// between the two binaries, so that tcpconnect links none of the workbench.
const SHARED: &[&str] = &["../../tool/features.rs", "../../tool/tour.rs"];

/// Edges against the order that another branch removes. `(file, what, branch)`: `what` is the
/// unit a forbidden edge reaches (`"attach"`), or `"the host"` for host access in the pure
/// half, or, for the tool, an edge `"tool::a -> tool::b"`, which is left out of the graph
/// before its circles are looked for.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

// ---------------------------------------------------------------------------------------
// Reading the source.

/// One file of `src/`, read.
struct Source {
    /// Relative to the repository: `src/load/map.rs`.
    file: String,
    /// Its module path inside its crate: `["load", "map"]`.
    module: Vec<String>,
    /// Which crate: `true` for a binary (`src/main.rs`, `src/tool/`, `src/bin/NAME/`).
    tool: bool,
    /// Which binary: `tcpconnect`, the directory's name under `src/bin/`, or empty for
    /// the library.
    binary: String,
    /// The code with comments and string contents blanked, lines kept.
    code: String,
    /// The line from which the rest of the file is a `#[cfg(test)]` module, if any.
    tests_from: Option<usize>,
    /// The whole file is a test module (declared `#[cfg(test)] mod NAME;`).
    test_only: bool,
    /// Its child modules (declared `mod NAME;` or `mod NAME {`).
    children: BTreeSet<String>,
}

/// An edge read from the source: `file:line` uses `to` (a module path).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    file: String,
    line: usize,
    from: Vec<String>,
    to: Vec<String>,
}

/// A file's module path inside its crate, and its binary (empty for the library).
fn module_of(file: &Path, src: &Path) -> (Vec<String>, String) {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    let binary = if parts.first().is_some_and(|p| p == "bin") && parts.len() >= 2 {
        let name = parts[1].clone();
        parts.drain(..2);
        name
    } else if parts.first().is_some_and(|p| p == "tool") || stem == "main" {
        "tcpconnect".to_string()
    } else {
        String::new()
    };
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    (parts, binary)
}

/// Blanks comments, string and char literals (keeping newlines), so that what remains is
/// code.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str(&" ".repeat(j + 1 - i));
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(1 + hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    out.push(' ');
                    if let Some(&e) = chars.get(i + 1) {
                        out.push(blank(e));
                    }
                    i += 2;
                } else if chars[i] == '"' {
                    out.push(' ');
                    i += 1;
                    break;
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push_str(&" ".repeat(end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn read_sources(root: &Path) -> Vec<Source> {
    let src = root.join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut sources: Vec<Source> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let code = blank_comments_and_strings(&text);
            let (module, binary) = module_of(path, &src);
            let lines: Vec<&str> = code.lines().collect();
            let mut tests_from = None;
            let mut children = BTreeSet::new();
            for (n, line) in lines.iter().enumerate() {
                let t = line.trim();
                let t = t
                    .strip_prefix("pub(crate) ")
                    .or(t.strip_prefix("pub "))
                    .unwrap_or(t);
                if let Some(rest) = t.strip_prefix("mod ") {
                    let name: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
                    children.insert(name.clone());
                    let after_cfg_test = n > 0 && lines[n - 1].trim() == "#[cfg(test)]";
                    if after_cfg_test && rest.trim_end().ends_with('{') && tests_from.is_none() {
                        tests_from = Some(n + 1);
                    }
                }
            }
            Source {
                file: path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                module,
                tool: !binary.is_empty(),
                binary,
                code,
                tests_from,
                test_only: false,
                children,
            }
        })
        .collect();
    // Files declared `#[cfg(test)] mod NAME;` are test modules, and so is all below them.
    let mut test_modules: Vec<(String, Vec<String>)> = Vec::new();
    for s in &sources {
        let lines: Vec<&str> = s.code.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let t = line.trim();
            if n > 0
                && lines[n - 1].trim() == "#[cfg(test)]"
                && t.starts_with("mod ")
                && t.ends_with(';')
            {
                let name = t.trim_start_matches("mod ").trim_end_matches(';').trim();
                let mut m = s.module.clone();
                m.push(name.to_string());
                test_modules.push((s.binary.clone(), m));
            }
        }
    }
    for s in &mut sources {
        s.test_only = test_modules
            .iter()
            .any(|(binary, m)| *binary == s.binary && s.module.starts_with(m));
    }
    sources
}

// ---------------------------------------------------------------------------------------
// Edges.

/// The paths a `use` tree names, `{…}` groups expanded: `a::{b, c::d}` → `a::b`, `a::c::d`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(prefix, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(prefix, &inner[start..], out);
            return;
        }
        match tree.find("::") {
            Some(i) if !tree[..i].contains('{') => {
                let mut p = prefix.to_vec();
                p.push(tree[..i].trim().to_string());
                go(&p, &tree[i + 2..], out);
            }
            _ => {
                let last = tree.split(" as ").next().unwrap().trim();
                let mut p = prefix.to_vec();
                if last != "self" && last != "*" {
                    p.push(last.to_string());
                }
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    go(&[], tree, &mut out);
    out
}

/// Resolves a path written in `module` to an absolute one (`None`: not a path of this crate).
fn absolute(
    module: &[String],
    path: &[String],
    children: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => {
            let mut m = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                m.pop()?;
                rest = &rest[1..];
            }
            m.extend(rest.iter().cloned());
            return Some(m);
        }
        child if children.contains(child) => {
            let mut m = module.to_vec();
            m.push(child.to_string());
            m.extend(path[1..].iter().cloned());
            return Some(m);
        }
        _ => return None,
    };
    base.extend(path[1..].iter().cloned());
    Some(base)
}

/// Every edge of one file.
fn edges_of(s: &Source) -> Vec<Edge> {
    let mut edges = Vec::new();
    let code = &s.code;
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut push = |offset: usize, path: Vec<String>| {
        if let Some(to) = absolute(&s.module, &path, &s.children) {
            edges.push(Edge {
                file: s.file.clone(),
                line: line_of(offset),
                from: s.module.clone(),
                to,
            });
        }
    };
    // `use` statements, whole trees.
    let bytes = code.as_bytes();
    let mut covered = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("use ") {
        let start = at + found;
        at = start + 4;
        let before = code[..start].chars().next_back();
        if before.is_some_and(is_ident_char) {
            continue;
        }
        let Some(len) = code[at..].find(';') else {
            break;
        };
        let tree: String = code[at..at + len]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        covered.push(start..at + len);
        for path in expand_use_tree(&tree) {
            push(start, path);
        }
    }
    // Paths in code: `crate::a::b`, `super::a`, `self::a`.
    for root in ["crate::", "super::", "self::"] {
        let mut at = 0;
        while let Some(found) = code[at..].find(root) {
            let start = at + found;
            at = start + root.len();
            if start > 0 && (is_ident_char(bytes[start - 1] as char) || bytes[start - 1] == b':') {
                continue;
            }
            if covered.iter().any(|r| r.contains(&start)) {
                continue;
            }
            let mut end = start;
            while end < code.len() && (is_ident_char(bytes[end] as char) || bytes[end] == b':') {
                end += 1;
            }
            let path: Vec<String> = code[start..end]
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            push(start, path);
        }
    }
    edges
}

// ---------------------------------------------------------------------------------------
// The rules, on edges (so they can be tested on edges made up).

/// The unit a module belongs to: the index in [`LAYERS`] of the longest entry prefixing it.
fn unit(module: &[String], layers: &[&str]) -> usize {
    layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                i,
                l.split("::").filter(|p| !p.is_empty()).collect::<Vec<_>>(),
            )
        })
        .filter(|(_, l)| module.len() >= l.len() && module.iter().zip(l).all(|(a, b)| a == b))
        .max_by_key(|(_, l)| l.len())
        .map(|(i, _)| i)
        .unwrap()
}

/// A broken rule, said as the test prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    what: String,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// Library edges against the order of `layers`, one per file, line and unit used.
fn layer_violations(edges: &[Edge], layers: &[&str]) -> Vec<Violation> {
    let unit_name = |u: usize| {
        if layers[u].is_empty() {
            "crate"
        } else {
            layers[u]
        }
    };
    let mut out: Vec<Violation> = Vec::new();
    for e in edges {
        let (from, to) = (unit(&e.from, layers), unit(&e.to, layers));
        // The crate root's re-exports (`crate::SysError`) are not an edge to the root.
        if to <= from || (e.to.len() <= 1 && layers[to].is_empty()) {
            continue;
        }
        if out
            .iter()
            .any(|v| v.file == e.file && v.line == e.line && v.what == unit_name(to))
        {
            continue;
        }
        out.push(Violation {
            file: e.file.clone(),
            line: e.line,
            what: unit_name(to).to_string(),
            message: format!(
                "{} uses {}: `{}` is above `{}`",
                name(&e.from),
                name(&e.to),
                unit_name(to),
                unit_name(from),
            ),
        });
    }
    out
}

/// The tool's circles: for each edge `a -> b` between two of its modules such that `b`
/// reaches `a` again.
fn circle_violations(edges: &[Edge]) -> Vec<Violation> {
    let top = |m: &[String]| m.iter().take(2).cloned().collect::<Vec<_>>();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for e in edges {
        let (a, b) = (top(&e.from), top(&e.to));
        if a != b && !b.is_empty() && b.len() >= a.len().min(2) {
            graph.entry(a).or_default().insert(b);
        }
    }
    let reaches = |from: &Vec<String>, to: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            if &m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(graph.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut out: Vec<Violation> = Vec::new();
    for e in edges {
        let (a, b) = (top(&e.from), top(&e.to));
        if a == b || !graph.get(&a).is_some_and(|s| s.contains(&b)) || !reaches(&b, &a) {
            continue;
        }
        let what = format!("{} -> {}", name(&a), name(&b));
        if out.iter().any(|v| v.what == what && v.file == e.file) {
            continue;
        }
        out.push(Violation {
            file: e.file.clone(),
            line: e.line,
            message: format!(
                "{what} closes a circle: {} reaches {} again",
                name(&b),
                name(&a)
            ),
            what,
        });
    }
    out
}

/// Host access in the pure half's code (test modules aside).
fn purity_violations(sources: &[Source]) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in sources.iter().filter(|s| !s.tool && !s.test_only) {
        let u = LAYERS[unit(&s.module, LAYERS)];
        if !PURE.contains(&u) || name(&s.module).starts_with(PURE_BUT_READS_KERNEL_BTF) {
            continue;
        }
        for (n, line) in s.code.lines().enumerate() {
            if s.tests_from.is_some_and(|t| n + 1 >= t) {
                break;
            }
            for token in HOST_ACCESS {
                if line.contains(token) {
                    out.push(Violation {
                        file: s.file.clone(),
                        line: n + 1,
                        what: "the host".to_string(),
                        message: format!(
                            "`{token}` in {}, which is in the pure half (`{u}`): the host is \
                             read on the kernel side",
                            name(&s.module)
                        ),
                    });
                }
            }
        }
    }
    out
}

fn excepted(v: &Violation) -> bool {
    EXCEPTIONS
        .iter()
        .any(|(file, what, _)| *file == v.file && *what == v.what)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// The tests.

#[test]
fn the_library_imports_one_way_the_pure_half_is_pure_and_the_tool_has_no_circle() {
    let sources = read_sources(&root());
    assert!(sources.len() > 50, "read {} files of src/", sources.len());
    let lib_edges: Vec<Edge> = sources
        .iter()
        .filter(|s| !s.tool)
        .flat_map(edges_of)
        .collect();
    let tool_edges: Vec<Edge> = sources
        .iter()
        .filter(|s| s.tool)
        .flat_map(edges_of)
        .collect();
    assert!(
        lib_edges.len() > 200,
        "found only {} edges in the library",
        lib_edges.len()
    );

    let mut all = layer_violations(&lib_edges, LAYERS);
    all.extend(purity_violations(&sources));
    let (mut allowed, mut broken): (Vec<_>, Vec<_>) = all.into_iter().partition(excepted);
    // A tool edge listed as an exception is left out of the graph (its branch removes it).
    let tool_edge = |e: &Edge| Violation {
        file: e.file.clone(),
        line: e.line,
        what: format!(
            "{} -> {}",
            name(&e.from[..e.from.len().min(2)]),
            name(&e.to[..e.to.len().min(2)])
        ),
        message: String::new(),
    };
    let (excepted_tool, tool_edges): (Vec<Edge>, Vec<Edge>) = tool_edges
        .into_iter()
        .partition(|e| excepted(&tool_edge(e)));
    allowed.extend(excepted_tool.iter().map(tool_edge));
    // Each binary is its own crate: its circles are looked for among its own edges.
    let binaries: BTreeSet<&str> = sources.iter().map(|s| s.binary.as_str()).collect();
    for binary in binaries.iter().filter(|b| !b.is_empty()) {
        let files: BTreeSet<&str> = sources
            .iter()
            .filter(|s| s.binary == *binary)
            .map(|s| s.file.as_str())
            .collect();
        let own: Vec<Edge> = tool_edges
            .iter()
            .filter(|e| files.contains(e.file.as_str()))
            .cloned()
            .collect();
        broken.extend(circle_violations(&own));
    }

    let stale: Vec<String> = EXCEPTIONS
        .iter()
        .filter(|(file, what, _)| !allowed.iter().any(|v| v.file == *file && v.what == *what))
        .map(|(file, what, branch)| format!("{file}: {what} (removed by {branch})"))
        .collect();
    let broken: Vec<String> = broken.iter().map(Violation::to_string).collect();
    assert!(
        broken.is_empty(),
        "{} edge(s) against the layer order {} (docs/architecture.md, \"Layers\"), or host \
         access in the pure half, or circles in the tool:\n{}",
        broken.len(),
        LAYERS
            .iter()
            .filter(|l| !l.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" -> "),
        broken.join("\n")
    );
    assert!(
        stale.is_empty(),
        "exceptions no longer needed, remove them from EXCEPTIONS in tests/architecture.rs:\n{}",
        stale.join("\n")
    );
}

/// The `#[path = "…"]` attributes of a file's code (strings blanked in `code`, so read
/// from the text).
fn path_attributes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("#[path = \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_binaries_share_only_the_files_they_say() {
    let root = root();
    let workbench = root.join("src/bin/ebpf-loader");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&workbench).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        found.extend(path_attributes(&text));
    }
    found.sort();
    assert_eq!(found, SHARED, "the workbench's #[path] modules");
    // tcpconnect compiles nothing of the workbench.
    let mut tcpconnect = vec![root.join("src/main.rs")];
    for entry in std::fs::read_dir(root.join("src/tool")).unwrap() {
        tcpconnect.push(entry.unwrap().path());
    }
    for path in tcpconnect {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            path_attributes(&text),
            Vec::<String>::new(),
            "{}: a #[path] module in tcpconnect",
            path.display()
        );
    }
}

#[test]
fn a_workbench_file_is_a_module_of_its_own_binary() {
    let src = Path::new("/r/src");
    assert_eq!(
        module_of(Path::new("/r/src/bin/ebpf-loader/dump.rs"), src),
        (vec!["dump".to_string()], "ebpf-loader".to_string())
    );
    assert_eq!(
        module_of(Path::new("/r/src/bin/ebpf-loader/main.rs"), src),
        (vec![], "ebpf-loader".to_string())
    );
    assert_eq!(
        module_of(Path::new("/r/src/tool/trace.rs"), src),
        (
            vec!["tool".to_string(), "trace".to_string()],
            "tcpconnect".to_string()
        )
    );
    assert_eq!(
        module_of(Path::new("/r/src/load/map.rs"), src),
        (vec!["load".to_string(), "map".to_string()], String::new())
    );
}

fn edge(file: &str, line: usize, from: &str, to: &str) -> Edge {
    let path = |s: &str| {
        s.split("::")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    Edge {
        file: file.to_string(),
        line,
        from: path(from),
        to: path(to),
    }
}

#[test]
fn an_edge_against_the_order_is_named_with_its_file_and_line() {
    let edges = [
        edge("src/load/mod.rs", 12, "load", "elf::ObjectSpec"),
        edge("src/load/program.rs", 39, "load::program", "attach::Link"),
        edge("src/elf/mod.rs", 7, "elf", "syscall::bpf"),
        edge("src/btf/core.rs", 3, "btf::core", "btf::Btf"),
        edge("src/ringbuf/mod.rs", 26, "ringbuf", "SysError"),
        edge(
            "src/features/report.rs",
            16,
            "features::report",
            "attach::tracefs",
        ),
        edge(
            "src/features/btf.rs",
            19,
            "features::btf",
            "load::VerifierError",
        ),
    ];
    let found = layer_violations(&edges, LAYERS);
    let lines: Vec<String> = found.iter().map(Violation::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        lines,
        [
            "src/load/program.rs:39: load::program uses attach::Link: `attach` is above `load`",
            "src/elf/mod.rs:7: elf uses syscall::bpf: `syscall` is above `elf`",
            "src/features/btf.rs:19: features::btf uses load::VerifierError: `load` is above `features`",
        ]
    );
}

#[test]
fn a_circle_in_the_tool_is_named_by_the_edge_that_closes_it() {
    let edges = [
        edge("src/tool/trace.rs", 10, "tool::trace", "tool::count::run"),
        edge("src/tool/count.rs", 20, "tool::count", "tool::print::row"),
        edge(
            "src/tool/print.rs",
            30,
            "tool::print",
            "tool::trace::write_stdout",
        ),
        edge("src/tool/print.rs", 31, "tool::print", "tool::event"),
        edge("src/tool/load.rs", 5, "tool::load", "tool"),
    ];
    let found: Vec<String> = circle_violations(&edges)
        .iter()
        .map(Violation::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "src/tool/trace.rs:10: tool::trace -> tool::count closes a circle: tool::count reaches tool::trace again",
            "src/tool/count.rs:20: tool::count -> tool::print closes a circle: tool::print reaches tool::count again",
            "src/tool/print.rs:30: tool::print -> tool::trace closes a circle: tool::trace reaches tool::print again",
        ]
    );
    assert!(circle_violations(&edges[1..]).is_empty());
}

#[test]
fn use_trees_resolve_to_modules() {
    let children: BTreeSet<String> = ["report".to_string()].into();
    let module: Vec<String> = vec!["features".into()];
    let paths = expand_use_tree("super::{memlock::{self, Memlock}, probe_load as p}");
    let resolved: Vec<String> = paths
        .iter()
        .map(|p| name(&absolute(&["features".into(), "report".into()], p, &children).unwrap()))
        .collect();
    assert_eq!(
        resolved,
        [
            "features::memlock",
            "features::memlock::Memlock",
            "features::probe_load"
        ]
    );
    let p = expand_use_tree("report::{probe_all, Features}");
    assert_eq!(
        name(&absolute(&module, &p[0], &children).unwrap()),
        "features::report::probe_all"
    );
    assert_eq!(
        absolute(&module, &expand_use_tree("std::fmt")[0], &children),
        None
    );
    let code = blank_comments_and_strings(
        "let a = \"crate::x\"; // crate::y\n/// [`crate::z`]\nlet c = '\"'; crate::w",
    );
    assert_eq!(code.matches("crate::").count(), 1, "{code}");
    assert_eq!(code.lines().count(), 3);
}
