//! RISC-V PLIC as QEMU's `virt` board has it (`sifive,plic-1.0.0`): per-source priorities,
//! pending bits, per-context enables, thresholds and claim/complete. Sources are level-triggered
//! lines the board drives with `set_level`; the board asks `irq(ctx)` for each context's
//! external-interrupt line (contexts are M then S for each hart).

use crate::MmioDevice;

pub const SIZE: u64 = 0x60_0000;

/// QEMU `virt` has 3 priority bits (VIRT_IRQCHIP_NUM_PRIORITIES = 7). Since 7 + 1 is a power of
/// two, QEMU makes priorities and thresholds WARL by dropping the other bits, and so do we:
/// OpenSBI and Linux probe by writing all-ones and reading back.
pub const MAX_PRIORITY: u32 = 7;

const PENDING_BASE: u64 = 0x1000;
const ENABLE_BASE: u64 = 0x2000;
const ENABLE_STRIDE: u64 = 0x80;
const CONTEXT_BASE: u64 = 0x20_0000;
const CONTEXT_STRIDE: u64 = 0x1000;
/// The register map has room for sources 1..=1023 (priorities fill 0..0x1000).
const MAX_SOURCES: u32 = 1023;
/// Threshold/claim blocks are what bounds the contexts reachable inside `SIZE`.
const MAX_CONTEXTS: usize = ((SIZE - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;

pub struct Plic {
    /// Number of sources; valid ids are 1..=sources.
    sources: u32,
    /// 32-bit words covering ids 0..=sources, as the pending/enable registers lay them out.
    words: usize,
    priority: Vec<u32>,
    /// Current level of each source's line.
    level: Vec<u32>,
    /// Claimed and not yet completed. In-service is global, not per context: once one context
    /// claims a source, no other context can claim it until it is completed.
    in_service: Vec<u32>,
    /// `enable[ctx * words + w]`.
    enable: Vec<u32>,
    threshold: Vec<u32>,
}

impl Plic {
    /// `sources`: ids 1..=sources exist (source 0 never does); `contexts`: two per hart, M then
    /// S. Both are clamped to what the register map can address.
    pub fn new(sources: u32, contexts: usize) -> Self {
        let sources = sources.min(MAX_SOURCES);
        let contexts = contexts.min(MAX_CONTEXTS);
        let words = (sources as usize + 1).div_ceil(32);
        Plic {
            sources,
            words,
            priority: vec![0; sources as usize + 1],
            level: vec![0; words],
            in_service: vec![0; words],
            enable: vec![0; words * contexts],
            threshold: vec![0; contexts],
        }
    }

    pub fn sources(&self) -> u32 {
        self.sources
    }

    pub fn contexts(&self) -> usize {
        self.threshold.len()
    }

    /// Drives source `src`'s line. Out-of-range sources (including 0) are ignored.
    pub fn set_level(&mut self, src: u32, high: bool) {
        if src == 0 || src > self.sources {
            return;
        }
        let (w, b) = ((src / 32) as usize, 1u32 << (src % 32));
        if high {
            self.level[w] |= b;
        } else {
            self.level[w] &= !b;
        }
    }

    /// Whether `src` is pending: its line is high and it is not in service.
    pub fn pending(&self, src: u32) -> bool {
        src != 0 && src <= self.sources && self.pending_word((src / 32) as usize) & bit(src) != 0
    }

    /// The context's notification line: some pending, enabled source has a priority above the
    /// context's threshold.
    pub fn irq(&self, ctx: usize) -> bool {
        self.best(ctx) != 0
    }

    fn pending_word(&self, w: usize) -> u32 {
        self.level[w] & !self.in_service[w]
    }

    /// The id a claim would return: the highest-priority pending enabled source above the
    /// threshold, lowest id among equals, or 0.
    fn best(&self, ctx: usize) -> u32 {
        let Some(&threshold) = self.threshold.get(ctx) else {
            return 0;
        };
        let enable = &self.enable[ctx * self.words..(ctx + 1) * self.words];
        let (mut best, mut best_prio) = (0, threshold);
        for (w, &en) in enable.iter().enumerate() {
            let mut bits = self.pending_word(w) & en;
            while bits != 0 {
                let src = w as u32 * 32 + bits.trailing_zeros();
                bits &= bits - 1;
                // Strictly greater: ascending ids make the lowest id win ties.
                if self.priority[src as usize] > best_prio {
                    best = src;
                    best_prio = self.priority[src as usize];
                }
            }
        }
        best
    }

    fn claim(&mut self, ctx: usize) -> u32 {
        let src = self.best(ctx);
        if src != 0 {
            self.in_service[(src / 32) as usize] |= bit(src);
        }
        src
    }

    fn complete(&mut self, ctx: usize, src: u32) {
        if src == 0 || src > self.sources || ctx >= self.threshold.len() {
            return;
        }
        let w = (src / 32) as usize;
        // The spec ignores completions of sources not enabled for the completing context; a
        // completion of a source not in service has nothing to end. A line still high makes it
        // pending again, since `pending_word` derives pending from the level.
        if self.enable[ctx * self.words + w] & bit(src) != 0 {
            self.in_service[w] &= !bit(src);
        }
    }

    fn read32(&mut self, offset: u64) -> u32 {
        match offset {
            o if o < PENDING_BASE => self.priority.get((o / 4) as usize).copied().unwrap_or(0),
            o if o < ENABLE_BASE => {
                let w = ((o - PENDING_BASE) / 4) as usize;
                if w < self.words {
                    self.pending_word(w)
                } else {
                    0
                }
            }
            o if o < CONTEXT_BASE => {
                let (ctx, w) = enable_index(o);
                if ctx < self.threshold.len() && w < self.words {
                    self.enable[ctx * self.words + w]
                } else {
                    0
                }
            }
            o => {
                let ctx = ((o - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;
                match (o - CONTEXT_BASE) % CONTEXT_STRIDE {
                    0 => self.threshold.get(ctx).copied().unwrap_or(0),
                    4 => self.claim(ctx),
                    _ => 0,
                }
            }
        }
    }

    fn write32(&mut self, offset: u64, value: u32) {
        match offset {
            o if o < PENDING_BASE => {
                let src = (o / 4) as usize;
                // Source 0 does not exist, so its priority stays hardwired to 0.
                if src != 0 {
                    if let Some(p) = self.priority.get_mut(src) {
                        *p = value & MAX_PRIORITY;
                    }
                }
            }
            // Pending bits are read-only from the bus: they follow the lines.
            o if o < ENABLE_BASE => {}
            o if o < CONTEXT_BASE => {
                let (ctx, w) = enable_index(o);
                if ctx < self.threshold.len() && w < self.words {
                    self.enable[ctx * self.words + w] = value & self.valid_mask(w);
                }
            }
            o => {
                let ctx = ((o - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;
                match (o - CONTEXT_BASE) % CONTEXT_STRIDE {
                    0 => {
                        if let Some(t) = self.threshold.get_mut(ctx) {
                            *t = value & MAX_PRIORITY;
                        }
                    }
                    4 => self.complete(ctx, value),
                    _ => {}
                }
            }
        }
    }

    /// Bits of enable word `w` that name existing sources, so a guest probing with all-ones
    /// reads back only what exists.
    fn valid_mask(&self, w: usize) -> u32 {
        let first = w as u32 * 32;
        let mut mask = match (self.sources + 1).saturating_sub(first) {
            n if n >= 32 => u32::MAX,
            n => (1u32 << n) - 1,
        };
        if w == 0 {
            mask &= !1;
        }
        mask
    }
}

fn bit(src: u32) -> u32 {
    1 << (src % 32)
}

fn enable_index(offset: u64) -> (usize, usize) {
    let o = offset - ENABLE_BASE;
    (
        (o / ENABLE_STRIDE) as usize,
        ((o % ENABLE_STRIDE) / 4) as usize,
    )
}

/// The PLIC defines only aligned 32-bit accesses. An aligned 64-bit access is taken as two
/// 32-bit ones (low word first), as a bus splitting it would. Narrower or misaligned accesses
/// read 0 and write nothing: a partial read of claim/complete would claim a source without
/// handing its whole id to the guest.
impl MmioDevice for Plic {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        if offset >= SIZE {
            return 0;
        }
        match size {
            4 if offset.is_multiple_of(4) => u64::from(self.read32(offset)),
            8 if offset.is_multiple_of(8) => {
                let lo = self.read32(offset);
                let hi = self.read32(offset + 4);
                u64::from(lo) | (u64::from(hi) << 32)
            }
            _ => 0,
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        if offset >= SIZE {
            return;
        }
        match size {
            4 if offset.is_multiple_of(4) => self.write32(offset, value as u32),
            8 if offset.is_multiple_of(8) => {
                self.write32(offset, value as u32);
                self.write32(offset + 4, (value >> 32) as u32);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIM0: u64 = CONTEXT_BASE + 4;

    fn claim(p: &mut Plic, ctx: u64) -> u64 {
        p.read(CONTEXT_BASE + ctx * CONTEXT_STRIDE + 4, 4)
    }

    fn complete(p: &mut Plic, ctx: u64, src: u64) {
        p.write(CONTEXT_BASE + ctx * CONTEXT_STRIDE + 4, 4, src);
    }

    fn enable_all(p: &mut Plic, ctx: u64) {
        for w in 0..4 {
            p.write(ENABLE_BASE + ctx * ENABLE_STRIDE + w * 4, 4, 0xffff_ffff);
        }
    }

    #[test]
    fn claim_order_is_priority_then_lowest_id() {
        let mut p = Plic::new(95, 2);
        enable_all(&mut p, 0);
        for (src, prio) in [(3, 1), (5, 4), (7, 4), (40, 2)] {
            p.write(4 * src, 4, prio);
            p.set_level(src as u32, true);
        }
        assert!(p.irq(0));
        let order: Vec<u64> = (0..4).map(|_| claim(&mut p, 0)).collect();
        assert_eq!(order, [5, 7, 40, 3]);
        assert_eq!(claim(&mut p, 0), 0);
        assert!(!p.irq(0));
    }

    #[test]
    fn empty_claim_returns_zero() {
        let mut p = Plic::new(95, 2);
        assert_eq!(claim(&mut p, 0), 0);
        enable_all(&mut p, 0);
        assert_eq!(claim(&mut p, 0), 0);
        // A high line with priority 0 never interrupts.
        p.set_level(9, true);
        assert_eq!(claim(&mut p, 0), 0);
        assert!(!p.irq(0));
        assert!(p.pending(9));
    }

    #[test]
    fn threshold_masks_lower_priorities() {
        let mut p = Plic::new(95, 2);
        enable_all(&mut p, 0);
        p.write(4 * 10, 4, 3);
        p.set_level(10, true);
        p.write(CONTEXT_BASE, 4, 3);
        assert!(!p.irq(0));
        assert_eq!(claim(&mut p, 0), 0);
        assert!(p.pending(10), "a masked claim leaves the source pending");
        p.write(CONTEXT_BASE, 4, 2);
        assert!(p.irq(0));
        assert_eq!(claim(&mut p, 0), 10);
    }

    #[test]
    fn priority_and_threshold_are_warl() {
        let mut p = Plic::new(95, 2);
        p.write(4, 4, 0xffff_ffff);
        assert_eq!(p.read(4, 4), 7);
        p.write(0, 4, 5);
        assert_eq!(p.read(0, 4), 0, "source 0 has no priority");
        p.write(CONTEXT_BASE + CONTEXT_STRIDE, 4, 0xffff_ffff);
        assert_eq!(p.read(CONTEXT_BASE + CONTEXT_STRIDE, 4), 7);
        // Enables keep only existing sources: bit 0 and ids above 95 read back as 0.
        enable_all(&mut p, 1);
        assert_eq!(p.read(ENABLE_BASE + ENABLE_STRIDE, 4), 0xffff_fffe);
        assert_eq!(p.read(ENABLE_BASE + ENABLE_STRIDE + 8, 4), 0xffff_ffff);
        assert_eq!(p.read(ENABLE_BASE + ENABLE_STRIDE + 12, 4), 0);
    }

    #[test]
    fn enables_are_per_context() {
        let mut p = Plic::new(95, 4);
        p.write(4 * 33, 4, 1);
        p.write(4 * 34, 4, 1);
        p.set_level(33, true);
        p.set_level(34, true);
        // Context 1 enables 33, context 3 enables 34.
        p.write(ENABLE_BASE + ENABLE_STRIDE + 4, 4, 1 << 1);
        p.write(ENABLE_BASE + 3 * ENABLE_STRIDE + 4, 4, 1 << 2);
        assert!(!p.irq(0) && p.irq(1) && !p.irq(2) && p.irq(3));
        assert_eq!(claim(&mut p, 0), 0);
        assert_eq!(claim(&mut p, 3), 34);
        assert_eq!(claim(&mut p, 1), 33);
        // In service, so no context sees it, even one that enables it later.
        p.write(ENABLE_BASE + 4, 4, 0b110);
        assert!(!p.irq(0));
        // Completing from a context that does not enable the source is ignored.
        complete(&mut p, 2, 33);
        assert!(!p.pending(33));
        complete(&mut p, 0, 33);
        assert!(p.pending(33));
        assert_eq!(claim(&mut p, 0), 33);
    }

    #[test]
    fn level_retriggers_after_complete() {
        let mut p = Plic::new(95, 2);
        enable_all(&mut p, 1);
        p.write(4 * 10, 4, 1);
        p.set_level(10, true);
        assert_eq!(claim(&mut p, 1), 10);
        assert_eq!(p.read(PENDING_BASE, 4), 0, "claim clears the pending bit");
        assert!(!p.irq(1));
        // Completing a source that is not in service changes nothing.
        complete(&mut p, 1, 11);
        complete(&mut p, 1, 10);
        assert_eq!(p.read(PENDING_BASE, 4), 1 << 10);
        assert!(p.irq(1));
        assert_eq!(claim(&mut p, 1), 10);
        // Line drops while in service: nothing pending after completion.
        p.set_level(10, false);
        complete(&mut p, 1, 10);
        assert!(!p.pending(10));
        assert!(!p.irq(1));
        assert_eq!(claim(&mut p, 1), 0);
    }

    #[test]
    fn pending_is_read_only() {
        let mut p = Plic::new(95, 2);
        p.write(PENDING_BASE, 4, 0xffff_ffff);
        assert_eq!(p.read(PENDING_BASE, 4), 0);
        p.set_level(95, true);
        assert_eq!(p.read(PENDING_BASE + 8, 4), 1 << 31);
    }

    #[test]
    fn hostile_accesses_never_panic() {
        for (sources, contexts) in [(0, 0), (1, 1), (95, 2), (5000, 100_000)] {
            let mut p = Plic::new(sources, contexts);
            for src in [0, 1, 95, 96, 1023, 1024, u32::MAX] {
                p.set_level(src, true);
                let _ = p.pending(src);
            }
            for ctx in [0, 1, 2, 1023, 1024, usize::MAX] {
                let _ = p.irq(ctx);
            }
            let offsets = [
                0,
                1,
                3,
                4,
                0xffc,
                0xffe,
                PENDING_BASE,
                PENDING_BASE + 0x7c,
                PENDING_BASE + 0x80,
                ENABLE_BASE - 4,
                ENABLE_BASE + 0x7c,
                CONTEXT_BASE - 4,
                CONTEXT_BASE,
                CLAIM0,
                CLAIM0 + 1,
                CONTEXT_BASE + 0xffc,
                SIZE - 8,
                SIZE - 4,
                SIZE - 1,
                SIZE,
                u64::MAX - 3,
                u64::MAX,
            ];
            for o in offsets {
                for size in [0, 1, 2, 3, 4, 8, 16, u32::MAX] {
                    p.write(o, size, u64::MAX);
                    let _ = p.read(o, size);
                }
            }
        }
    }

    #[test]
    fn narrow_accesses_do_not_claim() {
        let mut p = Plic::new(95, 2);
        enable_all(&mut p, 0);
        p.write(4, 4, 1);
        p.set_level(1, true);
        assert_eq!(p.read(CLAIM0, 1), 0);
        assert_eq!(p.read(CLAIM0, 2), 0);
        assert!(p.pending(1));
        // A 64-bit read at the threshold reads threshold then claim.
        assert_eq!(p.read(CONTEXT_BASE, 8), 1 << 32);
        assert!(!p.pending(1));
    }
}
