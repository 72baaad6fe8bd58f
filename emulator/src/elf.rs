//! ELF loading for bare-metal guests: PT_LOAD segments at their physical addresses, the entry
//! point, and the symbols boards care about (HTIF's `tohost`/`fromhost`). Every field is checked
//! against the file's size: a truncated or garbled file is an error, never a panic.

use std::fmt;

pub const EM_RISCV: u16 = 243;
pub const EM_X86_64: u16 = 62;
pub const EM_386: u16 = 3;

#[derive(Debug)]
pub struct ElfError(pub String);

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError(msg.into()))
}

pub struct Segment<'a> {
    pub paddr: u64,
    pub data: &'a [u8],
    /// Size in memory; the bytes past `data` are zero.
    pub mem_size: u64,
}

pub struct Elf<'a> {
    pub machine: u16,
    pub class64: bool,
    pub entry: u64,
    pub segments: Vec<Segment<'a>>,
    file: &'a [u8],
    sections: Vec<Section>,
}

#[derive(Clone, Copy)]
struct Section {
    kind: u32,
    offset: u64,
    size: u64,
    link: u32,
    entsize: u64,
}

struct Reader<'a>(&'a [u8], bool);

impl Reader<'_> {
    fn bytes<const N: usize>(&self, off: u64) -> Result<[u8; N], ElfError> {
        let o = usize::try_from(off).map_err(|_| ElfError("offset out of range".into()))?;
        match self.0.get(o..o.saturating_add(N)) {
            Some(b) if b.len() == N => Ok(b.try_into().unwrap()),
            _ => err("file is truncated"),
        }
    }
    fn u16(&self, off: u64) -> Result<u16, ElfError> {
        Ok(u16::from_le_bytes(self.bytes(off)?))
    }
    fn u32(&self, off: u64) -> Result<u32, ElfError> {
        Ok(u32::from_le_bytes(self.bytes(off)?))
    }
    fn u64(&self, off: u64) -> Result<u64, ElfError> {
        Ok(u64::from_le_bytes(self.bytes(off)?))
    }
    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, off: u64) -> Result<u64, ElfError> {
        if self.1 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }
}

impl<'a> Elf<'a> {
    pub fn parse(file: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if file.len() < 16 || &file[..4] != b"\x7fELF" {
            return err("not an ELF file");
        }
        let class64 = match file[4] {
            1 => false,
            2 => true,
            _ => return err("unknown ELF class"),
        };
        if file[5] != 1 {
            return err("not a little-endian ELF file");
        }
        let r = Reader(file, class64);
        let kind = r.u16(16)?;
        if kind != 2 && kind != 3 {
            return err("not an executable ELF file");
        }
        let machine = r.u16(18)?;
        let (entry, phoff, shoff, rest) = if class64 {
            (r.u64(24)?, r.u64(32)?, r.u64(40)?, 52)
        } else {
            (
                u64::from(r.u32(24)?),
                u64::from(r.u32(28)?),
                u64::from(r.u32(32)?),
                40,
            )
        };
        let phentsize = u64::from(r.u16(rest + 2)?);
        let phnum = u64::from(r.u16(rest + 4)?);
        let shentsize = u64::from(r.u16(rest + 6)?);
        let shnum = u64::from(r.u16(rest + 8)?);
        let min_ph = if class64 { 56 } else { 32 };
        if phnum > 0 && phentsize < min_ph {
            return err("bad program header size");
        }
        let mut segments = Vec::new();
        for i in 0..phnum {
            let h = phoff + i * phentsize;
            if r.u32(h)? != 1 {
                continue; // not PT_LOAD
            }
            let (offset, paddr, filesz, memsz) = if class64 {
                (
                    r.u64(h + 8)?,
                    r.u64(h + 24)?,
                    r.u64(h + 32)?,
                    r.u64(h + 40)?,
                )
            } else {
                (
                    r.word(h + 4)?,
                    r.word(h + 12)?,
                    r.word(h + 16)?,
                    r.word(h + 20)?,
                )
            };
            if filesz > memsz {
                return err("segment file size exceeds its memory size");
            }
            let end = offset
                .checked_add(filesz)
                .filter(|&e| e <= file.len() as u64);
            let Some(end) = end else {
                return err("file is truncated (segment data)");
            };
            segments.push(Segment {
                paddr,
                data: &file[offset as usize..end as usize],
                mem_size: memsz,
            });
        }
        if segments.is_empty() {
            return err("no loadable segments");
        }
        let mut sections = Vec::new();
        let min_sh = if class64 { 64 } else { 40 };
        if shoff != 0 && shnum > 0 && shentsize >= min_sh {
            for i in 0..shnum {
                let h = shoff + i * shentsize;
                let s = if class64 {
                    Section {
                        kind: r.u32(h + 4)?,
                        offset: r.u64(h + 24)?,
                        size: r.u64(h + 32)?,
                        link: r.u32(h + 40)?,
                        entsize: r.u64(h + 56)?,
                    }
                } else {
                    Section {
                        kind: r.u32(h + 4)?,
                        offset: r.word(h + 16)?,
                        size: r.word(h + 20)?,
                        link: r.u32(h + 24)?,
                        entsize: r.word(h + 36)?,
                    }
                };
                sections.push(s);
            }
        }
        Ok(Elf {
            machine,
            class64,
            entry,
            segments,
            file,
            sections,
        })
    }

    /// The value of a symbol in .symtab, if the file has one with that name.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        let r = Reader(self.file, self.class64);
        let symtab = self.sections.iter().find(|s| s.kind == 2)?;
        let strtab = *self.sections.get(symtab.link as usize)?;
        let entsize = if symtab.entsize == 0 {
            if self.class64 {
                24
            } else {
                16
            }
        } else {
            symtab.entsize
        };
        for i in 0..symtab.size / entsize {
            let e = symtab.offset + i * entsize;
            let name_off = u64::from(r.u32(e).ok()?);
            let value = if self.class64 {
                r.u64(e + 8).ok()?
            } else {
                u64::from(r.u32(e + 4).ok()?)
            };
            let start = strtab.offset.checked_add(name_off)?;
            if start >= strtab.offset + strtab.size {
                continue;
            }
            let s = self
                .file
                .get(start as usize..(strtab.offset + strtab.size) as usize)?;
            let end = s.iter().position(|&b| b == 0)?;
            if &s[..end] == name.as_bytes() {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(Elf::parse(b"").is_err());
        assert!(Elf::parse(b"\x7fELF").is_err());
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[16] = 2;
        h[18] = 243;
        h[32] = 0xff; // phoff far beyond the file
        h[54] = 56;
        h[56] = 1;
        assert!(Elf::parse(&h).is_err());
        for len in 0..h.len() {
            let _ = Elf::parse(&h[..len]);
        }
    }
}
