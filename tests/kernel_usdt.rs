//! USDT on the running kernel (root, 5.15+ for BPF cookies): this test binary declares a
//! USDT probe `ebpf_loader_test:hit` the way `<sys/sdt.h>`'s `STAP_PROBE2` does (a `nop`,
//! and a `.note.stapsdt` note naming it and where its two arguments are); the program of
//! tests/fixtures/usdt.bpf.c, written against libbpf's `usdt.bpf.h`, reads them with
//! `bpf_usdt_arg` and keeps them in `.bss`, which the test reads back.

use std::path::Path;
use std::time::{Duration, Instant};

use ebpf_loader::attach::{AttachError, AttachOptions, Probe};
use ebpf_loader::btf;
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

/// The probe: `a` and `b` in registers, as the note says (`-8@%REG -4@%REG32`).
#[inline(never)]
fn usdt_hit(a: i64, b: i32) {
    // SAFETY: the code is one `nop`; the rest only adds a note (and, once per binary, the
    // one-byte `.stapsdt.base`) to other sections. No memory, stack or flags are touched.
    unsafe {
        std::arch::asm!(
            "990: nop",
            ".pushsection .note.stapsdt,\"\",@note",
            ".balign 4",
            ".4byte 992f-991f, 994f-993f, 3",
            "991: .asciz \"stapsdt\"",
            "992: .balign 4",
            "993: .8byte 990b",
            ".8byte _.stapsdt.base",
            ".8byte 0",
            ".asciz \"ebpf_loader_test\"",
            ".asciz \"hit\"",
            ".asciz \"-8@{a} -4@{b:e}\"",
            "994: .balign 4",
            ".popsection",
            ".ifndef _.stapsdt.base",
            ".pushsection .stapsdt.base,\"aG\",@progbits,.stapsdt.base,comdat",
            ".weak _.stapsdt.base",
            ".hidden _.stapsdt.base",
            "_.stapsdt.base: .space 1",
            ".size _.stapsdt.base, 1",
            ".popsection",
            ".endif",
            a = in(reg) a,
            b = in(reg) b,
            options(att_syntax, nomem, nostack, preserves_flags)
        );
    }
}

fn load() -> Object {
    // Embedded: the VM matrix runs this test binary in guests without the source tree.
    let bytes = include_bytes!("fixtures/usdt.bpf.o");
    let mut spec = ObjectSpec::parse(bytes).unwrap();
    spec.set_global("target_tgid", &std::process::id().to_ne_bytes())
        .unwrap();
    let kernel = btf::kernel::load().unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            target_btf: Some(&kernel),
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_usdt_probe_of_this_binary_delivers_its_arguments() {
    if !ebpf_loader::features::probe_bpf_cookie() {
        eprintln!("this kernel has no BPF cookies (5.15): USDT is not attached here");
        return;
    }
    let object = load();
    let exe = std::env::current_exe().unwrap();
    let links = object
        .attach_usdt(
            "on_hit",
            &exe,
            "ebpf_loader_test",
            "hit",
            None,
            &AttachOptions::default(),
        )
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].method().probe, Probe::Usdt);
    let hits = || u64::from_ne_bytes(object.global("hits").unwrap().try_into().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits() == 0 {
        assert!(Instant::now() < deadline, "the probe never fired");
        usdt_hit(-7, 42);
        std::thread::sleep(Duration::from_millis(10));
    }
    let value = |name| i64::from_ne_bytes(object.global(name).unwrap().try_into().unwrap());
    assert_eq!(value("seen_a"), -7);
    assert_eq!(value("seen_b"), 42);
}

#[test]
fn a_probe_the_binary_lacks_is_named() {
    let object = load();
    let exe = std::env::current_exe().unwrap();
    let error = object
        .attach_usdt(
            "on_hit",
            &exe,
            "ebpf_loader_test",
            "missing",
            None,
            &AttachOptions::default(),
        )
        .unwrap_err();
    assert!(
        matches!(error, AttachError::UsdtNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "no USDT probe ebpf_loader_test:missing in {}",
            exe.display()
        )
    );
    let error = object
        .attach_usdt(
            "on_hit",
            Path::new("/nonexistent"),
            "p",
            "n",
            None,
            &AttachOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(error, AttachError::Usdt { .. }), "{error:?}");
    // No call of `usdt_hit` here: the test above may be attached at this moment (cargo runs
    // the two in parallel, in one process), and a hit with other arguments would be seen by
    // its program. Its own call keeps the probe in the binary.
}
