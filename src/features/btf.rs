//! Which BTF kinds the running kernel's `BPF_BTF_LOAD` accepts: one tiny BTF blob per
//! feature, each using the kind (libbpf's `probe_kern_btf_*` in `tools/lib/bpf/features.c`
//! are the reference; the blobs here are written with [`BtfBuilder`]). The answer feeds
//! [`crate::btf::sanitize`].
//!
//! ABI: `BPF_BTF_LOAD` (`include/uapi/linux/bpf.h`); the kernel checks each kind in
//! `kernel/bpf/btf.c` (`btf_check_meta`) and answers `EINVAL` for a kind it does not know.

use std::sync::OnceLock;

use crate::btf::build::BtfBuilder;
use crate::btf::sanitize::BtfFeatures;
use crate::btf::{BTF_FUNC_GLOBAL, BTF_FUNC_STATIC, BTF_INT_SIGNED, BTF_VAR_STATIC};
use crate::syscall::{self, ProgLoadOptions};

/// Does the running kernel accept this BTF? `BPF_BTF_LOAD`, the object closed at once; a
/// refusal carries the kernel's BTF log. For checking what [`crate::btf::sanitize`] makes
/// of a BTF against the kernel at hand.
pub fn accepts(bytes: &[u8]) -> Result<(), crate::load::VerifierError> {
    syscall::load_btf(bytes, &ProgLoadOptions::default()).map(drop)
}

/// Does the kernel load this BTF?
fn loads(btf: &BtfBuilder) -> bool {
    let opts = ProgLoadOptions {
        log_level: 0,
        initial_log_size: syscall::MIN_LOG_SIZE,
        max_log_size: syscall::MIN_LOG_SIZE,
        eagain_retries: 2,
        retry_without_btf_info: false,
    };
    syscall::load_btf(&btf.build(), &opts).is_ok()
}

/// `BPF_BTF_LOAD` itself (4.18): one `int`.
pub fn probe_btf() -> bool {
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, BTF_INT_SIGNED);
    loads(&b)
}

/// `int x(int a)` with the given linkage: FUNC and FUNC_PROTO (5.0), global linkage (5.6).
fn probe_func(linkage: u16) -> bool {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let proto = b.add_func_proto(int, &[("a", int)]);
    b.add_func("x", proto, linkage);
    loads(&b)
}

/// `static int x` in a `.data` DATASEC (5.2).
fn probe_datasec() -> bool {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let var = b.add_var("x", int, BTF_VAR_STATIC);
    b.add_datasec(".data", 4, &[(var, 0, 4)]);
    loads(&b)
}

/// A 4-byte FLOAT (5.13).
fn probe_float() -> bool {
    let mut b = BtfBuilder::new();
    b.add_float("float", 4);
    loads(&b)
}

/// A DECL_TAG on a VAR (5.16).
fn probe_decl_tag() -> bool {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let var = b.add_var("x", int, BTF_VAR_STATIC);
    b.add_decl_tag("tag", var, -1);
    loads(&b)
}

/// A pointer to a TYPE_TAG of `int` (5.17).
fn probe_type_tag() -> bool {
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, BTF_INT_SIGNED);
    let tag = b.add_type_tag("tag", int);
    b.add_ptr(tag);
    loads(&b)
}

/// An 8-byte ENUM64 with no values (6.0).
fn probe_enum64() -> bool {
    let mut b = BtfBuilder::new();
    b.add_enum64("e", 8, false, &[]);
    loads(&b)
}

/// Every BTF feature [`crate::btf::sanitize`] knows, probed once per process (later calls
/// return the first answer).
pub fn probe() -> BtfFeatures {
    static ONCE: OnceLock<BtfFeatures> = OnceLock::new();
    syscall::probe_once(&ONCE, || {
        super::memlock::ensure();
        BtfFeatures {
            func: probe_func(BTF_FUNC_STATIC),
            func_global: probe_func(BTF_FUNC_GLOBAL),
            datasec: probe_datasec(),
            float: probe_float(),
            decl_tag: probe_decl_tag(),
            type_tag: probe_type_tag(),
            enum64: probe_enum64(),
        }
    })
}
