//! tests/fixtures/module_ksyms.bpf.o: `__ksym` externs that vmlinux's BTF lacks and a
//! module's has, resolved as the load step resolves them (vmlinux first, then the module
//! lookup it is given) and relocated: the exact instructions the kernel gets.

use ebpf_loader::btf::build::BtfBuilder;
use ebpf_loader::btf::Btf;
use ebpf_loader::elf::{ExternError, ExternProblem, ExternSpec, KsymValue, ObjectSpec};
use ebpf_loader::insn::Insn;

const OBJECT: &[u8] = include_bytes!("../fixtures/module_ksyms.bpf.o");

/// A vmlinux BTF with `bpf_vmlinux_kfunc` (FUNC 3) only.
fn vmlinux() -> Btf {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, 1);
    let proto = b.add_func_proto(int, &[("x", int)]);
    assert_eq!(b.add_func("bpf_vmlinux_kfunc", proto, 1), 3);
    Btf::parse(b.build()).unwrap()
}

/// The module BTF's answers: its BTF fd is 42 and its `fd_array` slot 1.
fn module(ext: &ExternSpec) -> Result<Option<KsymValue>, ExternError> {
    Ok(match ext.name.as_str() {
        "bpf_module_kfunc" => Some(KsymValue::Btf {
            btf_id: 70_001,
            btf_obj_fd: 42,
            fd_index: 1,
        }),
        "module_counter" => Some(KsymValue::Btf {
            btf_id: 70_002,
            btf_obj_fd: 42,
            fd_index: 0,
        }),
        _ => None,
    })
}

#[test]
fn module_kfunc_call_takes_its_fd_array_slot_and_typed_ksym_its_btf_fd() {
    let mut spec = ObjectSpec::parse_named(OBJECT, "module_ksyms").unwrap();
    let mut asked = Vec::new();
    let mut lookup = |ext: &ExternSpec| {
        asked.push(ext.name.clone());
        module(ext)
    };
    spec.resolve_ksyms_with(&vmlinux(), None, Some(&mut lookup))
        .unwrap();
    // Only what vmlinux lacks goes to the modules.
    assert_eq!(asked, ["bpf_module_kfunc", "module_counter"]);
    let shown: Vec<String> = spec.externs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "bpf_module_kfunc ksym kfunc, strong, module BTF id 70001 (BTF fd 42, fd_array slot 1)",
            "bpf_vmlinux_kfunc ksym kfunc, strong, kernel BTF id 3",
            "module_counter ksym typed variable, strong, module BTF id 70002 (BTF fd 42, fd_array slot 0)",
        ]
    );
    let result_map = spec.maps.iter().position(|m| m.section == ".bss").unwrap() as i32;
    let fds: Vec<i32> = (0..spec.maps.len() as i32).map(|i| 100 + i).collect();
    let linked = spec.relocate("calls_module_kfuncs", &fds, None).unwrap();
    let call = 0x85;
    let ld_imm64 = 0x18;
    let expected = [
        Insn::new(0xb7, 1, 0, 0, 1), // r1 = 1
        // call bpf_module_kfunc: BPF_PSEUDO_KFUNC_CALL, off = the module BTF's slot
        Insn::new(call, 0, 2, 1, 70_001),
        Insn::new(0xbf, 6, 0, 0, 0), // r6 = r0
        Insn::new(0xb7, 1, 0, 0, 2), // r1 = 2
        // call bpf_vmlinux_kfunc: off 0 is vmlinux
        Insn::new(call, 0, 2, 0, 3),
        Insn::new(0x0f, 0, 6, 0, 0),
        Insn::new(0x67, 0, 0, 0, 32),
        Insn::new(0xc7, 0, 0, 0, 32),
        // r1 = &module_counter: BPF_PSEUDO_BTF_ID, the second slot the module BTF's fd
        Insn::new(ld_imm64, 1, 3, 0, 70_002),
        Insn::new(0, 0, 0, 0, 42),
        Insn::new(0x0f, 0, 1, 0, 0),
        // r1 = &result: the .bss map's value
        Insn::new(ld_imm64, 1, 2, 0, 100 + result_map),
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(0x7b, 1, 0, 0, 0),
        Insn::new(0xb7, 0, 0, 0, 0),
        Insn::new(0x95, 0, 0, 0, 0),
    ];
    assert_eq!(linked.insns, expected);
}

#[test]
fn a_ksym_in_no_btf_says_so() {
    let mut spec = ObjectSpec::parse_named(OBJECT, "module_ksyms").unwrap();
    let mut nowhere = |_: &ExternSpec| Ok(None);
    let error = spec
        .resolve_ksyms_with(&vmlinux(), None, Some(&mut nowhere))
        .unwrap_err();
    assert_eq!(error.name, "bpf_module_kfunc");
    assert_eq!(error.problem, ExternProblem::NotInKernelBtf);
    assert_eq!(
        error.problem.to_string(),
        "not in vmlinux nor in any loaded module's BTF (strong extern, not __weak)"
    );
    // Without a module lookup (the pure resolution), the old answer.
    let mut spec = ObjectSpec::parse_named(OBJECT, "module_ksyms").unwrap();
    let error = spec.resolve_ksyms(&vmlinux(), None).unwrap_err();
    assert_eq!(error.problem, ExternProblem::Unresolved);
}
