//! The decode cache: every RAM page that has been executed from gets a slot of decoded
//! instructions, one per halfword, filled lazily. A write to such a page resets the entries it
//! may have changed, so the cache is always coherent with RAM (fence.i has nothing left to do).

use super::decode::Insn;
use std::collections::HashMap;

pub const SLOT_INSNS: usize = 2048;
/// Bound on decoded pages (each is 24 KiB); past it the whole cache is dropped and refilled.
const MAX_SLOTS: usize = 8192;

pub struct ICache {
    pub slots: Vec<Box<[Insn; SLOT_INSNS]>>,
    slot_of: HashMap<u64, u32>,
    /// One bit per RAM page: does it have a slot?
    code: Vec<u64>,
    flushed: bool,
}

impl ICache {
    pub fn new(ram_pages: u64) -> Self {
        ICache {
            slots: Vec::new(),
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
        if self.slots.len() <= s as usize {
            self.slots.push(Box::new([Insn::UNDECODED; SLOT_INSNS]));
        } else {
            self.slots[s as usize].fill(Insn::UNDECODED);
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
        let page = (off >> 12) as u64;
        if !self.is_code(page) {
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
                let slot = &mut self.slots[s as usize];
                for e in &mut slot[lo / 2..hi.div_ceil(2)] {
                    *e = Insn::UNDECODED;
                }
            }
            p += 4096;
        }
    }
}
