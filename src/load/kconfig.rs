//! The host's side of the externs: what libbpf reads from this machine before it
//! relocates (`bpf_object__read_kconfig_file`, `bpf_object__read_kallsyms_file` and
//! `get_kernel_version` in `tools/lib/bpf/libbpf.c`), handed to the pure half
//! (`elf::kconfig`, `elf::externs`), which computes the values.
//!
//! ABI: the kernel's release (`/proc/sys/kernel/osrelease`, what `uname -r` prints), its
//! config (`/boot/config-RELEASE`, else `/proc/config.gz`, gzip, with
//! `CONFIG_IKCONFIG_PROC`), and `/proc/kallsyms` (`address type name [module]`, addresses
//! 0 without `CAP_SYSLOG`).

use std::collections::HashMap;

use crate::btf::Btf;
use crate::elf::externs::{parse_kallsyms, ExternError, ExternKind, KsymKind, ModuleLookup};
use crate::elf::gunzip::gunzip;
use crate::elf::{KconfigInput, KconfigWarning, ObjectSpec};

/// The running kernel's config text, where libbpf looks for it: `/boot/config-RELEASE`,
/// then `/proc/config.gz` (gzip, decoded by [`gunzip`]).
pub fn read_kernel_config(release: &str) -> std::io::Result<String> {
    let boot = format!("/boot/config-{release}");
    let bytes = match std::fs::read(&boot) {
        Ok(bytes) => bytes,
        Err(_) => std::fs::read("/proc/config.gz")?,
    };
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&bytes).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("gzip: {e}"))
        })?
    } else {
        bytes
    };
    String::from_utf8(text)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "config is not UTF-8"))
}

impl KconfigInput {
    /// This machine's release (`uname -r`) and config text. The two feature flags are
    /// probes of the kernel (libbpf loads small programs to find out) and are left
    /// `false` here: the load step sets them.
    pub fn from_host() -> KconfigInput {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let config = read_kernel_config(&release).ok();
        KconfigInput {
            release,
            config,
            ..KconfigInput::default()
        }
    }
}

/// `/proc/kallsyms`, parsed (see [`parse_kallsyms`]). As root it has the addresses;
/// otherwise they read 0.
pub fn read_kallsyms() -> std::io::Result<HashMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/kallsyms")?;
    Ok(parse_kallsyms(&text))
}

impl ObjectSpec {
    /// Everything libbpf does for externs before relocation, against this machine: the
    /// `.kconfig` values from `input` ([`KconfigInput::from_host`] for this host), the
    /// `.ksyms` from `kernel` (its BTF) and, only when a typeless one needs it,
    /// `/proc/kallsyms`. A no-op for objects without externs. The load step calls it on
    /// a copy of the spec, then relocates.
    pub fn prepare_externs(
        &mut self,
        kernel: &Btf,
        input: &KconfigInput,
    ) -> Result<Vec<KconfigWarning>, ExternError> {
        self.prepare_externs_with(kernel, input, None)
    }

    /// [`ObjectSpec::prepare_externs`], with the kernel modules' BTF asked for what
    /// vmlinux lacks (see [`ObjectSpec::resolve_ksyms_with`]).
    pub fn prepare_externs_with(
        &mut self,
        kernel: &Btf,
        input: &KconfigInput,
        modules: Option<ModuleLookup<'_>>,
    ) -> Result<Vec<KconfigWarning>, ExternError> {
        if self.externs.is_empty() {
            return Ok(Vec::new());
        }
        let warnings = self.fill_kconfig(input)?;
        let typeless = self
            .externs
            .iter()
            .any(|e| e.kind == ExternKind::Ksym(KsymKind::Typeless) && e.value.is_none());
        let kallsyms = if typeless { read_kallsyms().ok() } else { None };
        self.resolve_ksyms_with(kernel, kallsyms.as_ref(), modules)?;
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_hosts_config_is_read_where_libbpf_reads_it() {
        let host = KconfigInput::from_host();
        assert!(
            crate::elf::kernel_version_code(&host.release).is_some(),
            "release {:?}",
            host.release
        );
        // Every kernel this loader runs on has BPF; its config, where there is one,
        // says so in the form libbpf parses.
        match &host.config {
            Some(config) => assert!(config.lines().any(|l| l == "CONFIG_BPF=y"), "CONFIG_BPF"),
            None => eprintln!("no /boot/config-{} nor /proc/config.gz here", host.release),
        }
        assert!(read_kernel_config("no-such-release").is_ok() == host_has_proc_config());
    }

    fn host_has_proc_config() -> bool {
        std::path::Path::new("/proc/config.gz").exists()
    }
}
