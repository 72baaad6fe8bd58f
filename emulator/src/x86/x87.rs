//! The x87 FPU (80-bit extended precision, control/status/tag words, exceptions), the MMX
//! register aliasing onto it, and FXSAVE/FXRSTOR (with the SSE state).

use super::block::Handler;
use super::cpu::{Cpu, R};
use iced_x86::Code;

/// An 80-bit register: 64-bit significand (explicit integer bit) and sign+exponent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F80 {
    pub mant: u64,
    /// Sign in bit 15, biased exponent in bits 0..15.
    pub se: u16,
}

/// x87 state. `regs` are the physical registers R0..R7 (ST(i) is R[(top + i) % 8]); MMX
/// register i is R[i]'s significand.
#[derive(Clone, Debug)]
pub struct Fpu {
    pub regs: [F80; 8],
    pub top: u8,
    pub fcw: u16,
    /// Status word without TOP (bits 11..13 are taken from `top`).
    pub fsw: u16,
    /// Full tag word, 2 bits per physical register (00 valid, 01 zero, 10 special, 11 empty).
    pub ftw: u16,
    pub fop: u16,
    pub fip: u64,
    pub fdp: u64,
    pub fcs: u16,
    pub fds: u16,
}

impl Default for Fpu {
    fn default() -> Self {
        Fpu {
            regs: [F80::default(); 8],
            top: 0,
            fcw: 0x037f,
            fsw: 0,
            ftw: 0xffff,
            fop: 0,
            fip: 0,
            fdp: 0,
            fcs: 0,
            fds: 0,
        }
    }
}

impl Fpu {
    /// The status word as FSTSW reports it.
    pub fn status(&self) -> u16 {
        (self.fsw & !0x3800) | (u16::from(self.top & 7) << 11)
    }

    /// The abridged tag byte of FXSAVE: 1 = not empty.
    pub fn abridged_tags(&self) -> u8 {
        let mut t = 0;
        for i in 0..8 {
            if (self.ftw >> (2 * i)) & 3 != 3 {
                t |= 1 << i;
            }
        }
        t
    }

    /// Tag of a register's contents (for rebuilding the full tag word).
    pub fn classify(r: F80) -> u16 {
        let exp = r.se & 0x7fff;
        if exp == 0 && r.mant == 0 {
            1
        } else if exp == 0x7fff || exp == 0 || r.mant >> 63 == 0 {
            2
        } else {
            0
        }
    }

    /// An MMX register read: any MMX instruction makes the whole stack valid with TOP = 0.
    pub fn mmx_read(&mut self, i: usize) -> u64 {
        self.mmx_enter();
        self.regs[i & 7].mant
    }

    pub fn mmx_write(&mut self, i: usize, v: u64) {
        self.mmx_enter();
        self.regs[i & 7] = F80 {
            mant: v,
            se: 0xffff,
        };
    }

    pub fn mmx_enter(&mut self) {
        self.top = 0;
        self.ftw = 0;
    }

    pub fn emms(&mut self) {
        self.ftw = 0xffff;
    }
}

impl Cpu {
    /// The 512-byte FXSAVE image in the 64-bit layout (REX.W form).
    pub fn fxsave_image(&self) -> [u8; 512] {
        let f = &self.fpu;
        let mut b = [0u8; 512];
        b[0..2].copy_from_slice(&f.fcw.to_le_bytes());
        b[2..4].copy_from_slice(&f.status().to_le_bytes());
        b[4] = f.abridged_tags();
        b[6..8].copy_from_slice(&f.fop.to_le_bytes());
        b[8..16].copy_from_slice(&f.fip.to_le_bytes());
        b[16..24].copy_from_slice(&f.fdp.to_le_bytes());
        b[24..28].copy_from_slice(&self.mxcsr.to_le_bytes());
        b[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
        for i in 0..8 {
            let r = f.regs[(usize::from(f.top) + i) & 7];
            b[32 + 16 * i..40 + 16 * i].copy_from_slice(&r.mant.to_le_bytes());
            b[40 + 16 * i..42 + 16 * i].copy_from_slice(&r.se.to_le_bytes());
        }
        for i in 0..16 {
            b[160 + 16 * i..176 + 16 * i].copy_from_slice(&self.xmm[i].to_le_bytes());
        }
        b
    }

    /// Loads an FXSAVE image (64-bit layout). Reserved MXCSR bits raise #GP(0).
    pub fn fxrstor_image(&mut self, b: &[u8; 512]) -> R<()> {
        let mxcsr = u32::from_le_bytes(b[24..28].try_into().unwrap());
        if mxcsr & !0xffff != 0 {
            return Err(super::cpu::Exc::gp0());
        }
        self.mxcsr = mxcsr;
        let f = &mut self.fpu;
        f.fcw = u16::from_le_bytes([b[0], b[1]]);
        let sw = u16::from_le_bytes([b[2], b[3]]);
        f.top = ((sw >> 11) & 7) as u8;
        f.fsw = sw & !0x3800;
        f.fop = u16::from_le_bytes([b[6], b[7]]) & 0x7ff;
        f.fip = u64::from_le_bytes(b[8..16].try_into().unwrap());
        f.fdp = u64::from_le_bytes(b[16..24].try_into().unwrap());
        for i in 0..8 {
            let r = F80 {
                mant: u64::from_le_bytes(b[32 + 16 * i..40 + 16 * i].try_into().unwrap()),
                se: u16::from_le_bytes([b[40 + 16 * i], b[41 + 16 * i]]),
            };
            f.regs[(usize::from(f.top) + i) & 7] = r;
        }
        let abr = b[4];
        let mut ftw = 0u16;
        for i in 0..8 {
            let t = if abr & (1 << i) == 0 {
                3
            } else {
                Fpu::classify(f.regs[i])
            };
            ftw |= t << (2 * i);
        }
        f.ftw = ftw;
        for i in 0..16 {
            self.xmm[i] = u128::from_le_bytes(b[160 + 16 * i..176 + 16 * i].try_into().unwrap());
        }
        Ok(())
    }
}

pub fn handler(_code: Code) -> Option<Handler> {
    None
}
