//! USDT on the running kernel (root): this test binary declares a USDT probe
//! `ebpf_loader_test:hit` the way `<sys/sdt.h>`'s `STAP_PROBE2` does (a `nop`, and a
//! `.note.stapsdt` note naming it and where its two arguments are); the program of
//! tests/fixtures/usdt.bpf.c, written against libbpf's `usdt.bpf.h`, reads them with
//! `bpf_usdt_arg` and keeps them in `.bss`, which the test reads back. The program finds
//! its probe's argument specs by the uprobe's BPF cookie (5.15), or, on older kernels (and
//! when asked to, on any), by the probe's address in this process: the test binary is
//! position-independent (a PIE on the host, a static-pie in the VM matrix), so it attaches
//! in its own process there.

use std::path::Path;
use std::time::{Duration, Instant};

use ebpf_loader::attach::usdt::ProbeAddressError;
use ebpf_loader::attach::{AttachError, AttachOptions, Link, Probe};
use ebpf_loader::btf;
use ebpf_loader::elf::target::{Executable, ExecutableError};
use ebpf_loader::elf::usdt::{usdt_probes, UsdtError, USDT_IP_MAP};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::load::{LoadOptions, Object};

/// The probe: `a` and `b` in registers, as the note says (x86-64: `-8@%REG -4@%REG32`;
/// arm64: `-8@xN -4@wN`).
#[inline(never)]
fn usdt_hit(a: i64, b: i32) {
    // SAFETY: one `nop` and a note in other sections, no memory, stack or flags touched
    // (`stap_probe!`).
    #[cfg(target_arch = "x86_64")]
    unsafe {
        ebpf_testkit::stap_probe!(
            "ebpf_loader_test",
            "hit",
            "-8@{a} -4@{b:e}",
            a = in(reg) a,
            b = in(reg) b
        )
    };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        ebpf_testkit::stap_probe!(
            "ebpf_loader_test",
            "hit",
            "-8@{a} -4@{b:w}",
            a = in(reg) a,
            b = in(reg) b
        )
    };
}

fn load() -> Object {
    load_with(false)
}

/// Loads the program; `without_cookie`: as on a kernel without BPF cookies.
fn load_with(without_cookie: bool) -> Object {
    load_for(std::process::id(), without_cookie)
}

/// Loads the program for the probes of process `tgid`.
fn load_for(tgid: u32, without_cookie: bool) -> Object {
    // Embedded: the VM matrix runs this test binary in guests without the source tree.
    // Built for the target's architecture: usdt.bpf.h reads pt_regs.
    #[cfg(target_arch = "x86_64")]
    let bytes = include_bytes!("fixtures/usdt.bpf.o");
    #[cfg(target_arch = "aarch64")]
    let bytes = include_bytes!("fixtures/usdt.arm64.bpf.o");
    let mut spec = ObjectSpec::parse(bytes).unwrap();
    spec.set_global("target_tgid", &tgid).unwrap();
    let kernel = btf::kernel::load().unwrap();
    Object::load(
        &spec,
        &LoadOptions {
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            kernel_btf: Some(&kernel),
            without_bpf_cookie: without_cookie,
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn attach(object: &Object, pid: Option<u32>) -> Result<Vec<Link>, AttachError> {
    let exe = std::env::current_exe().unwrap();
    ebpf_loader::attach::usdt::attach(
        object.program("on_hit").unwrap(),
        object,
        &exe,
        "ebpf_loader_test",
        "hit",
        pid,
        &AttachOptions::default(),
    )
}

/// The addresses `__bpf_usdt_ip_to_spec_id` maps to spec ids.
fn mapped_addresses(object: &Object) -> Vec<u64> {
    let map = object.map(USDT_IP_MAP).unwrap();
    map.keys()
        .map(|key| u64::from_ne_bytes(key.unwrap().try_into().unwrap()))
        .collect()
}

/// Hits the probe until the program has counted a hit (bounded), then checks the two
/// arguments it read.
fn hit_until_seen(object: &Object) {
    let hits = || object.global::<u64>("hits").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits() == 0 {
        assert!(Instant::now() < deadline, "the probe never fired");
        usdt_hit(-7, 42);
        std::thread::sleep(Duration::from_millis(10));
    }
    let value = |name| object.global::<i64>(name).unwrap();
    // Both read through the spec the program found: by cookie or by address.
    assert_eq!(value("seen_a"), -7);
    assert_eq!(value("seen_b"), 42);
}

fn position_independent() -> bool {
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    Executable::parse(&exe).unwrap().fixed_addresses() == Ok(false)
}

#[test]
fn a_usdt_probe_of_this_binary_delivers_its_arguments() {
    let object = load();
    let cookies = ebpf_loader::features::probe_bpf_cookie();
    // With cookies, in every process; without, the probe's address is this process's.
    let pid = if cookies {
        None
    } else {
        eprintln!("this kernel has no BPF cookies (5.15): the probe is found by its address");
        Some(std::process::id())
    };
    let links = attach(&object, pid).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].method().probe, Probe::Usdt);
    assert_eq!(mapped_addresses(&object).len(), usize::from(!cookies));
    hit_until_seen(&object);
    drop(links);
    assert_eq!(
        mapped_addresses(&object),
        [],
        "the address outlived its link"
    );
}

#[test]
fn without_cookies_the_probe_is_found_by_its_address() {
    let object = load_with(true);
    let pid = Some(std::process::id());
    let links = attach(&object, pid).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(links.len(), 1);
    let addresses = mapped_addresses(&object);
    assert_eq!(addresses.len(), 1);
    // The spec id at that address is the slot the spec was written to (the first).
    let spec_id = object
        .map(USDT_IP_MAP)
        .unwrap()
        .lookup(&addresses[0].to_ne_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(spec_id, 0u32.to_ne_bytes());
    hit_until_seen(&object);

    // The same probe again in the same object: its address is taken.
    let error = attach(&object, pid).unwrap_err();
    assert!(
        matches!(error, AttachError::UsdtUnsupported { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "program on_hit: __bpf_usdt_ip_to_spec_id already maps address {:#x}: a probe of \
             this object is attached there",
            addresses[0]
        )
    );

    // Detached, the address is free: a new attach takes it again, with the next slot (the
    // failed attach took none).
    links.into_iter().for_each(|link| link.detach().unwrap());
    assert_eq!(mapped_addresses(&object), []);
    let again = attach(&object, pid).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mapped_addresses(&object), addresses);
    let ips = object.map(USDT_IP_MAP).unwrap();
    let slot = ips.lookup(&addresses[0].to_ne_bytes()).unwrap().unwrap();
    assert_eq!(slot, 1u32.to_ne_bytes());
    // Slot 0, which a cookie of 0 would name, now holds a spec of no arguments, and the
    // program's results are cleared: the arguments can only come back through the address.
    let specs = object.map("__bpf_usdt_specs").unwrap();
    let empty = vec![0u8; specs.value_size()];
    specs.update(&0u32.to_ne_bytes(), &empty, 0).unwrap();
    let bss = object.map(".bss").unwrap();
    bss.update(&0u32.to_ne_bytes(), &vec![0u8; bss.value_size()], 0)
        .unwrap();
    hit_until_seen(&object);
    drop(again);
}

#[test]
fn without_cookies_a_position_independent_binary_needs_a_process() {
    if !position_independent() {
        eprintln!("this test binary is not position-independent: nothing to check");
        return;
    }
    let object = load_with(true);
    let error = attach(&object, None).unwrap_err();
    assert!(
        matches!(
            &error,
            AttachError::UsdtAddress { source, .. }
                if matches!(**source, ProbeAddressError::NeedsProcess)
        ),
        "{error:?}"
    );
    let exe = std::env::current_exe().unwrap();
    let cause = std::error::Error::source(&error).unwrap();
    assert_eq!(
        format!("{error}: {cause}"),
        format!(
            "program on_hit: ebpf_loader_test:hit in {}: the binary is position-independent \
             (ET_DYN): without BPF cookies the program finds its probe by address, which \
             differs from process to process, so a process id is needed",
            exe.display()
        )
    );
    assert_eq!(mapped_addresses(&object), []);
}

/// A C program whose loop hits the same probe, `ebpf_loader_test:hit` with `-7` and `42`,
/// every 10 ms: a fixed-address executable (`-no-pie`, ET_EXEC) for the address path.
const FIXED_ADDRESS_PROGRAM: &str = r#"
#include <unistd.h>
static void __attribute__((noinline)) hit(long a, int b)
{
	__asm__ __volatile__(
		"990: nop\n"
		".pushsection .note.stapsdt,\"\",@note\n"
		".balign 4\n"
		".4byte 992f-991f, 994f-993f, 3\n"
		"991: .asciz \"stapsdt\"\n"
		"992: .balign 4\n"
		"993: .8byte 990b\n"
		".8byte _.stapsdt.base\n"
		".8byte 0\n"
		".asciz \"ebpf_loader_test\"\n"
		".asciz \"hit\"\n"
		".asciz \"-8@%0 -4@%1\"\n"
		"994: .balign 4\n"
		".popsection\n"
		".ifndef _.stapsdt.base\n"
		".pushsection .stapsdt.base,\"aG\",@progbits,.stapsdt.base,comdat\n"
		".weak _.stapsdt.base\n"
		".hidden _.stapsdt.base\n"
		"_.stapsdt.base: .space 1\n"
		".size _.stapsdt.base, 1\n"
		".popsection\n"
		".endif\n"
		:: "r"(a), "r"(b));
}
int main(void)
{
	for (;;) {
		hit(-7, 42);
		usleep(10000);
	}
}
"#;

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn without_cookies_a_fixed_address_executable_needs_no_process() {
    // Built here with the C compiler, where there is one (not in the VM matrix's guests).
    let dir = std::env::temp_dir().join(format!("ebpf_loader_usdt_exec_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("probe.c");
    let binary = dir.join("probe");
    std::fs::write(&source, FIXED_ADDRESS_PROGRAM).unwrap();
    let built = std::process::Command::new("cc")
        .args(["-O1", "-no-pie", "-o"])
        .arg(&binary)
        .arg(&source)
        .status();
    if !matches!(built, Ok(status) if status.success()) {
        eprintln!("no C compiler to build a fixed-address executable ({built:?}): not run");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let bytes = std::fs::read(&binary).unwrap();
    let exe = Executable::parse(&bytes).unwrap();
    assert_eq!(
        exe.fixed_addresses(),
        Ok(true),
        "cc -no-pie made no ET_EXEC"
    );
    let probe = usdt_probes(&exe)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "hit")
        .unwrap();
    let child = Child(std::process::Command::new(&binary).spawn().unwrap());
    let object = load_for(child.0.id(), true);
    // No process named: the probe's address is the same in every process that runs it.
    let links = ebpf_loader::attach::usdt::attach(
        object.program("on_hit").unwrap(),
        &object,
        &binary,
        "ebpf_loader_test",
        "hit",
        None,
        &AttachOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(links.len(), 1);
    assert_eq!(mapped_addresses(&object), [probe.address]);
    let hits = || object.global::<u64>("hits").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits() == 0 {
        assert!(Instant::now() < deadline, "the child's probe never fired");
        std::thread::sleep(Duration::from_millis(10));
    }
    let value = |name| object.global::<i64>(name).unwrap();
    assert_eq!(value("seen_a"), -7);
    assert_eq!(value("seen_b"), 42);
    drop(links);
    drop(child);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_probe_the_binary_lacks_is_named() {
    let object = load();
    let exe = std::env::current_exe().unwrap();
    let error = ebpf_loader::attach::usdt::attach(
        object.program("on_hit").unwrap(),
        &object,
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
    let attach = |binary: &str| {
        ebpf_loader::attach::usdt::attach(
            object.program("on_hit").unwrap(),
            &object,
            Path::new(binary),
            "p",
            "n",
            None,
            &AttachOptions::default(),
        )
        .unwrap_err()
    };
    // A file that cannot be read is the binary's error; a file that is no ELF, the notes'.
    let error = attach("/nonexistent");
    assert!(matches!(error, AttachError::Binary { .. }), "{error:?}");
    let error = attach("/proc/self/status");
    assert!(
        matches!(
            error,
            AttachError::Usdt {
                source: UsdtError::Executable(ExecutableError::NotElf(_)),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "USDT probes of /proc/self/status");
    // No call of `usdt_hit` here: the test above may be attached at this moment (cargo runs
    // the two in parallel, in one process), and a hit with other arguments would be seen by
    // its program. Its own call keeps the probe in the binary.
}
