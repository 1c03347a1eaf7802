//! The running kernel's BTF: `/sys/kernel/btf/vmlinux` (`CONFIG_DEBUG_INFO_BTF`, 5.4+),
//! or a file (raw BTF, or an ELF such as a `vmlinux` with a `.BTF` section) for a kernel
//! that does not publish its own.
//!
//! ABI: the sysfs file is raw BTF (`include/uapi/linux/btf.h`), documented in
//! `Documentation/ABI/testing/sysfs-kernel-btf`. Since 6.16 it can be mapped read-only
//! and private (`MAP_PRIVATE`, `PROT_READ`; a shared mapping is refused with EACCES):
//! the pages are the kernel's own, so mapping costs neither a copy nor page-cache memory.
//! Older kernels refuse mmap; the file is then read.
//!
//! The only I/O of the `btf` module is here: open, mmap or read. The name index is built
//! in the same pass that finds where each type starts (FUNCs, ~56k of the kernel's
//! types and never a CO-RE candidate, are indexed on the first FUNC lookup),
//! so CO-RE lookups never walk the ~127k types.

use super::{Btf, BtfError};
use object::{Object, ObjectSection};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// How the BTF bytes were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Mapped read-only from the file.
    Mapped,
    /// Read into memory (mmap refused, or an ELF whose `.BTF` was copied out).
    Read,
}

/// Why the kernel's BTF could not be loaded.
#[derive(Debug)]
pub enum KernelBtfError {
    /// The running kernel publishes no BTF.
    NotAvailable {
        /// The file that is missing.
        path: PathBuf,
    },
    /// The file could not be opened, mapped or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error of `open`, `mmap` or `read`.
        error: io::Error,
    },
    /// The file is an ELF without a `.BTF` section.
    NoBtfSection {
        /// The file.
        path: PathBuf,
    },
    /// The file is neither BTF nor ELF, or the ELF is malformed.
    NotBtf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The BTF in the file is malformed.
    Btf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: BtfError,
    },
}

impl fmt::Display for KernelBtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelBtfError::NotAvailable { path } => write!(
                f,
                "kernel BTF: {} does not exist (kernel built without CONFIG_DEBUG_INFO_BTF)",
                path.display()
            ),
            KernelBtfError::Io { path, .. } => write!(f, "kernel BTF: {}", path.display()),
            KernelBtfError::NoBtfSection { path } => {
                write!(
                    f,
                    "kernel BTF: {} is an ELF without a .BTF section",
                    path.display()
                )
            }
            KernelBtfError::NotBtf { path, reason } => {
                write!(f, "kernel BTF: {}: {reason}", path.display())
            }
            KernelBtfError::Btf { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

impl std::error::Error for KernelBtfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KernelBtfError::Io { error, .. } => Some(error),
            KernelBtfError::Btf { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The running kernel's BTF, from [`VMLINUX_BTF`].
pub fn load() -> Result<Btf, KernelBtfError> {
    let path = Path::new(VMLINUX_BTF);
    if !path.exists() {
        return Err(KernelBtfError::NotAvailable {
            path: path.to_path_buf(),
        });
    }
    load_file(path).map(|(btf, _)| btf)
}

/// BTF from `path`: raw BTF (mapped if the file allows it, else read) or an ELF with a
/// `.BTF` section. A mapped file must not be truncated while the `Btf` lives: reads past
/// the new end would fault (`SIGBUS`), the usual caveat of mapping a file.
pub fn load_file(path: &Path) -> Result<(Btf, Source), KernelBtfError> {
    let io_err = |error| KernelBtfError::Io {
        path: path.to_path_buf(),
        error,
    };
    let btf_err = |error| KernelBtfError::Btf {
        path: path.to_path_buf(),
        error,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut magic = [0u8; 4];
    let got = read_prefix(&mut file, &mut magic).map_err(io_err)?;
    let (btf, source) = if got >= 2 && magic[..2] == super::BTF_MAGIC.to_le_bytes() {
        match map(&file) {
            Some(m) => (Btf::parse_mapped(m).map_err(btf_err)?, Source::Mapped),
            None => {
                let bytes = std::fs::read(path).map_err(io_err)?;
                (Btf::parse(bytes).map_err(btf_err)?, Source::Read)
            }
        }
    } else if got == 4 && magic == *b"\x7fELF" {
        // A vmlinux is hundreds of MB: map it when possible and copy out only `.BTF`.
        let mapped = map(&file);
        let read;
        let bytes: &[u8] = match &mapped {
            Some(m) => m,
            None => {
                read = std::fs::read(path).map_err(io_err)?;
                &read
            }
        };
        let obj = object::File::parse(bytes).map_err(|e| KernelBtfError::NotBtf {
            path: path.to_path_buf(),
            reason: format!("not a valid ELF: {e}"),
        })?;
        let section = obj
            .section_by_name(".BTF")
            .ok_or_else(|| KernelBtfError::NoBtfSection {
                path: path.to_path_buf(),
            })?;
        let data = section.data().map_err(|e| KernelBtfError::NotBtf {
            path: path.to_path_buf(),
            reason: format!(".BTF section unreadable: {e}"),
        })?;
        (Btf::parse(data.to_vec()).map_err(btf_err)?, Source::Read)
    } else {
        return Err(KernelBtfError::NotBtf {
            path: path.to_path_buf(),
            reason: "neither raw BTF (magic 0xeB9F) nor an ELF file".into(),
        });
    };
    Ok((btf, source))
}

/// Reads up to `buf.len()` bytes from the start of the file.
fn read_prefix(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(buf.get_mut(got..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Maps the whole file private and read-only, or `None` if the file refuses (sysfs
/// before 6.16) or is empty.
fn map(file: &File) -> Option<memmap2::Mmap> {
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return None;
    }
    // SAFETY: the mapping is private and read-only; the file is either the kernel's
    // immutable BTF (sysfs) or a file the user gave: if another process truncated it
    // while mapped, reads could fault (SIGBUS), the usual caveat of mapping files, which
    // [`load_file`] documents. Nothing writes through this mapping.
    unsafe { memmap2::MmapOptions::new().map_copy_read_only(file) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::Kind;

    #[test]
    fn loads_the_running_kernels_btf() {
        if !Path::new(VMLINUX_BTF).exists() {
            eprintln!("skipped: {VMLINUX_BTF} does not exist");
            return;
        }
        let (btf, source) = load_file(Path::new(VMLINUX_BTF)).unwrap();
        eprintln!("{} types, {:?}", btf.len(), source);
        assert!(btf.len() > 10_000);
        let sock = btf.find_by_name_kind("sock", Kind::Struct).unwrap();
        assert_eq!(btf.type_by_id(sock).unwrap().name, "sock");
        assert!(btf.find_by_name_kind("task_struct", Kind::Struct).is_ok());
    }

    #[test]
    fn reads_an_elf_with_a_btf_section_and_rejects_others() {
        let obj = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/main.bpf.o");
        let (btf, source) = load_file(Path::new(obj)).unwrap();
        assert_eq!((btf.len(), source), (119, Source::Read));
        assert_eq!(btf.find_by_name_kind("sock", Kind::Struct), Ok(60));

        let dir = std::env::temp_dir().join(format!("btf-kernel-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Raw BTF in a regular file is mapped.
        let raw = dir.join("raw.btf");
        let built = crate::btf::tests::object_section(".BTF");
        std::fs::write(&raw, &built).unwrap();
        let (btf, source) = load_file(&raw).unwrap();
        assert_eq!((btf.len(), source), (119, Source::Mapped));
        assert_eq!(btf.as_bytes(), &built[..]);
        // Neither BTF nor ELF.
        let junk = dir.join("junk");
        std::fs::write(&junk, b"hello").unwrap();
        let err = load_file(&junk).unwrap_err();
        assert!(matches!(err, KernelBtfError::NotBtf { .. }), "{err}");
        // Truncated BTF.
        std::fs::write(&raw, &built[..30]).unwrap();
        let err = load_file(&raw).unwrap_err();
        assert!(
            matches!(
                err,
                KernelBtfError::Btf {
                    error: BtfError::SectionOutOfBounds { .. },
                    ..
                }
            ),
            "{err}"
        );
        // An ELF without .BTF (any system binary).
        let true_bin = Path::new("/bin/true");
        if true_bin.exists() {
            let err = load_file(true_bin).unwrap_err();
            assert!(matches!(err, KernelBtfError::NoBtfSection { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                "kernel BTF: /bin/true is an ELF without a .BTF section"
            );
        }
        // Missing file.
        let err = load_file(&dir.join("missing")).unwrap_err();
        assert!(matches!(err, KernelBtfError::Io { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            KernelBtfError::NotAvailable {
                path: VMLINUX_BTF.into()
            }
            .to_string(),
            "kernel BTF: /sys/kernel/btf/vmlinux does not exist (kernel built without CONFIG_DEBUG_INFO_BTF)"
        );
    }
}
