//! Address translation (Sv39/Sv48/Sv57 with hardware A/D updates), the software TLBs, and the
//! load/store paths built on them. A TLB entry maps a virtual page straight to an offset in guest
//! RAM, so a hit costs one compare and one add; everything else (MMIO, page-crossing accesses,
//! stores to pages holding decoded code or the HTIF mailbox) takes the slow path.

use super::{cause, Hart, Priv, Trap};
use crate::bus::{Bus, PAGE_SIZE};

pub const TLB_SIZE: usize = 256;
const INVALID: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Fetch,
    Load,
    Store,
}

#[derive(Clone, Copy)]
pub struct TlbEntry {
    /// Virtual page number, or INVALID.
    pub tag: u64,
    /// RAM offset of the access = virtual address + addend (wrapping).
    pub addend: u64,
    /// For fetch entries: the decode-cache slot of the page.
    pub slot: u32,
}

const EMPTY: TlbEntry = TlbEntry {
    tag: INVALID,
    addend: 0,
    slot: 0,
};

/// One set of TLBs per privilege level, so trap entry and return need no flush.
#[derive(Clone)]
pub struct Tlb {
    pub fetch: [TlbEntry; TLB_SIZE],
    pub load: [TlbEntry; TLB_SIZE],
    pub store: [TlbEntry; TLB_SIZE],
}

impl Tlb {
    pub fn new() -> Self {
        Tlb {
            fetch: [EMPTY; TLB_SIZE],
            load: [EMPTY; TLB_SIZE],
            store: [EMPTY; TLB_SIZE],
        }
    }
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

const PTE_V: u64 = 1;
const PTE_R: u64 = 2;
const PTE_W: u64 = 4;
const PTE_X: u64 = 8;
const PTE_U: u64 = 16;
const PTE_A: u64 = 64;
const PTE_D: u64 = 128;
/// Bits 63:54 must be zero without Svpbmt/Svnapot.
const PTE_RESERVED: u64 = 0xffc0_0000_0000_0000;

pub const SATP_BARE: u64 = 0;
pub const SATP_SV39: u64 = 8;
pub const SATP_SV48: u64 = 9;
pub const SATP_SV57: u64 = 10;

fn page_fault(acc: Access, va: u64) -> Trap {
    let c = match acc {
        Access::Fetch => cause::INSN_PAGE,
        Access::Load => cause::LOAD_PAGE,
        Access::Store => cause::STORE_PAGE,
    };
    Trap::new(c, va)
}

pub fn access_fault(acc: Access, va: u64) -> Trap {
    let c = match acc {
        Access::Fetch => cause::INSN_ACCESS,
        Access::Load => cause::LOAD_ACCESS,
        Access::Store => cause::STORE_ACCESS,
    };
    Trap::new(c, va)
}

impl Hart {
    pub fn flush_tlb(&mut self) {
        for t in self.tlb.iter_mut() {
            t.fetch.fill(EMPTY);
            t.load.fill(EMPTY);
            t.store.fill(EMPTY);
        }
    }

    pub fn flush_fetch_tlb(&mut self) {
        for t in self.tlb.iter_mut() {
            t.fetch.fill(EMPTY);
        }
    }

    /// Drops store entries that point into RAM page `page` (it now holds decoded code, so
    /// stores to it must invalidate the decode cache).
    pub fn unmap_store_page(&mut self, page: u64) {
        for t in self.tlb.iter_mut() {
            for e in t.store.iter_mut() {
                if e.tag != INVALID && ((e.tag << 12).wrapping_add(e.addend)) >> 12 == page {
                    *e = EMPTY;
                }
            }
        }
    }

    /// Privilege used for loads and stores (MPRV makes M-mode use MPP's translation).
    pub fn data_priv(&self) -> Priv {
        if self.prv == Priv::M && self.mstatus & super::csr::MSTATUS_MPRV != 0 {
            Priv::from_bits(self.mstatus >> 11)
        } else {
            self.prv
        }
    }

    /// Recomputes which TLB set serves fetches and data accesses.
    pub fn update_tlb_ctx(&mut self) {
        self.fetch_ctx = self.prv as usize;
        self.data_ctx = self.data_priv() as usize;
    }

    /// Translates `va` for a `len`-byte access at the current privilege, walking the page
    /// table if needed, and checks the physical access against PMP. Sets `pmp_uniform` to
    /// whether the PMP decision holds for the whole physical page (only then may it be cached).
    pub fn translate(
        &mut self,
        bus: &mut Bus,
        va: u64,
        acc: Access,
        len: u64,
    ) -> Result<u64, Trap> {
        let pa = self.walk(bus, va, acc)?;
        let prv = if acc == Access::Fetch {
            self.prv
        } else {
            self.data_priv()
        };
        match self.pmp_check(pa, len, acc, prv) {
            Some(uniform) => {
                self.pmp_uniform = uniform;
                Ok(pa)
            }
            None => Err(access_fault(acc, va)),
        }
    }

    /// Whether a physical access is allowed by PMP: `Some(page_uniform)` or `None` (denied).
    /// With no active entry M-mode may access everything and S/U-mode nothing, as the
    /// privileged spec requires when PMP entries are implemented.
    pub fn pmp_check(&self, pa: u64, len: u64, acc: Access, prv: Priv) -> Option<bool> {
        if !self.pmp_active {
            return (prv == Priv::M).then_some(true);
        }
        let page_lo = pa & !(PAGE_SIZE - 1);
        let page_hi = page_lo + PAGE_SIZE;
        let end = pa.saturating_add(len);
        let mut uniform = true;
        for i in 0..self.pmp_end {
            let cfg = self.pmpcfg[i];
            let addr = self.pmpaddr[i];
            let (lo, hi) = match (cfg >> 3) & 3 {
                0 => continue,
                1 => (if i == 0 { 0 } else { self.pmpaddr[i - 1] << 2 }, addr << 2),
                2 => (addr << 2, (addr << 2) + 4),
                _ => {
                    let ones = addr.trailing_ones().min(54);
                    let size = 8u64 << ones;
                    let base = (addr << 2) & !(size - 1);
                    (base, base.saturating_add(size))
                }
            };
            if lo >= hi {
                continue;
            }
            let covers_page = lo <= page_lo && hi >= page_hi;
            if lo < page_hi && hi > page_lo && !covers_page {
                uniform = false;
            }
            if !(lo < end && hi > pa) {
                continue;
            }
            if lo > pa || end > hi {
                return None; // only part of the access matches: it fails
            }
            let allowed = if prv == Priv::M && cfg & 0x80 == 0 {
                true
            } else {
                let bit = match acc {
                    Access::Load => 1,
                    Access::Store => 2,
                    Access::Fetch => 4,
                };
                cfg & bit != 0
            };
            return allowed.then_some(uniform && covers_page);
        }
        (prv == Priv::M).then_some(uniform)
    }

    fn walk(&mut self, bus: &mut Bus, va: u64, acc: Access) -> Result<u64, Trap> {
        let prv = if acc == Access::Fetch {
            self.prv
        } else {
            self.data_priv()
        };
        let mode = self.satp >> 60;
        if prv == Priv::M || mode == SATP_BARE {
            return Ok(va);
        }
        let levels = match mode {
            SATP_SV39 => 3,
            SATP_SV48 => 4,
            _ => 5,
        };
        let va_bits = 12 + 9 * levels;
        // Virtual addresses must be sign-extensions of their top valid bit.
        let top = (va as i64) >> (va_bits - 1);
        if top != 0 && top != -1 {
            return Err(page_fault(acc, va));
        }
        let mut table = (self.satp & ((1 << 44) - 1)) << 12;
        let mut level = levels - 1;
        loop {
            let vpn = (va >> (12 + 9 * level)) & 0x1ff;
            let pte_addr = table + vpn * 8;
            // Page-table reads are S-mode accesses as far as PMP is concerned.
            let pmp_ok = self.pmp_check(pte_addr, 8, Access::Load, Priv::S).is_some();
            let Some(pte_off) = bus.ram.offset(pte_addr, 8).filter(|_| pmp_ok) else {
                return Err(access_fault(acc, va));
            };
            let pte = bus.ram.read::<8>(pte_off);
            if pte & PTE_V == 0 || (pte & PTE_R == 0 && pte & PTE_W != 0) || pte & PTE_RESERVED != 0
            {
                return Err(page_fault(acc, va));
            }
            let ppn = (pte >> 10) & ((1 << 44) - 1);
            if pte & (PTE_R | PTE_X) == 0 {
                // Non-leaf: A, D and U are reserved and must be zero.
                if level == 0 || pte & (PTE_A | PTE_D | PTE_U) != 0 {
                    return Err(page_fault(acc, va));
                }
                level -= 1;
                table = ppn << 12;
                continue;
            }
            let user = pte & PTE_U != 0;
            let ok_priv = match prv {
                Priv::U => user,
                _ => !user || (acc != Access::Fetch && self.mstatus & super::csr::MSTATUS_SUM != 0),
            };
            let mxr = self.mstatus & super::csr::MSTATUS_MXR != 0;
            let ok_perm = match acc {
                Access::Fetch => pte & PTE_X != 0,
                Access::Load => pte & PTE_R != 0 || (mxr && pte & PTE_X != 0),
                Access::Store => pte & PTE_W != 0,
            };
            if !ok_priv || !ok_perm {
                return Err(page_fault(acc, va));
            }
            let low_mask = (1u64 << (9 * level)) - 1;
            if ppn & low_mask != 0 {
                return Err(page_fault(acc, va)); // misaligned superpage
            }
            let want = PTE_A | if acc == Access::Store { PTE_D } else { 0 };
            if pte & want != want {
                let new = pte | want;
                bus.ram.write::<8>(pte_off, new);
                self.note_ram_write(pte_off, 8);
            }
            let page = (ppn | ((va >> 12) & low_mask)) << 12;
            return Ok(page | (va & (PAGE_SIZE - 1)));
        }
    }

    fn fill(&mut self, acc: Access, va: u64, pa: u64, bus: &Bus) {
        if !self.pmp_uniform {
            return;
        }
        let Some(off) = bus.ram.offset(pa & !(PAGE_SIZE - 1), PAGE_SIZE) else {
            return;
        };
        let vpn = va >> 12;
        let e = TlbEntry {
            tag: vpn,
            addend: (off as u64).wrapping_sub(vpn << 12),
            slot: 0,
        };
        let idx = (vpn as usize) & (TLB_SIZE - 1);
        match acc {
            Access::Load => self.tlb[self.data_ctx].load[idx] = e,
            Access::Store => {
                let page = off as u64 >> 12;
                if !self.icache.is_code(page) && !bus.is_watched_page(pa) {
                    self.tlb[self.data_ctx].store[idx] = e;
                }
            }
            Access::Fetch => {}
        }
    }

    /// Fetch-side lookup: the decode-cache slot and RAM offset of the page holding `pc`.
    #[inline(always)]
    pub fn fetch_page(&mut self, bus: &mut Bus) -> Result<(u32, u64), Trap> {
        let vpn = self.pc >> 12;
        let e = self.tlb[self.fetch_ctx].fetch[(vpn as usize) & (TLB_SIZE - 1)];
        if e.tag == vpn {
            return Ok((e.slot, (vpn << 12).wrapping_add(e.addend)));
        }
        self.fetch_page_slow(bus)
    }

    fn fetch_page_slow(&mut self, bus: &mut Bus) -> Result<(u32, u64), Trap> {
        let pa = self.translate(bus, self.pc, Access::Fetch, 2)?;
        let Some(off) = bus.ram.offset(pa & !(PAGE_SIZE - 1), PAGE_SIZE) else {
            return Err(access_fault(Access::Fetch, self.pc));
        };
        let page = off as u64 >> 12;
        let (slot, fresh) = self.icache.slot_for(page);
        if fresh {
            self.unmap_store_page(page);
        }
        if self.icache.take_flushed() {
            // The cache dropped every slot to bound its memory: no fetch entry may survive.
            self.flush_fetch_tlb();
        }
        if !self.pmp_uniform {
            // A PMP boundary inside the page: check every instruction's fetch.
            self.stop_at = 0;
            return Ok((slot, off as u64));
        }
        let vpn = self.pc >> 12;
        let e = TlbEntry {
            tag: vpn,
            addend: (off as u64).wrapping_sub(vpn << 12),
            slot,
        };
        self.tlb[self.fetch_ctx].fetch[(vpn as usize) & (TLB_SIZE - 1)] = e;
        Ok((slot, off as u64))
    }

    /// Keeps decoded code coherent with RAM after a write that bypassed the store TLB.
    #[inline]
    pub fn note_ram_write(&mut self, off: usize, len: usize) {
        self.icache.invalidate(off, len);
    }

    #[inline(always)]
    pub fn load<const N: usize>(&mut self, bus: &mut Bus, va: u64) -> Result<u64, Trap> {
        let vpn = va >> 12;
        let e = &self.tlb[self.data_ctx].load[(vpn as usize) & (TLB_SIZE - 1)];
        if e.tag == vpn && (va & 0xfff) as usize + N <= PAGE_SIZE as usize {
            return Ok(bus.ram.read::<N>(va.wrapping_add(e.addend) as usize));
        }
        self.load_slow::<N>(bus, va)
    }

    #[inline(never)]
    fn load_slow<const N: usize>(&mut self, bus: &mut Bus, va: u64) -> Result<u64, Trap> {
        let pa = self.translate(bus, va, Access::Load, N as u64)?;
        if (va & 0xfff) as usize + N <= PAGE_SIZE as usize {
            if let Some(off) = bus.ram.offset(pa, N as u64) {
                self.fill(Access::Load, va, pa, bus);
                return Ok(bus.ram.read::<N>(off));
            }
            if !pa.is_multiple_of(N as u64) {
                return Err(access_fault(Access::Load, va));
            }
            return bus
                .mmio_read(pa, N as u32)
                .ok_or(access_fault(Access::Load, va));
        }
        // Misaligned and crossing a page: both pages must translate, and both must be RAM.
        let first = (PAGE_SIZE - (va & 0xfff)) as usize;
        let va2 = va.wrapping_add(first as u64);
        let pa2 = self.translate(bus, va2, Access::Load, (N - first) as u64)?;
        let o1 = bus
            .ram
            .offset(pa, first as u64)
            .ok_or(access_fault(Access::Load, va))?;
        let o2 = bus
            .ram
            .offset(pa2, (N - first) as u64)
            .ok_or(access_fault(Access::Load, va2))?;
        let mut b = [0u8; 8];
        b[..first].copy_from_slice(&bus.ram.data[o1..o1 + first]);
        b[first..N].copy_from_slice(&bus.ram.data[o2..o2 + N - first]);
        Ok(u64::from_le_bytes(b))
    }

    #[inline(always)]
    pub fn store<const N: usize>(&mut self, bus: &mut Bus, va: u64, v: u64) -> Result<(), Trap> {
        let vpn = va >> 12;
        let e = &self.tlb[self.data_ctx].store[(vpn as usize) & (TLB_SIZE - 1)];
        if e.tag == vpn && (va & 0xfff) as usize + N <= PAGE_SIZE as usize {
            bus.ram.write::<N>(va.wrapping_add(e.addend) as usize, v);
            return Ok(());
        }
        self.store_slow::<N>(bus, va, v)
    }

    #[inline(never)]
    fn store_slow<const N: usize>(&mut self, bus: &mut Bus, va: u64, v: u64) -> Result<(), Trap> {
        let pa = self.translate(bus, va, Access::Store, N as u64)?;
        if (va & 0xfff) as usize + N <= PAGE_SIZE as usize {
            if let Some(off) = bus.ram.offset(pa, N as u64) {
                self.fill(Access::Store, va, pa, bus);
                bus.ram.write::<N>(off, v);
                self.note_ram_write(off, N);
                bus.after_ram_store(pa, N as u32);
                if bus.event.is_some() {
                    self.request_stop();
                }
                return Ok(());
            }
            self.sync_clock();
            if !pa.is_multiple_of(N as u64) || !bus.mmio_write(pa, N as u32, v) {
                return Err(access_fault(Access::Store, va));
            }
            // A device register changed: interrupt lines and machine events need a fresh look.
            self.request_stop();
            return Ok(());
        }
        let first = (PAGE_SIZE - (va & 0xfff)) as usize;
        let va2 = va.wrapping_add(first as u64);
        let pa2 = self.translate(bus, va2, Access::Store, (N - first) as u64)?;
        let o1 = bus
            .ram
            .offset(pa, first as u64)
            .ok_or(access_fault(Access::Store, va))?;
        let o2 = bus
            .ram
            .offset(pa2, (N - first) as u64)
            .ok_or(access_fault(Access::Store, va2))?;
        let b = v.to_le_bytes();
        bus.ram.data[o1..o1 + first].copy_from_slice(&b[..first]);
        bus.ram.data[o2..o2 + N - first].copy_from_slice(&b[first..N]);
        self.note_ram_write(o1, first);
        self.note_ram_write(o2, N - first);
        bus.after_ram_store(pa, first as u32);
        bus.after_ram_store(pa2, (N - first) as u32);
        Ok(())
    }

    /// Devices that read the clock (the CLINT's mtime) see the current instruction count.
    fn sync_clock(&mut self) {
        if let Some(c) = &self.clint {
            c.borrow_mut().clock.set_instructions(self.instret);
        }
    }

    /// Resolves an aligned atomic access to a RAM offset (atomics on MMIO are access faults).
    pub fn amo_offset<const N: usize>(
        &mut self,
        bus: &mut Bus,
        va: u64,
        acc: Access,
    ) -> Result<usize, Trap> {
        if !va.is_multiple_of(N as u64) {
            let c = if acc == Access::Load {
                cause::LOAD_MISALIGNED
            } else {
                cause::STORE_MISALIGNED
            };
            return Err(Trap::new(c, va));
        }
        let pa = self.translate(bus, va, acc, N as u64)?;
        let off = bus.ram.offset(pa, N as u64).ok_or(access_fault(acc, va))?;
        if acc == Access::Store {
            self.note_ram_write(off, N);
        }
        Ok(off)
    }
}
