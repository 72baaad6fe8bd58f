//! Lazy arithmetic flags: ALU instructions record their operands and result, and CF/PF/AF/ZF/
//! SF/OF are computed only when something reads them (most results are never looked at before
//! the next ALU instruction overwrites them).

pub const CF: u64 = 1 << 0;
pub const PF: u64 = 1 << 2;
pub const AF: u64 = 1 << 4;
pub const ZF: u64 = 1 << 6;
pub const SF: u64 = 1 << 7;
pub const TF: u64 = 1 << 8;
pub const IF: u64 = 1 << 9;
pub const DF: u64 = 1 << 10;
pub const OF: u64 = 1 << 11;
pub const IOPL: u64 = 3 << 12;
pub const NT: u64 = 1 << 14;
pub const RF: u64 = 1 << 16;
pub const VM: u64 = 1 << 17;
pub const AC: u64 = 1 << 18;
pub const VIF: u64 = 1 << 19;
pub const VIP: u64 = 1 << 20;
pub const ID: u64 = 1 << 21;

/// The six arithmetic status flags.
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;

/// What produced the current arithmetic flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FlagOp {
    /// `res` holds the six flags themselves (already computed).
    Eager,
    /// res = a + b (+ carry): ADD, ADC, XADD.
    Add,
    /// res = a - b (- borrow): SUB, SBB, CMP, NEG (a = 0), CMPXCHG, SCAS, CMPS.
    Sub,
    /// AND/OR/XOR/TEST: CF = OF = AF = 0.
    Logic,
    /// INC: like Add with b = 1 but CF kept (stored in `b`... see `cf_keep`).
    Inc,
    /// DEC: like Sub with b = 1, CF kept.
    Dec,
}

/// Lazy flag state. `size` is the operand size in bytes (1, 2, 4, 8).
#[derive(Clone, Copy, Debug)]
pub struct LazyFlags {
    pub op: FlagOp,
    pub size: u8,
    pub a: u64,
    pub b: u64,
    pub res: u64,
    /// CF for Inc/Dec (which leave it unchanged).
    pub cf_keep: bool,
}

impl Default for LazyFlags {
    fn default() -> Self {
        LazyFlags {
            op: FlagOp::Eager,
            size: 8,
            a: 0,
            b: 0,
            res: 0,
            cf_keep: false,
        }
    }
}

#[inline(always)]
fn sign_bit(size: u8) -> u32 {
    u32::from(size) * 8 - 1
}

#[inline(always)]
pub fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (u32::from(size) * 8)) - 1
    }
}

#[inline(always)]
pub fn parity(v: u64) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

impl LazyFlags {
    #[inline(always)]
    pub fn set(&mut self, op: FlagOp, size: u8, a: u64, b: u64, res: u64) {
        self.op = op;
        self.size = size;
        self.a = a;
        self.b = b;
        self.res = res;
    }

    /// Records flags computed by the instruction itself (only the ARITH bits of `f` count).
    #[inline(always)]
    pub fn set_eager(&mut self, f: u64) {
        self.op = FlagOp::Eager;
        self.res = f & ARITH;
    }

    #[inline]
    pub fn cf(&self) -> bool {
        let s = sign_bit(self.size);
        match self.op {
            FlagOp::Eager => self.res & CF != 0,
            FlagOp::Add => ((self.a & self.b) | ((self.a | self.b) & !self.res)) >> s & 1 != 0,
            FlagOp::Sub => ((!self.a & self.b) | (!(self.a ^ self.b) & self.res)) >> s & 1 != 0,
            FlagOp::Logic => false,
            FlagOp::Inc | FlagOp::Dec => self.cf_keep,
        }
    }

    #[inline]
    pub fn zf(&self) -> bool {
        match self.op {
            FlagOp::Eager => self.res & ZF != 0,
            _ => self.res & mask(self.size) == 0,
        }
    }

    #[inline]
    pub fn sf(&self) -> bool {
        match self.op {
            FlagOp::Eager => self.res & SF != 0,
            _ => self.res >> sign_bit(self.size) & 1 != 0,
        }
    }

    #[inline]
    pub fn of(&self) -> bool {
        let s = sign_bit(self.size);
        match self.op {
            FlagOp::Eager => self.res & OF != 0,
            FlagOp::Add | FlagOp::Inc => ((self.a ^ self.res) & (self.b ^ self.res)) >> s & 1 != 0,
            FlagOp::Sub | FlagOp::Dec => ((self.a ^ self.b) & (self.a ^ self.res)) >> s & 1 != 0,
            FlagOp::Logic => false,
        }
    }

    #[inline]
    pub fn pf(&self) -> bool {
        match self.op {
            FlagOp::Eager => self.res & PF != 0,
            _ => parity(self.res),
        }
    }

    #[inline]
    pub fn af(&self) -> bool {
        match self.op {
            FlagOp::Eager => self.res & AF != 0,
            FlagOp::Logic => false,
            _ => (self.a ^ self.b ^ self.res) & 0x10 != 0,
        }
    }

    /// The six arithmetic flags as RFLAGS bits.
    pub fn bits(&self) -> u64 {
        if self.op == FlagOp::Eager {
            return self.res & ARITH;
        }
        let mut f = 0;
        if self.cf() {
            f |= CF;
        }
        if self.pf() {
            f |= PF;
        }
        if self.af() {
            f |= AF;
        }
        if self.zf() {
            f |= ZF;
        }
        if self.sf() {
            f |= SF;
        }
        if self.of() {
            f |= OF;
        }
        f
    }

    /// Condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes).
    #[inline]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sub_flags() {
        let mut f = LazyFlags::default();
        f.set(FlagOp::Add, 1, 0xff, 1, 0x100);
        assert!(f.cf() && f.zf() && !f.sf() && !f.of() && f.af());
        f.set(FlagOp::Add, 1, 0x7f, 1, 0x80);
        assert!(!f.cf() && f.of() && f.sf());
        f.set(FlagOp::Sub, 4, 0, 1, u64::MAX);
        assert!(f.cf() && f.sf() && !f.of());
        f.set(FlagOp::Sub, 8, 1 << 63, 1, (1 << 63) - 1);
        assert!(!f.cf() && f.of());
        assert_eq!(f.bits() & CF, 0);
    }
}
