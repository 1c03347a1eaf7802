//! The syscall layer against the running kernel (needs root): the log protocol, errno
//! meanings, close-on-exec. Unit tests, since the layer is private to the crate; the
//! public handles are tested in `tests/kernel_*.rs`. Every test creates its own objects
//! and looks only at them, so the tests can run in parallel with each other and with
//! anything else on the machine.

use std::os::fd::{AsFd, AsRawFd};

use super::*;
use crate::btf::ext::FuncInfo;
use crate::insn::{Insn, BPF_ALU64, BPF_K, BPF_MOV, BPF_X, EXIT};
use crate::uapi::{obj_name, MapType, ProgramType, BPF_ANY, BPF_NOEXIST};

const BPF_PROG_TYPE_SOCKET_FILTER: u32 = ProgramType::SocketFilter as u32;

fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64 | BPF_MOV | BPF_K,
        dst_reg: dst,
        imm,
        ..Insn::default()
    }
}

fn mov64_reg(dst: u8, src: u8) -> Insn {
    Insn {
        code: BPF_ALU64 | BPF_MOV | BPF_X,
        dst_reg: dst,
        src_reg: src,
        ..Insn::default()
    }
}

fn exit() -> Insn {
    Insn {
        code: EXIT,
        ..Insn::default()
    }
}

/// 20 harmless instructions, then `r0 = r2; exit`: r2 was never written, and the
/// verifier's log (one line per instruction) is longer than the smallest log buffer.
fn long_bad_program() -> Vec<Insn> {
    let mut insns = vec![mov64_imm(0, 0); 20];
    insns.push(mov64_reg(0, 2));
    insns.push(exit());
    insns
}

/// `RLIMIT_MEMLOCK` to infinity, for the kernels that still charge BPF memory to it (the
/// library's own `features::memlock::ensure` sits above this layer).
fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    let _ = set_memlock(&unlimited);
}

fn is_cloexec(fd: &impl AsRawFd) -> bool {
    let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
    flags & libc::FD_CLOEXEC != 0
}

#[test]
fn array_map_round_trip_and_freeze() {
    raise_memlock();
    let attr = MapCreateAttr {
        map_type: MapType::HASH.0,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        map_name: obj_name("test_hash"),
        ..Default::default()
    };
    let map = map_create(&attr).unwrap();
    assert!(is_cloexec(&map), "BPF map fds are close-on-exec");
    let map = map.as_fd();

    let mut value = [0u8; 8];
    assert_eq!(
        map_lookup_elem(map, &7u32.to_ne_bytes(), &mut value),
        Ok(false)
    );
    map_update_elem(map, &7u32.to_ne_bytes(), &42u64.to_ne_bytes(), BPF_NOEXIST).unwrap();
    assert_eq!(
        map_update_elem(map, &7u32.to_ne_bytes(), &1u64.to_ne_bytes(), BPF_NOEXIST),
        Err(SysError::new("BPF_MAP_UPDATE_ELEM", libc::EEXIST))
    );
    assert_eq!(
        map_lookup_elem(map, &7u32.to_ne_bytes(), &mut value),
        Ok(true)
    );
    assert_eq!(u64::from_ne_bytes(value), 42);

    let mut next = [0u8; 4];
    assert_eq!(map_get_next_key(map, None, &mut next), Ok(true));
    assert_eq!(u32::from_ne_bytes(next), 7);
    assert_eq!(
        map_get_next_key(map, Some(&7u32.to_ne_bytes()), &mut next),
        Ok(false)
    );

    assert_eq!(map_delete_elem(map, &7u32.to_ne_bytes()), Ok(true));
    assert_eq!(map_delete_elem(map, &7u32.to_ne_bytes()), Ok(false));

    map_freeze(map).unwrap();
    let err = map_update_elem(map, &1u32.to_ne_bytes(), &1u64.to_ne_bytes(), BPF_ANY).unwrap_err();
    assert_eq!(err.errno, libc::EPERM, "{err}");
}

#[test]
fn map_create_with_bad_sizes_explains_einval() {
    raise_memlock();
    let attr = MapCreateAttr {
        map_type: MapType::ARRAY.0,
        key_size: 8, // arrays take 4-byte keys only
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let err = map_create(&attr).unwrap_err();
    assert_eq!(err, SysError::new("BPF_MAP_CREATE", libc::EINVAL));
    assert_eq!(
        err.to_string(),
        "BPF_MAP_CREATE: Invalid argument (EINVAL): this kernel rejects the map's type, \
         key/value size, max_entries, flags or name"
    );
}

#[test]
fn a_good_program_loads_without_a_log_and_reports_its_info() {
    raise_memlock();
    let insns = [mov64_imm(0, 0), exit()];
    let req = ProgLoadRequest::new("test_ok", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    let prog = load_program(&req, &ProgLoadOptions::default()).unwrap();
    assert!(prog.log.is_none());
    assert_eq!(prog.btf_info, BtfInfoOutcome::NotGiven);
    assert!(is_cloexec(&prog.fd), "BPF program fds are close-on-exec");

    let info = prog_info(prog.fd.as_fd()).unwrap();
    assert_eq!(info.name, "test_ok");
    assert_eq!(info.prog_type, BPF_PROG_TYPE_SOCKET_FILTER);
    // bpf_prog_info.verified_insns came in 5.16: the kernel's own BTF says whether it has it.
    let kernel = crate::btf::kernel::load().unwrap();
    let info_struct = kernel
        .find_by_name_kind("bpf_prog_info", crate::btf::Kind::Struct)
        .unwrap();
    let has_verified_insns = kernel
        .type_by_id(info_struct)
        .unwrap()
        .members()
        .iter()
        .any(|m| m.name == "verified_insns");
    assert_eq!(info.verified_insns, if has_verified_insns { 2 } else { 0 });
    assert!(info.id > 0);

    // Once its last fd is closed the program is gone.
    let id = info.id;
    let other = prog_get_fd_by_id(id).unwrap();
    drop(prog);
    drop(other);
    assert_eq!(
        prog_get_fd_by_id(id).unwrap_err(),
        SysError::new("BPF_PROG_GET_FD_BY_ID", libc::ENOENT)
    );
}

#[test]
fn log_level_4_gives_the_verifier_statistics() {
    raise_memlock();
    let insns = [mov64_imm(0, 0), exit()];
    let req = ProgLoadRequest::new("test_stats", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    let opts = ProgLoadOptions {
        log_level: 4,
        ..Default::default()
    };
    let prog = load_program(&req, &opts).unwrap();
    let log = prog.log.unwrap();
    assert!(log.text.contains("processed 2 insns"), "{}", log.text);
}

#[test]
fn a_rejected_program_returns_the_verifier_log() {
    raise_memlock();
    // r0 = r2; exit -- r2 was never written.
    let insns = [mov64_reg(0, 2), exit()];
    let req = ProgLoadRequest::new("test_bad", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    let err = load_program(&req, &ProgLoadOptions::default()).unwrap_err();
    assert_eq!(err.op, "BPF_PROG_LOAD");
    assert_eq!(err.name, "test_bad");
    assert_eq!(err.error.errno, libc::EACCES);
    assert!(err.is_verifier_rejection());
    assert!(err.log.text.contains("R2 !read_ok"), "{}", err.log.text);
    assert!(err.last_lines(3).contains("R2 !read_ok"));
    assert!(err.to_string().starts_with(
        "loading program test_bad: BPF_PROG_LOAD: Permission denied (EACCES): the verifier rejected"
    ));
}

#[test]
fn a_tiny_log_buffer_is_grown_until_the_log_fits() {
    raise_memlock();
    let insns = long_bad_program();
    let req = ProgLoadRequest::new("test_grow", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    let opts = ProgLoadOptions {
        initial_log_size: 8,
        refusal_log_size: 8,
        ..Default::default()
    };
    let err = load_program(&req, &opts).unwrap_err();
    assert_eq!(err.error.errno, libc::EACCES);
    assert!(!err.log.truncated);
    assert!(err.log.text.len() > 128, "{}", err.log.text);
    assert!(err.log.text.contains("R2 !read_ok"), "{}", err.log.text);
}

#[test]
fn a_log_that_cannot_fit_is_reported_truncated() {
    raise_memlock();
    let insns = long_bad_program();
    let req = ProgLoadRequest::new("test_trunc", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    let opts = ProgLoadOptions {
        initial_log_size: 8,
        refusal_log_size: 8,
        max_log_size: 8, // all become MIN_LOG_SIZE (128), less than this log
        ..Default::default()
    };
    let err = load_program(&req, &opts).unwrap_err();
    // The verifier's own error, not the log's ENOSPC.
    assert_eq!(err.error.errno, libc::EACCES);
    assert!(err.log.truncated);
}

/// A request the kernel refuses for its func_info (no program BTF) is refused, once, with
/// the kernel's error: never loaded again without the func_info.
#[test]
fn func_info_without_btf_is_refused_not_dropped() {
    raise_memlock();
    let insns = [mov64_imm(0, 0), exit()];
    let func_info = [FuncInfo {
        insn_off: 0,
        type_id: 1,
    }];
    let mut req = ProgLoadRequest::new("test_finfo", BPF_PROG_TYPE_SOCKET_FILTER, &insns, "GPL");
    req.func_info = &func_info; // no prog_btf_fd: the kernel says EINVAL
    let err = load_program(&req, &ProgLoadOptions::default()).unwrap_err();
    assert_eq!(err.error.errno, libc::EINVAL);
}

#[test]
fn bad_btf_is_rejected_with_its_log() {
    raise_memlock();
    // A BTF header with a bad magic.
    let mut btf = vec![0u8; 24];
    btf[0..2].copy_from_slice(&0x1234u16.to_ne_bytes());
    btf[2] = 1;
    btf[4..8].copy_from_slice(&24u32.to_ne_bytes());
    let err = load_btf(&btf, &ProgLoadOptions::default()).unwrap_err();
    assert_eq!(err.op, "BPF_BTF_LOAD");
    assert_eq!(err.error.errno, libc::EINVAL);
    assert!(err.log.text.contains("magic"), "{:?}", err.log.text);
}

#[test]
fn minimal_btf_loads() {
    raise_memlock();
    // header + one INT type "int" (4 bytes, signed, 32 bits) + strings "\0int\0".
    let mut types = Vec::new();
    types.extend_from_slice(&1u32.to_ne_bytes()); // name_off
    types.extend_from_slice(&(1u32 << 24).to_ne_bytes()); // kind INT, vlen 0
    types.extend_from_slice(&4u32.to_ne_bytes()); // size
    types.extend_from_slice(&((1u32 << 24) | 32).to_ne_bytes()); // SIGNED, bits 32
    let strings = b"\0int\0";
    let mut btf = Vec::new();
    btf.extend_from_slice(&0xeb9f_u16.to_ne_bytes());
    btf.push(1); // version
    btf.push(0); // flags
    btf.extend_from_slice(&24u32.to_ne_bytes()); // hdr_len
    btf.extend_from_slice(&0u32.to_ne_bytes()); // type_off
    btf.extend_from_slice(&(types.len() as u32).to_ne_bytes());
    btf.extend_from_slice(&(types.len() as u32).to_ne_bytes()); // str_off
    btf.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
    btf.extend_from_slice(&types);
    btf.extend_from_slice(strings);
    let (fd, log) = load_btf(&btf, &ProgLoadOptions::default()).unwrap();
    assert!(log.is_none());
    assert!(is_cloexec(&fd), "BTF fds are close-on-exec");
}
