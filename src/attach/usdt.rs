//! USDT: user statically defined tracepoints, attached as uprobes the way libbpf's
//! `usdt.c` does it, for programs written against libbpf's `usdt.bpf.h`. The probes'
//! notes and argument specs are read in the pure half ([`crate::elf::usdt`]); here they
//! are placed in the kernel.
//!
//! ABI: the program finds its probe's argument specs in the array map `__bpf_usdt_specs`
//! at the id `bpf_get_attach_cookie` gives it (5.15). On kernels without BPF cookies the
//! `.kconfig` extern `LINUX_HAS_BPF_COOKIE` is false and the program looks its spec id up
//! instead by the probe's address in the traced process (`PT_REGS_IP`, where the uprobe's
//! breakpoint is) in the hash map `__bpf_usdt_ip_to_spec_id` (key `long`, value `u32`),
//! which the loader fills as libbpf's `usdt.c` does: for an `ET_EXEC` binary the address
//! is the one the note gives; for an `ET_DYN` one (a shared library, a PIE, a static-pie)
//! it depends on where the process mapped the file, read from `/proc/PID/maps`, so a
//! process must be named ([`probe_address`]). The uprobe is placed at the probe's FILE
//! offset, with the semaphore's file offset as the uprobe's reference counter, which the
//! kernel increments while the probe is attached (4.20), so that a program that tests its
//! semaphore runs the probe's code.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::link::Owned;
use super::{AttachError, AttachOptions, Link, Probe};
use crate::elf::target::{address_in_maps, Executable};
use crate::elf::usdt::{
    usdt_probes, usdt_spec_bytes, UsdtError, UsdtProbe, USDT_IP_MAP, USDT_SPECS_MAP,
};
use crate::load::{Object, Program};

/// Why a probe has no address in a process (see [`probe_address`]).
#[derive(Debug)]
pub enum ProbeAddressError {
    /// A position-independent binary and no process named.
    NeedsProcess,
    /// `/proc/PID/maps` could not be read.
    Maps {
        /// The process.
        pid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// No executable mapping of the binary in the process holds the probe.
    NotMapped {
        /// The process.
        pid: u32,
        /// The binary, as the process sees it.
        path: PathBuf,
        /// The probe's file offset.
        offset: u64,
    },
}

impl fmt::Display for ProbeAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeAddressError::NeedsProcess => f.write_str(concat!(
                "the binary is position-independent (ET_DYN): without BPF cookies the program ",
                "finds its probe by address, which differs from process to process, so a ",
                "process id is needed"
            )),
            ProbeAddressError::Maps { pid, .. } => write!(f, "/proc/{pid}/maps"),
            ProbeAddressError::NotMapped { pid, path, offset } => write!(
                f,
                "process {pid} has no executable mapping of {} holding file offset {offset:#x}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ProbeAddressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeAddressError::Maps { source, .. } => Some(source),
            _ => None,
        }
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
) -> Result<u64, ProbeAddressError> {
    if fixed {
        return Ok(probe.address);
    }
    let pid = pid.ok_or(ProbeAddressError::NeedsProcess)?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|source| ProbeAddressError::Maps { pid, source })?;
    // The path as the process sees it: /proc/PID/root/PATH is PATH in its maps (a file in
    // its container), any other path is resolved as libbpf does (realpath).
    let prefix = format!("/proc/{pid}/root/");
    let seen = match binary.to_str().and_then(|p| p.strip_prefix(&prefix)) {
        Some(rest) => PathBuf::from(format!("/{rest}")),
        None => std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf()),
    };
    address_in_maps(&maps, &seen, probe.file_offset).ok_or(ProbeAddressError::NotMapped {
        pid,
        path: seen,
        offset: probe.file_offset,
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
    link.owned = usdt_ip.map(|entry| Box::new(entry) as Box<dyn Owned>);
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
    let bad = |source: UsdtError| AttachError::Usdt {
        path: binary.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(binary).map_err(|e| AttachError::Binary {
        path: binary.to_path_buf(),
        reason: e.to_string(),
    })?;
    let exe = Executable::parse(&bytes).map_err(|e| bad(e.into()))?;
    let probes: Vec<_> = usdt_probes(&exe)
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
        let fixed = exe.fixed_addresses().map_err(|e| bad(e.into()))?;
        let addresses = probes
            .iter()
            .map(|probe| probe_address(binary, probe, fixed, pid).map(Some))
            .collect::<Result<Vec<Option<u64>>, _>>()
            .map_err(|source| AttachError::UsdtAddress {
                program: prog.name().to_string(),
                probe: format!("{provider}:{name}"),
                path: binary.to_path_buf(),
                source: Box::new(source),
            })?;
        (Some(ips), addresses)
    };
    let mut links = Vec::with_capacity(probes.len());
    for (probe, address) in probes.iter().zip(addresses) {
        let args = probe.args().map_err(bad)?;
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
    use crate::elf::target::Executable;
    use crate::elf::usdt::usdt_probes;

    /// A probe in this test binary, declared as `<sys/sdt.h>`'s `STAP_PROBE1` would.
    #[inline(never)]
    fn probe_here(x: i64) {
        // SAFETY: one `nop` and a note in other sections (`stap_probe!`).
        unsafe { ebpf_testkit::stap_probe!("unit", "here", "8@{x}", x = in(reg) x) };
    }

    #[test]
    fn a_fixed_address_needs_no_process_and_a_moving_one_does() {
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
            probe_address(Path::new("/nonexistent"), &probe, true, None).unwrap(),
            0x401234
        );
        // ET_DYN: no process, no address.
        assert!(matches!(
            probe_address(Path::new("/nonexistent"), &probe, false, None),
            Err(ProbeAddressError::NeedsProcess)
        ));
        // A process that does not map the file.
        let pid = std::process::id();
        match probe_address(Path::new("/nonexistent"), &probe, false, Some(pid)) {
            Err(ProbeAddressError::NotMapped {
                pid: p,
                path,
                offset,
            }) => {
                assert_eq!(
                    (p, path.as_path(), offset),
                    (pid, Path::new("/nonexistent"), 0x1234)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn this_test_binarys_probe_is_at_its_address_in_memory() {
        probe_here(1);
        let path = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let exe = Executable::parse(&bytes).unwrap();
        let probe = usdt_probes(&exe)
            .unwrap()
            .into_iter()
            .find(|p| p.provider == "unit" && p.name == "here")
            .unwrap();
        let fixed = exe.fixed_addresses().unwrap();
        let address = probe_address(&path, &probe, fixed, Some(std::process::id())).unwrap();
        // SAFETY: the address is in this process's executable mapping of its own binary
        // (found in /proc/self/maps), which stays mapped; one byte is read.
        let byte = unsafe { std::ptr::read_volatile(address as usize as *const u8) };
        assert_eq!(byte, 0x90, "the probe's nop at {address:#x}");
    }
}
