//! A gzip reader, for `/proc/config.gz` (the only compressed input the loader reads;
//! libbpf uses zlib's `gzopen` for it).
//!
//! ABI: RFC 1952 (gzip member: header, DEFLATE data, CRC-32, size) and RFC 1951
//! (DEFLATE: stored, fixed-Huffman and dynamic-Huffman blocks). A straightforward
//! canonical-Huffman decoder, bit by bit, in the manner of zlib's `contrib/puff`: slow
//! next to zlib, fast enough for a 200 KB config read once. Every read is bounds-checked;
//! the output is capped at [`MAX_OUTPUT`]; the CRC-32 and size are checked.

use std::fmt;

/// The largest output accepted (a kernel config is ~300 KB).
pub const MAX_OUTPUT: usize = 64 << 20;

/// Why the data is not a gzip member this reader can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipError(
    /// What is wrong, in a few words.
    pub &'static str,
);

impl fmt::Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for GzipError {}

const FTEXT_HCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// The decompressed bytes of the first gzip member of `data`.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, GzipError> {
    let header = data
        .get(..10)
        .ok_or(GzipError("shorter than a gzip header"))?;
    if header[0] != 0x1f || header[1] != 0x8b {
        return Err(GzipError("no gzip magic"));
    }
    if header[2] != 8 {
        return Err(GzipError("compression method is not deflate"));
    }
    let flags = header[3];
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let len = data
            .get(pos..pos + 2)
            .ok_or(GzipError("truncated extra field"))?;
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = data.get(pos..).ok_or(GzipError("truncated header"))?;
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(GzipError("unterminated name"))?;
            pos += end + 1;
        }
    }
    if flags & FTEXT_HCRC != 0 {
        pos += 2;
    }
    let body = data.get(pos..).ok_or(GzipError("truncated header"))?;
    let mut inflater = Inflater {
        input: body,
        pos: 0,
        bit_buf: 0,
        bit_count: 0,
        out: Vec::new(),
    };
    inflater.run()?;
    let used = inflater.pos;
    let out = inflater.out;
    let trailer = body
        .get(used..used + 8)
        .ok_or(GzipError("no CRC-32 and size trailer"))?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if size != out.len() as u32 {
        return Err(GzipError("size in the trailer does not match"));
    }
    if crc != crc32(&out) {
        return Err(GzipError("CRC-32 does not match"));
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses it), bit by bit.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

struct Inflater<'a> {
    input: &'a [u8],
    /// Next byte to load into the bit buffer.
    pos: usize,
    bit_buf: u32,
    bit_count: u32,
    out: Vec<u8>,
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, GzipError> {
        let mut counts = [0u16; 16];
        for &l in lengths {
            *counts
                .get_mut(usize::from(l))
                .ok_or(GzipError("code length over 15"))? += 1;
        }
        counts[0] = 0;
        // Over-subscribed sets are invalid; incomplete ones are allowed (a single code).
        let mut left: i32 = 1;
        for &count in &counts[1..] {
            left = left * 2 - i32::from(count);
            if left < 0 {
                return Err(GzipError("over-subscribed Huffman code"));
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let slot = &mut offsets[usize::from(l)];
                if let Some(s) = symbols.get_mut(usize::from(*slot)) {
                    *s = symbol as u16;
                }
                *slot += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code-length code lengths are sent in.
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

impl Inflater<'_> {
    fn bits(&mut self, n: u32) -> Result<u32, GzipError> {
        while self.bit_count < n {
            let byte = *self
                .input
                .get(self.pos)
                .ok_or(GzipError("deflate data truncated"))?;
            self.pos += 1;
            self.bit_buf |= u32::from(byte) << self.bit_count;
            self.bit_count += 8;
        }
        let value = self.bit_buf & ((1u64 << n) - 1) as u32;
        self.bit_buf = if n >= 32 { 0 } else { self.bit_buf >> n };
        self.bit_count -= n;
        Ok(value)
    }

    fn decode(&mut self, code: &Huffman) -> Result<u16, GzipError> {
        let (mut value, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            value |= self.bits(1)? as i32;
            let count = i32::from(code.counts[len]);
            if value - count < first {
                let at = (index + value - first) as usize;
                return code
                    .symbols
                    .get(at)
                    .copied()
                    .ok_or(GzipError("bad Huffman code"));
            }
            index += count;
            first = (first + count) << 1;
            value <<= 1;
        }
        Err(GzipError("bad Huffman code"))
    }

    fn run(&mut self) -> Result<(), GzipError> {
        loop {
            let last = self.bits(1)? == 1;
            match self.bits(2)? {
                0 => self.stored()?,
                1 => {
                    let mut lengths = [0u8; 288];
                    lengths[..144].fill(8);
                    lengths[144..256].fill(9);
                    lengths[256..280].fill(7);
                    lengths[280..].fill(8);
                    let lit = Huffman::new(&lengths)?;
                    let dist = Huffman::new(&[5u8; 30])?;
                    self.codes(&lit, &dist)?;
                }
                2 => {
                    let (lit, dist) = self.dynamic_tables()?;
                    self.codes(&lit, &dist)?;
                }
                _ => return Err(GzipError("invalid block type 3")),
            }
            if last {
                // The trailer starts at the next whole byte.
                self.bit_buf = 0;
                self.bit_count = 0;
                return Ok(());
            }
        }
    }

    fn stored(&mut self) -> Result<(), GzipError> {
        self.bit_buf = 0;
        self.bit_count = 0;
        let header = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or(GzipError("stored block truncated"))?;
        let len = u16::from_le_bytes([header[0], header[1]]);
        let nlen = u16::from_le_bytes([header[2], header[3]]);
        if len != !nlen {
            return Err(GzipError("stored block length check failed"));
        }
        self.pos += 4;
        let data = self
            .input
            .get(self.pos..self.pos + usize::from(len))
            .ok_or(GzipError("stored block truncated"))?;
        if self.out.len() + data.len() > MAX_OUTPUT {
            return Err(GzipError("output larger than the limit"));
        }
        self.out.extend_from_slice(data);
        self.pos += usize::from(len);
        Ok(())
    }

    fn dynamic_tables(&mut self) -> Result<(Huffman, Huffman), GzipError> {
        let nlen = self.bits(5)? as usize + 257;
        let ndist = self.bits(5)? as usize + 1;
        let ncode = self.bits(4)? as usize + 4;
        if nlen > 286 || ndist > 30 {
            return Err(GzipError("too many length or distance codes"));
        }
        let mut clen = [0u8; 19];
        for &index in CLEN_ORDER.iter().take(ncode) {
            clen[index] = self.bits(3)? as u8;
        }
        let clen_code = Huffman::new(&clen)?;
        let mut lengths = vec![0u8; nlen + ndist];
        let mut i = 0;
        while i < nlen + ndist {
            let symbol = self.decode(&clen_code)?;
            let (value, repeat) = match symbol {
                0..=15 => (symbol as u8, 1),
                16 => {
                    let previous = *lengths
                        .get(i.wrapping_sub(1))
                        .filter(|_| i > 0)
                        .ok_or(GzipError("repeat with no previous length"))?;
                    (previous, 3 + self.bits(2)? as usize)
                }
                17 => (0, 3 + self.bits(3)? as usize),
                _ => (0, 11 + self.bits(7)? as usize),
            };
            if i + repeat > lengths.len() {
                return Err(GzipError("too many code lengths"));
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths.get(256) == Some(&0) {
            return Err(GzipError("no end-of-block code"));
        }
        Ok((
            Huffman::new(&lengths[..nlen])?,
            Huffman::new(&lengths[nlen..])?,
        ))
    }

    fn codes(&mut self, lit: &Huffman, dist: &Huffman) -> Result<(), GzipError> {
        loop {
            let symbol = self.decode(lit)?;
            match symbol {
                0..=255 => {
                    if self.out.len() >= MAX_OUTPUT {
                        return Err(GzipError("output larger than the limit"));
                    }
                    self.out.push(symbol as u8);
                }
                256 => return Ok(()),
                _ => {
                    let i = usize::from(symbol - 257);
                    let base = *LENGTH_BASE.get(i).ok_or(GzipError("bad length code"))?;
                    let extra = LENGTH_EXTRA.get(i).copied().unwrap_or(0);
                    let len = usize::from(base) + self.bits(u32::from(extra))? as usize;
                    let d = usize::from(self.decode(dist)?);
                    let base = *DIST_BASE.get(d).ok_or(GzipError("bad distance code"))?;
                    let extra = DIST_EXTRA.get(d).copied().unwrap_or(0);
                    let distance = usize::from(base) + self.bits(u32::from(extra))? as usize;
                    if distance > self.out.len() {
                        return Err(GzipError("distance before the start of the output"));
                    }
                    if self.out.len() + len > MAX_OUTPUT {
                        return Err(GzipError("output larger than the limit"));
                    }
                    let start = self.out.len() - distance;
                    for k in 0..len {
                        let byte = self.out[start + k];
                        self.out.push(byte);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_gzip_writes() {
        // `printf 'CONFIG_A=y\nCONFIG_A=y\n' | gzip -9n` (a dynamic... or fixed block).
        let text = b"CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_BPF=y\n".repeat(20);
        let Ok(out) = std::process::Command::new("gzip")
            .arg("-9nc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(&text)?;
                child.wait_with_output()
            })
        else {
            eprintln!("SKIPPED: no gzip");
            return;
        };
        assert_eq!(gunzip(&out.stdout).unwrap(), text);
    }

    #[test]
    fn stored_block_and_errors() {
        // A stored block by hand: header, block (final, stored), "abc", trailer.
        let mut data = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(&[1, 3, 0, 0xfc, 0xff]);
        data.extend_from_slice(b"abc");
        data.extend_from_slice(&crc32(b"abc").to_le_bytes());
        data.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(gunzip(&data).unwrap(), b"abc");
        let mut bad_crc = data.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert_eq!(gunzip(&bad_crc), Err(GzipError("CRC-32 does not match")));
        assert_eq!(
            gunzip(&data[..12]),
            Err(GzipError("stored block truncated"))
        );
        assert_eq!(
            gunzip(b"\x1f\x8b\x07"),
            Err(GzipError("shorter than a gzip header"))
        );
        // Every truncation is an error, never a panic.
        for end in 0..data.len() {
            assert!(gunzip(&data[..end]).is_err());
        }
    }

    #[test]
    fn this_hosts_config_matches_zcat() {
        let Ok(bytes) = std::fs::read("/proc/config.gz") else {
            eprintln!("SKIPPED: no /proc/config.gz");
            return;
        };
        let Ok(zcat) = std::process::Command::new("zcat")
            .arg("/proc/config.gz")
            .output()
        else {
            eprintln!("SKIPPED: no zcat");
            return;
        };
        assert_eq!(gunzip(&bytes).unwrap(), zcat.stdout);
    }
}
