//! The kernel's CPU lists: `/sys/devices/system/cpu/possible` (every CPU that can ever be
//! online: the size of per-CPU maps) and `/sys/devices/system/cpu/online` (the CPUs that
//! get a perf ring). The format is the kernel's `cpulist` (`Documentation/admin-guide/cputopology.rst`):
//! comma-separated numbers and ranges, `0-1`, `0,2-5`, with a trailing newline.

use std::fmt;

/// CPU numbers above this are refused: the kernel's `NR_CPUS` is at most 8192, and the cap
/// keeps a corrupt list from making us allocate a huge vector.
pub const MAX_CPU: u32 = 65_535;

/// Why a CPU list could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuListError {
    /// The file could not be read.
    Io {
        /// The file (`/sys/devices/system/cpu/online`).
        path: String,
        /// The I/O error.
        error: String,
    },
    /// An item is not a number or a range `a-b` with `a <= b`.
    BadItem {
        /// The item.
        item: String,
    },
    /// A CPU number above `MAX_CPU` (65,535).
    TooLarge {
        /// The CPU number.
        cpu: u64,
    },
    /// The list names no CPU.
    Empty,
}

impl fmt::Display for CpuListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuListError::Io { path, error } => write!(f, "reading {path}: {error}"),
            CpuListError::BadItem { item } => {
                write!(
                    f,
                    "bad CPU list item {item:?} (expected N or N-M with N <= M)"
                )
            }
            CpuListError::TooLarge { cpu } => {
                write!(f, "CPU number {cpu} is larger than {MAX_CPU}")
            }
            CpuListError::Empty => write!(f, "the CPU list is empty"),
        }
    }
}

impl std::error::Error for CpuListError {}

fn parse_cpu(s: &str, item: &str) -> Result<u32, CpuListError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CpuListError::BadItem {
            item: item.to_string(),
        });
    }
    let n: u64 = s
        .parse()
        .map_err(|_| CpuListError::TooLarge { cpu: u64::MAX })?;
    u32::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_CPU)
        .ok_or(CpuListError::TooLarge { cpu: n })
}

/// Parses a `cpulist` (`"0-1\n"`, `"0,2-5"`) into sorted, distinct CPU numbers.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, CpuListError> {
    let mut cpus = Vec::new();
    for item in text.trim().split(',') {
        let item = item.trim();
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (parse_cpu(a, item)?, parse_cpu(b, item)?),
            None => {
                let n = parse_cpu(item, item)?;
                (n, n)
            }
        };
        if first > last {
            return Err(CpuListError::BadItem {
                item: item.to_string(),
            });
        }
        // Bounded: every number is at most MAX_CPU.
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(CpuListError::Empty);
    }
    Ok(cpus)
}

fn read_cpu_list(path: &str) -> Result<Vec<u32>, CpuListError> {
    let text = std::fs::read_to_string(path).map_err(|e| CpuListError::Io {
        path: path.to_string(),
        error: e.to_string(),
    })?;
    parse_cpu_list(&text)
}

/// The possible CPUs: what a perf event array of `max_entries` 0 is sized to.
pub fn possible_cpus() -> Result<Vec<u32>, CpuListError> {
    read_cpu_list("/sys/devices/system/cpu/possible")
}

/// The online CPUs: those that get a perf ring.
pub fn online_cpus() -> Result<Vec<u32>, CpuListError> {
    read_cpu_list("/sys/devices/system/cpu/online")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1\n"), Ok(vec![0, 1]));
        assert_eq!(parse_cpu_list("0"), Ok(vec![0]));
        assert_eq!(parse_cpu_list("0,2-5"), Ok(vec![0, 2, 3, 4, 5]));
        assert_eq!(parse_cpu_list("4-5,0"), Ok(vec![0, 4, 5]));
        assert_eq!(parse_cpu_list("1,1"), Ok(vec![1]));
    }

    #[test]
    fn rejects_bad_lists() {
        let bad = |s: &str| CpuListError::BadItem {
            item: s.to_string(),
        };
        assert_eq!(parse_cpu_list(""), Err(bad("")));
        assert_eq!(parse_cpu_list("\n"), Err(bad("")));
        assert_eq!(parse_cpu_list("0,"), Err(bad("")));
        assert_eq!(parse_cpu_list("a"), Err(bad("a")));
        assert_eq!(parse_cpu_list("3-1"), Err(bad("3-1")));
        assert_eq!(parse_cpu_list("-1"), Err(bad("-1")));
        assert_eq!(parse_cpu_list("1-"), Err(bad("1-")));
        assert_eq!(parse_cpu_list("1-2-3"), Err(bad("1-2-3")));
        assert_eq!(parse_cpu_list("+1"), Err(bad("+1")));
        assert_eq!(
            parse_cpu_list("0-4294967295"),
            Err(CpuListError::TooLarge { cpu: 4294967295 })
        );
        assert_eq!(
            parse_cpu_list("70000"),
            Err(CpuListError::TooLarge { cpu: 70000 })
        );
        assert_eq!(
            parse_cpu_list("99999999999999999999999"),
            Err(CpuListError::TooLarge { cpu: u64::MAX })
        );
    }

    #[test]
    fn this_machine_has_cpu_0_online() {
        let online = online_cpus().unwrap();
        let possible = possible_cpus().unwrap();
        assert_eq!(online.first(), Some(&0));
        assert!(online.iter().all(|c| possible.contains(c)));
    }
}
