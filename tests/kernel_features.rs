//! The feature probes against the running kernel (the host, and each kernel of the VM
//! matrix: 5.10, 6.1, 6.12), and BTF sanitising end to end: BTF that uses every kind the
//! sanitiser knows, and a clang 14 object with FLOAT, DECL_TAG and TYPE_TAG
//! (tests/fixtures/tagged.bpf.o), must load on every kernel once sanitised for it, with the
//! object's func_info; unsanitised, exactly where the kernel lacks a kind, it must not.

use ebpf_loader::btf::build::BtfBuilder;
use ebpf_loader::btf::sanitize::{sanitize, BtfFeatures, Rewrite};
use ebpf_loader::btf::{self, Btf, BTF_FUNC_GLOBAL, BTF_INT_SIGNED, BTF_VAR_STATIC};
use ebpf_loader::elf::ObjectSpec;
use ebpf_loader::features;
use ebpf_loader::load::{BtfInfoOutcome, BtfStatus, VerifierError};
use ebpf_loader::load::{LoadOptions, Object};

const TAGGED: &[u8] = include_bytes!("fixtures/tagged.bpf.o");

/// BTF with every kind the sanitiser rewrites, each used by something.
fn every_kind() -> BtfBuilder {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let proto = b.add_func_proto(int, &[("a", int)]);
    let func = b.add_func("f", proto, BTF_FUNC_GLOBAL);
    b.add_decl_tag("helper", func, -1);
    let float = b.add_float("float", 4);
    let tagged = b.add_type_tag("user", int);
    let ptr = b.add_ptr(tagged);
    let big = b.add_enum64("big", 8, false, &[("HUGE", 1 << 40)]);
    let signed = b.add_enum("small", 4, true, &[("MINUS", -1)]);
    let vars = [
        b.add_var("ratio", float, BTF_VAR_STATIC),
        b.add_var("where", ptr, BTF_VAR_STATIC),
        b.add_var("which", big, BTF_VAR_STATIC),
        b.add_var("sign", signed, BTF_VAR_STATIC),
    ];
    b.add_decl_tag("config", vars[0], -1);
    b.add_datasec(
        ".data",
        24,
        &[
            (vars[0], 0, 4),
            (vars[3], 4, 4),
            (vars[1], 8, 8),
            (vars[2], 16, 8),
        ],
    );
    b
}

fn load(bytes: &[u8]) -> Result<(), VerifierError> {
    ebpf_loader::features::btf::accepts(bytes)
}

fn everything(f: &BtfFeatures) -> bool {
    f.func && f.func_global && f.datasec && f.float && f.decl_tag && f.type_tag && f.enum64
}

#[test]
fn btf_with_every_kind_loads_once_sanitised_and_only_then_where_a_kind_is_missing() {
    features::memlock::ensure();
    let features = features::btf::probe();
    let raw = Btf::parse(every_kind().build()).unwrap();
    let sanitized = sanitize(&raw, &features);
    load(&sanitized.bytes).unwrap_or_else(|e| panic!("sanitised for {features:?}: {e}"));
    match load(raw.as_bytes()) {
        Ok(()) => assert!(everything(&features), "{features:?} yet the raw BTF loads"),
        Err(e) => {
            assert!(
                !everything(&features),
                "the raw BTF fails with everything: {e}"
            );
            assert_eq!(e.error.errno, libc::EINVAL);
        }
    }
    // Each type kept its id: the sanitised BTF has the same types, plus the ENUM64
    // placeholder where ENUM64 was rewritten.
    let out = Btf::parse(sanitized.bytes).unwrap();
    assert_eq!(out.len(), raw.len() + sanitized.added.len() as u32);
    assert_eq!(sanitized.added.is_empty(), features.enum64);
    for id in 1..raw.len() {
        assert_eq!(out.type_name(id).is_ok(), raw.type_name(id).is_ok());
    }
}

/// The BTF features of each kernel generation, oldest first: FUNC (5.0), DATASEC/VAR (5.2),
/// global FUNC (5.6), FLOAT (5.13), DECL_TAG (5.16), TYPE_TAG (5.17), ENUM64 (6.0). Each
/// kernel has a prefix of this list (a DECL_TAG on a VAR needs VAR, and so on).
fn generations() -> Vec<(&'static str, BtfFeatures)> {
    let mut f = BtfFeatures::NONE;
    let mut out = vec![("4.18", f)];
    f.func = true;
    out.push(("5.0", f));
    f.datasec = true;
    out.push(("5.2", f));
    f.func_global = true;
    out.push(("5.6", f));
    f.float = true;
    out.push(("5.13", f));
    f.decl_tag = true;
    out.push(("5.16", f));
    f.type_tag = true;
    out.push(("5.17", f));
    f.enum64 = true;
    out.push(("6.0", f));
    out
}

#[test]
fn btf_sanitised_for_an_older_kernel_is_valid_btf_for_this_one() {
    // The rewritten BTF uses only older kinds, so the running kernel's checker
    // (btf_check_all_metas, btf_check_all_types) must take it, for every generation up to
    // this kernel's own features.
    features::memlock::ensure();
    let have = features::btf::probe();
    let raw = Btf::parse(every_kind().build()).unwrap();
    let mut tried = 0;
    for (release, generation) in generations() {
        let within = |g: bool, h: bool| !g || h;
        if !(within(generation.func, have.func)
            && within(generation.datasec, have.datasec)
            && within(generation.func_global, have.func_global)
            && within(generation.float, have.float)
            && within(generation.decl_tag, have.decl_tag)
            && within(generation.type_tag, have.type_tag)
            && within(generation.enum64, have.enum64))
        {
            continue;
        }
        let out = sanitize(&raw, &generation);
        load(&out.bytes).unwrap_or_else(|e| panic!("sanitised for {release}: {e}"));
        tried += 1;
    }
    assert!(tried >= 1);
}

#[test]
fn each_probed_kind_is_one_the_kernel_takes_or_refuses_alone() {
    // One kind at a time: with the others' support assumed, BTF that uses only this kind
    // loads raw exactly when the probe says the kernel has it.
    features::memlock::ensure();
    let features = features::btf::probe();
    let mut b = BtfBuilder::new();
    b.add_float("float", 8);
    assert_eq!(load(&b.build()).is_ok(), features.float, "FLOAT");
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    b.add_type_tag("user", int);
    assert_eq!(load(&b.build()).is_ok(), features.type_tag, "TYPE_TAG");
    let mut b = BtfBuilder::new();
    b.add_enum64("e", 8, true, &[("A", 1)]);
    assert_eq!(load(&b.build()).is_ok(), features.enum64, "ENUM64");
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let proto = b.add_func_proto(int, &[]);
    b.add_func("g", proto, BTF_FUNC_GLOBAL);
    assert_eq!(
        load(&b.build()).is_ok(),
        features.func_global,
        "global FUNC"
    );
}

#[test]
fn a_clang_object_with_float_decl_tag_and_type_tag_loads_with_its_btf() {
    features::memlock::ensure();
    let features = features::btf::probe();
    let spec = ObjectSpec::parse(TAGGED).unwrap();
    let kernel = btf::kernel::load().unwrap();
    let object = Object::load(
        &spec,
        &LoadOptions {
            target_btf: ebpf_loader::load::TargetBtf::Btf(&kernel),
            ..LoadOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(object.btf_status(), BtfStatus::Loaded(_)),
        "{:?}",
        object.btf_status()
    );

    // What was rewritten is exactly what this kernel lacks, of what the object uses.
    let mut expected = Vec::new();
    if !features.float {
        expected.push(("FLOAT", "STRUCT", 1));
    }
    if !features.decl_tag {
        // On a function and on a variable; in type order, the first comes before FLOAT.
        expected.insert(0, ("DECL_TAG", "INT", 2));
    }
    if !features.type_tag {
        expected.push(("TYPE_TAG", "CONST", 1));
    }
    let got: Vec<(&str, &str, u32)> = object
        .btf_rewrites()
        .iter()
        .map(|Rewrite { from, to, count }| (*from, *to, *count))
        .collect();
    assert_eq!(got, expected);

    // The program went in with its func_info (tagged and the global function scaled) and
    // the maps with their BTF.
    let program = object.program("tagged").unwrap();
    assert_eq!(program.btf_info(), &BtfInfoOutcome::Accepted);
    let info = program.info().unwrap();
    assert_eq!(info.nr_func_info, 2);
    assert!(info.btf_id > 0);
    for name in [".data", ".rodata", ".bss"] {
        assert!(
            object.map(name).unwrap().typed_by_btf(),
            "map {name} without BTF"
        );
    }
}

#[test]
fn memory_accounting_is_probed_and_the_limit_raised_where_it_counts() {
    use features::memlock::{Accounting, MemlockAction};
    let state = features::memlock::ensure();
    // As root the probe always concludes, one way or the other.
    assert_eq!(
        state.accounting,
        features::memlock::probe_memcg_accounting()
    );
    match state.accounting {
        Accounting::MemoryCgroup => assert_eq!(state.action, MemlockAction::NotNeeded),
        Accounting::Memlock => {
            // Root in the VM: the raise is allowed, and the limit is now infinite.
            assert!(
                matches!(
                    state.action,
                    MemlockAction::Raised | MemlockAction::AlreadyUnlimited
                ),
                "{state:?}"
            );
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: a valid, writable struct rlimit.
            assert_eq!(
                unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) },
                0
            );
            assert_eq!(limit.rlim_cur, libc::RLIM_INFINITY);
        }
        Accounting::Unknown(errno) => panic!("the probe failed as root: errno {errno}"),
    }
}
