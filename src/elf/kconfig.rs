//! Values for the `__kconfig` externs: what libbpf writes into the `.kconfig` map
//! (`bpf_object__resolve_externs` and `bpf_object__process_kconfig_line` in
//! `tools/lib/bpf/libbpf.c`).
//!
//! ABI: the kernel's config text (`CONFIG_NAME=value` lines, as `/proc/config.gz` and
//! `/boot/config-$(uname -r)` hold it: `y`/`n`/`m`, numbers, quoted strings; unset
//! options are absent or `# CONFIG_X is not set`), and libbpf's virtual `LINUX_*` externs.
//!
//! The rules, libbpf's:
//! - `LINUX_KERNEL_VERSION`: `KERNEL_VERSION(major, minor, min(patch, 255))` from the
//!   release (`6.1.0-18-amd64` -> 6.1.0). `LINUX_HAS_BPF_COOKIE`,
//!   `LINUX_HAS_SYSCALL_WRAPPER`: the results of feature probes of the kernel, given by
//!   the caller ([`KconfigInput`]). Another `LINUX_*` is 0 when `__weak`, an error when
//!   strong; a name with neither prefix is an error.
//! - `CONFIG_*` from the config text: `y`/`n`/`m` into a `bool` (y 1, n 0, m an error),
//!   an `enum libbpf_tristate` (n 0, y 1, m 2) or a `char` (the letter); a quoted string
//!   into a `char[N]` (truncated to N-1 bytes, NUL-terminated, with libbpf's warning: a
//!   [`KconfigWarning`]); anything else is an
//!   integer (decimal, `0x` hex, `0` octal) into an integer, `char` or `bool` (0 or 1)
//!   that must hold it.
//! - An extern nothing sets is 0 when `__weak`; a strong one is an error naming it.
//!
//! Pure: the host reads (the release, the config file, `/proc/kallsyms`) are the load
//! step's (`load::kconfig`), which hands the text in a [`KconfigInput`].

use std::collections::HashSet;

use super::externs::{ExternError, ExternKind, ExternProblem, KconfigType};
use super::{MapKind, ObjectSpec};

/// What the `.kconfig` values are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KconfigInput {
    /// `uname -r` (`6.18.0-1-amd64`), for `LINUX_KERNEL_VERSION`.
    pub release: String,
    /// libbpf's `FEAT_BPF_COOKIE` probe: `bpf_get_attach_cookie()` is available.
    pub has_bpf_cookie: bool,
    /// libbpf's `FEAT_SYSCALL_WRAPPER` probe: syscalls are entered through
    /// `__<arch>_sys_*` wrappers (`__x64_sys_bpf` can be kprobed).
    pub has_syscall_wrapper: bool,
    /// The kernel config text; `None` when it could not be read (then any `CONFIG_*`
    /// extern is an error, as in libbpf).
    pub config: Option<String>,
}

/// `KERNEL_VERSION(a, b, c)` of the first three numbers of a release string, as libbpf's
/// `get_kernel_version` reads `uname -r` (`sscanf("%u.%u.%u")`): `6.18.0-rc1` gives
/// `0x061200`; the patch level is capped at 255.
pub fn kernel_version_code(release: &str) -> Option<u32> {
    let mut parts = release.splitn(3, '.');
    let mut number = |last: bool| -> Option<u32> {
        let part = parts.next()?;
        let digits: &str = if last {
            let end = part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len());
            part.get(..end)?
        } else {
            part
        };
        digits.parse().ok()
    };
    let (major, minor, patch) = (number(false)?, number(false)?, number(true)?);
    if major > 255 || minor > 255 {
        return None;
    }
    Some((major << 16) + (minor << 8) + patch.min(255))
}

/// A config value libbpf takes with a warning (`set_kcfg_value_str`): a string longer
/// than its `char[N]` extern, cut to its first N-1 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KconfigWarning {
    /// The extern (`CONFIG_DEFAULT_HOSTNAME`).
    pub name: String,
    /// The value as the config text has it, quotes included.
    pub value: String,
    /// The string's length, quotes excluded.
    pub len: usize,
    /// The bytes kept (N-1; the last is the NUL).
    pub kept: usize,
}

impl std::fmt::Display for KconfigWarning {
    /// libbpf's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extern (kcfg) '{}': long string '{}' of ({} bytes) truncated to {} bytes",
            self.name, self.value, self.len, self.kept
        )
    }
}

impl ObjectSpec {
    /// Computes every `__kconfig` extern's value from `input` and writes them into the
    /// `.kconfig` map's initial bytes. Objects without one are left alone. Returns the
    /// values taken with a warning (strings cut to fit their array).
    pub fn fill_kconfig(
        &mut self,
        input: &KconfigInput,
    ) -> Result<Vec<KconfigWarning>, ExternError> {
        let mut warnings = Vec::new();
        let Some(map) = self.maps.iter().position(|m| m.kind == MapKind::Kconfig) else {
            return Ok(warnings);
        };
        let size = self.maps.get(map).map_or(0, |m| m.value_size as usize);
        let mut data = vec![0u8; size];
        let mut set = HashSet::new();
        // The virtual LINUX_* values first, then the config text.
        for ext in &self.externs {
            let ExternKind::Kconfig { .. } = ext.kind else {
                continue;
            };
            let fail = |problem| ExternError {
                name: ext.name.clone(),
                problem,
            };
            if ext.name.starts_with("CONFIG_") {
                continue;
            }
            let value = match ext.name.as_str() {
                "LINUX_KERNEL_VERSION" => {
                    u64::from(kernel_version_code(&input.release).ok_or_else(|| {
                        fail(ExternProblem::BadValue {
                            value: input.release.clone(),
                            reason: "no kernel version (MAJOR.MINOR.PATCH) in the release",
                        })
                    })?)
                }
                "LINUX_HAS_BPF_COOKIE" => u64::from(input.has_bpf_cookie),
                "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(input.has_syscall_wrapper),
                name if name.starts_with("LINUX_") && ext.weak => 0,
                name if name.starts_with("LINUX_") => {
                    return Err(fail(ExternProblem::UnknownVirtual))
                }
                _ => return Err(fail(ExternProblem::UnknownPrefix)),
            };
            set_number(&mut data, ext.kind, value, &value.to_string()).map_err(fail)?;
            set.insert(ext.name.clone());
        }
        let needs_config = self
            .externs
            .iter()
            .any(|e| matches!(e.kind, ExternKind::Kconfig { .. }) && e.name.starts_with("CONFIG_"));
        if needs_config {
            let Some(config) = input.config.as_deref() else {
                let first = self
                    .externs
                    .iter()
                    .find(|e| e.name.starts_with("CONFIG_"))
                    .map(|e| e.name.clone())
                    .unwrap_or_default();
                return Err(ExternError {
                    name: first,
                    problem: ExternProblem::BadValue {
                        value: String::new(),
                        reason: "the kernel config could not be read (/boot/config-RELEASE, /proc/config.gz)",
                    },
                });
            };
            for line in config.lines() {
                let Some((name, value)) = line.split_once('=') else {
                    continue;
                };
                if !name.starts_with("CONFIG_") || value.is_empty() || set.contains(name) {
                    continue;
                }
                let Some(ext) = self.externs.iter().find(|e| e.name == name) else {
                    continue;
                };
                let fail = |problem| ExternError {
                    name: ext.name.clone(),
                    problem,
                };
                if let Some((len, kept)) =
                    set_config_value(&mut data, ext.kind, value).map_err(fail)?
                {
                    warnings.push(KconfigWarning {
                        name: ext.name.clone(),
                        value: value.to_string(),
                        len,
                        kept,
                    });
                }
                set.insert(ext.name.clone());
            }
        }
        for ext in &self.externs {
            if matches!(ext.kind, ExternKind::Kconfig { .. })
                && !ext.weak
                && !set.contains(&ext.name)
            {
                return Err(ExternError {
                    name: ext.name.clone(),
                    problem: ExternProblem::Unresolved,
                });
            }
        }
        if let Some(map) = self.maps.get_mut(map) {
            map.initial = data;
        }
        Ok(warnings)
    }
}

fn bad(value: &str, reason: &'static str) -> ExternProblem {
    ExternProblem::BadValue {
        value: value.to_string(),
        reason,
    }
}

/// The bytes of a kconfig extern in `data`.
fn slot(data: &mut [u8], kind: ExternKind) -> Option<(&mut [u8], KconfigType)> {
    let ExternKind::Kconfig {
        ty, offset, size, ..
    } = kind
    else {
        return None;
    };
    let start = offset as usize;
    Some((data.get_mut(start..start.checked_add(size as usize)?)?, ty))
}

/// libbpf's `set_kcfg_value_num`.
fn set_number(
    data: &mut [u8],
    kind: ExternKind,
    value: u64,
    text: &str,
) -> Result<(), ExternProblem> {
    let (bytes, ty) = slot(data, kind).ok_or_else(|| bad(text, "outside the .kconfig map"))?;
    match ty {
        KconfigType::Int { .. } | KconfigType::Char { .. } => {}
        KconfigType::Bool if value <= 1 => {}
        KconfigType::Bool => return Err(bad(text, "not a boolean (0 or 1)")),
        _ => {
            return Err(bad(
                text,
                "a number for an extern that is no integer, char or bool",
            ))
        }
    }
    if bytes.is_empty() {
        return Err(bad(text, "the extern has no size"));
    }
    let bits = bytes.len() * 8;
    let fits = match ty {
        _ if bits >= 64 => true,
        KconfigType::Int { signed: true } | KconfigType::Char { signed: true } => {
            value.wrapping_add(1 << (bits - 1)) < (1 << bits)
        }
        _ => value >> bits == 0,
    };
    if !fits {
        return Err(bad(text, "does not fit the extern's size"));
    }
    let le = value.to_le_bytes();
    let n = bytes.len().min(8);
    bytes[..n].copy_from_slice(&le[..n]);
    Ok(())
}

/// One `CONFIG_X=value` into its extern (libbpf's `bpf_object__process_kconfig_line`).
/// `Some((length, bytes kept))` for a string cut to fit its array.
fn set_config_value(
    data: &mut [u8],
    kind: ExternKind,
    value: &str,
) -> Result<Option<(usize, usize)>, ExternProblem> {
    let first = value.as_bytes().first().copied().unwrap_or(0);
    match first {
        b'y' | b'n' | b'm' => {
            let (bytes, ty) =
                slot(data, kind).ok_or_else(|| bad(value, "outside the .kconfig map"))?;
            let v = match (ty, first) {
                (KconfigType::Bool, b'm') => {
                    return Err(bad(value, "'m' is a tristate or char value, not a bool"))
                }
                (KconfigType::Bool, c) => u8::from(c == b'y'),
                (KconfigType::Tristate, b'y') => 1,
                (KconfigType::Tristate, b'm') => 2,
                (KconfigType::Tristate, _) => 0,
                (KconfigType::Char { .. }, c) => c,
                _ => {
                    return Err(bad(
                        value,
                        "y/n/m for an extern that is no bool, tristate or char",
                    ))
                }
            };
            if let Some(first) = bytes.first_mut() {
                *first = v;
            }
            Ok(None)
        }
        b'"' => {
            let (bytes, ty) =
                slot(data, kind).ok_or_else(|| bad(value, "outside the .kconfig map"))?;
            if ty != KconfigType::CharArray {
                return Err(bad(value, "a string for an extern that is no char array"));
            }
            let inner = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| bad(value, "a string without its closing quote"))?;
            let n = inner.len().min(bytes.len().saturating_sub(1));
            bytes.fill(0);
            if let (Some(dst), Some(src)) = (bytes.get_mut(..n), inner.as_bytes().get(..n)) {
                dst.copy_from_slice(src);
            }
            Ok((n < inner.len()).then_some((inner.len(), n)))
        }
        _ => {
            let number = parse_c_u64(value).ok_or_else(|| bad(value, "not an integer"))?;
            if let Some((_, ty)) = slot(data, kind) {
                if !matches!(ty, KconfigType::Int { .. } | KconfigType::Char { .. }) {
                    return Err(bad(
                        value,
                        "an integer for an extern that is no integer or char",
                    ));
                }
            }
            set_number(data, kind, number, value).map(|()| None)
        }
    }
}

/// `strtoull(value, &end, 0)` that must use the whole text: decimal, `0x` hex, `0` octal,
/// a leading `-` wrapping as in C.
fn parse_c_u64(text: &str) -> Option<u64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{ExternSpec, MapSpec};

    /// An object with the given kconfig externs `(name, type, size, weak)`, laid out as
    /// the parser lays them out.
    fn object(externs: &[(&str, KconfigType, u32, bool)]) -> ObjectSpec {
        let mut list: Vec<ExternSpec> = externs
            .iter()
            .enumerate()
            .map(|(i, &(name, ty, size, weak))| ExternSpec {
                name: name.to_string(),
                kind: ExternKind::Kconfig {
                    ty,
                    offset: 0,
                    size,
                    align: if ty == KconfigType::CharArray {
                        1
                    } else {
                        size
                    },
                },
                weak,
                btf_id: i as u32 + 1,
                symbol: i + 1,
                value: None,
            })
            .collect();
        crate::elf::externs::sort_externs(&mut list);
        let mut end = 0u32;
        for e in &mut list {
            if let ExternKind::Kconfig {
                offset,
                size,
                align,
                ..
            } = &mut e.kind
            {
                *offset = end.div_ceil(*align) * *align;
                end = *offset + *size;
            }
        }
        ObjectSpec {
            name: "t".into(),
            sections: Vec::new(),
            license: String::new(),
            kernel_version: None,
            btf: None,
            btf_ext: None,
            maps: vec![MapSpec {
                name: "t.kconfig".into(),
                kind: MapKind::Kconfig,
                value_size: end,
                ..MapSpec::default()
            }],
            programs: Vec::new(),
            subprograms: Vec::new(),
            externs: list,
        }
    }

    /// The bytes of extern `name` after filling.
    fn value(spec: &ObjectSpec, name: &str) -> Vec<u8> {
        let ext = spec.externs.iter().find(|e| e.name == name).unwrap();
        let ExternKind::Kconfig { offset, size, .. } = ext.kind else {
            panic!()
        };
        spec.maps[0].initial[offset as usize..(offset + size) as usize].to_vec()
    }

    const CONFIG: &str = "# comment\nCONFIG_BPF=y\nCONFIG_MOD=m\n# CONFIG_OFF is not set\n\
        CONFIG_NO=n\nCONFIG_HZ=250\nCONFIG_HEX=0x10\nCONFIG_NEG=-2\n\
        CONFIG_NAME=\"debian kernel\"\nCONFIG_BIG=70000\n";

    fn input() -> KconfigInput {
        KconfigInput {
            release: "6.18.3-1-amd64".into(),
            has_bpf_cookie: true,
            has_syscall_wrapper: false,
            config: Some(CONFIG.into()),
        }
    }

    /// A char holds a number as its signedness allows (libbpf's `is_kcfg_value_in_range`).
    #[test]
    fn a_char_holds_numbers_by_its_signedness() {
        let signed = KconfigType::Char { signed: true };
        let mut spec = object(&[("CONFIG_NEG", signed, 1, false)]);
        spec.fill_kconfig(&input()).unwrap();
        assert_eq!(value(&spec, "CONFIG_NEG"), [0xfe]);
        let unsigned = KconfigType::Char { signed: false };
        let mut spec = object(&[("CONFIG_NEG", unsigned, 1, false)]);
        let err = spec.fill_kconfig(&input()).unwrap_err();
        assert_eq!(err.name, "CONFIG_NEG");
        assert_eq!(
            err.problem,
            ExternProblem::BadValue {
                value: "-2".into(),
                reason: "does not fit the extern's size"
            }
        );
    }

    #[test]
    fn every_kind_of_value_as_libbpf_writes_it() {
        use KconfigType::*;
        let mut spec = object(&[
            ("LINUX_KERNEL_VERSION", Int { signed: false }, 4, false),
            ("LINUX_HAS_BPF_COOKIE", Bool, 1, false),
            ("LINUX_HAS_SYSCALL_WRAPPER", Bool, 1, false),
            ("LINUX_FUTURE", Int { signed: false }, 8, true),
            ("CONFIG_BPF", Bool, 1, false),
            ("CONFIG_MOD", Tristate, 4, false),
            ("CONFIG_NO", Tristate, 4, false),
            ("CONFIG_HZ", Int { signed: false }, 2, false),
            ("CONFIG_HEX", Char { signed: false }, 1, false),
            ("CONFIG_NEG", Int { signed: true }, 4, false),
            ("CONFIG_NAME", CharArray, 7, false),
            ("CONFIG_OFF", Bool, 1, true),
            ("CONFIG_MISSING", Int { signed: false }, 8, true),
        ]);
        let warnings = spec.fill_kconfig(&input()).unwrap();
        // "debian kernel" in a char[7]: cut to 6 bytes and the NUL, with libbpf's warning.
        assert_eq!(
            warnings,
            [KconfigWarning {
                name: "CONFIG_NAME".into(),
                value: "\"debian kernel\"".into(),
                len: 13,
                kept: 6,
            }]
        );
        assert_eq!(
            warnings[0].to_string(),
            "extern (kcfg) 'CONFIG_NAME': long string '\"debian kernel\"' of (13 bytes) \
             truncated to 6 bytes"
        );
        assert_eq!(
            value(&spec, "LINUX_KERNEL_VERSION"),
            0x06_12_03u32.to_le_bytes()
        );
        assert_eq!(value(&spec, "LINUX_HAS_BPF_COOKIE"), [1]);
        assert_eq!(value(&spec, "LINUX_HAS_SYSCALL_WRAPPER"), [0]);
        assert_eq!(value(&spec, "LINUX_FUTURE"), [0; 8]);
        assert_eq!(value(&spec, "CONFIG_BPF"), [1]);
        assert_eq!(value(&spec, "CONFIG_MOD"), 2u32.to_le_bytes());
        assert_eq!(value(&spec, "CONFIG_NO"), 0u32.to_le_bytes());
        assert_eq!(value(&spec, "CONFIG_HZ"), 250u16.to_le_bytes());
        assert_eq!(value(&spec, "CONFIG_HEX"), [16]);
        assert_eq!(value(&spec, "CONFIG_NEG"), (-2i32).to_le_bytes());
        assert_eq!(value(&spec, "CONFIG_NAME"), *b"debian\0");
        assert_eq!(value(&spec, "CONFIG_OFF"), [0]);
        assert_eq!(value(&spec, "CONFIG_MISSING"), [0; 8]);
    }

    #[test]
    fn what_libbpf_refuses() {
        use KconfigType::*;
        let fails = |externs: &[(&str, KconfigType, u32, bool)], input: &KconfigInput| {
            let e = object(externs).fill_kconfig(input).unwrap_err();
            (e.name, e.problem)
        };
        let input = input();
        // A strong extern nothing sets names itself.
        assert_eq!(
            fails(&[("CONFIG_MISSING", Bool, 1, false)], &input),
            ("CONFIG_MISSING".into(), ExternProblem::Unresolved)
        );
        assert_eq!(
            fails(&[("LINUX_FUTURE", Bool, 1, false)], &input),
            ("LINUX_FUTURE".into(), ExternProblem::UnknownVirtual)
        );
        assert_eq!(
            fails(&[("OTHER", Bool, 1, true)], &input),
            ("OTHER".into(), ExternProblem::UnknownPrefix)
        );
        let bad = |value: &str, reason| ExternProblem::BadValue {
            value: value.into(),
            reason,
        };
        assert_eq!(
            fails(&[("CONFIG_MOD", Bool, 1, false)], &input).1,
            bad("m", "'m' is a tristate or char value, not a bool")
        );
        assert_eq!(
            fails(&[("CONFIG_BIG", Int { signed: false }, 2, false)], &input).1,
            bad("70000", "does not fit the extern's size")
        );
        assert_eq!(
            fails(&[("CONFIG_HZ", Bool, 1, false)], &input).1,
            bad("250", "an integer for an extern that is no integer or char")
        );
        assert_eq!(
            fails(&[("CONFIG_NAME", Int { signed: false }, 4, false)], &input).1,
            bad(
                "\"debian kernel\"",
                "a string for an extern that is no char array"
            )
        );
        let no_config = KconfigInput {
            config: None,
            ..input.clone()
        };
        assert!(matches!(
            fails(&[("CONFIG_BPF", Bool, 1, true)], &no_config).1,
            ExternProblem::BadValue { .. }
        ));
        let no_release = KconfigInput {
            release: "weird".into(),
            ..input
        };
        assert_eq!(
            fails(
                &[("LINUX_KERNEL_VERSION", Int { signed: false }, 4, false)],
                &no_release
            )
            .1,
            bad(
                "weird",
                "no kernel version (MAJOR.MINOR.PATCH) in the release"
            )
        );
    }

    #[test]
    fn kernel_versions_as_libbpf_reads_them() {
        assert_eq!(kernel_version_code("6.18.0-1-amd64"), Some(0x06_12_00));
        assert_eq!(kernel_version_code("5.4.300"), Some(0x05_04_ff));
        assert_eq!(kernel_version_code("6.1.0"), Some(0x06_01_00));
        assert_eq!(kernel_version_code("6.1"), None);
        assert_eq!(kernel_version_code("x.1.2"), None);
        assert_eq!(kernel_version_code(""), None);
    }

    #[test]
    fn c_integers() {
        assert_eq!(parse_c_u64("42"), Some(42));
        assert_eq!(parse_c_u64("0x1F"), Some(31));
        assert_eq!(parse_c_u64("010"), Some(8));
        assert_eq!(parse_c_u64("0"), Some(0));
        assert_eq!(parse_c_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_c_u64("12a"), None);
        assert_eq!(parse_c_u64(""), None);
    }
}
