//! SiFive CLINT / ACLINT (MSWI + MTIMER): msip at +0, mtimecmp at +0x4000, mtime at +0xbff8.
//! The board asks it for the MSIP and MTIP levels of each hart.

use crate::clock::Clock;
use crate::MmioDevice;

pub const SIZE: u64 = 0x1_0000;
pub const FREQ: u64 = 10_000_000;

pub struct Clint {
    pub clock: Clock,
    msip: Vec<bool>,
    mtimecmp: Vec<u64>,
    /// mtime = clock ticks + offset; guest writes to mtime change only the offset.
    offset: u64,
}

impl Clint {
    pub fn new(harts: usize, clock: Clock) -> Self {
        Clint {
            clock,
            msip: vec![false; harts],
            mtimecmp: vec![u64::MAX; harts],
            offset: 0,
        }
    }

    pub fn mtime(&self) -> u64 {
        self.clock.now().wrapping_add(self.offset)
    }

    pub fn msip(&self, hart: usize) -> bool {
        self.msip.get(hart).copied().unwrap_or(false)
    }

    pub fn mtip(&self, hart: usize) -> bool {
        self.mtimecmp
            .get(hart)
            .is_some_and(|&cmp| self.mtime() >= cmp)
    }

    /// The earliest mtimecmp of any hart, for sleeping while all harts wait.
    pub fn next_deadline(&self) -> u64 {
        self.mtimecmp.iter().copied().min().unwrap_or(u64::MAX)
    }
}

/// Merges a `size`-byte write at byte `shift` into a 64-bit register.
pub fn merge(old: u64, shift: u32, size: u32, value: u64) -> u64 {
    let mask = if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    } << shift;
    (old & !mask) | ((value << shift) & mask)
}

impl MmioDevice for Clint {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        let (reg, shift) = (offset & !7, ((offset & 7) * 8) as u32);
        let v = match reg {
            r if r < 0x4000 => {
                let hart = (offset / 4) as usize;
                return if offset.is_multiple_of(4) {
                    u64::from(self.msip(hart))
                } else {
                    0
                };
            }
            r if (0x4000..0xbff8).contains(&r) => self
                .mtimecmp
                .get(((r - 0x4000) / 8) as usize)
                .copied()
                .unwrap_or(0),
            0xbff8 => self.mtime(),
            _ => 0,
        };
        let v = v >> shift;
        if size >= 8 {
            v
        } else {
            v & ((1u64 << (size * 8)) - 1)
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        let (reg, shift) = (offset & !7, ((offset & 7) * 8) as u32);
        match reg {
            r if r < 0x4000 && offset.is_multiple_of(4) => {
                if let Some(m) = self.msip.get_mut((offset / 4) as usize) {
                    *m = value & 1 != 0;
                }
            }
            r if (0x4000..0xbff8).contains(&r) => {
                if let Some(c) = self.mtimecmp.get_mut(((r - 0x4000) / 8) as usize) {
                    *c = merge(*c, shift, size, value);
                }
            }
            0xbff8 => {
                let now = self.clock.now();
                let new = merge(now.wrapping_add(self.offset), shift, size, value);
                self.offset = new.wrapping_sub(now);
            }
            _ => {}
        }
    }
}
