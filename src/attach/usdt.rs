//! USDT: user statically defined tracepoints, the probes a program declares with
//! `<sys/sdt.h>`'s `STAP_PROBE` / `DTRACE_PROBE` macros, attached as uprobes the way
//! libbpf's `usdt.c` does it, for programs written against libbpf's `usdt.bpf.h`.
//!
//! ABI: each probe is an ELF note (`.note.stapsdt`, owner `stapsdt`, type 3; SystemTap's
//! "UserSpaceProbeImplementation" wiki page describes it): the probe's address, the
//! address of `.stapsdt.base` at link time (to correct for prelinking), the semaphore's
//! address (0: none), then `provider\0name\0arguments\0`. Each argument is
//! `SIZE@LOCATION` in the assembler's syntax, which is the architecture's ([`crate::arch`]:
//! x86-64's `-4@%edi`, `8@-16(%rbp)`, `4@$5`; arm64's `-4@x0`, `8@[sp, 16]`, `4@5`); a
//! negative size is a signed value.
//!
//! The BPF side is libbpf's `usdt.bpf.h`: the program finds its probe's argument specs in
//! the array map `__bpf_usdt_specs` at the id `bpf_get_attach_cookie` gives it (5.15), and
//! reads each argument from the registers in `pt_regs` (`struct __bpf_usdt_spec`: twelve
//! `{u64 val_off; u32 arg_type; s16 reg_off; bool arg_signed; s8 arg_bitshift}`, then
//! `u64 usdt_cookie; s16 arg_cnt`). On kernels without BPF cookies the `.kconfig` extern
//! `LINUX_HAS_BPF_COOKIE` is false and the program looks its spec id up instead by the
//! probe's address in the traced process (`PT_REGS_IP`, where the uprobe's breakpoint is)
//! in the hash map `__bpf_usdt_ip_to_spec_id` (key `long`, value `u32`), which the loader
//! fills as libbpf's `usdt.c` does: for an `ET_EXEC` binary the address is the one the
//! note gives; for an `ET_DYN` one (a shared library, a PIE, a static-pie) it depends on
//! where the process mapped the file, read from `/proc/PID/maps`, so a process must be
//! named ([`probe_address`]). The uprobe is placed at the probe's FILE offset, with
//! the semaphore's file offset as the uprobe's reference counter, which the kernel
//! increments while the probe is attached (4.20), so that a program that tests its
//! semaphore runs the probe's code.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use object::{Object as _, ObjectSection, ObjectSegment};

use super::link::Owned;
use super::{AttachError, AttachOptions, Link, Probe};
use crate::arch::ArgLocation;
use crate::load::{Object, Program};

/// A USDT probe of a binary, as its note describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtProbe {
    /// The provider (`libc`).
    pub provider: String,
    /// The probe's name (`setjmp`).
    pub name: String,
    /// The probe's virtual address as linked (corrected for prelinking): in memory as is
    /// for an `ET_EXEC` binary, relative to where the file is mapped for an `ET_DYN` one.
    pub address: u64,
    /// Where the uprobe goes: the probe's offset in the file.
    pub file_offset: u64,
    /// The semaphore's offset in the file; 0 for a probe without one.
    pub semaphore_offset: u64,
    /// The arguments, as the note spells them (`-4@%edi 8@-16(%rbp)`).
    pub arguments: String,
}

/// `enum __bpf_usdt_arg_type`: where an argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdtArgKind {
    /// A constant (`4@$5`): the value is `val_off`.
    Const,
    /// A register (`8@%rax`): `reg_off` is its offset in `struct pt_regs`.
    Reg,
    /// Memory at a register plus `val_off` (`-4@-20(%rbp)`).
    RegDeref,
}

/// One argument, ready for `struct __bpf_usdt_arg_spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsdtArg {
    /// Where it is.
    pub kind: UsdtArgKind,
    /// The constant, or the offset from the register's value.
    pub val_off: u64,
    /// The register's offset in the architecture's `struct pt_regs` ([`crate::arch`]).
    pub reg_off: i16,
    /// A signed value (negative size in the note).
    pub signed: bool,
    /// `64 - 8 * size`: the bits cleared (or sign-extended) to make a 64-bit value.
    pub bitshift: i8,
}

/// `BPF_USDT_MAX_ARG_CNT`.
pub const USDT_MAX_ARGS: usize = 12;
/// `sizeof(struct __bpf_usdt_spec)`.
pub const USDT_SPEC_SIZE: usize = 208;
/// The map of argument specs (`usdt.bpf.h`).
pub const USDT_SPECS_MAP: &str = "__bpf_usdt_specs";

/// Every USDT probe of an ELF file (`.note.stapsdt`), with its addresses turned into file
/// offsets. An error says what is wrong with the notes.
pub fn usdt_probes(elf: &[u8]) -> Result<Vec<UsdtProbe>, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF file: {e}"))?;
    let Some(notes) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let data = notes.data().map_err(|e| format!(".note.stapsdt: {e}"))?;
    // Where .stapsdt.base really is, to correct addresses computed before prelinking.
    let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let to_offset = |vaddr: u64| -> Option<u64> {
        file.segments().find_map(|segment| {
            let (offset, size) = segment.file_range();
            let start = segment.address();
            (vaddr >= start && vaddr - start < size).then(|| offset + (vaddr - start))
        })
    };
    let word = |bytes: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_ne_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let mut probes = Vec::new();
    let mut at = 0usize;
    // Each note: u32 namesz, u32 descsz, u32 type, name (padded to 4), desc (padded to 4).
    while at + 12 <= data.len() {
        let field = |i: usize| -> usize {
            data.get(at + 4 * i..at + 4 * i + 4)
                .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let (namesz, descsz, kind) = (field(0), field(1), field(2));
        let name_at = at + 12;
        let desc_at = name_at + namesz.next_multiple_of(4);
        let next = desc_at + descsz.next_multiple_of(4);
        let (Some(owner), Some(desc)) = (
            data.get(name_at..name_at + namesz),
            data.get(desc_at..desc_at + descsz),
        ) else {
            return Err(format!(
                "a note at byte {at} runs past the end of .note.stapsdt"
            ));
        };
        at = next;
        if owner != b"stapsdt\0" || kind != 3 {
            continue;
        }
        let (Some(pc), Some(note_base), Some(semaphore)) =
            (word(desc, 0), word(desc, 8), word(desc, 16))
        else {
            return Err("a stapsdt note shorter than its three addresses".into());
        };
        let mut strings = desc.get(24..).unwrap_or_default().split(|&b| b == 0);
        let mut text = || String::from_utf8_lossy(strings.next().unwrap_or_default()).into_owned();
        let (provider, name, arguments) = (text(), text(), text());
        let shift = |addr: u64| match base {
            Some(base) if note_base != 0 => addr.wrapping_add(base).wrapping_sub(note_base),
            _ => addr,
        };
        let address = shift(pc);
        let file_offset = to_offset(address)
            .ok_or_else(|| format!("probe {provider}:{name}: its address is in no segment"))?;
        let semaphore_offset = if semaphore == 0 {
            0
        } else {
            to_offset(shift(semaphore))
                .ok_or_else(|| format!("probe {provider}:{name}: its semaphore is in no segment"))?
        };
        probes.push(UsdtProbe {
            provider,
            name,
            address,
            file_offset,
            semaphore_offset,
            arguments,
        });
    }
    Ok(probes)
}

/// Reads the arguments of a note (`-4@%edi 8@-16(%rbp) 4@$5` on x86-64, `-4@x0 8@[sp, 16]`
/// on arm64) for the architecture this crate is built for, as libbpf's `parse_usdt_arg`
/// does.
pub fn parse_usdt_args(text: &str) -> Result<Vec<UsdtArg>, String> {
    parse_usdt_args_for(crate::arch::TARGET, text)
}

/// [`parse_usdt_args`] for the notes of `arch`'s binaries: the SIZE is the same everywhere,
/// the LOCATION is in the architecture's assembler syntax ([`crate::arch::Arch`]).
pub fn parse_usdt_args_for(arch: &crate::arch::Arch, text: &str) -> Result<Vec<UsdtArg>, String> {
    let args = split_usdt_args(text);
    if args.len() > USDT_MAX_ARGS {
        return Err(format!(
            "{} arguments, more than the {USDT_MAX_ARGS} usdt.bpf.h takes",
            args.len()
        ));
    }
    args.iter()
        .map(|arg| {
            let bad = || format!("argument {arg:?} is not SIZE@LOCATION");
            let (size, location) = arg.split_once('@').ok_or_else(bad)?;
            let size: i32 = size.parse().map_err(|_| bad())?;
            if !matches!(size.abs(), 1 | 2 | 4 | 8) {
                return Err(format!("argument {arg:?}: size {size} is not 1, 2, 4 or 8"));
            }
            let (signed, bitshift) = (size < 0, (64 - 8 * size.abs()) as i8);
            let spec = |kind, val_off: i64, reg_off| UsdtArg {
                kind,
                val_off: val_off as u64,
                reg_off,
                signed,
                bitshift,
            };
            match (arch.usdt_location)(location) {
                Ok(ArgLocation::Const(value)) => Ok(spec(UsdtArgKind::Const, value, 0)),
                Ok(ArgLocation::Reg(reg)) => Ok(spec(UsdtArgKind::Reg, 0, reg)),
                Ok(ArgLocation::Deref { reg, offset }) => {
                    Ok(spec(UsdtArgKind::RegDeref, offset, reg))
                }
                Err(error) => Err(format!("argument {arg:?}: {error}")),
            }
        })
        .collect()
}

/// The arguments of a note, split at the spaces between them but not at those inside
/// brackets (arm64's `-4@[sp, 16]` is one argument).
fn split_usdt_args(text: &str) -> Vec<&str> {
    let mut args = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (at, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(from) = start.take() {
                    args.push(&text[from..at]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(at);
    }
    if let Some(from) = start {
        args.push(&text[from..]);
    }
    args
}

/// `struct __bpf_usdt_spec` for these arguments, as the map `__bpf_usdt_specs` holds it.
pub fn usdt_spec_bytes(args: &[UsdtArg], cookie: u64) -> [u8; USDT_SPEC_SIZE] {
    let mut spec = [0u8; USDT_SPEC_SIZE];
    for (slot, arg) in spec
        .chunks_exact_mut(16)
        .zip(args.iter().take(USDT_MAX_ARGS))
    {
        slot[..8].copy_from_slice(&arg.val_off.to_ne_bytes());
        let kind: u32 = match arg.kind {
            UsdtArgKind::Const => 0,
            UsdtArgKind::Reg => 1,
            UsdtArgKind::RegDeref => 2,
        };
        slot[8..12].copy_from_slice(&kind.to_ne_bytes());
        slot[12..14].copy_from_slice(&arg.reg_off.to_ne_bytes());
        slot[14] = u8::from(arg.signed);
        slot[15] = arg.bitshift as u8;
    }
    spec[192..200].copy_from_slice(&cookie.to_ne_bytes());
    let count = args.len().min(USDT_MAX_ARGS) as i16;
    spec[200..202].copy_from_slice(&count.to_ne_bytes());
    spec
}

/// The map from a probe's address to its spec id, for kernels without BPF cookies
/// (`usdt.bpf.h`).
pub const USDT_IP_MAP: &str = "__bpf_usdt_ip_to_spec_id";

/// `ET_EXEC` in the ELF header's `e_type`: an executable at fixed addresses.
const ET_EXEC: u16 = 2;
/// `ET_DYN`: a shared object (library, position-independent or static-pie executable).
const ET_DYN: u16 = 3;

/// Is `elf` (already parsed by [`usdt_probes`]) mapped at the addresses it was linked at
/// (`ET_EXEC`), rather than wherever the process put it (`ET_DYN`)? `None` for another
/// type, or bytes too short for the header.
pub fn fixed_addresses(elf: &[u8]) -> Option<bool> {
    // e_type: a native-endian u16 at byte 16 of both ELF header classes.
    let e_type = u16::from_ne_bytes(elf.get(16..18)?.try_into().ok()?);
    match e_type {
        ET_EXEC => Some(true),
        ET_DYN => Some(false),
        _ => None,
    }
}

/// The address at which `probe` of `binary` is in memory in process `pid`: its linked
/// address for an `ET_EXEC` file (`fixed`), else the start of the executable mapping of
/// the file that holds the probe's file offset, plus the offset's distance into it
/// (`/proc/PID/maps`, as libbpf's `parse_vma_segs`). What the uprobe's program sees as
/// `PT_REGS_IP`. An error says why there is no such address.
pub fn probe_address(
    binary: &Path,
    probe: &UsdtProbe,
    fixed: bool,
    pid: Option<u32>,
) -> Result<u64, String> {
    if fixed {
        return Ok(probe.address);
    }
    let Some(pid) = pid else {
        return Err(concat!(
            "the binary is position-independent (ET_DYN): without BPF cookies the program ",
            "finds its probe by address, which differs from process to process, so a ",
            "process id is needed"
        )
        .into());
    };
    let maps_path = format!("/proc/{pid}/maps");
    let maps = std::fs::read_to_string(&maps_path).map_err(|e| format!("{maps_path}: {e}"))?;
    // The path as the process sees it: /proc/PID/root/PATH is PATH in its maps (a file in
    // its container), any other path is resolved as libbpf does (realpath).
    let prefix = format!("/proc/{pid}/root/");
    let seen = match binary.to_str().and_then(|p| p.strip_prefix(&prefix)) {
        Some(rest) => std::path::PathBuf::from(format!("/{rest}")),
        None => std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf()),
    };
    address_in_maps(&maps, &seen, probe.file_offset).ok_or_else(|| {
        format!(
            "process {pid} has no executable mapping of {} holding file offset {:#x}",
            seen.display(),
            probe.file_offset
        )
    })
}

/// In the text of a `/proc/PID/maps` file, the address of file offset `offset` of `path`
/// in an executable mapping (`start-end perms offset dev inode path`).
pub fn address_in_maps(maps: &str, path: &Path, offset: u64) -> Option<u64> {
    let want = path.to_str()?;
    maps.lines().find_map(|line| {
        let mut fields = line.splitn(6, ' ');
        let range = fields.next()?;
        let perms = fields.next()?;
        let map_offset = u64::from_str_radix(fields.next()?, 16).ok()?;
        let (_dev, _inode) = (fields.next()?, fields.next()?);
        let name = fields.next()?.trim_start();
        let (start, end) = range.split_once('-')?;
        let start = u64::from_str_radix(start, 16).ok()?;
        let end = u64::from_str_radix(end, 16).ok()?;
        let executable = perms.as_bytes().get(2) == Some(&b'x');
        (executable
            && name == want
            && offset >= map_offset
            && offset - map_offset < end.checked_sub(start)?)
        .then(|| start + (offset - map_offset))
    })
}

/// An entry of `__bpf_usdt_ip_to_spec_id` that one uprobe needs; deleted when its
/// [`Link`] goes, after the uprobe (libbpf does the same on detach: a stale entry would
/// make the next attach at that address collide).
#[derive(Debug)]
pub(crate) struct UsdtIpEntry {
    map: OwnedFd,
    address: u64,
}

impl UsdtIpEntry {
    /// Puts `address -> spec_id` into the map (`BPF_NOEXIST`: another probe of this
    /// object already at that address is an error, as in libbpf).
    pub(crate) fn insert(
        map: &crate::load::Map,
        address: u64,
        spec_id: u32,
    ) -> Result<Self, String> {
        let fd = map
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("{USDT_IP_MAP}: {e}"))?;
        map.update(
            &address.to_ne_bytes(),
            &spec_id.to_ne_bytes(),
            crate::uapi::BPF_NOEXIST,
        )
        .map_err(|e| match e {
            crate::load::MapError::Sys { error, .. } if error.errno == libc::EEXIST => format!(
                "{USDT_IP_MAP} already maps address {address:#x}: a probe of this object is \
                 attached there"
            ),
            crate::load::MapError::Sys { error, .. } => {
                format!("{USDT_IP_MAP}: mapping address {address:#x}: {error}")
            }
            other => format!("{USDT_IP_MAP}: {other}"),
        })?;
        Ok(UsdtIpEntry { map: fd, address })
    }
}

impl Drop for UsdtIpEntry {
    fn drop(&mut self) {
        let _ = crate::syscall::map_delete_elem(self.map.as_fd(), &self.address.to_ne_bytes());
    }
}

/// `PERF_UPROBE_REF_CTR_OFFSET_SHIFT`: the uprobe PMU takes the reference counter's
/// file offset in the upper half of `config` (`kernel/events/core.c`).
const REF_CTR_OFFSET_SHIFT: u32 = 32;

/// How a probe's program finds the slot of `__bpf_usdt_specs` where the caller put the
/// probe's `struct __bpf_usdt_spec`.
#[derive(Debug)]
pub(crate) enum SpecBy {
    /// The uprobe's BPF cookie is the slot (5.15).
    Cookie(u32),
    /// The entry of `__bpf_usdt_ip_to_spec_id` the caller made for the probe's address.
    Address(UsdtIpEntry),
}

/// Attaches a program written against `usdt.bpf.h` to one probe of `binary`: a uprobe at
/// the probe's file offset, its semaphore as the reference counter, bound with a BPF link
/// whose cookie is the spec's slot, or without a cookie where the program finds the slot
/// by address (the entry then lives as long as the link).
fn attach_probe(
    prog: BorrowedFd<'_>,
    binary: &Path,
    probe: &UsdtProbe,
    spec: SpecBy,
    pid: Option<u32>,
    opts: &AttachOptions,
) -> Result<Link, AttachError> {
    let target = format!(
        "usdt {}:{}:{} (+{:#x})",
        binary.display(),
        probe.provider,
        probe.name,
        probe.file_offset
    );
    let config = probe.semaphore_offset << REF_CTR_OFFSET_SHIFT;
    let perf = super::uprobe::open_uprobe(binary, probe.file_offset, config, pid, &target)?;
    let (cookie, usdt_ip) = match spec {
        SpecBy::Cookie(spec_id) => (u64::from(spec_id), None),
        SpecBy::Address(entry) => (0, Some(entry)),
    };
    let mut link = Link::of_perf_event(prog, perf, Probe::Usdt, target, opts, cookie)?;
    link.owned = usdt_ip.map(Owned::UsdtIp);
    Ok(link)
}

/// Attaches program `prog` of `object`, written against libbpf's `usdt.bpf.h`, to every USDT
/// probe `provider:name` of `binary` (in process `pid` only, or in every process that
/// runs it): each probe's argument specs go into the object's `__bpf_usdt_specs` map
/// at a slot of its own, which the program finds by the uprobe's BPF cookie (5.15), or,
/// on kernels without cookies (and with [`crate::load::LoadOptions::without_bpf_cookie`]), by the
/// probe's address in `__bpf_usdt_ip_to_spec_id`, as libbpf does. Without cookies a
/// position-independent binary (a shared library, a PIE) needs `pid`: its probes'
/// addresses differ from process to process. One link per probe site.
pub fn attach(
    prog: &Program,
    object: &Object,
    binary: &Path,
    provider: &str,
    name: &str,
    pid: Option<u32>,
    opts: &AttachOptions,
) -> Result<Vec<Link>, AttachError> {
    let unsupported = |reason: String| AttachError::UsdtUnsupported {
        program: prog.name().to_string(),
        reason,
    };
    let specs = object.map(USDT_SPECS_MAP).ok_or_else(|| {
        unsupported(format!(
            "the object has no map {USDT_SPECS_MAP}: it was not written with usdt.bpf.h"
        ))
    })?;
    let bad = |reason: String| AttachError::Usdt {
        path: binary.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(binary).map_err(|e| bad(e.to_string()))?;
    let probes: Vec<_> = usdt_probes(&bytes)
        .map_err(bad)?
        .into_iter()
        .filter(|p| p.provider == provider && p.name == name)
        .collect();
    if probes.is_empty() {
        return Err(AttachError::UsdtNotFound {
            path: binary.to_path_buf(),
            probe: format!("{provider}:{name}"),
        });
    }
    // Without cookies: the address map, and each probe's address in memory, first.
    let (ips, addresses) = if !object.without_bpf_cookie() && crate::features::probe_bpf_cookie() {
        (None, vec![None; probes.len()])
    } else {
        let ips = object.map(USDT_IP_MAP).ok_or_else(|| {
            unsupported(format!(
                "without BPF cookies (5.15) the program finds its probe by address, in \
                 the map {USDT_IP_MAP}, which the object lacks"
            ))
        })?;
        let fixed = fixed_addresses(&bytes)
            .ok_or_else(|| bad("neither an executable nor a shared object".into()))?;
        let addresses = probes
            .iter()
            .map(|probe| probe_address(binary, probe, fixed, pid).map(Some))
            .collect::<Result<Vec<Option<u64>>, String>>()
            .map_err(|e| unsupported(format!("{provider}:{name} in {}: {e}", binary.display())))?;
        (Some(ips), addresses)
    };
    let mut links = Vec::with_capacity(probes.len());
    for (probe, address) in probes.iter().zip(addresses) {
        let args = parse_usdt_args(&probe.arguments)
            .map_err(|e| bad(format!("{provider}:{name}: {e}")))?;
        let spec_id = object.usdt_spec_slot().get();
        if spec_id >= specs.max_entries() {
            return Err(unsupported(format!(
                "{USDT_SPECS_MAP} is full ({} probes)",
                specs.max_entries()
            )));
        }
        specs
            .update(
                &spec_id.to_ne_bytes(),
                &usdt_spec_bytes(&args, 0),
                crate::uapi::BPF_ANY,
            )
            .map_err(|e| unsupported(format!("writing its spec: {e}")))?;
        let spec = match (ips, address) {
            (Some(ips), Some(address)) => {
                SpecBy::Address(UsdtIpEntry::insert(ips, address, spec_id).map_err(&unsupported)?)
            }
            _ => SpecBy::Cookie(spec_id),
        };
        links.push(attach_probe(prog.as_fd(), binary, probe, spec, pid, opts)?);
        // Taken only now: a probe that failed to attach leaves its slot to the next.
        object.usdt_spec_slot().set(spec_id + 1);
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{AARCH64, X86_64};

    #[test]
    fn x86_64_argument_specs_are_read_as_libbpf_reads_them() {
        let args =
            parse_usdt_args_for(&X86_64, "-4@%edi 8@-16(%rbp) 4@$5 -2@(%rax) 1@%r9b").unwrap();
        assert_eq!(
            args,
            [
                UsdtArg {
                    kind: UsdtArgKind::Reg,
                    val_off: 0,
                    reg_off: 112,
                    signed: true,
                    bitshift: 32
                },
                UsdtArg {
                    kind: UsdtArgKind::RegDeref,
                    val_off: (-16i64) as u64,
                    reg_off: 32,
                    signed: false,
                    bitshift: 0
                },
                UsdtArg {
                    kind: UsdtArgKind::Const,
                    val_off: 5,
                    reg_off: 0,
                    signed: false,
                    bitshift: 32
                },
                UsdtArg {
                    kind: UsdtArgKind::RegDeref,
                    val_off: 0,
                    reg_off: 80,
                    signed: true,
                    bitshift: 48
                },
                UsdtArg {
                    kind: UsdtArgKind::Reg,
                    val_off: 0,
                    reg_off: 64,
                    signed: false,
                    bitshift: 56
                },
            ]
        );
        assert_eq!(parse_usdt_args_for(&X86_64, "").unwrap(), []);
        assert!(parse_usdt_args_for(&X86_64, "3@%eax")
            .unwrap_err()
            .contains("size 3"));
        assert!(parse_usdt_args_for(&X86_64, "8@%xmm0")
            .unwrap_err()
            .contains("%xmm0"));
        assert!(parse_usdt_args_for(&X86_64, "8@(%rax,%rbx,8)")
            .unwrap_err()
            .contains("indexed"));
    }

    /// A register argument (`reg_off`) or one in memory at a register plus `val_off`.
    fn reg(reg_off: i16, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::Reg,
            val_off: 0,
            reg_off,
            signed: size < 0,
            bitshift: (64 - 8 * size.abs()) as i8,
        }
    }
    fn mem(reg_off: i16, val_off: i64, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::RegDeref,
            val_off: val_off as u64,
            ..reg(reg_off, size)
        }
    }
    fn constant(value: i64, size: i32) -> UsdtArg {
        UsdtArg {
            kind: UsdtArgKind::Const,
            val_off: value as u64,
            ..reg(0, size)
        }
    }

    /// The notes GCC wrote into an arm64 binary (tests/data/usdt-arm64: `probe_args(1, -3,
    /// 200, &p, -5)` with `p = {7, -9}`, two probes), read with arm64's syntax: `user_pt_regs`
    /// has `x0`..`x30` at 8 * N and `sp` at 248.
    #[test]
    fn arm64_notes_from_gcc_are_read_as_libbpf_reads_them() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/usdt-arm64/");
        let notes = |name: &str| {
            let elf = std::fs::read(format!("{data}{name}")).expect("committed test binary");
            let probes = usdt_probes(&elf).expect("the notes parse");
            probes
                .iter()
                .map(|probe| {
                    let args = parse_usdt_args_for(&AARCH64, &probe.arguments);
                    (probe.name.clone(), probe.arguments.clone(), args)
                })
                .collect::<Vec<_>>()
        };
        // -O0: everything spilled to the stack first (`-4@[sp, 28]`, with its space).
        let o0 = notes("probes-O0");
        assert_eq!(o0.len(), 2);
        assert_eq!(o0[0].0, "args");
        assert_eq!(
            o0[0].1,
            "-4@[sp, 28] -8@[sp, 16] 1@[sp, 27] -8@x0 -2@[sp, 24]"
        );
        assert_eq!(
            o0[0].2,
            Ok(vec![
                mem(248, 28, -4),
                mem(248, 16, -8),
                mem(248, 27, 1),
                reg(0, -8),
                mem(248, 24, -2),
            ])
        );
        assert_eq!(
            (o0[1].0.as_str(), o0[1].1.as_str()),
            ("stack", "-4@x1 -4@x0 -4@42")
        );
        assert_eq!(o0[1].2, Ok(vec![reg(8, -4), reg(0, -4), constant(42, -4)]));
        // -O2: the arguments' own registers, and memory behind one (`p->b`, `p->a`).
        let o2 = notes("probes-O2");
        assert_eq!(o2.len(), 2);
        assert_eq!(o2[0].1, "-4@x0 -8@x1 1@x2 -8@[x3, 8] -2@x4");
        assert_eq!(
            o2[0].2,
            Ok(vec![
                reg(0, -4),
                reg(8, -8),
                reg(16, 1),
                mem(24, 8, -8),
                reg(32, -2)
            ])
        );
        assert_eq!(o2[1].1, "-4@x1 -4@[x3] -4@42");
        assert_eq!(
            o2[1].2,
            Ok(vec![reg(8, -4), mem(24, 0, -4), constant(42, -4)])
        );
        // The same text is no x86-64 location, and x86-64's is none of arm64's.
        assert!(parse_usdt_args_for(&X86_64, &o2[0].1)
            .unwrap_err()
            .contains("not a location of"));
        assert!(parse_usdt_args_for(&AARCH64, "8@%rdi")
            .unwrap_err()
            .contains("not a location of"));
        assert!(parse_usdt_args_for(&AARCH64, "8@[x31, 8]")
            .unwrap_err()
            .contains("unknown register x31"));
    }

    #[test]
    fn a_spec_is_laid_out_as_struct_bpf_usdt_spec() {
        let args = parse_usdt_args_for(&X86_64, "-4@%edi 8@$7").unwrap();
        let spec = usdt_spec_bytes(&args, 0x1234);
        // args[0]: val_off 0, arg_type REG (1), reg_off 112, signed, bitshift 32.
        assert_eq!(
            &spec[..16],
            &[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 112, 0, 1, 32]
        );
        // args[1]: the constant 7, CONST (0), unsigned, no shift.
        assert_eq!(
            &spec[16..32],
            &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(&spec[192..200], &0x1234u64.to_ne_bytes());
        assert_eq!(&spec[200..202], &2i16.to_ne_bytes());
    }

    /// A probe in this test binary, declared as `<sys/sdt.h>`'s `STAP_PROBE1` would.
    #[inline(never)]
    fn probe_here(x: i64) {
        // SAFETY: one `nop` and a note in other sections (`stap_probe!`).
        unsafe { ebpf_testkit::stap_probe!("unit", "here", "8@{x}", x = in(reg) x) };
    }

    #[test]
    fn an_address_is_found_in_the_executable_mapping_that_holds_the_offset() {
        let maps = "\
5612a000-5612b000 r--p 00000000 08:01 42 /usr/bin/my app
5612b000-5612f000 r-xp 00001000 08:01 42 /usr/bin/my app
5612f000-56130000 rw-p 00005000 08:01 42 /usr/bin/my app
7f0000000000-7f0000001000 r-xp 00001000 08:01 43 /usr/lib/libother.so
7ffd0000-7ffd1000 rw-p 00000000 00:00 0 
";
        let app = Path::new("/usr/bin/my app");
        // 0x1234 is in the r-x mapping of the file's 0x1000..0x5000.
        assert_eq!(address_in_maps(maps, app, 0x1234), Some(0x5612b234));
        // The read-only first page holds no code; past the mapping, nothing.
        assert_eq!(address_in_maps(maps, app, 0x10), None);
        assert_eq!(address_in_maps(maps, app, 0x5000), None);
        assert_eq!(
            address_in_maps(maps, Path::new("/usr/lib/libother.so"), 0x1001),
            Some(0x7f0000000001)
        );
        assert_eq!(
            address_in_maps(maps, Path::new("/usr/bin/my"), 0x1234),
            None
        );
        assert_eq!(address_in_maps("garbage\n\n1-2 r-xp", app, 0), None);
    }

    #[test]
    fn the_header_says_whether_addresses_are_fixed() {
        let mut header = [0u8; 64];
        header[16..18].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(fixed_addresses(&header), Some(true));
        header[16..18].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(fixed_addresses(&header), Some(false));
        header[16..18].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(fixed_addresses(&header), None);
        assert_eq!(fixed_addresses(&header[..10]), None);
        let probe = UsdtProbe {
            provider: "p".into(),
            name: "n".into(),
            address: 0x401234,
            file_offset: 0x1234,
            semaphore_offset: 0,
            arguments: String::new(),
        };
        // ET_EXEC: the linked address, whatever the process.
        assert_eq!(
            probe_address(Path::new("/nonexistent"), &probe, true, None),
            Ok(0x401234)
        );
        // ET_DYN: no process, no address.
        assert!(
            probe_address(Path::new("/nonexistent"), &probe, false, None)
                .unwrap_err()
                .contains("a process id is needed")
        );
    }

    #[test]
    fn this_test_binarys_probe_is_at_its_address_in_memory() {
        probe_here(1);
        let path = std::env::current_exe().unwrap();
        let exe = std::fs::read(&path).unwrap();
        let probe = usdt_probes(&exe)
            .unwrap()
            .into_iter()
            .find(|p| p.provider == "unit" && p.name == "here")
            .unwrap();
        let fixed = fixed_addresses(&exe).unwrap();
        let address = probe_address(&path, &probe, fixed, Some(std::process::id())).unwrap();
        // SAFETY: the address is in this process's executable mapping of its own binary
        // (found in /proc/self/maps), which stays mapped; one byte is read.
        let byte = unsafe { std::ptr::read_volatile(address as usize as *const u8) };
        assert_eq!(byte, 0x90, "the probe's nop at {address:#x}");
    }

    #[test]
    fn a_probe_of_this_binary_is_found_at_its_nop() {
        probe_here(1);
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let probes = usdt_probes(&exe).unwrap();
        let probe = probes
            .iter()
            .find(|p| p.provider == "unit" && p.name == "here")
            .expect("unit:here in this binary's notes");
        // The offset is the `nop` (0x90) the note names.
        assert_eq!(exe.get(probe.file_offset as usize), Some(&0x90));
        assert_eq!(probe.semaphore_offset, 0);
        let args = parse_usdt_args_for(&X86_64, &probe.arguments).unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].kind, UsdtArgKind::Reg);
        assert!(usdt_probes(b"not an elf").is_err());
    }
}
