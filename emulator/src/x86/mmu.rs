//! Linear-to-physical translation: 32-bit, PAE and 4-level paging with the architectural
//! permission rules, accessed/dirty bits and page-fault error codes; a software TLB per
//! privilege class and access kind that maps straight to RAM offsets; and the slow paths for
//! page-crossing, MMIO and unmapped accesses.

use super::cpu::{Acc, Cpu, Exc, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, EFER_LMA, EFER_NXE, R};
use super::vec;

const TLB_N: usize = 512;
const INVALID: u64 = u64::MAX;
/// Physical address width (CPUID 0x80000008 reports the same).
pub const MAX_PHYS_BITS: u32 = 40;
const PHYS_MASK: u64 = ((1u64 << MAX_PHYS_BITS) - 1) & !0xfff;

#[derive(Clone, Copy)]
struct Entry {
    tag: u64,
    /// RAM offset of the page.
    off: usize,
    global: bool,
}

const EMPTY: Entry = Entry {
    tag: INVALID,
    off: 0,
    global: false,
};

/// Direct-mapped TLB: [user][access kind][index].
pub struct Tlb {
    e: Box<[[[Entry; TLB_N]; 3]; 2]>,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tlb {
    pub fn new() -> Self {
        Tlb {
            e: Box::new([[[EMPTY; TLB_N]; 3]; 2]),
        }
    }

    /// The RAM offset for an access of `n` bytes at `la` that stays within one page.
    #[inline(always)]
    pub fn lookup(&self, la: u64, n: usize, acc: Acc, user: bool) -> Option<usize> {
        let vpn = la >> 12;
        let e = &self.e[user as usize][acc as usize][vpn as usize & (TLB_N - 1)];
        let po = (la & 0xfff) as usize;
        (e.tag == vpn && po + n <= 4096).then_some(e.off + po)
    }

    fn insert(&mut self, la: u64, acc: Acc, user: bool, off: usize, global: bool) {
        let vpn = la >> 12;
        self.e[user as usize][acc as usize][vpn as usize & (TLB_N - 1)] = Entry {
            tag: vpn,
            off,
            global,
        };
    }

    /// Drops everything (CR0/CR4 paging changes), or all but global pages (CR3 writes).
    pub fn flush(&mut self, keep_global: bool) {
        for u in self.e.iter_mut() {
            for a in u.iter_mut() {
                for e in a.iter_mut() {
                    if !(keep_global && e.global) {
                        e.tag = INVALID;
                    }
                }
            }
        }
    }

    /// INVLPG.
    pub fn flush_page(&mut self, la: u64) {
        let vpn = la >> 12;
        for u in self.e.iter_mut() {
            for a in u.iter_mut() {
                let e = &mut a[vpn as usize & (TLB_N - 1)];
                if e.tag == vpn {
                    e.tag = INVALID;
                }
            }
        }
    }

    /// Removes write entries that point at RAM page offset `off` (it now holds decoded code).
    pub fn drop_writes_to(&mut self, off: usize) {
        for u in self.e.iter_mut() {
            for e in u[Acc::Write as usize].iter_mut() {
                if e.tag != INVALID && e.off == off {
                    e.tag = INVALID;
                }
            }
        }
    }
}

/// The result of a walk.
struct Walk {
    pa: u64,
    global: bool,
}

impl Cpu {
    fn pf(&mut self, la: u64, present: bool, acc: Acc, user: bool, rsvd: bool) -> Exc {
        let mut e = present as u32;
        if acc == Acc::Write {
            e |= 2;
        }
        if user {
            e |= 4;
        }
        if rsvd {
            e |= 8;
        }
        if acc == Acc::Fetch && self.efer & EFER_NXE != 0 && self.cr4 & CR4_PAE != 0 {
            e |= 16;
        }
        self.cr2 = la;
        Exc::with(vec::PF, e)
    }

    fn pt_read(&self, pa: u64, wide: bool) -> u64 {
        let n = if wide { 8 } else { 4 };
        match self.bus.ram.offset(pa, n) {
            Some(off) if wide => self.bus.ram.read::<8>(off),
            Some(off) => self.bus.ram.read::<4>(off),
            None => 0,
        }
    }

    fn pt_set_bits(&mut self, pa: u64, old: u64, bits: u64) {
        if old & bits == bits {
            return;
        }
        // A/D are in the low word for both entry widths.
        if let Some(off) = self.bus.ram.offset(pa, 4) {
            let v = self.bus.ram.read::<4>(off) | bits;
            self.bus.ram.write::<4>(off, v);
            self.blocks_note_write(off, 4);
        }
    }

    /// Walks the page tables for `la`. Permission failures and missing entries become #PF.
    fn walk(&mut self, la: u64, acc: Acc, user: bool) -> R<Walk> {
        let wp = self.cr0 & CR0_WP != 0;
        let nxe = self.efer & EFER_NXE != 0;
        let pge = self.cr4 & CR4_PGE != 0;
        let write = acc == Acc::Write;
        // Entries visited, so A (and D) can be set once the access is known to be allowed.
        let mut visited: [(u64, u64); 4] = [(0, 0); 4];
        let mut nv = 0;
        let (mut rw, mut us, mut nx) = (true, true, false);
        let leaf_pa;
        let leaf;

        if self.cr4 & CR4_PAE == 0 {
            // 32-bit paging.
            let la32 = la & 0xffff_ffff;
            let pde_addr = (self.cr3 & 0xffff_f000) + ((la32 >> 22) << 2);
            let pde = self.pt_read(pde_addr, false);
            if pde & 1 == 0 {
                return Err(self.pf(la, false, acc, user, false));
            }
            rw &= pde & 2 != 0;
            us &= pde & 4 != 0;
            visited[nv] = (pde_addr, pde);
            nv += 1;
            if pde & 0x80 != 0 && self.cr4 & CR4_PSE != 0 {
                if pde & (1 << 21) != 0 {
                    return Err(self.pf(la, true, acc, user, true));
                }
                let hi = ((pde >> 13) & 0xff) << 32;
                leaf_pa = (pde & 0xffc0_0000) | hi | (la32 & 0x3f_ffff);
                leaf = pde;
            } else {
                let pte_addr = (pde & 0xffff_f000) + (((la32 >> 12) & 0x3ff) << 2);
                let pte = self.pt_read(pte_addr, false);
                if pte & 1 == 0 {
                    return Err(self.pf(la, false, acc, user, false));
                }
                rw &= pte & 2 != 0;
                us &= pte & 4 != 0;
                visited[nv] = (pte_addr, pte);
                nv += 1;
                leaf_pa = (pte & 0xffff_f000) | (la32 & 0xfff);
                leaf = pte;
            }
        } else {
            let long = self.efer & EFER_LMA != 0;
            let rsvd_hi = !((1u64 << MAX_PHYS_BITS) - 1) & 0x7fff_f000_0000_0000
                | if nxe { 0 } else { 1 << 63 };
            let mut table;
            let mut level;
            if long {
                table = self.cr3 & PHYS_MASK;
                level = 4;
            } else {
                let pdpte_addr = (self.cr3 & 0xffff_ffe0) + (((la >> 30) & 3) << 3);
                let pdpte = self.pt_read(pdpte_addr, true);
                if pdpte & 1 == 0 {
                    return Err(self.pf(la, false, acc, user, false));
                }
                table = pdpte & PHYS_MASK;
                level = 2;
            }
            loop {
                let shift = 12 + 9 * (level - 1);
                let addr = table + (((la >> shift) & 0x1ff) << 3);
                let e = self.pt_read(addr, true);
                if e & 1 == 0 {
                    return Err(self.pf(la, false, acc, user, false));
                }
                let large = e & 0x80 != 0;
                let mut bad = e & rsvd_hi != 0;
                if level == 4 && large {
                    bad = true;
                }
                if large && level >= 2 {
                    // Bits 13..shift-1 of a large page's address are reserved.
                    let rmask = ((1u64 << shift) - 1) & !0x1fff;
                    bad |= e & rmask != 0;
                    if level == 3 && !long {
                        bad = true;
                    }
                }
                if bad {
                    return Err(self.pf(la, true, acc, user, true));
                }
                rw &= e & 2 != 0;
                us &= e & 4 != 0;
                nx |= nxe && e & (1 << 63) != 0;
                visited[nv] = (addr, e);
                nv += 1;
                if level == 1 || large {
                    let pmask = (1u64 << shift) - 1;
                    leaf_pa = (e & PHYS_MASK & !pmask) | (la & pmask);
                    leaf = e;
                    break;
                }
                table = e & PHYS_MASK;
                level -= 1;
            }
        }

        let ok = match acc {
            Acc::Read => !user || us,
            Acc::Write => (!user || us) && (rw || (!user && !wp)),
            Acc::Fetch => (!user || us) && !nx,
        };
        if !ok {
            return Err(self.pf(la, true, acc, user, false));
        }
        // Accessed bits on every level, dirty on the leaf for writes.
        let last = nv - 1;
        for (i, &(addr, e)) in visited[..nv].iter().enumerate() {
            let bits = if i == last && write { 0x60 } else { 0x20 };
            self.pt_set_bits(addr, e, bits);
        }
        Ok(Walk {
            pa: leaf_pa,
            global: pge && leaf & 0x100 != 0,
        })
    }

    /// Translates a linear address, filling the TLB when the page is ordinary RAM.
    pub fn translate(&mut self, la: u64, acc: Acc, user: bool) -> R<u64> {
        let w = if self.cr0 & CR0_PG == 0 {
            Walk {
                pa: if self.efer & EFER_LMA != 0 {
                    la
                } else {
                    la & 0xffff_ffff
                },
                global: false,
            }
        } else {
            self.walk(la, acc, user)?
        };
        let page = w.pa & !0xfff;
        if let Some(off) = self.bus.ram.offset(page, 4096) {
            if acc == Acc::Write && self.blocks.is_code(off) {
                // Later writes to this page go through the TLB unchecked: forget its decoded
                // code first (it is decoded again, and write-protected again, when run).
                self.blocks.invalidate_page(off);
                self.block_exit = true;
            }
            self.tlb.insert(la, acc, user, off, w.global);
        }
        Ok(w.pa)
    }

    /// Physical read of `out.len()` bytes that may hit RAM, MMIO or nothing.
    fn phys_read(&mut self, pa: u64, out: &mut [u8]) {
        if let Some(off) = self.bus.ram.offset(pa, out.len() as u64) {
            out.copy_from_slice(&self.bus.ram.data[off..off + out.len()]);
            return;
        }
        let n = out.len();
        if matches!(n, 1 | 2 | 4 | 8) {
            if let Some(v) = self.bus.mmio_read(pa, n as u32) {
                out.copy_from_slice(&v.to_le_bytes()[..n]);
                return;
            }
        }
        for (i, b) in out.iter_mut().enumerate() {
            let a = pa + i as u64;
            *b = match self.bus.ram.offset(a, 1) {
                Some(off) => self.bus.ram.data[off],
                None => self.bus.mmio_read(a, 1).map_or(0xff, |v| v as u8),
            };
        }
    }

    fn phys_write(&mut self, pa: u64, data: &[u8]) {
        if let Some(off) = self.bus.ram.offset(pa, data.len() as u64) {
            self.bus.ram.data[off..off + data.len()].copy_from_slice(data);
            self.blocks_note_write(off, data.len());
            return;
        }
        let n = data.len();
        if matches!(n, 1 | 2 | 4 | 8) {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(data);
            if self.bus.mmio_write(pa, n as u32, u64::from_le_bytes(b)) {
                return;
            }
        }
        for (i, &b) in data.iter().enumerate() {
            let a = pa + i as u64;
            if let Some(off) = self.bus.ram.offset(a, 1) {
                self.bus.ram.data[off] = b;
                self.blocks_note_write(off, 1);
            } else {
                self.bus.mmio_write(a, 1, u64::from(b));
            }
        }
    }

    /// A RAM write that did not go through the TLB: drop decoded code it overwrites.
    #[inline]
    pub(crate) fn blocks_note_write(&mut self, off: usize, len: usize) {
        let first = off >> 12;
        let last = (off + len.max(1) - 1) >> 12;
        for p in first..=last {
            if self.blocks.is_code(p << 12) {
                self.blocks.invalidate_page(p << 12);
                self.block_exit = true;
            }
        }
    }

    /// Splits [la, la+len) at page boundaries and translates each piece.
    fn pieces(&mut self, la: u64, len: usize, acc: Acc, user: bool) -> R<[(u64, usize); 2]> {
        let first = (4096 - (la & 0xfff) as usize).min(len);
        let pa0 = self.translate(la, acc, user)?;
        if first == len {
            return Ok([(pa0, len), (0, 0)]);
        }
        let la1 = la.wrapping_add(first as u64);
        let la1 = if self.mode == super::Mode::Long64 {
            la1
        } else {
            la1 & 0xffff_ffff
        };
        let pa1 = self.translate(la1, acc, user)?;
        Ok([(pa0, first), (pa1, len - first)])
    }

    pub(crate) fn read_bytes_as(&mut self, la: u64, out: &mut [u8], user: bool) -> R<()> {
        self.read_bytes_checked_as(la, out, user, Acc::Read)
    }

    /// Reads bytes with the pages translated for `acc` (Write for read-modify-write).
    pub(crate) fn read_bytes_checked_as(
        &mut self,
        la: u64,
        out: &mut [u8],
        user: bool,
        acc: Acc,
    ) -> R<()> {
        if out.len() > 4096 {
            for (i, chunk) in out.chunks_mut(4096).enumerate() {
                self.read_bytes_checked_as(la.wrapping_add(i as u64 * 4096), chunk, user, acc)?;
            }
            return Ok(());
        }
        let p = self.pieces(la, out.len(), acc, user)?;
        let (a, b) = out.split_at_mut(p[0].1);
        self.phys_read(p[0].0, a);
        if p[1].1 > 0 {
            self.phys_read(p[1].0, b);
        }
        Ok(())
    }

    #[inline(never)]
    pub(crate) fn read_slow(&mut self, la: u64, n: usize, user: bool) -> R<u64> {
        let mut b = [0u8; 8];
        self.read_bytes_as(la, &mut b[..n], user)?;
        Ok(u64::from_le_bytes(b))
    }

    #[inline(never)]
    pub(crate) fn write_slow(&mut self, la: u64, data: &[u8], user: bool) -> R<()> {
        if data.len() > 4096 {
            // Check every page before writing anything.
            let mut a = la;
            let end = la.wrapping_add(data.len() as u64);
            while a != end && a.wrapping_sub(la) < data.len() as u64 {
                self.translate(a, Acc::Write, user)?;
                a = (a | 0xfff).wrapping_add(1);
            }
            for (i, chunk) in data.chunks(4096).enumerate() {
                self.write_slow(la.wrapping_add(i as u64 * 4096), chunk, user)?;
            }
            return Ok(());
        }
        let p = self.pieces(la, data.len(), Acc::Write, user)?;
        let (a, b) = data.split_at(p[0].1);
        self.phys_write(p[0].0, a);
        if p[1].1 > 0 {
            self.phys_write(p[1].0, b);
        }
        Ok(())
    }

    /// Instruction bytes at `la` for decoding: up to `out.len()` bytes but never past the end
    /// of the page, so a short instruction before an unmapped page does not fault. Returns the
    /// count and the physical address of `la`.
    pub(crate) fn fetch_page_bytes(&mut self, la: u64, out: &mut [u8]) -> R<(usize, u64)> {
        let user = self.cpl == 3;
        let pa = match self.tlb.lookup(la, 1, Acc::Fetch, user) {
            Some(off) => off as u64 + self.bus.ram.base,
            None => self.translate(la, Acc::Fetch, user)?,
        };
        let n = (4096 - (la & 0xfff) as usize).min(out.len());
        self.phys_read(pa, &mut out[..n]);
        Ok((n, pa))
    }

    /// Paging configuration changed (CR0.PG/WP, CR4.PAE/PSE/PGE, EFER.NXE): nothing cached
    /// is valid.
    pub fn flush_tlb_all(&mut self) {
        self.tlb.flush(false);
        self.block_exit = true;
    }

    /// CR3 written: drop all but global translations.
    pub fn flush_tlb_cr3(&mut self) {
        self.tlb.flush(self.cr4 & CR4_PGE != 0);
        self.block_exit = true;
    }
}
