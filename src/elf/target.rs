//! The executable or shared library a uprobe or a USDT probe names: not ours, any file
//! the user points at, so read like any input (checked, typed errors, no panic).
//!
//! ABI: the ELF gABI (`include/uapi/linux/elf.h`), 32- or 64-bit, either byte order, read
//! through the `object` crate:
//! - `e_type`: `ET_EXEC` is mapped at the addresses it was linked at, `ET_DYN` (a shared
//!   library, a position-independent or static-pie executable) wherever the process puts it.
//! - The symbol tables (`.symtab`, else `.dynsym`): a function's `st_value` is its virtual
//!   address; the section holding it says where that address lies in the file
//!   (`sh_offset + st_value - sh_addr`), as libbpf's `elf_find_func_offset` computes the
//!   file offset the uprobe PMU takes (`kernel/trace/trace_event_perf.c`).
//! - The program headers (`PT_LOAD`: `p_vaddr`, `p_offset`, `p_filesz`): a virtual address
//!   inside a loaded segment is `p_offset + (vaddr - p_vaddr)` in the file.
//! - `/proc/PID/maps` (`Documentation/filesystems/proc.rst`): where a process mapped which
//!   part of a file, to turn a file offset back into an address in that process.
//!
//! Nothing here reads a file: the caller hands the bytes (the attach step reads them).

use std::fmt;
use std::path::Path;

use object::{Object, ObjectKind, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

/// Why an executable, or something asked of it, could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutableError {
    /// The bytes are not an ELF file `object` can read.
    NotElf(object::Error),
    /// Neither an executable nor a shared object (`e_type` is `ET_REL`, `ET_CORE`, ...).
    NotLinked,
    /// No defined function of that name in the symbol tables.
    NoFunction {
        /// The name looked up.
        symbol: String,
    },
    /// The function's symbol points outside the file bytes of its section (a `NOBITS`
    /// section, a corrupt `st_value` or `st_shndx`).
    FunctionNotInFile {
        /// The function.
        symbol: String,
        /// Its `st_value`.
        address: u64,
    },
    /// A section's bytes lie outside the file.
    Section {
        /// The section.
        name: &'static str,
        /// What `object` said.
        source: object::Error,
    },
}

impl fmt::Display for ExecutableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutableError::NotElf(_) => f.write_str("not an ELF file"),
            ExecutableError::NotLinked => {
                f.write_str("neither an executable nor a shared object (e_type)")
            }
            ExecutableError::NoFunction { symbol } => {
                write!(f, "no function {symbol} in the symbol tables")
            }
            ExecutableError::FunctionNotInFile { symbol, address } => write!(
                f,
                "function {symbol} at {address:#x} is outside the file bytes of its section"
            ),
            ExecutableError::Section { name, .. } => write!(f, "section {name}"),
        }
    }
}

impl std::error::Error for ExecutableError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecutableError::NotElf(source) | ExecutableError::Section { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// An executable or shared library, parsed: its symbols, segments and sections.
pub struct Executable<'data> {
    file: object::File<'data>,
}

impl fmt::Debug for Executable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executable")
            .field("kind", &self.file.kind())
            .field("is_64", &self.file.is_64())
            .finish_non_exhaustive()
    }
}

impl<'data> Executable<'data> {
    /// Reads the ELF headers of `bytes` (the rest is read on demand).
    pub fn parse(bytes: &'data [u8]) -> Result<Self, ExecutableError> {
        let file = object::File::parse(bytes).map_err(ExecutableError::NotElf)?;
        Ok(Executable { file })
    }

    /// Is the file mapped at the addresses it was linked at (`ET_EXEC`: `true`), or
    /// wherever the process put it (`ET_DYN`: `false`)?
    pub fn fixed_addresses(&self) -> Result<bool, ExecutableError> {
        match self.file.kind() {
            ObjectKind::Executable => Ok(true),
            ObjectKind::Dynamic => Ok(false),
            _ => Err(ExecutableError::NotLinked),
        }
    }

    /// 64-bit (`ELFCLASS64`) rather than 32-bit.
    pub fn is_64(&self) -> bool {
        self.file.is_64()
    }

    /// Little-endian (`ELFDATA2LSB`) rather than big-endian.
    pub fn is_little_endian(&self) -> bool {
        self.file.is_little_endian()
    }

    /// The file offset of function `symbol` (its `.symtab`, else its `.dynsym`): what the
    /// uprobe PMU takes.
    pub fn function_offset(&self, symbol: &str) -> Result<u64, ExecutableError> {
        let found = self
            .file
            .symbols()
            .chain(self.file.dynamic_symbols())
            .find(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.name() == Ok(symbol))
            .ok_or_else(|| ExecutableError::NoFunction {
                symbol: symbol.to_string(),
            })?;
        self.symbol_offset(symbol, &found)
    }

    /// Every defined function whose name matches the glob `pattern` ([`glob_match`]), with
    /// its file offset, in symbol table order, as libbpf's `elf_resolve_pattern_offsets`
    /// finds them for `uprobe.multi/BINARY:PATTERN`: `.symtab` first, and `.dynsym` only
    /// when `.symtab` has no match (so that a function in both is not probed twice).
    /// Empty when nothing matches.
    pub fn functions_matching(&self, pattern: &str) -> Result<Vec<(String, u64)>, ExecutableError> {
        for table in [
            self.file.symbols().collect::<Vec<_>>(),
            self.file.dynamic_symbols().collect(),
        ] {
            let mut found = Vec::new();
            for symbol in table {
                let Ok(name) = symbol.name() else { continue };
                if symbol.kind() != SymbolKind::Text
                    || !symbol.is_definition()
                    || !glob_match(name, pattern)
                {
                    continue;
                }
                found.push((name.to_string(), self.symbol_offset(name, &symbol)?));
            }
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// The file offset of function symbol `found` (named `symbol`, for errors).
    fn symbol_offset(
        &self,
        symbol: &str,
        found: &object::Symbol<'data, '_>,
    ) -> Result<u64, ExecutableError> {
        let outside = || ExecutableError::FunctionNotInFile {
            symbol: symbol.to_string(),
            address: found.address(),
        };
        let section = found
            .section_index()
            .and_then(|index| self.file.section_by_index(index).ok())
            .ok_or_else(outside)?;
        let (file_start, size) = section.file_range().ok_or_else(outside)?;
        let within = found
            .address()
            .checked_sub(section.address())
            .ok_or_else(outside)?;
        if within >= size {
            return Err(outside());
        }
        file_start.checked_add(within).ok_or_else(outside)
    }

    /// Where virtual address `vaddr` is in the file: inside the file bytes of a loaded
    /// segment (`PT_LOAD`), `p_offset + (vaddr - p_vaddr)`. `None` outside every one.
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.file.segments().find_map(|segment| {
            let (offset, size) = segment.file_range();
            let within = vaddr.checked_sub(segment.address())?;
            (within < size)
                .then(|| offset.checked_add(within))
                .flatten()
        })
    }

    /// The bytes and link-time address of section `name`; `Ok(None)` when there is none.
    pub fn section(
        &self,
        name: &'static str,
    ) -> Result<Option<(u64, &'data [u8])>, ExecutableError> {
        let Some(section) = self.file.section_by_name(name) else {
            return Ok(None);
        };
        let data = section
            .data()
            .map_err(|source| ExecutableError::Section { name, source })?;
        Ok(Some((section.address(), data)))
    }
}

/// Does `name` match the glob `pattern`? `*` matches any run of characters (none
/// included), `?` any one character, everything else itself: the globs of libbpf's
/// `glob_match` (`uprobe.multi/BINARY:PATTERN`, `kprobe.multi/PATTERN`), no classes, no
/// escapes.
pub fn glob_match(name: &str, pattern: &str) -> bool {
    let (name, pattern) = (name.as_bytes(), pattern.as_bytes());
    // Where the last `*` was, and where in `name` its match would end if it took one more.
    let mut star: Option<(usize, usize)> = None;
    let (mut n, mut p) = (0, 0);
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == name.get(n) => {
                n += 1;
                p += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again after it.
                Some((star_p, star_n)) => {
                    star = Some((star_p, star_n + 1));
                    n = star_n + 1;
                    p = star_p + 1;
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// The file offset of function `symbol` in the ELF file `elf`: [`Executable::parse`] then
/// [`Executable::function_offset`].
pub fn function_offset(elf: &[u8], symbol: &str) -> Result<u64, ExecutableError> {
    Executable::parse(elf)?.function_offset(symbol)
}

/// In the text of a `/proc/PID/maps` file, the address of file offset `offset` of `path`
/// in an executable mapping (`start-end perms offset dev inode path`), as libbpf's
/// `parse_vma_segs` finds it. `None` when no executable mapping of `path` holds it.
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
        let within = offset.checked_sub(map_offset)?;
        (executable && name == want && within < end.checked_sub(start)?)
            .then(|| start.checked_add(within))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_of_this_test_binary_is_found_at_its_file_offset() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let exe = Executable::parse(&bytes).unwrap();
        // `main` of the test harness: a defined function in every test executable.
        let offset = exe
            .function_offset("main")
            .expect("main in the symbol table");
        assert!(offset > 0 && (offset as usize) < bytes.len());
        assert_eq!(
            exe.function_offset("no_such_function_here"),
            Err(ExecutableError::NoFunction {
                symbol: "no_such_function_here".into()
            })
        );
        assert!(matches!(
            function_offset(b"not an elf file", "main"),
            Err(ExecutableError::NotElf(_))
        ));
        // Test binaries are position-independent here (Debian's default).
        assert!(exe.fixed_addresses().is_ok());
    }

    #[test]
    fn globs_match_as_libbpfs() {
        assert!(glob_match("tcp_connect", "tcp_*"));
        assert!(glob_match("tcp_connect", "*connect"));
        assert!(glob_match("tcp_connect", "*"));
        assert!(glob_match("tcp_connect", "tcp_conne?t"));
        assert!(glob_match("tcp_connect", "t*_*t"));
        assert!(glob_match("", "*"));
        assert!(glob_match("aab", "*ab"));
        assert!(!glob_match("tcp_connect", "udp_*"));
        assert!(!glob_match("tcp_connect", "tcp_connec"));
        assert!(!glob_match("tcp", "tcp?"));
        assert!(!glob_match("", "?"));
    }

    #[test]
    fn a_glob_finds_the_functions_of_this_test_binary() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let exe = Executable::parse(&bytes).unwrap();
        let found = exe.functions_matching("mai?").unwrap();
        let main = exe.function_offset("main").unwrap();
        assert!(found.contains(&("main".to_string(), main)), "{found:?}");
        assert!(found.iter().all(|(name, _)| name.len() == 4));
        assert_eq!(exe.functions_matching("no_such_function_*").unwrap(), []);
    }

    /// A minimal 64-bit little-endian ELF header of type `e_type` with one `PT_LOAD`
    /// segment (file bytes 0x1000..0x1800 at virtual address 0x401000).
    fn elf_with_segment(e_type: u16) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // ELFDATA2LSB
        elf[6] = 1; // EV_CURRENT
        elf[16..18].copy_from_slice(&e_type.to_le_bytes());
        elf[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = &mut elf[64..];
        ph[..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        ph[8..16].copy_from_slice(&0x1000u64.to_le_bytes()); // p_offset
        ph[16..24].copy_from_slice(&0x401000u64.to_le_bytes()); // p_vaddr
        ph[32..40].copy_from_slice(&0x800u64.to_le_bytes()); // p_filesz
        ph[40..48].copy_from_slice(&0x1000u64.to_le_bytes()); // p_memsz
        elf
    }

    #[test]
    fn the_program_headers_turn_addresses_into_file_offsets() {
        let bytes = elf_with_segment(2);
        let exe = Executable::parse(&bytes).unwrap();
        assert_eq!(exe.fixed_addresses(), Ok(true));
        assert_eq!(exe.file_offset(0x401000), Some(0x1000));
        assert_eq!(exe.file_offset(0x4017ff), Some(0x17ff));
        // Past p_filesz (in p_memsz: .bss), and below the segment: not in the file.
        assert_eq!(exe.file_offset(0x401800), None);
        assert_eq!(exe.file_offset(0x400fff), None);
        // A p_offset near the top of the address space: the sum overflows, no offset.
        let mut huge = bytes.clone();
        huge[64 + 8..64 + 16].copy_from_slice(&(u64::MAX - 0x10).to_le_bytes());
        let exe = Executable::parse(&huge).unwrap();
        assert_eq!(exe.file_offset(0x401000), Some(u64::MAX - 0x10));
        assert_eq!(exe.file_offset(0x401020), None);
        let dynamic = elf_with_segment(3);
        assert_eq!(
            Executable::parse(&dynamic).unwrap().fixed_addresses(),
            Ok(false)
        );
        let relocatable = elf_with_segment(1);
        assert_eq!(
            Executable::parse(&relocatable).unwrap().fixed_addresses(),
            Err(ExecutableError::NotLinked)
        );
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
        // A range that ends before it starts, or is empty: nothing.
        let odd =
            "2000-1000 r-xp 00000000 0:0 1 /a\nffffffffffffffff-ffffffffffffffff r-xp 0 0:0 1 /a\n";
        assert_eq!(address_in_maps(odd, Path::new("/a"), 0), None);
    }
}
