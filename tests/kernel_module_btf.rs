//! fentry on a kernel module's function: its target is in the module's BTF, not in
//! vmlinux's, so the loader looks it up in the modules' BTF objects and loads the program
//! with the module BTF's fd (`attach_btf_obj_fd`). The module is `dummy`
//! (drivers/net/dummy.c): the VM matrix's guests load it (tests/vm/run puts each kernel's
//! `dummy.ko` in the initramfs, the guest insmods it), and the test makes the program fire
//! by creating a dummy link of its own (`ip link add NAME type dummy`: register_netdevice
//! calls the link's ndo_init, `dummy_dev_init`, once the link has its name).
//!
//! And kfuncs of a module: nf_conntrack's `bpf_xdp_ct_lookup` and `bpf_ct_release`,
//! called from an XDP program run with `BPF_PROG_TEST_RUN`. The guests load nf_conntrack
//! (and what it needs) as modules; this project's host has it built in, so there the
//! same test checks the vmlinux path (`off` 0).
//!
//! On a machine without the module's BTF (this project's host: no modules; 5.10: no
//! module BTF) each test says why and checks the error the load gives instead: the
//! target is not in vmlinux nor in any loaded module's BTF.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ebpf_loader::attach::{AttachOptions, Probe};
use ebpf_loader::btf::{self, Btf, Kind};
use ebpf_loader::elf::{ExternProblem, ObjectSpec, RelocationKind};
use ebpf_loader::features::probe_fentry;
use ebpf_loader::insn::Insn;
use ebpf_loader::load::{LoadError, LoadOptions, Object};

/// Embedded: the guests run this test binary without the source tree.
const OBJECT: &[u8] = include_bytes!("fixtures/module_btf.bpf.o");
const MODULE_BTF: &str = "/sys/kernel/btf/dummy";
const TARGET: &str = "dummy_dev_init";
const PROGRAM: &str = "on_dummy_dev_init";

fn load(kernel: &Btf) -> Result<Object, LoadError> {
    let spec = ObjectSpec::parse(OBJECT).unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            target_btf: ebpf_loader::load::TargetBtf::Btf(kernel),
            ..LoadOptions::default()
        },
    )
}

/// `ip ARGS` (busybox's in the guests), which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn global<T: ebpf_loader::pod::Pod>(object: &Object, name: &str) -> T {
    object.global(name).unwrap()
}

#[test]
fn fentry_on_a_module_function_is_loaded_with_the_module_btf_and_fires() {
    let kernel = btf::kernel::load().unwrap();
    if !Path::new(MODULE_BTF).exists() {
        eprintln!(
            "{MODULE_BTF} does not exist (module dummy not loaded, or a kernel without \
             CONFIG_DEBUG_INFO_BTF_MODULES): fentry on {TARGET} not run"
        );
        if kernel.find_by_name_kind(TARGET, Kind::Func).is_err() {
            let error = load(&kernel).unwrap_err();
            assert!(
                matches!(&error, LoadError::AttachBtf { program, name }
                    if program == PROGRAM && name == TARGET),
                "{error}"
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "program {PROGRAM}: {TARGET} is not in vmlinux nor in any loaded module's \
                     BTF, so nothing to attach it to"
                )
            );
        }
        return;
    }
    if !probe_fentry("do_unlinkat") {
        eprintln!("this kernel cannot attach fentry programs (no BPF trampoline): not run");
        return;
    }
    // The target, independently: the module's BTF from sysfs, split on vmlinux's.
    let module_btf = Btf::parse_split(
        std::fs::read(MODULE_BTF).unwrap(),
        Arc::new(btf::kernel::load().unwrap()),
    )
    .unwrap();
    let type_id = module_btf.find_by_name_kind(TARGET, Kind::Func).unwrap();
    assert!(type_id >= module_btf.first_id(), "{type_id} is vmlinux's");
    assert!(kernel.find_by_name_kind(TARGET, Kind::Func).is_err());

    let object = load(&kernel).unwrap_or_else(|e| panic!("{e}"));
    let program = object.program(PROGRAM).unwrap();
    let target = program.attach_btf().unwrap();
    assert_eq!((target.name.as_str(), target.type_id), (TARGET, type_id));
    let module = target.module.as_ref().expect("found in a module's BTF");
    assert_eq!(module.name, "dummy");
    // What the kernel says it was loaded for (5.16: attach_btf_obj_id, attach_btf_id).
    let info = program.info().unwrap();
    eprintln!(
        "module dummy's BTF object {}, {TARGET} type {type_id}; program info: \
         attach_btf_obj_id {} attach_btf_id {}",
        module.btf_obj_id, info.attach_btf_obj_id, info.attach_btf_id
    );
    if info.attach_btf_obj_id != 0 {
        assert_eq!(
            (info.attach_btf_obj_id, info.attach_btf_id),
            (module.btf_obj_id, type_id)
        );
    }

    let link = program.attach(&AttachOptions::default()).unwrap();
    assert_eq!(link.method().probe, Probe::BtfTarget);
    assert_eq!(global::<u64>(&object, "inits"), 0);
    // A link of this test's own, named after the process (IFNAMSIZ: 15 bytes).
    let name = format!("ebpfmod{}", std::process::id() % 10_000_000);
    ip(&["link", "add", &name, "type", "dummy"]);
    ip(&["link", "del", &name]);
    let inits = global::<u64>(&object, "inits");
    let last = global::<[u8; 16]>(&object, "last_name");
    let end = last.iter().position(|&b| b == 0).unwrap_or(last.len());
    assert_eq!(
        (inits, String::from_utf8_lossy(&last[..end]).as_ref()),
        (1, name.as_str())
    );
    drop(link);
}

const KFUNC_OBJECT: &[u8] = include_bytes!("fixtures/module_kfunc.bpf.o");
const CT_MODULE_BTF: &str = "/sys/kernel/btf/nf_conntrack";

#[test]
fn a_modules_kfuncs_are_called_through_its_fd_array_slot() {
    let kernel = btf::kernel::load().unwrap();
    let spec = ObjectSpec::parse(KFUNC_OBJECT).unwrap();
    let load = || {
        Object::load(
            &spec,
            &LoadOptions {
                target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
                ..LoadOptions::default()
            },
        )
    };
    let vmlinux_ids = ["bpf_xdp_ct_lookup", "bpf_ct_release"]
        .map(|name| kernel.find_by_name_kind(name, Kind::Func).ok());
    // Where the kfuncs are, independently of the loader: vmlinux's BTF (built in), or
    // the module's from sysfs, split on vmlinux's (with `fd_array` slot 1, the first).
    let (ids, off) = match vmlinux_ids {
        [Some(lookup), Some(release)] => ([lookup, release], 0),
        _ if Path::new(CT_MODULE_BTF).exists() => {
            let module = Btf::parse_split(
                std::fs::read(CT_MODULE_BTF).unwrap(),
                Arc::new(btf::kernel::load().unwrap()),
            )
            .unwrap();
            let id = |name| module.find_by_name_kind(name, Kind::Func).unwrap();
            let ids = [id("bpf_xdp_ct_lookup"), id("bpf_ct_release")];
            assert!(ids.iter().all(|&id| id >= module.first_id()), "{ids:?}");
            (ids, 1)
        }
        _ => {
            eprintln!(
                "nf_conntrack's kfuncs are neither in vmlinux's BTF nor in a module's \
                 ({CT_MODULE_BTF} does not exist: not loaded, before 6.0, or no module BTF): \
                 not run"
            );
            // The first extern in libbpf's order (by name) is the one named.
            let error = load().unwrap_err();
            assert!(
                matches!(&error, LoadError::Extern(e) if e.name == "bpf_ct_release"
                    && e.problem == ExternProblem::NotInKernelBtf),
                "{error}"
            );
            return;
        }
    };
    eprintln!(
        "bpf_xdp_ct_lookup, bpf_ct_release: BTF ids {ids:?} in {}",
        if off == 0 {
            "vmlinux"
        } else {
            "module nf_conntrack (fd_array slot 1)"
        }
    );
    let object = load().unwrap_or_else(|e| panic!("{e}"));
    let program = object.program("ct_lookup").unwrap();
    let calls: Vec<(String, Insn)> = program
        .relocated()
        .applied
        .iter()
        .filter(|a| matches!(a.kind, RelocationKind::Extern { .. }))
        .map(|a| (a.target.clone(), a.after[0]))
        .collect();
    let kfunc_call = |id: u32| Insn::new(0x85, 0, 2, off, id as i32);
    assert_eq!(
        calls,
        [
            ("bpf_xdp_ct_lookup".to_string(), kfunc_call(ids[0])),
            ("bpf_ct_release".to_string(), kfunc_call(ids[1])),
        ]
    );
    // A packet of zeros: the module's lookup of the all-zero TCP tuple finds nothing.
    assert_eq!(program.test_run(&[0u8; 64]).unwrap(), 2, "XDP_PASS");
    let read = |name| global::<u64>(&object, name);
    assert_eq!(read("lookups"), 1);
    assert_eq!(read("found"), 0);
    assert_eq!(global::<i32>(&object, "lookup_error"), -libc::ENOENT);
}
