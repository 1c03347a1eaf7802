//! A tiny ELF64 writer: just enough to make relocatable eBPF objects by hand, broken in
//! exactly the way a test needs. ABI: the System V gABI's ELF64 (`Elf64_Ehdr`,
//! `Elf64_Shdr`, `Elf64_Sym`, `Elf64_Rel`), as in `include/uapi/linux/elf.h`; `EM_BPF` is
//! 247.
//!
//! Layout: the 64-byte header, the section contents (8-byte aligned), then the section
//! header table: the null section, the sections added, `.symtab`, `.strtab`, `.shstrtab`.
//! Code is given as bytes (the library's `insn::encode` makes them from instructions).

/// `sh_type`: contents given by the program.
pub const SHT_PROGBITS: u32 = 1;
/// `sh_type`: relocations without addends (`Elf64_Rel`).
pub const SHT_REL: u32 = 9;
/// `sh_type`: occupies no file space (`.bss`).
pub const SHT_NOBITS: u32 = 8;
/// `sh_flags`: writable.
pub const SHF_WRITE: u64 = 1;
/// `sh_flags`: occupies memory at run time.
pub const SHF_ALLOC: u64 = 2;
/// `sh_flags`: executable.
pub const SHF_EXECINSTR: u64 = 4;
/// Symbol binding: local.
pub const STB_LOCAL: u8 = 0;
/// Symbol binding: global.
pub const STB_GLOBAL: u8 = 1;
/// Symbol type: none.
pub const STT_NOTYPE: u8 = 0;
/// Symbol type: data.
pub const STT_OBJECT: u8 = 1;
/// Symbol type: function.
pub const STT_FUNC: u8 = 2;
/// Symbol type: a section.
pub const STT_SECTION: u8 = 3;

/// `sh_link` placeholder: replaced by the index of `.symtab`.
const LINK_SYMTAB: u32 = u32::MAX;

/// A section to write; its fields are public so that a test can break any of them.
pub struct Section {
    /// Its name, written to `.shstrtab`.
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// Its contents.
    pub data: Vec<u8>,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_size` when it is not the data's length (`.bss`, or a lie).
    pub size: Option<u64>,
    /// `sh_offset` when it is not where the data was written (a lie).
    pub offset: Option<u64>,
}

/// A symbol to write to `.symtab`.
pub struct Symbol {
    /// Its name, written to `.strtab`.
    pub name: String,
    /// `st_shndx`: the section it is in.
    pub shndx: u16,
    /// `st_value`: its byte offset in the section.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STB_*`.
    pub bind: u8,
    /// `STT_*`.
    pub st_type: u8,
}

/// An object being made: sections and symbols, written out by [`ElfWriter::write`].
pub struct ElfWriter {
    /// The sections, in section-table order after the null section.
    pub sections: Vec<Section>,
    /// The symbols, in `.symtab` order after the null symbol.
    pub symbols: Vec<Symbol>,
    /// `e_machine`: `EM_BPF` (247) unless a test says otherwise.
    pub machine: u16,
    /// `e_type`: `ET_REL` (1) unless a test says otherwise.
    pub e_type: u16,
}

impl Default for ElfWriter {
    fn default() -> Self {
        ElfWriter::new()
    }
}

impl ElfWriter {
    /// An empty relocatable eBPF object.
    pub fn new() -> ElfWriter {
        ElfWriter {
            sections: Vec::new(),
            symbols: Vec::new(),
            machine: 247,
            e_type: 1,
        }
    }

    /// Adds a section; returns its index in the section table.
    pub fn section(&mut self, name: &str, sh_type: u32, flags: u64, data: Vec<u8>) -> usize {
        self.sections.push(Section {
            name: name.to_string(),
            sh_type,
            flags,
            data,
            link: 0,
            info: 0,
            size: None,
            offset: None,
        });
        self.sections.len()
    }

    /// A code section (`PROGBITS`, alloc + exec) holding `code`, encoded instructions.
    pub fn code(&mut self, name: &str, code: &[u8]) -> usize {
        self.section(name, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, code.to_vec())
    }

    /// A data section (`PROGBITS`, alloc + write) holding `bytes`.
    pub fn data(&mut self, name: &str, bytes: &[u8]) -> usize {
        self.section(name, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, bytes.to_vec())
    }

    /// The section at index `index` (as returned by [`ElfWriter::section`]).
    pub fn get(&mut self, index: usize) -> &mut Section {
        &mut self.sections[index - 1]
    }

    /// Adds a symbol; returns its index in `.symtab`.
    pub fn symbol(
        &mut self,
        name: &str,
        shndx: usize,
        value: u64,
        size: u64,
        bind: u8,
        st_type: u8,
    ) -> u32 {
        self.symbols.push(Symbol {
            name: name.to_string(),
            shndx: shndx as u16,
            value,
            size,
            bind,
            st_type,
        });
        self.symbols.len() as u32
    }

    /// A global function symbol covering `insns` slots from slot `start`.
    pub fn function(&mut self, name: &str, section: usize, start: u64, insns: u64) -> u32 {
        self.symbol(name, section, start * 8, insns * 8, STB_GLOBAL, STT_FUNC)
    }

    /// `.rel<target>`: `(byte offset, symbol index, type)` records.
    pub fn rel(&mut self, target: usize, records: &[(u64, u32, u32)]) -> usize {
        let name = format!(".rel{}", self.sections[target - 1].name);
        let mut data = Vec::new();
        for &(offset, sym, r_type) in records {
            data.extend_from_slice(&offset.to_le_bytes());
            let info = (u64::from(sym) << 32) | u64::from(r_type);
            data.extend_from_slice(&info.to_le_bytes());
        }
        let index = self.section(&name, SHT_REL, 0, data);
        let section = self.get(index);
        section.link = LINK_SYMTAB;
        section.info = target as u32;
        index
    }

    /// The object file's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        let mut shstrtab = vec![0u8];
        let mut name_of = |name: &str| {
            let offset = shstrtab.len() as u32;
            shstrtab.extend_from_slice(name.as_bytes());
            shstrtab.push(0);
            offset
        };
        let symtab_index = self.sections.len() as u32 + 1;
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for symbol in &self.symbols {
            let name = strtab.len() as u32;
            strtab.extend_from_slice(symbol.name.as_bytes());
            strtab.push(0);
            symtab.extend_from_slice(&name.to_le_bytes());
            symtab.push((symbol.bind << 4) | symbol.st_type);
            symtab.push(0);
            symtab.extend_from_slice(&symbol.shndx.to_le_bytes());
            symtab.extend_from_slice(&symbol.value.to_le_bytes());
            symtab.extend_from_slice(&symbol.size.to_le_bytes());
        }

        // (name, type, flags, offset, size, link, info, entsize)
        let mut headers: Vec<[u64; 8]> = vec![[0; 8]];
        let place = |out: &mut Vec<u8>, data: &[u8]| {
            while out.len() % 8 != 0 {
                out.push(0);
            }
            let offset = out.len() as u64;
            out.extend_from_slice(data);
            offset
        };
        for section in &self.sections {
            let offset = if section.sh_type == SHT_NOBITS {
                out.len() as u64
            } else {
                place(&mut out, &section.data)
            };
            let link = if section.link == LINK_SYMTAB {
                symtab_index
            } else {
                section.link
            };
            headers.push([
                u64::from(name_of(&section.name)),
                u64::from(section.sh_type),
                section.flags,
                section.offset.unwrap_or(offset),
                section.size.unwrap_or(section.data.len() as u64),
                u64::from(link),
                u64::from(section.info),
                if section.sh_type == SHT_REL { 16 } else { 0 },
            ]);
        }
        let first_global = 1 + self
            .symbols
            .iter()
            .take_while(|s| s.bind == STB_LOCAL)
            .count() as u64;
        let offset = place(&mut out, &symtab);
        headers.push([
            u64::from(name_of(".symtab")),
            2,
            0,
            offset,
            symtab.len() as u64,
            u64::from(symtab_index + 1),
            first_global,
            24,
        ]);
        let offset = place(&mut out, &strtab);
        headers.push([
            u64::from(name_of(".strtab")),
            3,
            0,
            offset,
            strtab.len() as u64,
            0,
            0,
            0,
        ]);
        let shstrtab_name = name_of(".shstrtab");
        let offset = place(&mut out, &shstrtab);
        headers.push([
            u64::from(shstrtab_name),
            3,
            0,
            offset,
            shstrtab.len() as u64,
            0,
            0,
            0,
        ]);
        let shoff = place(&mut out, &[]);
        for [name, sh_type, flags, offset, size, link, info, entsize] in &headers {
            out.extend_from_slice(&(*name as u32).to_le_bytes());
            out.extend_from_slice(&(*sh_type as u32).to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
            out.extend_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(*link as u32).to_le_bytes());
            out.extend_from_slice(&(*info as u32).to_le_bytes());
            out.extend_from_slice(&8u64.to_le_bytes()); // sh_addralign
            out.extend_from_slice(&entsize.to_le_bytes());
        }

        let header = &mut out[..64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2; // ELFCLASS64
        header[5] = 1; // ELFDATA2LSB
        header[6] = 1; // EV_CURRENT
        header[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        header[18..20].copy_from_slice(&self.machine.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        header[40..48].copy_from_slice(&shoff.to_le_bytes());
        header[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        header[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        header[60..62].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        header[62..64].copy_from_slice(&((headers.len() - 1) as u16).to_le_bytes());
        out
    }
}
