//! `src/tool/event.rs` on the running kernel (root): the tool checks its `struct data_t`
//! against the object's BTF after the load, before anything is attached. An object whose
//! `data_t` differs from the tool's (here `bpf/main.bpf.o` with the BTF offset of `dport`
//! moved two bytes on, what a field inserted before it in `bpf/main.bpf.c` would do) is
//! refused with one line that names the field, and exit status 1.

mod harness;

use ebpf_loader::btf::Kind;
use ebpf_loader::elf::ObjectSpec;
use harness::tool::run;

const OBJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");

/// `bytes` with the BTF offset of `data_t`'s member `member` moved `by` bytes, patched in
/// the ELF file's `.BTF` section (its `struct btf_member`: name_off, type, offset in bits).
fn with_member_moved(bytes: &[u8], member: &str, by: u32) -> Vec<u8> {
    let spec = ObjectSpec::parse(bytes).unwrap();
    let btf = spec.btf.as_ref().unwrap();
    let id = btf.find_by_name_kind("data_t", Kind::Struct).unwrap();
    let ty = btf.type_by_id(id).unwrap();
    let m = ty.members().iter().find(|m| m.name == member).unwrap();
    let record: Vec<u8> = [m.name_off, m.type_id, m.bit_offset]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let places: Vec<usize> = bytes
        .windows(record.len())
        .enumerate()
        .filter(|(_, w)| *w == record.as_slice())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(places.len(), 1, "the member's record is in the file once");
    let at = places[0] + 8;
    let mut out = bytes.to_vec();
    out[at..at + 4].copy_from_slice(&(m.bit_offset + by * 8).to_ne_bytes());
    out
}

#[test]
fn an_object_whose_data_t_moved_a_field_is_refused_naming_it() {
    let bytes = std::fs::read(OBJECT).unwrap();
    let moved = with_member_moved(&bytes, "dport", 2);
    let path = std::env::temp_dir().join(format!("tool_event_{}.bpf.o", std::process::id()));
    std::fs::write(&path, &moved).unwrap();
    let (code, stdout, stderr) = run(&[
        "--object",
        path.to_str().unwrap(),
        "--attach",
        "tracepoint",
        "--duration",
        "0",
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!((code, stdout.as_str()), (1, ""), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end(),
        "tcpconnect: the object's events are not tcpconnect's: \
         tcpconnect::tool::main_bpf::DataT does not match STRUCT 'data_t': field dport: at byte \
         38 in the object's BTF, at byte 36 in Rust"
    );
}

#[test]
fn the_object_as_built_passes_the_check() {
    let (code, _, stderr) = run(&["--attach", "tracepoint", "--duration", "0"]);
    assert_eq!(code, 0, "stderr: {stderr}");
}
