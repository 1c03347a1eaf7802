//! Which Linux security modules the running kernel has active, for BPF LSM programs
//! (`lsm/HOOK`: `BPF_PROG_TYPE_LSM`, attach type `BPF_LSM_MAC`, 5.7), which run only where
//! "bpf" is one of them.
//!
//! ABI: securityfs's `lsm` file (4.15), the active modules in the order they were
//! initialised, comma-separated, no newline (`lockdown,capability,landlock,bpf`;
//! `security/inode.c`). The list is fixed at boot: the `lsm=` boot parameter, else the
//! kernel's `CONFIG_LSM` (`Documentation/admin-guide/LSM/index.rst`). A kernel built with
//! `CONFIG_BPF_LSM` but without "bpf" in that list loads and attaches LSM programs, but
//! never runs them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where securityfs is mounted.
pub const SECURITYFS: &str = "/sys/kernel/security";

/// Serialises mounting within this process.
static MOUNT_LOCK: Mutex<()> = Mutex::new(());

/// Why the active LSMs could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsmListError {
    /// The file, or the mount point.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for LsmListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the active LSMs ({}): {}",
            self.path.display(),
            self.reason
        )
    }
}

impl std::error::Error for LsmListError {}

/// Splits the `lsm` file's text into module names.
pub fn parse_lsm_list(text: &str) -> Vec<String> {
    text.trim()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// The active LSMs, in order, from `/sys/kernel/security/lsm`; securityfs is mounted
/// there first when it is not (which needs root), as [`crate::attach`] does for tracefs.
pub fn active_lsms() -> Result<Vec<String>, LsmListError> {
    let dir = Path::new(SECURITYFS);
    let file = dir.join("lsm");
    let read = |file: &Path| {
        std::fs::read_to_string(file)
            .map(|text| parse_lsm_list(&text))
            .map_err(|e| LsmListError {
                path: file.to_path_buf(),
                reason: e.to_string(),
            })
    };
    if file.exists() {
        return read(&file);
    }
    let _guard = MOUNT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !file.exists() {
        crate::syscall::mount_securityfs(dir).map_err(|error| LsmListError {
            path: dir.to_path_buf(),
            reason: format!(
                "securityfs is not mounted there, and mounting it failed (this needs root, \
                 and a kernel with CONFIG_SECURITY): {error}"
            ),
        })?;
    }
    read(&file)
}

/// Does the running kernel run BPF LSM programs ("bpf" among [`active_lsms`])?
pub fn bpf_lsm_active() -> Result<bool, LsmListError> {
    Ok(active_lsms()?.iter().any(|name| name == "bpf"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lsm_file_is_split_on_commas() {
        assert_eq!(
            parse_lsm_list("lockdown,capability,landlock,bpf"),
            ["lockdown", "capability", "landlock", "bpf"]
        );
        assert_eq!(parse_lsm_list("capability\n"), ["capability"]);
        assert!(parse_lsm_list("").is_empty());
    }
}
