//! A disassembler: instruction slots to the text llvm-objdump and bpftool print.
//!
//! ABI: the encoding in `Documentation/bpf/standardization/instruction-set.rst`; the helper
//! ids are the order of `__BPF_FUNC_MAPPER` in `include/uapi/linux/bpf.h`.
//!
//! The syntax is llvm-objdump's (`r1 = *(u32 *)(r2 + 16)`, `if r1 == 0 goto +5`,
//! `lock *(u64 *)(r0 + 0) += r1`), with bpftool's names for what the loader patched in:
//!
//! | instruction | text |
//! |---|---|
//! | helper call | `call bpf_perf_event_output#25` |
//! | bpf-to-bpf call | `call pc+84` (the callee starts 84 slots after the next one) |
//! | `ld_imm64`, plain constant | `r3 = 4294967295 ll` |
//! | `ld_imm64`, `BPF_PSEUDO_MAP_FD` | `r1 = map[fd:3] ll` |
//! | `ld_imm64`, `BPF_PSEUDO_MAP_VALUE` | `r1 = map[fd:4][0]+12 ll` (value 0 of the map, byte 12) |
//! | the same before load ([`disassemble_with`]) | `r1 = map[#1 events] ll`: map #1 of the object, no fd yet |
//! | a CO-RE relocation that failed | `call unknown#195896080 (= 0xbad2310, ...)`: bpftool's text, and the hex the sources use |
//!
//! Nothing here fails: an opcode the disassembler does not know prints as
//! `invalid opcode 0x..`, and an `ld_imm64` cut off by the end of the slice says so.

use super::{
    Insn, BPF_ABS, BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_B, BPF_DW, BPF_H, BPF_IMM, BPF_IND, BPF_JMP,
    BPF_JMP32, BPF_LD, BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC,
    BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_ST, BPF_STX, BPF_W, BPF_X, CORE_POISON_IMM,
};

/// `call` with this `src_reg`: `imm` is the BTF id of a kernel function (a kfunc).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// `ld_imm64` with this `src_reg`: `imm` is the BTF id of a kernel variable.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `ld_imm64` with this `src_reg`: `imm` is an index into `fd_array` (a map).
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
/// `ld_imm64` with this `src_reg`: `imm` is an index into `fd_array`, plus a value offset.
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// What a map reference's `imm` stands for, when the caller knows better than `fd:N`:
/// before load, `imm` is a placeholder (the map's index), and `inspect` names it
/// `#1 events`, so that it cannot be taken for a real fd. `None`: print `fd:N`.
pub type MapNames<'a> = &'a dyn Fn(i32) -> Option<String>;

/// Disassembles a stream of slots. Each entry is the slot index and its text; an
/// `ld_imm64` is one entry covering two slots, so the indexes can skip by two.
pub fn disassemble(insns: &[Insn]) -> Vec<(usize, String)> {
    disassemble_with(insns, &|_| None)
}

/// [`disassemble`], with map references named by `maps` (`r2 = map[#1 events] ll`).
pub fn disassemble_with(insns: &[Insn], maps: MapNames<'_>) -> Vec<(usize, String)> {
    let mut lines = Vec::with_capacity(insns.len());
    let mut index = 0;
    while let Some(&insn) = insns.get(index) {
        if insn.is_ld_imm64() {
            let text = match insns.get(index + 1) {
                Some(&next) => ld_imm64(insn, next, maps),
                None => format!("r{} = <ld_imm64 without its second slot>", insn.dst_reg),
            };
            lines.push((index, text));
            index += 2;
        } else {
            lines.push((index, disassemble_one(insn)));
            index += 1;
        }
    }
    lines
}

/// The text of a short run of slots on one line, instructions joined with `; ` (a
/// relocation site, a CO-RE fix-up: an `ld_imm64` is one instruction of two slots).
pub fn text(insns: &[Insn]) -> String {
    text_with(insns, &|_| None)
}

/// [`text`], with map references named by `maps`.
pub fn text_with(insns: &[Insn], maps: MapNames<'_>) -> String {
    disassemble_with(insns, maps)
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The name of helper `id` (`bpf_map_lookup_elem` for 1), if it is one the kernel defines.
pub fn helper_name(id: i32) -> Option<&'static str> {
    let index = usize::try_from(id).ok()?.checked_sub(1)?;
    HELPER_NAMES.get(index).copied()
}

/// Text of one single-slot instruction (an `ld_imm64` alone prints its first half).
pub fn disassemble_one(insn: Insn) -> String {
    match insn.class() {
        BPF_LD => ld(insn),
        BPF_LDX => ldx(insn),
        BPF_ST => st(insn),
        BPF_STX => stx(insn),
        BPF_ALU => alu(insn, false),
        BPF_ALU64 => alu(insn, true),
        BPF_JMP => jmp(insn, false),
        BPF_JMP32 => jmp(insn, true),
        _ => invalid(insn),
    }
}

fn invalid(insn: Insn) -> String {
    format!("invalid opcode {:#04x}", insn.code)
}

/// `u8`, `u16`, `u32`, `u64` from the size bits of a load or store.
fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        BPF_W => "u32",
        BPF_H => "u16",
        BPF_B => "u8",
        _ => "u64",
    }
}

/// `(r2 + 16)`, `(r10 - 8)`.
fn address(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("(r{reg} - {})", -i32::from(off))
    } else {
        format!("(r{reg} + {off})")
    }
}

fn ld_imm64(insn: Insn, next: Insn, maps: MapNames<'_>) -> String {
    let dst = insn.dst_reg;
    let map = || maps(insn.imm).unwrap_or_else(|| format!("fd:{}", insn.imm));
    match insn.src_reg {
        BPF_PSEUDO_MAP_FD => format!("r{dst} = map[{}] ll", map()),
        BPF_PSEUDO_MAP_VALUE => format!("r{dst} = map[{}][0]+{} ll", map(), next.imm),
        BPF_PSEUDO_BTF_ID => format!("r{dst} = btf_id[{}] ll", insn.imm),
        BPF_PSEUDO_FUNC => format!("r{dst} = func[pc{:+}] ll", insn.imm),
        BPF_PSEUDO_MAP_IDX => format!("r{dst} = map[idx:{}] ll", insn.imm),
        BPF_PSEUDO_MAP_IDX_VALUE => {
            format!("r{dst} = map[idx:{}][0]+{} ll", insn.imm, next.imm)
        }
        0 => {
            let value = u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32);
            format!("r{dst} = {} ll", value as i64)
        }
        other => format!("r{dst} = <ld_imm64 with unknown src_reg {other}> ll"),
    }
}

fn ld(insn: Insn) -> String {
    let size = size_name(insn.code);
    match insn.code & 0xe0 {
        BPF_IMM if insn.code & 0x18 == BPF_DW => {
            format!(
                "r{} = <ld_imm64 first slot, imm {}>",
                insn.dst_reg, insn.imm
            )
        }
        // Legacy packet loads of socket filters: the packet is implicit, the result in r0.
        BPF_ABS => format!("r0 = *({size} *)skb[{}]", insn.imm),
        BPF_IND if insn.imm == 0 => format!("r0 = *({size} *)skb[r{}]", insn.src_reg),
        BPF_IND => format!("r0 = *({size} *)skb[r{} + {}]", insn.src_reg, insn.imm),
        _ => invalid(insn),
    }
}

fn ldx(insn: Insn) -> String {
    let size = size_name(insn.code);
    let addr = address(insn.src_reg, insn.off);
    match insn.code & 0xe0 {
        BPF_MEM => format!("r{} = *({size} *){addr}", insn.dst_reg),
        // Sign-extending load: `s32` instead of `u32`.
        BPF_MEMSX if insn.code & 0x18 != BPF_DW => {
            format!("r{} = *(s{} *){addr}", insn.dst_reg, &size[1..])
        }
        _ => invalid(insn),
    }
}

fn st(insn: Insn) -> String {
    if insn.code & 0xe0 != BPF_MEM {
        return invalid(insn);
    }
    let size = size_name(insn.code);
    format!(
        "*({size} *){} = {}",
        address(insn.dst_reg, insn.off),
        insn.imm
    )
}

fn stx(insn: Insn) -> String {
    let size = size_name(insn.code);
    let addr = address(insn.dst_reg, insn.off);
    match insn.code & 0xe0 {
        BPF_MEM => format!("*({size} *){addr} = r{}", insn.src_reg),
        BPF_ATOMIC if matches!(insn.code & 0x18, BPF_W | BPF_DW) => atomic(insn, size),
        _ => invalid(insn),
    }
}

/// Atomic operations (`BPF_STX | BPF_ATOMIC`): the operation is in `imm`.
fn atomic(insn: Insn, size: &str) -> String {
    const BPF_FETCH: i32 = 0x01;
    const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
    const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
    const BPF_LOAD_ACQ: i32 = 0x100;
    const BPF_STORE_REL: i32 = 0x110;
    let wide = insn.code & 0x18 == BPF_DW;
    let r = if wide { 'r' } else { 'w' };
    let (dst, src, off) = (insn.dst_reg, insn.src_reg, insn.off);
    let addr = address(dst, off);
    let bare = &addr[1..addr.len() - 1]; // "r0 + 0", as llvm prints it inside xchg_64(...)
    let suffix = if wide { "_64" } else { "32_32" };
    let op = match insn.imm & !BPF_FETCH {
        0x00 => Some(("+=", "add")),
        0x40 => Some(("|=", "or")),
        0x50 => Some(("&=", "and")),
        0xa0 => Some(("^=", "xor")),
        _ => None,
    };
    match (insn.imm, op) {
        (BPF_XCHG, _) => format!("{r}{src} = xchg{suffix}({bare}, {r}{src})"),
        (BPF_CMPXCHG, _) => format!("{r}0 = cmpxchg{suffix}({bare}, {r}0, {r}{src})"),
        (BPF_LOAD_ACQ, _) => format!("{r}{src} = load_acquire(({size} *){addr})"),
        (BPF_STORE_REL, _) => format!("store_release(({size} *){addr}, {r}{src})"),
        (imm, Some((_, name))) if imm & BPF_FETCH != 0 => {
            format!("{r}{src} = atomic_fetch_{name}(({size} *){addr}, {r}{src})")
        }
        (_, Some((sign, _))) => format!("lock *({size} *){addr} {sign} {r}{src}"),
        _ => format!("<atomic operation {:#x}> *({size} *){addr}", insn.imm),
    }
}

fn alu(insn: Insn, wide: bool) -> String {
    const BPF_NEG: u8 = 0x80;
    const BPF_END: u8 = 0xd0;
    let r = if wide { 'r' } else { 'w' };
    let dst = insn.dst_reg;
    let source = if insn.code & BPF_X != 0 {
        format!("{r}{}", insn.src_reg)
    } else {
        insn.imm.to_string()
    };
    let op = insn.code & 0xf0;
    let sign = match op {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 if insn.off == 1 => "s/=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 if insn.off == 1 => "s%=",
        0x90 => "%=",
        0xa0 => "^=",
        0xc0 => "s>>=",
        BPF_NEG => return format!("{r}{dst} = -{r}{dst}"),
        BPF_END => {
            // ALU class: to little or big endian (bit 3); ALU64 class: unconditional swap.
            let kind = match (wide, insn.code & BPF_X != 0) {
                (true, _) => "bswap",
                (false, false) => "le",
                (false, true) => "be",
            };
            return format!("r{dst} = {kind}{} r{dst}", insn.imm);
        }
        0xb0 if insn.off != 0 && insn.code & BPF_X != 0 => {
            // movsx: sign-extend the low 8, 16 or 32 bits of the source.
            return format!("{r}{dst} = (s{}){r}{}", insn.off, insn.src_reg);
        }
        0xb0 => "=",
        _ => return invalid(insn),
    };
    format!("{r}{dst} {sign} {source}")
}

fn jmp(insn: Insn, narrow: bool) -> String {
    let r = if narrow { 'w' } else { 'r' };
    let op = insn.code & 0xf0;
    let sign = match op {
        0x00 if narrow => return format!("gotol {:+}", insn.imm),
        0x00 => return format!("goto {:+}", insn.off),
        0x80 if insn.code == super::CALL => return call(insn),
        0x90 if insn.code == super::EXIT => return "exit".to_string(),
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => return invalid(insn),
    };
    let source = if insn.code & BPF_X != 0 {
        format!("{r}{}", insn.src_reg)
    } else {
        insn.imm.to_string()
    };
    format!("if {r}{} {sign} {source} goto {:+}", insn.dst_reg, insn.off)
}

fn call(insn: Insn) -> String {
    match insn.src_reg {
        BPF_PSEUDO_CALL => format!("call pc{:+}", insn.imm),
        BPF_PSEUDO_KFUNC_CALL => format!("call kfunc#{}", insn.imm),
        // bpftool and the verifier print the number in decimal; libbpf's sources and
        // this loader's name it in hex (CORE_POISON_IMM): both are said.
        0 if insn.imm == CORE_POISON_IMM => format!(
            "call unknown#{} (= 0x{:x}, CO-RE's poison: a relocation that failed)",
            insn.imm, insn.imm
        ),
        0 => match helper_name(insn.imm) {
            Some(name) => format!("call {name}#{}", insn.imm),
            None => format!("call unknown#{}", insn.imm),
        },
        other => format!("call <src_reg {other}> {}", insn.imm),
    }
}

/// Helper names by id - 1 (id 0 is `unspec`), from `__BPF_FUNC_MAPPER`.
const HELPER_NAMES: &[&str] = &[
    "bpf_map_lookup_elem",
    "bpf_map_update_elem",
    "bpf_map_delete_elem",
    "bpf_probe_read",
    "bpf_ktime_get_ns",
    "bpf_trace_printk",
    "bpf_get_prandom_u32",
    "bpf_get_smp_processor_id",
    "bpf_skb_store_bytes",
    "bpf_l3_csum_replace",
    "bpf_l4_csum_replace",
    "bpf_tail_call",
    "bpf_clone_redirect",
    "bpf_get_current_pid_tgid",
    "bpf_get_current_uid_gid",
    "bpf_get_current_comm",
    "bpf_get_cgroup_classid",
    "bpf_skb_vlan_push",
    "bpf_skb_vlan_pop",
    "bpf_skb_get_tunnel_key",
    "bpf_skb_set_tunnel_key",
    "bpf_perf_event_read",
    "bpf_redirect",
    "bpf_get_route_realm",
    "bpf_perf_event_output",
    "bpf_skb_load_bytes",
    "bpf_get_stackid",
    "bpf_csum_diff",
    "bpf_skb_get_tunnel_opt",
    "bpf_skb_set_tunnel_opt",
    "bpf_skb_change_proto",
    "bpf_skb_change_type",
    "bpf_skb_under_cgroup",
    "bpf_get_hash_recalc",
    "bpf_get_current_task",
    "bpf_probe_write_user",
    "bpf_current_task_under_cgroup",
    "bpf_skb_change_tail",
    "bpf_skb_pull_data",
    "bpf_csum_update",
    "bpf_set_hash_invalid",
    "bpf_get_numa_node_id",
    "bpf_skb_change_head",
    "bpf_xdp_adjust_head",
    "bpf_probe_read_str",
    "bpf_get_socket_cookie",
    "bpf_get_socket_uid",
    "bpf_set_hash",
    "bpf_setsockopt",
    "bpf_skb_adjust_room",
    "bpf_redirect_map",
    "bpf_sk_redirect_map",
    "bpf_sock_map_update",
    "bpf_xdp_adjust_meta",
    "bpf_perf_event_read_value",
    "bpf_perf_prog_read_value",
    "bpf_getsockopt",
    "bpf_override_return",
    "bpf_sock_ops_cb_flags_set",
    "bpf_msg_redirect_map",
    "bpf_msg_apply_bytes",
    "bpf_msg_cork_bytes",
    "bpf_msg_pull_data",
    "bpf_bind",
    "bpf_xdp_adjust_tail",
    "bpf_skb_get_xfrm_state",
    "bpf_get_stack",
    "bpf_skb_load_bytes_relative",
    "bpf_fib_lookup",
    "bpf_sock_hash_update",
    "bpf_msg_redirect_hash",
    "bpf_sk_redirect_hash",
    "bpf_lwt_push_encap",
    "bpf_lwt_seg6_store_bytes",
    "bpf_lwt_seg6_adjust_srh",
    "bpf_lwt_seg6_action",
    "bpf_rc_repeat",
    "bpf_rc_keydown",
    "bpf_skb_cgroup_id",
    "bpf_get_current_cgroup_id",
    "bpf_get_local_storage",
    "bpf_sk_select_reuseport",
    "bpf_skb_ancestor_cgroup_id",
    "bpf_sk_lookup_tcp",
    "bpf_sk_lookup_udp",
    "bpf_sk_release",
    "bpf_map_push_elem",
    "bpf_map_pop_elem",
    "bpf_map_peek_elem",
    "bpf_msg_push_data",
    "bpf_msg_pop_data",
    "bpf_rc_pointer_rel",
    "bpf_spin_lock",
    "bpf_spin_unlock",
    "bpf_sk_fullsock",
    "bpf_tcp_sock",
    "bpf_skb_ecn_set_ce",
    "bpf_get_listener_sock",
    "bpf_skc_lookup_tcp",
    "bpf_tcp_check_syncookie",
    "bpf_sysctl_get_name",
    "bpf_sysctl_get_current_value",
    "bpf_sysctl_get_new_value",
    "bpf_sysctl_set_new_value",
    "bpf_strtol",
    "bpf_strtoul",
    "bpf_sk_storage_get",
    "bpf_sk_storage_delete",
    "bpf_send_signal",
    "bpf_tcp_gen_syncookie",
    "bpf_skb_output",
    "bpf_probe_read_user",
    "bpf_probe_read_kernel",
    "bpf_probe_read_user_str",
    "bpf_probe_read_kernel_str",
    "bpf_tcp_send_ack",
    "bpf_send_signal_thread",
    "bpf_jiffies64",
    "bpf_read_branch_records",
    "bpf_get_ns_current_pid_tgid",
    "bpf_xdp_output",
    "bpf_get_netns_cookie",
    "bpf_get_current_ancestor_cgroup_id",
    "bpf_sk_assign",
    "bpf_ktime_get_boot_ns",
    "bpf_seq_printf",
    "bpf_seq_write",
    "bpf_sk_cgroup_id",
    "bpf_sk_ancestor_cgroup_id",
    "bpf_ringbuf_output",
    "bpf_ringbuf_reserve",
    "bpf_ringbuf_submit",
    "bpf_ringbuf_discard",
    "bpf_ringbuf_query",
    "bpf_csum_level",
    "bpf_skc_to_tcp6_sock",
    "bpf_skc_to_tcp_sock",
    "bpf_skc_to_tcp_timewait_sock",
    "bpf_skc_to_tcp_request_sock",
    "bpf_skc_to_udp6_sock",
    "bpf_get_task_stack",
    "bpf_load_hdr_opt",
    "bpf_store_hdr_opt",
    "bpf_reserve_hdr_opt",
    "bpf_inode_storage_get",
    "bpf_inode_storage_delete",
    "bpf_d_path",
    "bpf_copy_from_user",
    "bpf_snprintf_btf",
    "bpf_seq_printf_btf",
    "bpf_skb_cgroup_classid",
    "bpf_redirect_neigh",
    "bpf_per_cpu_ptr",
    "bpf_this_cpu_ptr",
    "bpf_redirect_peer",
    "bpf_task_storage_get",
    "bpf_task_storage_delete",
    "bpf_get_current_task_btf",
    "bpf_bprm_opts_set",
    "bpf_ktime_get_coarse_ns",
    "bpf_ima_inode_hash",
    "bpf_sock_from_file",
    "bpf_check_mtu",
    "bpf_for_each_map_elem",
    "bpf_snprintf",
    "bpf_sys_bpf",
    "bpf_btf_find_by_name_kind",
    "bpf_sys_close",
    "bpf_timer_init",
    "bpf_timer_set_callback",
    "bpf_timer_start",
    "bpf_timer_cancel",
    "bpf_get_func_ip",
    "bpf_get_attach_cookie",
    "bpf_task_pt_regs",
    "bpf_get_branch_snapshot",
    "bpf_trace_vprintk",
    "bpf_skc_to_unix_sock",
    "bpf_kallsyms_lookup_name",
    "bpf_find_vma",
    "bpf_loop",
    "bpf_strncmp",
    "bpf_get_func_arg",
    "bpf_get_func_ret",
    "bpf_get_func_arg_cnt",
    "bpf_get_retval",
    "bpf_set_retval",
    "bpf_xdp_get_buff_len",
    "bpf_xdp_load_bytes",
    "bpf_xdp_store_bytes",
    "bpf_copy_from_user_task",
    "bpf_skb_set_tstamp",
    "bpf_ima_file_hash",
    "bpf_kptr_xchg",
    "bpf_map_lookup_percpu_elem",
    "bpf_skc_to_mptcp_sock",
    "bpf_dynptr_from_mem",
    "bpf_ringbuf_reserve_dynptr",
    "bpf_ringbuf_submit_dynptr",
    "bpf_ringbuf_discard_dynptr",
    "bpf_dynptr_read",
    "bpf_dynptr_write",
    "bpf_dynptr_data",
    "bpf_tcp_raw_gen_syncookie_ipv4",
    "bpf_tcp_raw_gen_syncookie_ipv6",
    "bpf_tcp_raw_check_syncookie_ipv4",
    "bpf_tcp_raw_check_syncookie_ipv6",
    "bpf_ktime_get_tai_ns",
    "bpf_user_ringbuf_drain",
    "bpf_cgroup_storage_get",
    "bpf_cgroup_storage_delete",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insn::decode;

    /// Every line of `tests/data/disasm.txt`: llvm-objdump's text for each encoding.
    #[test]
    fn matches_llvm_objdump_for_every_instruction_form() {
        let table = include_str!("../../tests/data/disasm.txt");
        let mut checked = 0;
        for line in table.lines().filter(|l| !l.starts_with('#')) {
            let (hex, want) = line.split_once('\t').expect("fixture line: bytes TAB text");
            let bytes: Vec<u8> = hex
                .split(' ')
                .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                .collect();
            let insns = decode(&bytes).expect("whole slots");
            let lines = disassemble(&insns);
            assert_eq!(lines, vec![(0, want.to_string())], "bytes {hex}");
            checked += 1;
        }
        assert_eq!(checked, 106);
    }

    fn insn(code: u8, dst_reg: u8, src_reg: u8, off: i16, imm: i32) -> Insn {
        Insn::new(code, dst_reg, src_reg, off, imm)
    }

    #[test]
    fn prints_what_the_loader_patches_in() {
        let insns = [
            insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, 3),
            insn(0, 0, 0, 0, 0),
            insn(0x18, 2, BPF_PSEUDO_MAP_VALUE, 0, 4),
            insn(0, 0, 0, 0, 12),
            insn(0x85, 0, BPF_PSEUDO_CALL, 0, 84),
            insn(0x85, 0, 0, 0, CORE_POISON_IMM),
            insn(0x85, 0, BPF_PSEUDO_KFUNC_CALL, 0, 1234),
            insn(0x85, 0, 0, 0, 100_000),
            insn(0x18, 3, 0, 0, 1),
        ];
        assert_eq!(
            disassemble(&insns),
            vec![
                (0, "r1 = map[fd:3] ll".to_string()),
                (2, "r2 = map[fd:4][0]+12 ll".to_string()),
                (4, "call pc+84".to_string()),
                (
                    5,
                    "call unknown#195896080 (= 0xbad2310, CO-RE's poison: a relocation that failed)".to_string()
                ),
                (6, "call kfunc#1234".to_string()),
                (7, "call unknown#100000".to_string()),
                (8, "r3 = <ld_imm64 without its second slot>".to_string()),
            ]
        );
    }

    #[test]
    fn prints_the_v4_instructions_llvm_14_does_not_know() {
        let insns = [
            insn(0xbf, 1, 2, 8, 0),     // movsx
            insn(0xbc, 1, 2, 16, 0),    // movsx, 32-bit
            insn(0x3f, 1, 2, 1, 0),     // sdiv
            insn(0x97, 1, 0, 1, 3),     // smod
            insn(0xd7, 1, 0, 0, 32),    // bswap
            insn(0x06, 0, 0, 0, -70),   // gotol
            insn(0x91, 1, 2, 4, 0),     // ldsx u8
            insn(0xdb, 1, 2, 0, 0x100), // load-acquire
            insn(0xdb, 1, 2, 0, 0x110), // store-release
            insn(0xff, 0, 0, 0, 0),
            insn(0x8d, 0, 0, 0, 0), // call with BPF_X: not a valid call
        ];
        let text: Vec<String> = disassemble(&insns).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            text,
            [
                "r1 = (s8)r2",
                "w1 = (s16)w2",
                "r1 s/= r2",
                "r1 s%= 3",
                "r1 = bswap32 r1",
                "gotol -70",
                "r1 = *(s8 *)(r2 + 4)",
                "r2 = load_acquire((u64 *)(r1 + 0))",
                "store_release((u64 *)(r1 + 0), r2)",
                "invalid opcode 0xff",
                "invalid opcode 0x8d",
            ]
        );
    }

    #[test]
    fn names_helpers_by_id() {
        assert_eq!(helper_name(1), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(25), Some("bpf_perf_event_output"));
        assert_eq!(helper_name(113), Some("bpf_probe_read_kernel"));
        assert_eq!(helper_name(211), Some("bpf_cgroup_storage_delete"));
        assert_eq!(helper_name(0), None);
        assert_eq!(helper_name(-1), None);
        assert_eq!(helper_name(212), None);
    }
}
