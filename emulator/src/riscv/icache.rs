//! The decode cache: every RAM page that has been executed from gets a slot of decoded
//! instructions, one per halfword, filled lazily. A write to such a page resets the entries it
//! may have changed, so the cache is always coherent with RAM (fence.i has nothing left to do).

use super::decode::Insn;
use std::collections::HashMap;

pub const SLOT_INSNS: usize = 2048;
/// Bound on decoded pages (each is 24 KiB); past it the whole cache is dropped and refilled.
const MAX_SLOTS: usize = 8192;

pub struct ICache {
    /// Slot s holds entries[s * SLOT_INSNS..(s + 1) * SLOT_INSNS]: one flat array, so a fetch
    /// is a single indexed load.
    pub entries: Vec<Insn>,
    slot_of: HashMap<u64, u32>,
    /// One bit per RAM page: does it have a slot?
    code: Vec<u64>,
    flushed: bool,
}

impl ICache {
    pub fn new(ram_pages: u64) -> Self {
        ICache {
            entries: Vec::new(),
            slot_of: HashMap::new(),
            code: vec![0; ram_pages.div_ceil(64) as usize],
            flushed: false,
        }
    }

    #[inline(always)]
    pub fn is_code(&self, page: u64) -> bool {
        self.code
            .get((page / 64) as usize)
            .is_some_and(|w| w & (1 << (page % 64)) != 0)
    }

    /// The slot for RAM page `page`; `true` when the page just became a code page.
    pub fn slot_for(&mut self, page: u64) -> (u32, bool) {
        if let Some(&s) = self.slot_of.get(&page) {
            return (s, false);
        }
        if self.slot_of.len() >= MAX_SLOTS {
            self.flush();
        }
        let s = self.slot_of.len() as u32;
        let range = s as usize * SLOT_INSNS..(s as usize + 1) * SLOT_INSNS;
        if self.entries.len() < range.end {
            self.entries.resize(range.end, Insn::UNDECODED);
        } else {
            self.entries[range].fill(Insn::UNDECODED);
        }
        self.slot_of.insert(page, s);
        self.code[(page / 64) as usize] |= 1 << (page % 64);
        (s, true)
    }

    /// Forgets every decoded page (kept allocations are reused).
    pub fn flush(&mut self) {
        self.slot_of.clear();
        self.code.fill(0);
        self.flushed = true;
    }

    /// Whether a flush happened since the last call (fetch TLB entries then hold stale slots).
    pub fn take_flushed(&mut self) -> bool {
        std::mem::take(&mut self.flushed)
    }

    /// RAM bytes `[off, off+len)` changed: reset every instruction that may overlap them.
    #[inline]
    pub fn invalidate(&mut self, off: usize, len: usize) {
        if len == 0 {
            return;
        }
        let (first, last) = ((off >> 12) as u64, ((off + len - 1) >> 12) as u64);
        // The common case, a CPU store within one page that holds no code, costs one bit test.
        if first == last && !self.is_code(first) {
            return;
        }
        self.invalidate_slow(off, len);
    }

    #[inline(never)]
    fn invalidate_slow(&mut self, off: usize, len: usize) {
        let end = off + len; // exclusive
        let mut p = off & !0xfff;
        while p < end {
            let page = (p >> 12) as u64;
            if let Some(&s) = self.slot_of.get(&page) {
                // An instruction starting up to 2 bytes before the write may cover it.
                let lo = off.max(p).saturating_sub(2).max(p) - p;
                let hi = end.min(p + 4096) - p;
                let base = s as usize * SLOT_INSNS;
                self.entries[base + lo / 2..base + hi.div_ceil(2)].fill(Insn::UNDECODED);
            }
            p += 4096;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::riscv::decode::Op;

    #[test]
    fn invalidation_reaches_every_page_of_a_range() {
        let mut c = ICache::new(16);
        let (a, _) = c.slot_for(1);
        let (b, _) = c.slot_for(3);
        for s in [a, b] {
            let base = s as usize * SLOT_INSNS;
            c.entries[base..base + SLOT_INSNS].fill(Insn {
                op: Op::Nop,
                ..Insn::UNDECODED
            });
        }
        // A write covering pages 0..=3 whose first page holds no code.
        c.invalidate(0x800, 3 * 4096);
        let at = |c: &ICache, s: u32, i: usize| c.entries[s as usize * SLOT_INSNS + i].op;
        assert_eq!(at(&c, a, 0), Op::Undecoded);
        assert_eq!(at(&c, a, 2047), Op::Undecoded);
        assert_eq!(at(&c, b, 0), Op::Undecoded);
        // Page 3 is only written up to 0x3800: instructions from there on survive.
        assert_eq!(at(&c, b, 0x400), Op::Nop);
        assert_eq!(at(&c, b, 0x3fe), Op::Undecoded);
    }
}
