//! The x87 FPU (80-bit extended precision, control/status/tag words, exceptions), the MMX
//! register aliasing onto it, and FXSAVE/FXRSTOR (with the SSE state).

use super::block::Handler;
use super::cpu::{Acc, Cpu, Exc, Mode, CR0_EM, CR0_MP, CR0_NE, CR0_TS, CS, R};
use iced_x86::{Code, Decoder, DecoderOptions, Instruction, OpKind, Register};
use std::sync::OnceLock;

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
        // The host's EMMS also resets TOP (the MMX transition set it to 0 already, but the
        // stack may have moved since).
        self.top = 0;
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
        // As FLDCW: reserved bits read back as the host has them (bit 6 set).
        f.fcw = (u16::from_le_bytes([b[0], b[1]]) & 0x1f3f) | 0x40;
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

// ---------------------------------------------------------------------------------------------
// Soft-float: exact 80-bit arithmetic with x87 precision/rounding control and exception flags.
// ---------------------------------------------------------------------------------------------

pub const IE: u16 = 0x0001;
pub const DE: u16 = 0x0002;
pub const ZE: u16 = 0x0004;
pub const OE: u16 = 0x0008;
pub const UE: u16 = 0x0010;
pub const PE: u16 = 0x0020;
pub const SF: u16 = 0x0040;
pub const ES: u16 = 0x0080;
pub const C0: u16 = 0x0100;
pub const C1: u16 = 0x0200;
pub const C2: u16 = 0x0400;
pub const C3: u16 = 0x4000;
pub const BUSY: u16 = 0x8000;

/// The real indefinite (default QNaN).
pub const INDEF: F80 = F80 {
    mant: 0xC000_0000_0000_0000,
    se: 0xffff,
};

const ONE: F80 = F80 {
    mant: 1 << 63,
    se: 0x3fff,
};

#[inline]
fn inf(sign: bool) -> F80 {
    F80 {
        mant: 1 << 63,
        se: (u16::from(sign) << 15) | 0x7fff,
    }
}

#[inline]
fn zero(sign: bool) -> F80 {
    F80 {
        mant: 0,
        se: u16::from(sign) << 15,
    }
}

impl F80 {
    #[inline]
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    #[inline]
    fn neg(self) -> F80 {
        F80 {
            mant: self.mant,
            se: self.se ^ 0x8000,
        }
    }
    #[inline]
    fn abs(self) -> F80 {
        F80 {
            mant: self.mant,
            se: self.se & 0x7fff,
        }
    }
    #[inline]
    fn quiet(self) -> F80 {
        F80 {
            mant: self.mant | (1 << 62),
            se: self.se,
        }
    }
}

/// Rounding environment of one operation: the control word in force and the exception flags
/// (plus C1 = "rounded up") it raised. `wrap` allows the unmasked-overflow/underflow response
/// of register destinations (exponent biased by ∓24576 and delivered).
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub fcw: u16,
    pub exc: u16,
    pub wrap: bool,
}

impl Env {
    pub fn new(fcw: u16) -> Env {
        Env {
            fcw,
            exc: 0,
            wrap: true,
        }
    }
    #[inline]
    fn rc(&self) -> u16 {
        (self.fcw >> 10) & 3
    }
    /// Significand bits under precision control (the reserved setting 01 acts as 64).
    #[inline]
    fn prec(&self) -> u32 {
        match (self.fcw >> 8) & 3 {
            0 => 24,
            2 => 53,
            _ => 64,
        }
    }
}

const RC_DOWN: u16 = 1;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    Zero,
    Fin,
    Inf,
    QNan,
    SNan,
    /// Unnormals, pseudo-NaNs, pseudo-infinities, pseudo-zeros: invalid operands since the 387.
    Bad,
}

/// An unpacked operand. For `Fin`, `sig` is normalized (bit 63 set) and the value is
/// sig * 2^(exp - 16383 - 63); `exp` may be below 1 for denormals.
#[derive(Clone, Copy, Debug)]
struct Un {
    k: K,
    sign: bool,
    exp: i32,
    sig: u64,
    denorm: bool,
}

fn unpack(x: F80) -> Un {
    let sign = x.sign();
    let ex = i32::from(x.se & 0x7fff);
    let m = x.mant;
    let mut u = Un {
        k: K::Fin,
        sign,
        exp: ex,
        sig: m,
        denorm: false,
    };
    if ex == 0x7fff {
        u.k = if m >> 63 == 0 {
            K::Bad
        } else if m << 1 == 0 {
            K::Inf
        } else if m & (1 << 62) != 0 {
            K::QNan
        } else {
            K::SNan
        };
    } else if ex == 0 {
        if m == 0 {
            u.k = K::Zero;
        } else {
            let lz = m.leading_zeros();
            u.sig = m << lz;
            u.exp = 1 - lz as i32;
            u.denorm = true;
        }
    } else if m >> 63 == 0 {
        u.k = K::Bad;
    }
    u
}

impl Un {
    #[inline]
    fn nan(&self) -> bool {
        matches!(self.k, K::QNan | K::SNan)
    }
}

/// Exponent ranges of the destination formats, in the 80-bit bias.
#[derive(Clone, Copy)]
struct Fmt {
    prec: u32,
    emin: i32,
    emax: i32,
}
const F32: Fmt = Fmt {
    prec: 24,
    emin: 16383 - 126,
    emax: 16383 + 127,
};
const F64: Fmt = Fmt {
    prec: 53,
    emin: 16383 - 1022,
    emax: 16383 + 1023,
};

/// Rounds sig * 2^(exp - 16383 - 127) to `prec` bits within [emin, emax]. Returns the biased
/// exponent (emin - 1 for denormals and zero, emax + 1 for infinity) and the significand in
/// the top bits of the u128.
fn round(
    e: &mut Env,
    sign: bool,
    mut exp: i32,
    mut sig: u128,
    prec: u32,
    emin: i32,
    emax: i32,
) -> (i32, u128) {
    if sig == 0 {
        return (emin - 1, 0);
    }
    let lz = sig.leading_zeros();
    sig <<= lz;
    exp -= lz as i32;
    let shift = 128 - prec;
    let lowmask = (1u128 << shift) - 1;
    let half = 1u128 << (shift - 1);
    let rc = e.rc();
    let up = |s: u128| -> bool {
        let low = s & lowmask;
        low != 0
            && match rc {
                0 => low > half || (low == half && (s >> shift) & 1 == 1),
                1 => sign,
                2 => !sign,
                _ => false,
            }
    };
    if exp < emin {
        // x86 detects tininess after rounding.
        let tiny = exp < emin - 1 || !(up(sig) && sig | lowmask == u128::MAX);
        if tiny {
            if e.wrap && e.fcw & UE == 0 {
                if exp + 24576 < emin {
                    // Beyond the reach of the bias adjustment: a signed zero.
                    e.exc |= UE | PE;
                    return (emin - 1, 0);
                }
                e.exc |= UE;
                exp += 24576;
            } else {
                let d = (emin - exp) as u32;
                let s = if d >= 128 {
                    1
                } else {
                    (sig >> d) | u128::from(sig << (128 - d) != 0)
                };
                let u = up(s);
                let mut r = s & !lowmask;
                if u {
                    r += 1 << shift;
                }
                if s & lowmask != 0 {
                    e.exc |= PE | UE;
                    if u {
                        e.exc |= C1;
                    }
                }
                return if r >> 127 != 0 {
                    (emin, r)
                } else {
                    (emin - 1, r)
                };
            }
        }
    }
    let inexact = sig & lowmask != 0;
    let u = up(sig);
    let mut r = sig & !lowmask;
    if u {
        let (n, c) = r.overflowing_add(1 << shift);
        if c {
            r = 1 << 127;
            exp += 1;
        } else {
            r = n;
        }
    }
    if inexact {
        e.exc |= PE;
        if u {
            e.exc |= C1;
        }
    }
    if exp > emax {
        if e.wrap && e.fcw & OE == 0 {
            if exp - 24576 > emax {
                // Beyond the reach of the bias adjustment: infinity whatever RC says.
                e.exc = (e.exc & !C1) | OE | PE | C1;
                return (emax + 1, 1 << 127);
            }
            e.exc |= OE;
            return (exp - 24576, r);
        }
        e.exc |= OE | PE;
        let to_inf = match rc {
            0 => true,
            1 => sign,
            2 => !sign,
            _ => false,
        };
        return if to_inf {
            e.exc |= C1;
            (emax + 1, 1 << 127)
        } else {
            e.exc &= !C1;
            (emax, !lowmask)
        };
    }
    (exp, r)
}

/// Rounds to an 80-bit register value with `prec` significand bits.
#[inline]
fn rp(e: &mut Env, sign: bool, exp: i32, sig: u128, prec: u32) -> F80 {
    let (x, r) = round(e, sign, exp, sig, prec, 1, 0x7ffe);
    F80 {
        mant: (r >> 64) as u64,
        se: (u16::from(sign) << 15) | (x as u16 & 0x7fff),
    }
}

/// Two-operand NaN/invalid-encoding handling: `Some(result)` when either operand decides it.
fn nan2(e: &mut Env, a: F80, ua: &Un, b: F80, ub: &Un) -> Option<F80> {
    if ua.k == K::Bad || ub.k == K::Bad {
        e.exc |= IE;
        return Some(INDEF);
    }
    let (an, bn) = (ua.nan(), ub.nan());
    if !an && !bn {
        return None;
    }
    if ua.k == K::SNan || ub.k == K::SNan {
        e.exc |= IE;
    }
    let r = if an && bn {
        if ua.k != ub.k {
            // An SNaN and a QNaN: the QNaN wins.
            if ua.k == K::QNan {
                a
            } else {
                b
            }
        } else {
            let (ma, mb) = (a.mant << 1, b.mant << 1);
            if ma > mb || (ma == mb && a.se <= b.se) {
                a
            } else {
                b
            }
        }
    } else if an {
        a
    } else {
        b
    };
    Some(r.quiet())
}

#[inline]
fn nan1(e: &mut Env, a: F80, ua: &Un) -> Option<F80> {
    match ua.k {
        K::Bad => {
            e.exc |= IE;
            Some(INDEF)
        }
        K::SNan => {
            e.exc |= IE;
            Some(a.quiet())
        }
        K::QNan => Some(a),
        _ => None,
    }
}

#[inline]
fn de(e: &mut Env, u: &Un) {
    if u.denorm {
        e.exc |= DE;
    }
}

/// a + b (or a - b).
pub fn fadd(e: &mut Env, a: F80, b: F80, sub: bool) -> F80 {
    let ua = unpack(a);
    let mut ub = unpack(b);
    if let Some(r) = nan2(e, a, &ua, b, &ub) {
        return r;
    }
    ub.sign ^= sub;
    de(e, &ua);
    de(e, &ub);
    let prec = e.prec();
    match (ua.k, ub.k) {
        (K::Inf, K::Inf) => {
            if ua.sign != ub.sign {
                e.exc |= IE;
                INDEF
            } else {
                inf(ua.sign)
            }
        }
        (K::Inf, _) => inf(ua.sign),
        (_, K::Inf) => inf(ub.sign),
        (K::Zero, K::Zero) => zero(if ua.sign == ub.sign {
            ua.sign
        } else {
            e.rc() == RC_DOWN
        }),
        (K::Zero, _) => rp(e, ub.sign, ub.exp, u128::from(ub.sig) << 64, prec),
        (_, K::Zero) => rp(e, ua.sign, ua.exp, u128::from(ua.sig) << 64, prec),
        _ => {
            let (x, y) = if (ub.exp, ub.sig) > (ua.exp, ua.sig) {
                (ub, ua)
            } else {
                (ua, ub)
            };
            let d = (x.exp - y.exp) as u32;
            let xs = u128::from(x.sig) << 63;
            let y0 = u128::from(y.sig) << 63;
            let ys = if d == 0 {
                y0
            } else if d >= 127 {
                1
            } else {
                (y0 >> d) | u128::from(y0 << (128 - d) != 0)
            };
            if x.sign == y.sign {
                rp(e, x.sign, x.exp + 1, xs + ys, prec)
            } else {
                let r = xs - ys;
                if r == 0 {
                    zero(e.rc() == RC_DOWN)
                } else {
                    rp(e, x.sign, x.exp + 1, r, prec)
                }
            }
        }
    }
}

pub fn fmul(e: &mut Env, a: F80, b: F80) -> F80 {
    let ua = unpack(a);
    let ub = unpack(b);
    if let Some(r) = nan2(e, a, &ua, b, &ub) {
        return r;
    }
    let s = ua.sign ^ ub.sign;
    match (ua.k, ub.k) {
        (K::Inf, K::Zero) | (K::Zero, K::Inf) => {
            e.exc |= IE;
            INDEF
        }
        (K::Inf, _) | (_, K::Inf) => {
            de(e, &ua);
            de(e, &ub);
            inf(s)
        }
        (K::Zero, _) | (_, K::Zero) => {
            de(e, &ua);
            de(e, &ub);
            zero(s)
        }
        _ => {
            de(e, &ua);
            de(e, &ub);
            let p = u128::from(ua.sig) * u128::from(ub.sig);
            rp(e, s, ua.exp + ub.exp - 16383 + 1, p, e.prec())
        }
    }
}

pub fn fdiv(e: &mut Env, a: F80, b: F80) -> F80 {
    let ua = unpack(a);
    let ub = unpack(b);
    if let Some(r) = nan2(e, a, &ua, b, &ub) {
        return r;
    }
    let s = ua.sign ^ ub.sign;
    match (ua.k, ub.k) {
        (K::Inf, K::Inf) | (K::Zero, K::Zero) => {
            e.exc |= IE;
            INDEF
        }
        (K::Inf, _) => {
            de(e, &ub);
            inf(s)
        }
        (_, K::Inf) => {
            de(e, &ua);
            zero(s)
        }
        (_, K::Zero) => {
            e.exc |= ZE;
            inf(s)
        }
        (K::Zero, _) => {
            de(e, &ub);
            zero(s)
        }
        _ => {
            de(e, &ua);
            de(e, &ub);
            let (a, b) = (u128::from(ua.sig), u128::from(ub.sig));
            let sh = if a >= b { 63 } else { 64 };
            let n = a << sh;
            let (q1, r1) = (n / b, n % b);
            let n2 = r1 << 64;
            let (q2, r2) = (n2 / b, n2 % b);
            let q = (q1 << 64) | q2 | u128::from(r2 != 0);
            rp(e, s, ua.exp - ub.exp + 16383 + 63 - sh, q, e.prec())
        }
    }
}

/// Integer square root of a u128 (floor) and the remainder.
fn isqrt(m: u128) -> (u64, u128) {
    let mut r = (m as f64).sqrt() as u128;
    if r > u128::from(u64::MAX) {
        r = u128::from(u64::MAX);
    }
    if r > 0 {
        r = (r + m / r) / 2;
    }
    if r > u128::from(u64::MAX) {
        r = u128::from(u64::MAX);
    }
    while r * r > m {
        r -= 1;
    }
    while (r + 1) <= u128::from(u64::MAX) && (r + 1) * (r + 1) <= m {
        r += 1;
    }
    (r as u64, m - r * r)
}

pub fn fsqrt(e: &mut Env, a: F80) -> F80 {
    let ua = unpack(a);
    if let Some(r) = nan1(e, a, &ua) {
        return r;
    }
    match ua.k {
        K::Zero => a,
        _ if ua.sign => {
            e.exc |= IE;
            INDEF
        }
        K::Inf => a,
        _ => {
            de(e, &ua);
            let ue = ua.exp - 16383;
            // Make the exponent of the radicand even.
            let k = if (ue - 63 - 63).rem_euclid(2) == 0 {
                63
            } else {
                64
            };
            let m = u128::from(ua.sig) << k;
            let (r, rem) = isqrt(m);
            let mut sig = u128::from(r) << 64;
            if rem > u128::from(r) {
                sig |= (1 << 63) | 1;
            } else if rem != 0 {
                sig |= 1;
            }
            let ex = 16383 + 63 + (ue - 63 - k).div_euclid(2);
            rp(e, false, ex, sig, e.prec())
        }
    }
}

/// Comparison: 0 less, 1 equal, 2 greater, 3 unordered. `quiet`: QNaNs do not raise IE.
fn fcmp(e: &mut Env, a: F80, b: F80, quiet: bool) -> u8 {
    let ua = unpack(a);
    let ub = unpack(b);
    if ua.k == K::Bad || ub.k == K::Bad {
        e.exc |= IE;
        return 3;
    }
    if ua.nan() || ub.nan() {
        if !quiet || ua.k == K::SNan || ub.k == K::SNan {
            e.exc |= IE;
        }
        return 3;
    }
    de(e, &ua);
    de(e, &ub);
    let key = |u: &Un| -> i128 {
        let m = match u.k {
            K::Zero => 0,
            K::Inf => i128::MAX / 2,
            _ => (i128::from(u.exp + 100_000) << 64) | i128::from(u.sig),
        };
        if u.sign {
            -m
        } else {
            m
        }
    };
    match key(&ua).cmp(&key(&ub)) {
        std::cmp::Ordering::Less => 0,
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => 2,
    }
}

/// An integer value as an 80-bit register value (exact).
fn from_int(v: i64) -> F80 {
    if v == 0 {
        return zero(false);
    }
    let sign = v < 0;
    let m = v.unsigned_abs();
    let lz = m.leading_zeros();
    F80 {
        mant: m << lz,
        se: (u16::from(sign) << 15) | (16383 + 63 - lz) as u16,
    }
}

/// Loads a binary32/binary64 value (exact; DE for denormals, IE for SNaNs).
fn from_ieee(e: &mut Env, bits: u64, fb: u32, eb: u32, quiet: bool) -> F80 {
    let sign = bits >> (fb + eb) & 1 != 0;
    let ex = ((bits >> fb) & ((1 << eb) - 1)) as i32;
    let frac = bits & ((1 << fb) - 1);
    let bias = (1i32 << (eb - 1)) - 1;
    let s = u16::from(sign) << 15;
    if ex == (1 << eb) - 1 {
        let mut m = (1u64 << 63) | (frac << (63 - fb));
        // Loads quiet SNaNs (with IE); arithmetic keeps them for the NaN rules to see.
        if quiet && frac != 0 && frac >> (fb - 1) == 0 {
            e.exc |= IE;
            m |= 1 << 62;
        }
        return F80 {
            mant: m,
            se: s | 0x7fff,
        };
    }
    if ex == 0 {
        if frac == 0 {
            return zero(sign);
        }
        e.exc |= DE;
        let lz = frac.leading_zeros();
        let x = 1 - bias - fb as i32 - lz as i32 + 16383 + 63;
        return F80 {
            mant: frac << lz,
            se: s | x as u16,
        };
    }
    F80 {
        mant: (1u64 << 63) | (frac << (63 - fb)),
        se: s | (ex - bias + 16383) as u16,
    }
}

/// Stores to binary32/binary64 with RC (PC does not apply). `None`: an unmasked exception
/// suppresses the store.
fn to_ieee(e: &mut Env, a: F80, f: Fmt, eb: u32) -> Option<u64> {
    let fb = f.prec - 1;
    let ua = unpack(a);
    let sbit = u64::from(ua.sign) << (fb + eb);
    let emask = ((1u64 << eb) - 1) << fb;
    let r = match ua.k {
        K::Bad => {
            e.exc |= IE;
            (1u64 << (fb + eb)) | emask | (1 << (fb - 1))
        }
        K::SNan | K::QNan => {
            if ua.k == K::SNan {
                e.exc |= IE;
            }
            sbit | emask | ((a.mant << 1) >> (64 - fb)) | (1 << (fb - 1))
        }
        K::Inf => sbit | emask,
        K::Zero => sbit,
        K::Fin => {
            let mut e2 = Env { wrap: false, ..*e };
            let (x, r) = round(
                &mut e2,
                ua.sign,
                ua.exp,
                u128::from(ua.sig) << 64,
                f.prec,
                f.emin,
                f.emax,
            );
            e.exc = e2.exc;
            let field = (x - 16383 + (1 << (eb - 1)) - 1) as u64;
            let frac = ((r >> (128 - f.prec)) as u64) & ((1 << fb) - 1);
            sbit | (field << fb) | frac
        }
    };
    if e.exc & !e.fcw & (IE | OE | UE) != 0 {
        if e.exc & !e.fcw & IE == 0 {
            e.exc &= !(C1 | PE);
        }
        return None;
    }
    Some(r)
}

/// Rounds to an integer per `rc`: (negative, magnitude, inexact, rounded up). `None` for
/// NaN/infinity/unsupported.
fn round_int(x: &Un, rc: u16) -> Option<(bool, u128, bool, bool)> {
    match x.k {
        K::Zero => return Some((x.sign, 0, false, false)),
        K::Fin => {}
        _ => return None,
    }
    if x.exp - 16383 >= 63 {
        let sh = (x.exp - 16383 - 63) as u32;
        let m = if sh >= 64 {
            u128::MAX
        } else {
            u128::from(x.sig) << sh
        };
        return Some((x.sign, m, false, false));
    }
    let full = u128::from(x.sig) << 64;
    let k = (16383 + 127 - x.exp) as u32;
    let (int, inexact, cmp) = if k >= 128 {
        let c = if k == 128 {
            full.cmp(&(1 << 127))
        } else {
            std::cmp::Ordering::Less
        };
        (0u128, true, c)
    } else {
        let fr = full & ((1u128 << k) - 1);
        (full >> k, fr != 0, fr.cmp(&(1u128 << (k - 1))))
    };
    let up = inexact
        && match rc {
            0 => {
                cmp == std::cmp::Ordering::Greater
                    || (cmp == std::cmp::Ordering::Equal && int & 1 == 1)
            }
            1 => x.sign,
            2 => !x.sign,
            _ => false,
        };
    Some((x.sign, int + u128::from(up), inexact, up))
}

/// FIST/FISTP/FISTTP conversion: `bits` = 16/32/64. Out of range → IE and integer indefinite.
fn to_int(e: &mut Env, a: F80, bits: u32, rc: u16) -> i64 {
    let ua = unpack(a);
    let indef = i64::MIN >> (64 - bits);
    let Some((neg, mag, inexact, up)) = round_int(&ua, rc) else {
        e.exc |= IE;
        return indef;
    };
    let lim = 1u128 << (bits - 1);
    if mag > lim || (mag == lim && !neg) {
        e.exc |= IE;
        return indef;
    }
    if inexact {
        e.exc |= PE;
        if up {
            e.exc |= C1;
        }
    }
    if neg {
        (mag as i128).wrapping_neg() as i64
    } else {
        mag as i64
    }
}

pub fn frndint(e: &mut Env, a: F80) -> F80 {
    let ua = unpack(a);
    if let Some(r) = nan1(e, a, &ua) {
        return r;
    }
    match ua.k {
        K::Zero | K::Inf => return a,
        _ => {}
    }
    de(e, &ua);
    if ua.exp - 16383 >= 63 {
        return rp(e, ua.sign, ua.exp, u128::from(ua.sig) << 64, 64);
    }
    let (neg, mag, inexact, up) = round_int(&ua, e.rc()).unwrap();
    if inexact {
        e.exc |= PE;
        if up {
            e.exc |= C1;
        }
    }
    if mag == 0 {
        return zero(neg);
    }
    let r = from_int(mag as i64);
    if neg {
        r.neg()
    } else {
        r
    }
}

/// An operand passed through unchanged, except that a pseudo-denormal gets its proper
/// encoding (biased exponent 1).
fn canon(a: F80) -> F80 {
    if a.se & 0x7fff == 0 && a.mant >> 63 == 1 {
        F80 { se: a.se | 1, ..a }
    } else {
        a
    }
}

/// FPREM (`near` = false) / FPREM1: (result, quotient low bits, partial).
fn fprem(e: &mut Env, a: F80, b: F80, near: bool) -> (F80, u64, bool) {
    let ua = unpack(a);
    let ub = unpack(b);
    if let Some(r) = nan2(e, a, &ua, b, &ub) {
        return (r, u64::MAX, false);
    }
    if ua.k == K::Inf || ub.k == K::Zero {
        e.exc |= IE;
        return (INDEF, u64::MAX, false);
    }
    de(e, &ua);
    de(e, &ub);
    if ua.k == K::Zero {
        return (a, 0, false);
    }
    if ub.k == K::Inf {
        return (canon(a), 0, false);
    }
    let d = ua.exp - ub.exp;
    let (a_s, b_s) = (u128::from(ua.sig), u128::from(ub.sig));
    if d >= 64 {
        let n = ((d & 31) | 32) as u32;
        let rem = (a_s << n) % b_s;
        if rem == 0 {
            return (zero(ua.sign), 0, true);
        }
        let r = rp(e, ua.sign, ua.exp - n as i32, rem << 64, 64);
        return (r, 0, true);
    }
    if d < -1 {
        // |a| < |b|/2: a is its own remainder whatever the rounding.
        return (rp(e, ua.sign, ua.exp, a_s << 64, 64), 0, false);
    }
    // Work at b's exponent minus one so that d = -1 is an integer too.
    let num = a_s << (d + 1);
    let den = b_s << 1;
    let mut q = num / den;
    let mut rem = num % den;
    let mut sign = ua.sign;
    if near && (2 * rem > den || (2 * rem == den && q & 1 == 1)) {
        rem = den - rem;
        q += 1;
        sign = !sign;
    }
    if rem == 0 {
        return (zero(ua.sign), q as u64, false);
    }
    (rp(e, sign, ub.exp + 1, rem << 62, 64), q as u64, false)
}

pub fn fscale(e: &mut Env, a: F80, b: F80) -> F80 {
    let ua = unpack(a);
    let ub = unpack(b);
    if let Some(r) = nan2(e, a, &ua, b, &ub) {
        return r;
    }
    match (ua.k, ub.k) {
        (K::Zero, K::Inf) if !ub.sign => {
            e.exc |= IE;
            INDEF
        }
        (K::Inf, K::Inf) if ub.sign => {
            e.exc |= IE;
            INDEF
        }
        (K::Inf, _) | (K::Zero, _) => {
            de(e, &ub);
            a
        }
        (_, K::Inf) => {
            de(e, &ua);
            if ub.sign {
                zero(ua.sign)
            } else {
                inf(ua.sign)
            }
        }
        _ => {
            de(e, &ua);
            de(e, &ub);
            let n: i32 = if ub.k == K::Zero || ub.exp < 16383 {
                0
            } else if ub.exp - 16383 >= 20 {
                if ub.sign {
                    -100_000
                } else {
                    100_000
                }
            } else {
                let v = (ub.sig >> (63 - (ub.exp - 16383))) as i32;
                if ub.sign {
                    -v
                } else {
                    v
                }
            };
            if ub.k == K::Zero {
                // Scaling by ±0 leaves the operand as it is, denormals included (a nonzero
                // |ST1| < 1 goes through rounding, and may signal underflow). Pseudo-denormals
                // get their proper encoding.
                return canon(a);
            }
            rp(e, ua.sign, ua.exp + n, u128::from(ua.sig) << 64, 64)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transcendentals: evaluated in a 128-bit-significand float (truncating arithmetic, about 120
// good bits after the series), then rounded once to 64 bits with RC. The last bit may differ
// from Intel's own approximations in rare cases.
// ---------------------------------------------------------------------------------------------

/// value = m * 2^e (m normalized to bit 127, or 0).
#[derive(Clone, Copy, Debug)]
struct B {
    neg: bool,
    e: i32,
    m: u128,
}

const BZERO: B = B {
    neg: false,
    e: 0,
    m: 0,
};

fn mul_hi(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u128::from(u64::MAX));
    let (b1, b0) = (b >> 64, b & u128::from(u64::MAX));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u128::from(u64::MAX)) + (p10 & u128::from(u64::MAX));
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    let lo = (mid << 64) | (p00 & u128::from(u64::MAX));
    (hi, lo)
}

impl B {
    fn new(neg: bool, e: i32, m: u128) -> B {
        if m == 0 {
            return BZERO;
        }
        let lz = m.leading_zeros();
        B {
            neg,
            e: e - lz as i32,
            m: m << lz,
        }
    }
    fn int(v: i64) -> B {
        B::new(v < 0, 0, u128::from(v.unsigned_abs()))
    }
    fn from(u: &Un) -> B {
        if u.k == K::Zero {
            return BZERO;
        }
        B::new(u.sign, u.exp - 16383 - 63, u128::from(u.sig))
    }
    fn is_zero(&self) -> bool {
        self.m == 0
    }
    fn negate(self) -> B {
        B {
            neg: !self.neg,
            ..self
        }
    }
    fn mul(self, o: B) -> B {
        if self.m == 0 || o.m == 0 {
            return BZERO;
        }
        let (hi, lo) = mul_hi(self.m, o.m);
        // The lowest bit is sticky: truncated bits keep the result off exact values, so that
        // directed rounding goes the right way.
        let (m, e) = if hi >> 127 != 0 {
            (hi | u128::from(lo != 0), self.e + o.e + 128)
        } else {
            (
                (hi << 1) | (lo >> 127) | u128::from(lo << 1 != 0),
                self.e + o.e + 127,
            )
        };
        B {
            neg: self.neg ^ o.neg,
            e,
            m,
        }
    }
    fn add(self, o: B) -> B {
        if self.m == 0 {
            return o;
        }
        if o.m == 0 {
            return self;
        }
        let (x, y) = if (o.e, o.m) > (self.e, self.m) {
            (o, self)
        } else {
            (self, o)
        };
        let d = (x.e - y.e) as u32;
        // One guard bit of headroom at the top.
        let xm = x.m >> 1;
        let (ym, lost) = if d + 1 >= 128 {
            (0, true)
        } else {
            (y.m >> (d + 1), y.m << (127 - d) != 0)
        };
        let lost = u128::from(lost);
        if x.neg == y.neg {
            B::new(x.neg, x.e + 1, (xm + ym) | lost)
        } else {
            B::new(x.neg, x.e + 1, (xm - ym - lost) | lost)
        }
    }
    /// Division by a small positive integer (the series' coefficients), at full precision.
    fn div_int(self, d: u64) -> B {
        if self.m == 0 {
            return BZERO;
        }
        let d128 = u128::from(d);
        let (q1, r1) = (self.m / d128, self.m % d128);
        // r1 < d < 2^64: 64 more quotient bits below q1.
        let n2 = r1 << 64;
        let (q2, r2) = (n2 / d128, n2 % d128);
        let s = q1.leading_zeros();
        let q = (q1 << s) | (q2 >> (64 - s)) | u128::from(r2 != 0 || q2 << s << 64 != 0);
        B::new(self.neg, self.e - s as i32, q)
    }
    fn sub(self, o: B) -> B {
        self.add(o.negate())
    }
    fn div(self, o: B) -> B {
        if self.m == 0 {
            return BZERO;
        }
        // Restoring division of the 128-bit significands: 128 quotient bits.
        let d = o.m;
        let (mut r, mut hi, mut q) = (self.m, false, 0u128);
        for _ in 0..128 {
            q <<= 1;
            if hi || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
            }
            hi = r >> 127 != 0;
            r <<= 1;
        }
        let sticky = u128::from(hi || r != 0);
        B::new(self.neg ^ o.neg, self.e - o.e - 127, q | sticky)
    }
    fn scale(self, n: i32) -> B {
        B {
            e: self.e + n,
            ..self
        }
    }
    fn sqrt(self) -> B {
        if self.m == 0 {
            return BZERO;
        }
        let f = self.to_f64().sqrt();
        let mut s = B::from_f64(f);
        // Newton from a 53-bit seed: 106, then 212 good bits.
        for _ in 0..2 {
            s = s.add(self.div(s)).scale(-1);
        }
        s
    }
    fn to_f64(self) -> f64 {
        let v = (self.m >> 64) as f64 * (2f64).powi(self.e + 64);
        if self.neg {
            -v
        } else {
            v
        }
    }
    fn from_f64(v: f64) -> B {
        let b = v.to_bits();
        let ex = ((b >> 52) & 0x7ff) as i32;
        let m = (b & ((1 << 52) - 1)) | (1 << 52);
        B::new(v < 0.0, ex - 1075, u128::from(m))
    }
    /// |self| < 1 compare helper: exponent of the leading bit.
    fn lead(&self) -> i32 {
        self.e + 127
    }
    fn to_f80(self, e: &mut Env) -> F80 {
        if self.m == 0 {
            return zero(self.neg);
        }
        rp(e, self.neg, self.e + 127 + 16383, self.m, 64)
    }
}

fn pi_b() -> B {
    B::new(false, -124, 0x3243F6A8885A308D313198A2E0370734)
}
fn ln2_b() -> B {
    // ln 2 = 2 atanh(1/3).
    atanh_series(B::int(1).div(B::int(3))).scale(1)
}

/// atanh(t) = t + t^3/3 + t^5/5 + ...
fn atanh_series(t: B) -> B {
    let t2 = t.mul(t);
    let mut term = t;
    let mut sum = t;
    for k in 1..200 {
        term = term.mul(t2);
        let add = term.div_int(2 * k + 1);
        sum = sum.add(add);
        if add.is_zero() || add.lead() < sum.lead() - 130 {
            break;
        }
    }
    sum
}

/// atan(t) = t - t^3/3 + ... for small |t|.
fn atan_series(t: B) -> B {
    let t2 = t.mul(t);
    let mut term = t;
    let mut sum = t;
    for k in 1..400 {
        term = term.mul(t2).negate();
        let add = term.div_int(2 * k + 1);
        sum = sum.add(add);
        if add.is_zero() || add.lead() < sum.lead() - 130 {
            break;
        }
    }
    sum
}

/// ln(x) for x > 0.
fn ln_b(x: B, ln2: B) -> B {
    // x = m * 2^k with m in [sqrt(1/2), sqrt(2)).
    let mut k = x.lead();
    let mut m = B { e: -127, ..x };
    if m.m > 0xB504F333F9DE6484597D89B3754ABE9F {
        m = m.scale(-1);
        k += 1;
    }
    let one = B::int(1);
    let t = m.sub(one).div(m.add(one));
    let lnm = atanh_series(t).scale(1);
    ln2.mul(B::int(i64::from(k))).add(lnm)
}

/// e^z - 1 for |z| <= 1.
fn expm1_b(z: B) -> B {
    let mut term = z;
    let mut sum = z;
    for k in 2..200 {
        term = term.mul(z).div_int(k);
        sum = sum.add(term);
        if term.is_zero() || term.lead() < sum.lead() - 130 {
            break;
        }
    }
    sum
}

/// sin and cos for |r| <= ~0.8.
fn sincos_b(r: B) -> (B, B) {
    let r2 = r.mul(r);
    let mut s = r;
    let mut term = r;
    for k in 1..100 {
        term = term.mul(r2).div_int((2 * k) * (2 * k + 1)).negate();
        s = s.add(term);
        if term.is_zero() || term.lead() < s.lead() - 130 {
            break;
        }
    }
    let mut c = B::int(1);
    let mut term = B::int(1);
    for k in 1..100 {
        term = term.mul(r2).div_int((2 * k - 1) * (2 * k)).negate();
        c = c.add(term);
        if term.is_zero() || term.lead() < -130 {
            break;
        }
    }
    (s, c)
}

/// atan2(y, x) for finite nonzero-or-zero inputs (not both zero).
fn atan2_b(y: B, x: B) -> B {
    let (ay, ax) = (B { neg: false, ..y }, B { neg: false, ..x });
    let pi = pi_b();
    let swap = (ay.e, ay.m) > (ax.e, ax.m);
    let t = if swap { ax.div(ay) } else { ay.div(ax) };
    // Two half-angle reductions: atan t = 2 atan(t / (1 + sqrt(1 + t^2))).
    let mut u = t;
    for _ in 0..2 {
        let s = B::int(1).add(u.mul(u)).sqrt();
        u = u.div(B::int(1).add(s));
    }
    let mut a = atan_series(u).scale(2);
    if swap {
        a = pi.scale(-1).sub(a);
    }
    if x.neg {
        a = pi.sub(a);
    }
    if y.neg {
        a.negate()
    } else {
        a
    }
}

/// Intel's argument reduction for FSIN/FCOS/FSINCOS/FPTAN uses a 66-bit π: r = x - q·π66/2
/// exactly, |r| <= π66/4. Returns (r, q mod 4).
fn reduce_pio2(u: &Un) -> (B, u32) {
    if u.k == K::Zero || u.exp < 16383 - 1 {
        return (B::from(u), 0);
    }
    // P = π66/2 = PM * 2^-65.
    const PM: u128 = 0x3243F6A8885A308D3;
    let x = u128::from(u.sig);
    // x = X * 2^(ux - 63), ux = unbiased exponent >= -2.
    let ux = u.exp - 16383;
    // Work in units of 2^-66 (so that P is PM*2 units and x with ux >= -2 is an integer).
    let pu = PM << 1;
    let sh = ux - 63 + 66; // x = X * 2^sh units
                           // |x| >= 0.5 makes sh >= 2. Shift in one bit at a time past the first 60: r = (X << sh)
                           // mod pu, and the quotient's low bits come along.
    let pre = (sh as u32).min(60);
    let v = x << pre;
    let mut q = (v / pu) as u32 & 3;
    let mut r = v % pu;
    for _ in pre..sh as u32 {
        r <<= 1;
        q = (q << 1) & 3;
        if r >= pu {
            r -= pu;
            q |= 1;
        }
    }
    let mut neg = false;
    if r > pu / 2 {
        r = pu - r;
        q = q.wrapping_add(1);
        neg = true;
    }
    let b = B::new(neg, -66, r);
    if u.sign {
        (b.negate(), (4 - (q & 3)) & 3)
    } else {
        (b, q & 3)
    }
}

// ---------------------------------------------------------------------------------------------
// Register stack, status, exceptions and the instruction/operand pointers.
// ---------------------------------------------------------------------------------------------

impl Fpu {
    #[inline(always)]
    fn phys(&self, i: usize) -> usize {
        (usize::from(self.top) + i) & 7
    }
    #[inline(always)]
    pub fn empty(&self, i: usize) -> bool {
        (self.ftw >> (2 * self.phys(i))) & 3 == 3
    }
    #[inline(always)]
    pub fn st(&self, i: usize) -> F80 {
        self.regs[self.phys(i)]
    }
    #[inline(always)]
    pub fn set_st(&mut self, i: usize, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.ftw = (self.ftw & !(3 << (2 * p))) | (Fpu::classify(v) << (2 * p));
    }
    #[inline(always)]
    fn push(&mut self, v: F80) {
        self.top = self.top.wrapping_sub(1) & 7;
        self.set_st(0, v);
    }
    #[inline(always)]
    fn pop(&mut self) {
        let p = self.phys(0);
        self.ftw |= 3 << (2 * p);
        self.top = (self.top + 1) & 7;
    }
    /// The full tag word as FSTENV/FSAVE store it (recomputed from the contents).
    pub fn tag_word(&self) -> u16 {
        let mut t = 0;
        for p in 0..8 {
            let v = if (self.ftw >> (2 * p)) & 3 == 3 {
                3
            } else {
                Fpu::classify(self.regs[p])
            };
            t |= v << (2 * p);
        }
        t
    }
    /// Retags every non-empty register from its contents, keeping the empty marks of `tw`.
    fn retag(&mut self, tw: u16) {
        let mut t = 0;
        for p in 0..8 {
            let v = if (tw >> (2 * p)) & 3 == 3 {
                3
            } else {
                Fpu::classify(self.regs[p])
            };
            t |= v << (2 * p);
        }
        self.ftw = t;
    }
    fn update_es(&mut self) {
        if self.fsw & !self.fcw & 0x3f != 0 {
            self.fsw |= ES | BUSY;
        } else {
            self.fsw &= !(ES | BUSY);
        }
    }
    pub fn init(&mut self) {
        *self = Fpu {
            regs: self.regs,
            ..Fpu::default()
        };
    }
}

#[inline(always)]
fn sti(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// What an operation's flags do: the flags to record and whether the result is delivered.
/// Unmasked IE/DE/ZE cancel the instruction (and any pop), leaving only the flags up to the
/// first unmasked one.
#[inline]
fn outcome(fcw: u16, exc: u16) -> (u16, bool) {
    let unm = exc & !fcw & (IE | DE | ZE);
    if unm == 0 {
        (exc, true)
    } else if unm & IE != 0 {
        (exc & (IE | SF | C1), false)
    } else if unm & DE != 0 {
        (exc & DE, false)
    } else {
        (exc & (DE | ZE), false)
    }
}

/// Per-Code opcode bits for FOP: low 11 bits = (first opcode byte & 7) << 8 | ModRM with the
/// variable fields zero; bit 15 = memory form (mod/rm come from the addressing).
fn fop_table() -> &'static [u16] {
    static T: OnceLock<Vec<u16>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = vec![0u16; Code::values().len()];
        let mut seen = vec![false; t.len()];
        for b0 in 0xd8u8..=0xdf {
            for modrm in 0..=255u8 {
                let bytes = [b0, modrm, 0, 0, 0, 0, 0, 0, 0];
                let mut d = Decoder::with_ip(64, &bytes, 0, DecoderOptions::NONE);
                let ins = d.decode();
                if ins.is_invalid() || seen[ins.code() as usize] {
                    continue;
                }
                seen[ins.code() as usize] = true;
                t[ins.code() as usize] = if modrm < 0xc0 {
                    0x8000 | (u16::from(b0 & 7) << 8) | u16::from(modrm & 0x38)
                } else {
                    (u16::from(b0 & 7) << 8) | u16::from(modrm)
                };
            }
        }
        t
    })
}

/// The mod and r/m bits of a memory operand's ModRM byte, rebuilt from the addressing.
fn modrm_mem(i: &Instruction) -> u16 {
    let base = i.memory_base();
    let index = i.memory_index();
    let ds = i.memory_displ_size();
    let is16 = matches!(
        base,
        Register::BX | Register::BP | Register::SI | Register::DI
    ) || matches!(index, Register::SI | Register::DI)
        || (base == Register::None && index == Register::None && ds == 2);
    if is16 {
        let rm = match (base, index) {
            (Register::BX, Register::SI) => 0,
            (Register::BX, Register::DI) => 1,
            (Register::BP, Register::SI) => 2,
            (Register::BP, Register::DI) => 3,
            (Register::SI, Register::None) => 4,
            (Register::DI, Register::None) => 5,
            (Register::BP, Register::None) => 6,
            (Register::None, Register::None) => return 6,
            _ => 7,
        };
        let md = match ds {
            0 if rm == 6 => 1,
            0 => 0,
            1 => 1,
            _ => 2,
        };
        return (md << 6) | rm;
    }
    if base == Register::RIP || base == Register::EIP {
        return 5;
    }
    if base == Register::None {
        return if index != Register::None || i.code_size() == iced_x86::CodeSize::Code64 {
            4
        } else {
            5
        };
    }
    let b = base.number() as u16 & 7;
    let rm = if index != Register::None || b == 4 {
        4
    } else {
        b
    };
    let md = match ds {
        0 if b == 5 => 1,
        0 => 0,
        1 => 1,
        _ => 2,
    };
    (md << 6) | rm
}

#[inline]
fn fop_of(i: &Instruction) -> u16 {
    let t = fop_table()[i.code() as usize];
    if t & 0x8000 != 0 {
        (t & 0x7ff) | modrm_mem(i)
    } else {
        let mut rm = 0;
        for k in 0..i.op_count().min(2) {
            if i.op_kind(k) == OpKind::Register && i.op_register(k).is_st() {
                rm = rm.max(sti(i.op_register(k)) as u16);
            }
        }
        t | rm
    }
}

#[inline(always)]
fn nop_env(c: &Cpu) -> Env {
    Env::new(c.fpu.fcw)
}

impl Cpu {
    /// Waiting x87 instructions: #NM (EM/TS), then #MF for a pending unmasked exception. With
    /// CR0.NE clear the legacy FERR# path is not modelled and the instruction proceeds.
    #[inline(always)]
    fn fpu_wait_check(&self) -> R<()> {
        if self.cr0 & (CR0_EM | CR0_TS) != 0 {
            return Err(Exc::nm());
        }
        if self.x87_pending_mf() {
            return Err(Exc::new(super::vec::MF));
        }
        Ok(())
    }

    /// An unmasked x87 exception is pending and reported as #MF (CR0.NE) by the next waiting
    /// x87 or MMX instruction.
    #[inline(always)]
    pub(crate) fn x87_pending_mf(&self) -> bool {
        self.fpu.fsw & ES != 0 && self.cr0 & CR0_NE != 0
    }

    /// Records FIP/FCS/FOP (and FDP/FDS for a memory operand) of a non-control instruction.
    #[inline]
    fn fpu_note(&mut self, i: &Instruction, mem: Option<u64>) {
        let f = &mut self.fpu;
        f.fip = self.rip;
        f.fcs = self.seg[CS].sel;
        f.fop = fop_of(i);
        if let Some(ea) = mem {
            f.fdp = ea;
            f.fds = self.seg[Cpu::mem_seg(i)].sel;
        }
    }

    /// Applies an operation's flags to FSW (C1 replaced, exception bits accumulated, ES/B
    /// summarized). Returns whether the result is to be delivered.
    #[inline]
    fn fpu_flags(&mut self, exc: u16) -> bool {
        let (x, ok) = outcome(self.fpu.fcw, exc);
        self.fpu_apply(x);
        ok
    }

    #[inline]
    fn fpu_apply(&mut self, x: u16) {
        let f = &mut self.fpu;
        f.fsw = (f.fsw & !C1) | (x & (C1 | 0x7f));
        if f.fsw & !f.fcw & 0x3f != 0 {
            f.fsw |= ES | BUSY;
        }
    }

    #[inline]
    fn fpu_cc(&mut self, cc: u16) {
        let f = &mut self.fpu;
        f.fsw = (f.fsw & !(C0 | C1 | C2 | C3)) | cc;
    }

    /// Reads the memory operand (2, 4, 8 bytes): (value, effective address).
    #[inline]
    fn fmem_read(&mut self, i: &Instruction, size: u8) -> R<(u64, u64)> {
        let la = self.mem_linear(i, u32::from(size), Acc::Read)?;
        let v = self.read_sized(la, size)?;
        Ok((v, self.ea(i)))
    }

    fn fmem_read80(&mut self, i: &Instruction) -> R<([u8; 10], u64)> {
        let la = self.mem_linear(i, 10, Acc::Read)?;
        let mut b = [0u8; 10];
        self.read_bytes(la, &mut b)?;
        Ok((b, self.ea(i)))
    }

    /// Stack-underflow check for reading ST(i): the IE|SF flags, or 0.
    #[inline(always)]
    fn fpu_under(&self, i: usize) -> u16 {
        if self.fpu.empty(i) {
            IE | SF
        } else {
            0
        }
    }

    /// Stack-overflow check for a push (the new ST0 = old ST7 must be empty).
    #[inline(always)]
    fn fpu_over(&self) -> u16 {
        if self.fpu.empty(7) {
            0
        } else {
            IE | SF | C1
        }
    }
}

fn f80_from_bytes(b: &[u8]) -> F80 {
    F80 {
        mant: u64::from_le_bytes(b[0..8].try_into().unwrap()),
        se: u16::from_le_bytes([b[8], b[9]]),
    }
}

fn f80_bytes(v: F80) -> [u8; 10] {
    let mut b = [0u8; 10];
    b[0..8].copy_from_slice(&v.mant.to_le_bytes());
    b[8..10].copy_from_slice(&v.se.to_le_bytes());
    b
}

// ---------------------------------------------------------------------------------------------
// Instruction handlers.
// ---------------------------------------------------------------------------------------------

/// Operand kinds of the generic handlers.
const SR: u8 = 0; // ST(i) register operands
const SRP: u8 = 1; // ST(i) register operands, then pop
const M32: u8 = 2;
const M64: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const M80: u8 = 7;
const CST1: u8 = 8; // FCOMPP/FUCOMPP: ST0 with ST1
const CZERO: u8 = 9; // FTST: ST0 with +0.0
const T16: u8 = 10; // FISTTP
const T32: u8 = 11;
const T64: u8 = 12;
const BCD: u8 = 13;

#[inline(always)]
fn load_src<const S: u8>(c: &mut Cpu, i: &Instruction, e: &mut Env, quiet: bool) -> R<(F80, u64)> {
    Ok(match S {
        M32 => {
            let (v, ea) = c.fmem_read(i, 4)?;
            (from_ieee(e, v, 23, 8, quiet), ea)
        }
        M64 => {
            let (v, ea) = c.fmem_read(i, 8)?;
            (from_ieee(e, v, 52, 11, quiet), ea)
        }
        I16 => {
            let (v, ea) = c.fmem_read(i, 2)?;
            (from_int(i64::from(v as u16 as i16)), ea)
        }
        I32 => {
            let (v, ea) = c.fmem_read(i, 4)?;
            (from_int(i64::from(v as u32 as i32)), ea)
        }
        I64 => {
            let (v, ea) = c.fmem_read(i, 8)?;
            (from_int(v as i64), ea)
        }
        _ => {
            let (b, ea) = c.fmem_read80(i)?;
            (f80_from_bytes(&b), ea)
        }
    })
}

const OP_ADD: u8 = 0;
const OP_MUL: u8 = 1;
const OP_SUB: u8 = 2;
const OP_SUBR: u8 = 3;
const OP_DIV: u8 = 4;
const OP_DIVR: u8 = 5;

fn arith<const OP: u8, const S: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let mut e = nop_env(c);
    let (d, s, mut b, mem) = if S <= SRP {
        (
            sti(i.op0_register()),
            sti(i.op1_register()),
            F80::default(),
            None,
        )
    } else {
        let (v, ea) = load_src::<S>(c, i, &mut e, false)?;
        (0, 0, v, Some(ea))
    };
    // A denormal memory operand counts only if the other operand is not a NaN.
    let memde = std::mem::take(&mut e.exc) & DE;
    c.fpu_note(i, mem);
    let under = c.fpu_under(d) | if S <= SRP { c.fpu_under(s) } else { 0 };
    let r = if under != 0 {
        e.exc = under;
        INDEF
    } else {
        let a = c.fpu.st(d);
        if S <= SRP {
            b = c.fpu.st(s);
        }
        let r = match OP {
            OP_ADD => fadd(&mut e, a, b, false),
            OP_MUL => fmul(&mut e, a, b),
            OP_SUB => fadd(&mut e, a, b, true),
            OP_SUBR => fadd(&mut e, b, a, true),
            OP_DIV => fdiv(&mut e, a, b),
            _ => fdiv(&mut e, b, a),
        };
        // NaN operands and division by zero take precedence over the denormal.
        if memde != 0 && e.exc & (IE | ZE) == 0 && !unpack(a).nan() {
            e.exc |= DE;
        }
        r
    };
    if c.fpu_flags(e.exc) {
        c.fpu.set_st(d, r);
        if S == SRP {
            c.fpu.pop();
        }
    }
    Ok(())
}

fn fcom<const S: u8, const POPS: u8, const QUIET: bool, const EFL: bool>(
    c: &mut Cpu,
    i: &Instruction,
) -> R<()> {
    c.fpu_wait_check()?;
    let mut e = nop_env(c);
    let (s, mut b, mem) = match S {
        SR | SRP => (sti(i.op1_register()), F80::default(), None),
        CST1 => (1, F80::default(), None),
        CZERO => (0, zero(false), None),
        _ => {
            let (v, ea) = load_src::<S>(c, i, &mut e, false)?;
            (0, v, Some(ea))
        }
    };
    let memde = std::mem::take(&mut e.exc) & DE;
    c.fpu_note(i, mem);
    let reg = matches!(S, SR | SRP | CST1);
    let under = c.fpu_under(0) | if reg { c.fpu_under(s) } else { 0 };
    let code = if under != 0 {
        e.exc = under;
        3
    } else {
        if reg {
            b = c.fpu.st(s);
        }
        let r = fcmp(&mut e, c.fpu.st(0), b, QUIET);
        if memde != 0 && e.exc & IE == 0 && !unpack(c.fpu.st(0)).nan() {
            e.exc |= DE;
        }
        r
    };
    // The condition codes/EFLAGS are written even when an unmasked IE cancels the pop.
    let c1 = c.fpu.fsw & C1;
    let ok = c.fpu_flags(e.exc);
    if EFL && e.exc & SF == 0 {
        c.fpu.fsw = (c.fpu.fsw & !C1) | c1;
    }
    {
        if EFL {
            use super::flags::{CF, PF, ZF};
            c.lazy.set_eager(match code {
                0 => CF,
                1 => ZF,
                2 => 0,
                _ => ZF | PF | CF,
            });
        } else {
            let cc = match code {
                0 => C0,
                1 => C3,
                2 => 0,
                _ => C3 | C2 | C0,
            };
            c.fpu.fsw = (c.fpu.fsw & !(C0 | C2 | C3)) | cc;
        }
        if ok {
            for _ in 0..POPS {
                c.fpu.pop();
            }
        }
    }
    Ok(())
}

fn fld<const S: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let mut e = nop_env(c);
    let (v, mem) = if S == SR {
        let s = sti(i.op0_register());
        e.exc = c.fpu_under(s);
        (c.fpu.st(s), None)
    } else {
        let (v, ea) = load_src::<S>(c, i, &mut e, true)?;
        (v, Some(ea))
    };
    c.fpu_note(i, mem);
    // An empty source is reported (as underflow) before a full stack.
    let over = if e.exc & SF != 0 { 0 } else { c.fpu_over() };
    let r = if over != 0 {
        e.exc = over;
        INDEF
    } else if e.exc & SF != 0 {
        INDEF
    } else {
        v
    };
    // A denormal source is loaded (normalized) even with DE unmasked.
    let (x, ok) = outcome(e.fcw | DE, e.exc);
    c.fpu_apply(x | (e.exc & DE));
    if ok {
        c.fpu.push(r);
    }
    Ok(())
}

fn fbld(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let (b, ea) = c.fmem_read80(i)?;
    c.fpu_note(i, Some(ea));
    let mut v: i64 = 0;
    for k in (0..9).rev() {
        v = v * 100 + i64::from(b[k] >> 4) * 10 + i64::from(b[k] & 15);
    }
    let neg = b[9] & 0x80 != 0;
    let r = if v == 0 {
        zero(neg)
    } else if neg {
        from_int(-v)
    } else {
        from_int(v)
    };
    let over = c.fpu_over();
    if c.fpu_flags(over) {
        c.fpu.push(if over != 0 { INDEF } else { r });
    }
    Ok(())
}

struct Consts {
    l2t: B,
    l2e: B,
    pi: B,
    lg2: B,
    ln2: B,
}

fn consts() -> &'static Consts {
    static T: OnceLock<Consts> = OnceLock::new();
    T.get_or_init(|| {
        let ln2 = ln2_b();
        let ln10 = ln_b(B::int(10), ln2);
        Consts {
            l2t: ln10.div(ln2),
            l2e: B::int(1).div(ln2),
            pi: pi_b(),
            lg2: ln2.div(ln10),
            ln2,
        }
    })
}

/// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: the constants are rounded per RC.
fn fldc<const K: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let mut e = nop_env(c);
    let k = consts();
    let v = match K {
        0 => ONE,
        6 => zero(false),
        _ => {
            let b = match K {
                1 => k.l2t,
                2 => k.l2e,
                3 => k.pi,
                4 => k.lg2,
                _ => k.ln2,
            };
            let mut s = Env::new(c.fpu.fcw);
            b.to_f80(&mut s)
        }
    };
    let over = c.fpu_over();
    e.exc = over;
    if c.fpu_flags(e.exc) {
        c.fpu.push(if over != 0 { INDEF } else { v });
    }
    Ok(())
}

fn fst<const D: u8, const POP: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let under = c.fpu_under(0);
    let x = if under != 0 { INDEF } else { c.fpu.st(0) };
    if D == SR {
        c.fpu_note(i, None);
        if c.fpu_flags(under) {
            c.fpu.set_st(sti(i.op0_register()), x);
            if POP {
                c.fpu.pop();
            }
        }
        return Ok(());
    }
    let size: u8 = match D {
        M32 | I32 | T32 => 4,
        M64 | I64 | T64 => 8,
        I16 | T16 => 2,
        _ => 10,
    };
    let la = c.mem_linear(i, u32::from(size), Acc::Write)?;
    let mut e = nop_env(c);
    e.exc = under;
    let rc = e.rc();
    let v: u128 = match D {
        M32 => u128::from(to_ieee(&mut e, x, F32, 8).unwrap_or(0)),
        M64 => u128::from(to_ieee(&mut e, x, F64, 11).unwrap_or(0)),
        I16 => u128::from(to_int(&mut e, x, 16, rc) as u16),
        I32 => u128::from(to_int(&mut e, x, 32, rc) as u32),
        I64 => u128::from(to_int(&mut e, x, 64, rc) as u64),
        T16 => u128::from(to_int(&mut e, x, 16, 3) as u16),
        T32 => u128::from(to_int(&mut e, x, 32, 3) as u32),
        T64 => u128::from(to_int(&mut e, x, 64, 3) as u64),
        BCD => to_bcd(&mut e, x),
        _ => u128::from(x.mant) | (u128::from(x.se) << 64),
    };
    // Only the masked responses reach memory; an unmasked overflow/underflow of a memory
    // destination suppresses the store as well.
    let (flags, ok) = outcome(e.fcw, e.exc);
    let store = ok && (D != M32 && D != M64 || e.exc & !e.fcw & (OE | UE) == 0);
    if store {
        let bytes = &v.to_le_bytes()[..usize::from(size)];
        if size == 10 {
            // The host stores an 80-bit real (or packed BCD) as the low eight bytes, then the
            // last two: when only those reach a faulting page, the first part is written.
            c.write_bytes(la, &bytes[..8])?;
            let hi = la.wrapping_add(8);
            let hi = if c.long64() { hi } else { hi & 0xffff_ffff };
            c.write_bytes(hi, &bytes[8..])?;
        } else {
            c.write_bytes(la, bytes)?;
        }
    }
    let ea = c.ea(i);
    c.fpu_note(i, Some(ea));
    c.fpu_apply(flags);
    if POP && store {
        c.fpu.pop();
    }
    Ok(())
}

fn to_bcd(e: &mut Env, x: F80) -> u128 {
    const INDEF_BCD: u128 = 0xffff_c000_0000_0000_0000;
    let ux = unpack(x);
    let Some((neg, mag, inexact, up)) = round_int(&ux, e.rc()) else {
        e.exc |= IE;
        return INDEF_BCD;
    };
    if mag > 999_999_999_999_999_999 {
        e.exc |= IE;
        return INDEF_BCD;
    }
    if inexact {
        e.exc |= PE;
        if up {
            e.exc |= C1;
        }
    }
    let mut m = mag as u64;
    let mut r: u128 = 0;
    for k in 0..18 {
        r |= u128::from(m % 10) << (4 * k);
        m /= 10;
    }
    if neg {
        r |= 0x80 << 72;
    }
    r
}

fn fxch(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let s = sti(i.op1_register());
    let under = c.fpu_under(0) | c.fpu_under(s);
    if c.fpu_flags(under) {
        let a = if c.fpu.empty(0) { INDEF } else { c.fpu.st(0) };
        let b = if c.fpu.empty(s) { INDEF } else { c.fpu.st(s) };
        c.fpu.set_st(0, b);
        c.fpu.set_st(s, a);
    }
    Ok(())
}

fn fcmov<const CC: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let s = sti(i.op1_register());
    let l = &c.lazy;
    let cond = match CC {
        0 => l.cf(),
        1 => l.zf(),
        2 => l.cf() || l.zf(),
        3 => l.pf(),
        4 => !l.cf(),
        5 => !l.zf(),
        6 => !(l.cf() || l.zf()),
        _ => !l.pf(),
    };
    let under = c.fpu_under(0) | c.fpu_under(s);
    if under != 0 {
        // The masked response writes the indefinite whatever the condition.
        if c.fpu_flags(under) {
            c.fpu.set_st(0, INDEF);
        }
    } else if cond {
        // C1 is left alone unless the stack underflows.
        let v = c.fpu.st(s);
        c.fpu.set_st(0, v);
    }
    Ok(())
}

const U_CHS: u8 = 0;
const U_ABS: u8 = 1;
const U_SQRT: u8 = 2;
const U_RND: u8 = 3;
const U_F2XM1: u8 = 4;

fn unary<const OP: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let mut e = nop_env(c);
    let r = if c.fpu.empty(0) {
        e.exc = IE | SF;
        INDEF
    } else {
        let a = c.fpu.st(0);
        match OP {
            U_CHS => a.neg(),
            U_ABS => a.abs(),
            U_SQRT => fsqrt(&mut e, a),
            U_RND => frndint(&mut e, a),
            _ => f2xm1(&mut e, a),
        }
    };
    if c.fpu_flags(e.exc) {
        c.fpu.set_st(0, r);
    }
    Ok(())
}

fn ftst_fxam(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let x = c.fpu.st(0);
    let cc = if c.fpu.empty(0) {
        C3 | C0
    } else {
        let u = unpack(x);
        match u.k {
            K::Bad => 0,
            K::QNan | K::SNan => C0,
            K::Inf => C2 | C0,
            K::Zero => C3,
            K::Fin if u.denorm => C3 | C2,
            K::Fin => C2,
        }
    };
    c.fpu_cc(cc | if x.sign() { C1 } else { 0 });
    Ok(())
}

fn fincdec<const INC: bool>(c: &mut Cpu, _: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let f = &mut c.fpu;
    f.top = if INC {
        f.top + 1
    } else {
        f.top.wrapping_sub(1)
    } & 7;
    f.fsw &= !C1;
    Ok(())
}

fn ffree<const POP: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let p = c.fpu.phys(sti(i.op0_register()));
    c.fpu.ftw |= 3 << (2 * p);
    c.fpu.fsw &= !C1;
    if POP {
        c.fpu.pop();
    }
    Ok(())
}

fn fnop_wait(c: &mut Cpu, _: &Instruction) -> R<()> {
    c.fpu_wait_check()
}

fn fnop_nowait(c: &mut Cpu, _: &Instruction) -> R<()> {
    c.check_fpu()
}

/// WAIT/FWAIT: #NM only when both CR0.MP and CR0.TS are set; then pending exceptions.
fn fwait(c: &mut Cpu, _: &Instruction) -> R<()> {
    if c.cr0 & (CR0_MP | CR0_TS) == (CR0_MP | CR0_TS) {
        return Err(Exc::nm());
    }
    if c.fpu.fsw & ES != 0 && c.cr0 & CR0_NE != 0 {
        return Err(Exc::new(super::vec::MF));
    }
    Ok(())
}

fn fldcw(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let (v, _) = c.fmem_read(i, 2)?;
    c.fpu.fcw = (v as u16 & 0x1f3f) | 0x40;
    c.fpu.update_es();
    Ok(())
}

fn fstcw<const WAIT: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    let la = c.mem_linear(i, 2, Acc::Write)?;
    c.write::<2>(la, u64::from(c.fpu.fcw))
}

fn fstsw<const WAIT: bool, const AX: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    let sw = u64::from(c.fpu.status());
    if AX {
        c.gpr_write(0, 2, sw);
        Ok(())
    } else {
        let la = c.mem_linear(i, 2, Acc::Write)?;
        c.write::<2>(la, sw)
    }
}

fn fclex<const WAIT: bool>(c: &mut Cpu, _: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    c.fpu.fsw &= !(0x7f | ES | BUSY);
    Ok(())
}

fn finit<const WAIT: bool>(c: &mut Cpu, _: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    c.fpu.init();
    Ok(())
}

impl Cpu {
    /// The FSTENV image: 14 bytes (16-bit operand size) or 28; real-mode or protected-mode
    /// layout by the current mode.
    fn fpu_env_image(&self, big: bool) -> [u8; 28] {
        let f = &self.fpu;
        let real = matches!(self.mode, Mode::Real | Mode::Virtual8086);
        let tw = u32::from(f.tag_word());
        let (fip, fdp, fop) = (f.fip as u32, f.fdp as u32, u32::from(f.fop));
        let mut b = [0u8; 28];
        if big {
            let w: [u32; 7] = if real {
                [
                    0xffff_0000 | u32::from(f.fcw),
                    0xffff_0000 | u32::from(f.status()),
                    0xffff_0000 | tw,
                    0xffff_0000 | (fip & 0xffff),
                    ((fip >> 16) << 12) | fop,
                    0xffff_0000 | (fdp & 0xffff),
                    (fdp >> 16) << 12,
                ]
            } else {
                [
                    0xffff_0000 | u32::from(f.fcw),
                    0xffff_0000 | u32::from(f.status()),
                    0xffff_0000 | tw,
                    fip,
                    u32::from(f.fcs) | (fop << 16),
                    fdp,
                    0xffff_0000 | u32::from(f.fds),
                ]
            };
            for (k, v) in w.iter().enumerate() {
                b[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
            }
        } else {
            let w: [u32; 7] = if real {
                [
                    u32::from(f.fcw),
                    u32::from(f.status()),
                    tw,
                    fip & 0xffff,
                    ((fip >> 16) & 0xf) << 12 | fop,
                    fdp & 0xffff,
                    ((fdp >> 16) & 0xf) << 12,
                ]
            } else {
                [
                    u32::from(f.fcw),
                    u32::from(f.status()),
                    tw,
                    fip & 0xffff,
                    u32::from(f.fcs),
                    fdp & 0xffff,
                    u32::from(f.fds),
                ]
            };
            for (k, v) in w.iter().enumerate() {
                b[2 * k..2 * k + 2].copy_from_slice(&(*v as u16).to_le_bytes());
            }
        }
        b
    }

    /// Loads an FLDENV image; the registers are retagged from their contents afterwards.
    fn fpu_env_load(&mut self, b: &[u8], big: bool) {
        let real = matches!(self.mode, Mode::Real | Mode::Virtual8086);
        let rd = |k: usize| -> u32 {
            if big {
                u32::from_le_bytes(b[4 * k..4 * k + 4].try_into().unwrap())
            } else {
                u32::from(u16::from_le_bytes([b[2 * k], b[2 * k + 1]]))
            }
        };
        let f = &mut self.fpu;
        f.fcw = (rd(0) as u16 & 0x1f3f) | 0x40;
        let sw = rd(1) as u16;
        f.top = ((sw >> 11) & 7) as u8;
        f.fsw = sw & !0x3800;
        let tw = rd(2) as u16;
        if real {
            let hi = if big { 0xffff } else { 0xf };
            f.fip = u64::from((rd(3) & 0xffff) | (((rd(4) >> 12) & hi) << 16));
            f.fop = (rd(4) & 0x7ff) as u16;
            f.fdp = u64::from((rd(5) & 0xffff) | (((rd(6) >> 12) & hi) << 16));
        } else {
            f.fip = u64::from(if big { rd(3) } else { rd(3) & 0xffff });
            f.fcs = rd(4) as u16;
            if big {
                f.fop = ((rd(4) >> 16) & 0x7ff) as u16;
            }
            f.fdp = u64::from(rd(5));
            f.fds = rd(6) as u16;
        }
        f.retag(tw);
        f.update_es();
    }
}

fn env_big(i: &Instruction) -> bool {
    matches!(
        i.code(),
        Code::Fldenv_m28byte
            | Code::Fnstenv_m28byte
            | Code::Fstenv_m28byte
            | Code::Frstor_m108byte
            | Code::Fnsave_m108byte
            | Code::Fsave_m108byte
    )
}

fn fstenv<const WAIT: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    let big = env_big(i);
    let n = if big { 28 } else { 14 };
    let la = c.mem_linear(i, n, Acc::Write)?;
    let img = c.fpu_env_image(big);
    c.write_bytes(la, &img[..n as usize])?;
    c.fpu.fcw |= 0x3f;
    c.fpu.update_es();
    Ok(())
}

fn fldenv(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let big = env_big(i);
    let n = if big { 28 } else { 14 };
    let la = c.mem_linear(i, n, Acc::Read)?;
    let mut b = [0u8; 28];
    c.read_bytes(la, &mut b[..n as usize])?;
    c.fpu_env_load(&b, big);
    Ok(())
}

fn fsave<const WAIT: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    if WAIT {
        c.fpu_wait_check()?;
    } else {
        c.check_fpu()?;
    }
    let big = env_big(i);
    let n = if big { 28 } else { 14 };
    let la = c.mem_linear(i, n + 80, Acc::Write)?;
    let mut img = [0u8; 108];
    img[..28].copy_from_slice(&c.fpu_env_image(big));
    for k in 0..8 {
        let o = n as usize + 10 * k;
        img[o..o + 10].copy_from_slice(&f80_bytes(c.fpu.st(k)));
    }
    c.write_bytes(la, &img[..n as usize + 80])?;
    c.fpu.init();
    Ok(())
}

fn frstor(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    let big = env_big(i);
    let n = if big { 28 } else { 14 };
    let la = c.mem_linear(i, n + 80, Acc::Read)?;
    let mut img = [0u8; 108];
    c.read_bytes(la, &mut img[..n as usize + 80])?;
    let sw = u16::from_le_bytes([
        img[2 * if big { 2 } else { 1 }],
        img[if big { 5 } else { 3 }],
    ]);
    let top = usize::from((sw >> 11) & 7);
    for k in 0..8 {
        let o = n as usize + 10 * k;
        c.fpu.regs[(top + k) & 7] = f80_from_bytes(&img[o..o + 10]);
    }
    c.fpu_env_load(&img, big);
    Ok(())
}

fn fxsave(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_fpu()?;
    let la = c.mem_linear(i, 512, Acc::Write)?;
    if la & 15 != 0 {
        return Err(Exc::gp0());
    }
    let mut img = c.fxsave_image();
    if i.code() != Code::Fxsave64_m512byte {
        let f = &c.fpu;
        img[8..12].copy_from_slice(&(f.fip as u32).to_le_bytes());
        img[12..14].copy_from_slice(&f.fcs.to_le_bytes());
        img[14..16].fill(0);
        img[16..20].copy_from_slice(&(f.fdp as u32).to_le_bytes());
        img[20..22].copy_from_slice(&f.fds.to_le_bytes());
        img[22..24].fill(0);
    }
    // XMM8-15 exist only in 64-bit mode; bytes past the registers are left alone.
    let len = if c.long64() { 416 } else { 288 };
    c.write_bytes(la, &img[..len])
}

fn fxrstor(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_fpu()?;
    let la = c.mem_linear(i, 512, Acc::Read)?;
    if la & 15 != 0 {
        return Err(Exc::gp0());
    }
    let mut img = [0u8; 512];
    c.read_bytes(la, &mut img)?;
    let keep = c.xmm;
    c.fxrstor_image(&img)?;
    if i.code() != Code::Fxrstor64_m512byte {
        let f = &mut c.fpu;
        f.fcs = (f.fip >> 32) as u16;
        f.fip &= 0xffff_ffff;
        f.fds = (f.fdp >> 32) as u16;
        f.fdp &= 0xffff_ffff;
    }
    if !c.long64() {
        c.xmm[8..].copy_from_slice(&keep[8..]);
    }
    c.fpu.update_es();
    Ok(())
}

fn f2xm1(e: &mut Env, a: F80) -> F80 {
    let u = unpack(a);
    if let Some(r) = nan1(e, a, &u) {
        return r;
    }
    match u.k {
        K::Zero => return a,
        K::Inf => return if u.sign { ONE.neg() } else { a },
        _ => {}
    }
    de(e, &u);
    if u.exp > 16383 {
        // Outside [-1, 1] the result is architecturally undefined.
        e.exc |= IE;
        return INDEF;
    }
    expm1_b(B::from(&u).mul(consts().ln2)).to_f80(e)
}

/// FYL2X (`p1` false: y·log2 x) and FYL2XP1 (y·log2(x + 1)).
fn fyl2x(e: &mut Env, x: F80, y: F80, p1: bool) -> F80 {
    let ux = unpack(x);
    let uy = unpack(y);
    if let Some(r) = nan2(e, x, &ux, y, &uy) {
        return r;
    }
    let invalid = |e: &mut Env| {
        e.exc |= IE;
        INDEF
    };
    if p1 {
        match ux.k {
            K::Zero => {
                if uy.k == K::Inf {
                    return invalid(e);
                }
                de(e, &uy);
                return zero(ux.sign ^ uy.sign);
            }
            K::Inf if ux.sign => return invalid(e),
            _ => {}
        }
    } else if ux.sign && ux.k != K::Zero {
        return invalid(e);
    } else if ux.k == K::Zero {
        // Division by zero is detected before a denormal y.
        if uy.k == K::Zero {
            return invalid(e);
        }
        if uy.k == K::Fin {
            e.exc |= ZE;
        }
        return inf(!uy.sign);
    }
    de(e, &ux);
    de(e, &uy);
    // l = log2(x) or log2(1 + x), or the special cases of x = 0, +inf.
    let l = match ux.k {
        K::Zero => {
            if uy.k == K::Zero {
                return invalid(e);
            }
            if uy.k == K::Fin {
                e.exc |= ZE;
            }
            return inf(!uy.sign);
        }
        K::Inf => {
            if uy.k == K::Zero {
                return invalid(e);
            }
            return inf(uy.sign);
        }
        _ => {
            let bx = B::from(&ux);
            if p1 {
                if ux.sign && ux.exp >= 16383 {
                    return invalid(e);
                }
                atanh_series(bx.div(B::int(2).add(bx)))
                    .scale(1)
                    .div(consts().ln2)
            } else {
                ln_b(bx, consts().ln2).div(consts().ln2)
            }
        }
    };
    match uy.k {
        K::Inf => {
            if l.is_zero() {
                invalid(e)
            } else {
                inf(uy.sign ^ l.neg)
            }
        }
        K::Zero => zero(uy.sign ^ (l.neg && !l.is_zero())),
        _ => {
            if l.is_zero() {
                zero(uy.sign)
            } else {
                B::from(&uy).mul(l).to_f80(e)
            }
        }
    }
}

/// FPATAN: atan2(y = ST1, x = ST0).
fn fpatan(e: &mut Env, x: F80, y: F80) -> F80 {
    let ux = unpack(x);
    let uy = unpack(y);
    if let Some(r) = nan2(e, x, &ux, y, &uy) {
        return r;
    }
    de(e, &ux);
    de(e, &uy);
    let pi = consts().pi;
    let r = match (ux.k, uy.k) {
        (_, K::Zero) => {
            if ux.sign {
                pi
            } else {
                return zero(uy.sign);
            }
        }
        (K::Zero, _) | (K::Fin, K::Inf) => pi.scale(-1),
        (K::Inf, K::Inf) => {
            if ux.sign {
                pi.scale(-2).mul(B::int(3))
            } else {
                pi.scale(-2)
            }
        }
        (K::Inf, _) => {
            if ux.sign {
                pi
            } else {
                return zero(uy.sign);
            }
        }
        _ => atan2_b(B::from(&uy), B::from(&ux)),
    };
    let r = B { neg: uy.sign, ..r };
    r.to_f80(e)
}

const T_SIN: u8 = 0;
const T_COS: u8 = 1;
const T_SINCOS: u8 = 2;
const T_TAN: u8 = 3;

fn ftrig<const OP: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let push = OP == T_SINCOS || OP == T_TAN;
    let mut e = nop_env(c);
    let fault = match c.fpu_under(0) {
        0 if push => c.fpu_over(),
        u => u,
    };
    let x = c.fpu.st(0);
    let u = unpack(x);
    if fault == 0 && u.k == K::Fin && u.exp >= 16383 + 63 {
        // Out of range: C2 = 1 and the operand is left for the program to reduce.
        c.fpu_cc((c.fpu.fsw & (C0 | C3)) | C2);
        return Ok(());
    }
    let (r0, r1) = if fault != 0 {
        e.exc = fault;
        (INDEF, INDEF)
    } else if let Some(n) = nan1(&mut e, x, &u) {
        (n, n)
    } else {
        match u.k {
            K::Inf => {
                e.exc |= IE;
                (INDEF, INDEF)
            }
            K::Zero => match OP {
                T_COS => (ONE, ONE),
                T_SINCOS => (x, ONE),
                _ => (x, ONE),
            },
            _ => {
                de(&mut e, &u);
                let (r, q) = reduce_pio2(&u);
                let (s, co) = sincos_b(r);
                let sin = match q {
                    0 => s,
                    1 => co,
                    2 => s.negate(),
                    _ => co.negate(),
                };
                let cos = match q {
                    0 => co,
                    1 => s.negate(),
                    2 => co.negate(),
                    _ => s,
                };
                match OP {
                    T_SIN => (sin.to_f80(&mut e), ONE),
                    T_COS => (cos.to_f80(&mut e), ONE),
                    T_SINCOS => (sin.to_f80(&mut e), cos.to_f80(&mut e)),
                    _ => (sin.div(cos).to_f80(&mut e), ONE),
                }
            }
        }
    };
    c.fpu.fsw &= !C2;
    if c.fpu_flags(e.exc) {
        c.fpu.set_st(0, r0);
        if push {
            c.fpu.push(r1);
        }
    }
    Ok(())
}

const B_SCALE: u8 = 0;
const B_PREM: u8 = 1;
const B_PREM1: u8 = 2;
const B_YL2X: u8 = 3;
const B_YL2XP1: u8 = 4;
const B_PATAN: u8 = 5;

/// Instructions on ST0 and ST1: FSCALE, FPREM, FPREM1 (result in ST0); FYL2X, FYL2XP1,
/// FPATAN (result in ST1, then pop).
fn st01<const OP: u8>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let mut e = nop_env(c);
    let under = c.fpu_under(0) | c.fpu_under(1);
    let (a, b) = (c.fpu.st(0), c.fpu.st(1));
    let mut q = None;
    let r = if under != 0 {
        e.exc = under;
        INDEF
    } else {
        match OP {
            B_SCALE => fscale(&mut e, a, b),
            B_PREM | B_PREM1 => {
                let (r, quo, partial) = fprem(&mut e, a, b, OP == B_PREM1);
                if quo != u64::MAX {
                    q = Some((quo, partial));
                }
                r
            }
            B_YL2X => fyl2x(&mut e, a, b, false),
            B_YL2XP1 => fyl2x(&mut e, a, b, true),
            _ => fpatan(&mut e, a, b),
        }
    };
    let ok = c.fpu_flags(e.exc);
    if !ok && (OP == B_PREM || OP == B_PREM1) {
        c.fpu.fsw &= !C2;
    }
    if ok {
        match OP {
            B_SCALE => c.fpu.set_st(0, r),
            B_PREM | B_PREM1 => {
                c.fpu.set_st(0, r);
                let Some((quo, partial)) = q else {
                    c.fpu.fsw &= !C2;
                    return Ok(());
                };
                let mut cc = 0;
                if partial {
                    cc |= C2;
                } else {
                    if quo & 1 != 0 {
                        cc |= C1;
                    }
                    if quo & 2 != 0 {
                        cc |= C3;
                    }
                    if quo & 4 != 0 {
                        cc |= C0;
                    }
                }
                c.fpu_cc(cc);
            }
            _ => {
                c.fpu.set_st(1, r);
                c.fpu.pop();
            }
        }
    }
    Ok(())
}

fn fxtract(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.fpu_wait_check()?;
    c.fpu_note(i, None);
    let mut e = nop_env(c);
    let fault = match c.fpu_under(0) {
        0 => c.fpu_over(),
        u => u,
    };
    let x = c.fpu.st(0);
    let u = unpack(x);
    let (ex, sig) = if fault != 0 {
        e.exc = fault;
        (INDEF, INDEF)
    } else if let Some(n) = nan1(&mut e, x, &u) {
        (n, n)
    } else {
        match u.k {
            K::Zero => {
                e.exc |= ZE;
                (inf(true), x)
            }
            K::Inf => (inf(false), x),
            _ => {
                de(&mut e, &u);
                (
                    from_int(i64::from(u.exp - 16383)),
                    F80 {
                        mant: u.sig,
                        se: (x.se & 0x8000) | 0x3fff,
                    },
                )
            }
        }
    };
    if c.fpu_flags(e.exc) {
        c.fpu.set_st(0, ex);
        c.fpu.push(sig);
    }
    Ok(())
}

/// The handler for `code`, if it is an x87 instruction (or FXSAVE/FXRSTOR, WAIT).
pub fn handler(code: Code) -> Option<Handler> {
    use Code as C;
    Some(match code {
        C::Fadd_m32fp => arith::<OP_ADD, M32>,
        C::Fmul_m32fp => arith::<OP_MUL, M32>,
        C::Fsub_m32fp => arith::<OP_SUB, M32>,
        C::Fsubr_m32fp => arith::<OP_SUBR, M32>,
        C::Fdiv_m32fp => arith::<OP_DIV, M32>,
        C::Fdivr_m32fp => arith::<OP_DIVR, M32>,
        C::Fadd_m64fp => arith::<OP_ADD, M64>,
        C::Fmul_m64fp => arith::<OP_MUL, M64>,
        C::Fsub_m64fp => arith::<OP_SUB, M64>,
        C::Fsubr_m64fp => arith::<OP_SUBR, M64>,
        C::Fdiv_m64fp => arith::<OP_DIV, M64>,
        C::Fdivr_m64fp => arith::<OP_DIVR, M64>,
        C::Fiadd_m32int => arith::<OP_ADD, I32>,
        C::Fimul_m32int => arith::<OP_MUL, I32>,
        C::Fisub_m32int => arith::<OP_SUB, I32>,
        C::Fisubr_m32int => arith::<OP_SUBR, I32>,
        C::Fidiv_m32int => arith::<OP_DIV, I32>,
        C::Fidivr_m32int => arith::<OP_DIVR, I32>,
        C::Fiadd_m16int => arith::<OP_ADD, I16>,
        C::Fimul_m16int => arith::<OP_MUL, I16>,
        C::Fisub_m16int => arith::<OP_SUB, I16>,
        C::Fisubr_m16int => arith::<OP_SUBR, I16>,
        C::Fidiv_m16int => arith::<OP_DIV, I16>,
        C::Fidivr_m16int => arith::<OP_DIVR, I16>,
        C::Fadd_st0_sti | C::Fadd_sti_st0 => arith::<OP_ADD, SR>,
        C::Fmul_st0_sti | C::Fmul_sti_st0 => arith::<OP_MUL, SR>,
        C::Fsub_st0_sti | C::Fsub_sti_st0 => arith::<OP_SUB, SR>,
        C::Fsubr_st0_sti | C::Fsubr_sti_st0 => arith::<OP_SUBR, SR>,
        C::Fdiv_st0_sti | C::Fdiv_sti_st0 => arith::<OP_DIV, SR>,
        C::Fdivr_st0_sti | C::Fdivr_sti_st0 => arith::<OP_DIVR, SR>,
        C::Faddp_sti_st0 => arith::<OP_ADD, SRP>,
        C::Fmulp_sti_st0 => arith::<OP_MUL, SRP>,
        C::Fsubp_sti_st0 => arith::<OP_SUB, SRP>,
        C::Fsubrp_sti_st0 => arith::<OP_SUBR, SRP>,
        C::Fdivp_sti_st0 => arith::<OP_DIV, SRP>,
        C::Fdivrp_sti_st0 => arith::<OP_DIVR, SRP>,

        C::Fcom_m32fp => fcom::<M32, 0, false, false>,
        C::Fcomp_m32fp => fcom::<M32, 1, false, false>,
        C::Fcom_m64fp => fcom::<M64, 0, false, false>,
        C::Fcomp_m64fp => fcom::<M64, 1, false, false>,
        C::Ficom_m32int => fcom::<I32, 0, false, false>,
        C::Ficomp_m32int => fcom::<I32, 1, false, false>,
        C::Ficom_m16int => fcom::<I16, 0, false, false>,
        C::Ficomp_m16int => fcom::<I16, 1, false, false>,
        C::Fcom_st0_sti | C::Fcom_st0_sti_DCD0 => fcom::<SR, 0, false, false>,
        C::Fcomp_st0_sti | C::Fcomp_st0_sti_DCD8 | C::Fcomp_st0_sti_DED0 => {
            fcom::<SR, 1, false, false>
        }
        C::Fucom_st0_sti => fcom::<SR, 0, true, false>,
        C::Fucomp_st0_sti => fcom::<SR, 1, true, false>,
        C::Fcompp => fcom::<CST1, 2, false, false>,
        C::Fucompp => fcom::<CST1, 2, true, false>,
        C::Fcomi_st0_sti => fcom::<SR, 0, false, true>,
        C::Fcomip_st0_sti => fcom::<SR, 1, false, true>,
        C::Fucomi_st0_sti => fcom::<SR, 0, true, true>,
        C::Fucomip_st0_sti => fcom::<SR, 1, true, true>,
        C::Ftst => fcom::<CZERO, 0, false, false>,
        C::Fxam => ftst_fxam,

        C::Fld_m32fp => fld::<M32>,
        C::Fld_m64fp => fld::<M64>,
        C::Fld_m80fp => fld::<M80>,
        C::Fld_sti => fld::<SR>,
        C::Fild_m16int => fld::<I16>,
        C::Fild_m32int => fld::<I32>,
        C::Fild_m64int => fld::<I64>,
        C::Fbld_m80bcd => fbld,
        C::Fld1 => fldc::<0>,
        C::Fldl2t => fldc::<1>,
        C::Fldl2e => fldc::<2>,
        C::Fldpi => fldc::<3>,
        C::Fldlg2 => fldc::<4>,
        C::Fldln2 => fldc::<5>,
        C::Fldz => fldc::<6>,

        C::Fst_m32fp => fst::<M32, false>,
        C::Fstp_m32fp => fst::<M32, true>,
        C::Fst_m64fp => fst::<M64, false>,
        C::Fstp_m64fp => fst::<M64, true>,
        C::Fstp_m80fp => fst::<M80, true>,
        C::Fst_sti => fst::<SR, false>,
        C::Fstp_sti | C::Fstpnce_sti | C::Fstp_sti_DFD0 | C::Fstp_sti_DFD8 => fst::<SR, true>,
        C::Fist_m16int => fst::<I16, false>,
        C::Fistp_m16int => fst::<I16, true>,
        C::Fist_m32int => fst::<I32, false>,
        C::Fistp_m32int => fst::<I32, true>,
        C::Fistp_m64int => fst::<I64, true>,
        C::Fisttp_m16int => fst::<T16, true>,
        C::Fisttp_m32int => fst::<T32, true>,
        C::Fisttp_m64int => fst::<T64, true>,
        C::Fbstp_m80bcd => fst::<BCD, true>,

        C::Fxch_st0_sti | C::Fxch_st0_sti_DDC8 | C::Fxch_st0_sti_DFC8 => fxch,
        C::Fcmovb_st0_sti => fcmov::<0>,
        C::Fcmove_st0_sti => fcmov::<1>,
        C::Fcmovbe_st0_sti => fcmov::<2>,
        C::Fcmovu_st0_sti => fcmov::<3>,
        C::Fcmovnb_st0_sti => fcmov::<4>,
        C::Fcmovne_st0_sti => fcmov::<5>,
        C::Fcmovnbe_st0_sti => fcmov::<6>,
        C::Fcmovnu_st0_sti => fcmov::<7>,

        C::Fchs => unary::<U_CHS>,
        C::Fabs => unary::<U_ABS>,
        C::Fsqrt => unary::<U_SQRT>,
        C::Frndint => unary::<U_RND>,
        C::F2xm1 => unary::<U_F2XM1>,
        C::Fsin => ftrig::<T_SIN>,
        C::Fcos => ftrig::<T_COS>,
        C::Fsincos => ftrig::<T_SINCOS>,
        C::Fptan => ftrig::<T_TAN>,
        C::Fscale => st01::<B_SCALE>,
        C::Fprem => st01::<B_PREM>,
        C::Fprem1 => st01::<B_PREM1>,
        C::Fyl2x => st01::<B_YL2X>,
        C::Fyl2xp1 => st01::<B_YL2XP1>,
        C::Fpatan => st01::<B_PATAN>,
        C::Fxtract => fxtract,

        C::Fincstp => fincdec::<true>,
        C::Fdecstp => fincdec::<false>,
        C::Ffree_sti => ffree::<false>,
        C::Ffreep_sti => ffree::<true>,
        C::Fnop => fnop_wait,
        // The 8087's FENI/FDISI and the 287's FSETPM do nothing on later FPUs.
        C::Feni | C::Fdisi | C::Fsetpm => fnop_wait,
        C::Fneni | C::Fndisi | C::Fnsetpm => fnop_nowait,
        C::Wait => fwait,

        C::Fldcw_m2byte => fldcw,
        C::Fnstcw_m2byte => fstcw::<false>,
        C::Fstcw_m2byte => fstcw::<true>,
        C::Fnstsw_m2byte => fstsw::<false, false>,
        C::Fstsw_m2byte => fstsw::<true, false>,
        C::Fnstsw_AX => fstsw::<false, true>,
        C::Fstsw_AX => fstsw::<true, true>,
        C::Fnclex => fclex::<false>,
        C::Fclex => fclex::<true>,
        C::Fninit => finit::<false>,
        C::Finit => finit::<true>,
        C::Fnstenv_m14byte | C::Fnstenv_m28byte => fstenv::<false>,
        C::Fstenv_m14byte | C::Fstenv_m28byte => fstenv::<true>,
        C::Fldenv_m14byte | C::Fldenv_m28byte => fldenv,
        C::Fnsave_m94byte | C::Fnsave_m108byte => fsave::<false>,
        C::Fsave_m94byte | C::Fsave_m108byte => fsave::<true>,
        C::Frstor_m94byte | C::Frstor_m108byte => frstor,
        C::Fxsave_m512byte | C::Fxsave64_m512byte => fxsave,
        C::Fxrstor_m512byte | C::Fxrstor64_m512byte => fxrstor,
        _ => return None,
    })
}

#[cfg(all(test, target_arch = "x86_64", unix))]
mod tests {
    //! Differential tests against the host's x87: the same instruction bytes run natively (from
    //! an executable page) and in petrel's UserMachine, between an FRSTOR of a prepared state
    //! and an FNSAVE of the result. FIP/FCS/FOP/FDP/FDS are not compared (the host updates
    //! them only on unmasked exceptions, and addresses differ).
    use super::*;
    use crate::x86::user::{UserExit, UserMachine, UserState};

    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    // Data layout (relative to RDI): FRSTOR image at 0, memory operand at 0x100, FNSAVE
    // image at 0x200, RFLAGS out 0x300, RAX out 0x308, RFLAGS in 0x310, RAX in 0x318,
    // FXSAVE area 0x400.
    const DSZ: usize = 0x800;
    const MEM: usize = 0x100;
    const OUT: usize = 0x200;

    struct Native {
        page: *mut u8,
    }

    impl Native {
        fn new() -> Native {
            // SAFETY: an anonymous private mapping, owned by this value.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            Native { page: p as *mut u8 }
        }
        fn load(&mut self, code: &[u8]) {
            assert!(code.len() < 4096);
            // SAFETY: the page is ours and large enough.
            unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), self.page, code.len()) };
        }
        fn run(&self, data: &mut [u8]) {
            assert!(data.len() >= DSZ && (data.as_ptr() as usize).is_multiple_of(16));
            // SAFETY: the code was built by `program` and only touches `data` (through RDI)
            // and the stack (balanced push/pop), and returns.
            unsafe {
                core::arch::asm!(
                    "call {f}",
                    f = in(reg) self.page,
                    in("rdi") data.as_mut_ptr(),
                    clobber_abi("C"),
                );
            }
        }
    }

    impl Drop for Native {
        fn drop(&mut self) {
            // SAFETY: unmapping our own page.
            unsafe { libc::munmap(self.page as *mut libc::c_void, 4096) };
        }
    }

    /// The test program around `insn`.
    fn program(insn: &[u8], native: bool) -> Vec<u8> {
        let mut c = Vec::new();
        if native {
            // mov rax,[rdi+0x310]; push rax; popfq; mov rax,[rdi+0x318]
            c.extend_from_slice(&[0x48, 0x8b, 0x87, 0x10, 0x03, 0, 0, 0x50, 0x9d]);
            c.extend_from_slice(&[0x48, 0x8b, 0x87, 0x18, 0x03, 0, 0]);
        }
        c.extend_from_slice(&[0xdd, 0x27]); // frstor [rdi]
        c.extend_from_slice(insn);
        c.extend_from_slice(&[0xdd, 0xb7, 0x00, 0x02, 0, 0]); // fnsave [rdi+0x200]
        c.extend_from_slice(&[0x48, 0x89, 0x87, 0x08, 0x03, 0, 0]); // mov [rdi+0x308],rax
        if native {
            // pushfq; pop rax; mov [rdi+0x300],rax; ret
            c.extend_from_slice(&[0x9c, 0x58, 0x48, 0x89, 0x87, 0x00, 0x03, 0, 0, 0xc3]);
        } else {
            c.extend_from_slice(&[0x48, 0xbb]);
            c.extend_from_slice(&UserMachine::STOP.to_le_bytes());
            c.extend_from_slice(&[0xff, 0xe3]);
        }
        c
    }

    #[repr(C, align(64))]
    struct Data([u8; DSZ]);

    pub struct H {
        native: Native,
        m: UserMachine,
        pub insn: Vec<u8>,
    }

    impl H {
        pub fn new(insn: &[u8]) -> H {
            let mut native = Native::new();
            native.load(&program(insn, true));
            let mut m = UserMachine::new();
            m.load_code(&program(insn, false));
            H {
                native,
                m,
                insn: insn.to_vec(),
            }
        }

        /// Runs both; returns (native data, emulated data, emulated exit).
        pub fn run(&mut self, input: &[u8; DSZ]) -> (Box<[u8; DSZ]>, Box<[u8; DSZ]>, UserExit) {
            let mut d = Box::new(Data(*input));
            self.native.run(&mut d.0);
            let nat = Box::new(d.0);
            self.m.data_mut()[..DSZ].copy_from_slice(input);
            let rfl = u64::from_le_bytes(input[0x310..0x318].try_into().unwrap());
            let rax = u64::from_le_bytes(input[0x318..0x320].try_into().unwrap());
            let mut s = UserState {
                rip: UserMachine::CODE,
                rflags: rfl,
                ..UserState::default()
            };
            s.gpr[7] = UserMachine::DATA;
            s.gpr[0] = rax;
            let exit = self.m.run(&mut s, 100);
            let mut emu = Box::new([0u8; DSZ]);
            emu.copy_from_slice(&self.m.data()[..DSZ]);
            emu[0x300..0x308].copy_from_slice(&s.rflags.to_le_bytes());
            (nat, emu, exit)
        }
    }

    pub fn image(fcw: u16, fsw: u16, top: u8, empty: u8, st: &[F80; 8]) -> [u8; DSZ] {
        let mut d = [0u8; DSZ];
        d[0..2].copy_from_slice(&fcw.to_le_bytes());
        d[4..6].copy_from_slice(&((fsw & !0x3800) | (u16::from(top & 7) << 11)).to_le_bytes());
        let mut tw = 0u16;
        for p in 0..8 {
            let i = (p + 8 - usize::from(top & 7)) & 7;
            if empty & (1 << i) != 0 {
                tw |= 3 << (2 * p);
            }
        }
        d[8..10].copy_from_slice(&tw.to_le_bytes());
        for (i, v) in st.iter().enumerate() {
            d[28 + 10 * i..38 + 10 * i].copy_from_slice(&f80_bytes(*v));
        }
        d[0x310..0x318].copy_from_slice(&0x202u64.to_le_bytes());
        d
    }

    pub fn rand_f80(r: &mut Rng) -> F80 {
        let s = ((r.next() & 1) as u16) << 15;
        let m = r.next();
        let v = |se: u16, mant: u64| F80 { mant, se: s | se };
        match r.below(32) {
            0 => v(0, 0),
            1 => v(0x7fff, 1 << 63),
            2 => v(0x7fff, 0xC000_0000_0000_0000 | (m >> 2 & r.next())),
            3 => v(0x7fff, 0x8000_0000_0000_0000 | (m >> 2).max(1)),
            4 | 5 => v(0, m >> (1 + r.below(63))),
            6 if r.below(4) == 0 => v(0, m | 1 << 63),
            7 if r.below(4) == 0 => v(1 + r.below(0x7ffe) as u16, m >> 1),
            8 => v(1 + r.below(70) as u16, m | 1 << 63),
            9 => v(0x7ffe - r.below(70) as u16, m | 1 << 63),
            10 | 11 => {
                let x = from_int((r.next() as i64) >> r.below(64));
                F80 { se: x.se ^ s, ..x }
            }
            12 | 13 => v(
                16383 - 2 + r.below(4) as u16,
                (m | 1 << 63) & !(u64::MAX >> r.below(64)),
            ),
            14 => v(0x7fff, 0xC000_0000_0000_0000),
            15 => v(16383 + 62 + r.below(3) as u16, m | 1 << 63),
            16..=18 => v(
                16383 - 40 + r.below(80) as u16,
                (m | 1 << 63) & !(u64::MAX >> (1 + r.below(63))),
            ),
            _ => v(16383 - 100 + r.below(200) as u16, m | 1 << 63),
        }
    }

    /// A second operand: often close to the first one (cancellation, equal values).
    pub fn rand_pair(r: &mut Rng, a: F80) -> F80 {
        match r.below(6) {
            0 => F80 {
                mant: a.mant ^ (r.next() >> r.below(64)),
                se: a.se ^ ((r.next() & 1) as u16) << 15,
            },
            1 => F80 {
                mant: a.mant,
                se: (a.se ^ ((r.next() & 1) as u16) << 15)
                    .wrapping_add(r.below(3) as u16)
                    .wrapping_sub(1),
            },
            _ => rand_f80(r),
        }
    }

    pub fn rand_fcw(r: &mut Rng) -> u16 {
        let pc = [0u16, 2, 3, 3, 1][r.below(5) as usize];
        let rc = r.below(4) as u16;
        let masks = if r.below(4) == 0 {
            r.next() as u16 & 0x3f
        } else {
            0x3f
        };
        0x40 | masks | (pc << 8) | (rc << 10)
    }

    fn rand_f32(r: &mut Rng) -> u32 {
        let m = r.next() as u32;
        let s = m & 0x8000_0000;
        match r.below(10) {
            0 => s,
            1 => s | 0x7f80_0000,
            2 => s | 0x7f80_0000 | (m & 0x7f_ffff).max(1),
            3 => s | (m & 0x7f_ffff),
            4 => s | (m & 0x7f_ffff) | 0x3f80_0000,
            _ => m,
        }
    }

    fn rand_f64(r: &mut Rng) -> u64 {
        let m = r.next();
        let s = m & (1 << 63);
        match r.below(10) {
            0 => s,
            1 => s | 0x7ff0 << 48,
            2 => s | 0x7ff0 << 48 | (m & ((1 << 52) - 1)).max(1),
            3 => s | (m & ((1 << 52) - 1)),
            4 => s | 0x3ff0 << 48 | (m & ((1 << 52) - 1)),
            _ => m,
        }
    }

    fn rand_int(r: &mut Rng) -> u64 {
        match r.below(6) {
            0 => 0,
            1 => 1u64 << r.below(64),
            2 => (1u64 << r.below(64)).wrapping_sub(1),
            _ => r.next() >> r.below(64),
        }
    }

    /// The memory operand bytes for an operation reading memory of `kind`.
    fn rand_mem(r: &mut Rng, kind: u8) -> [u8; 16] {
        let mut b = [0u8; 16];
        match kind {
            M32 => b[..4].copy_from_slice(&rand_f32(r).to_le_bytes()),
            M64 => b[..8].copy_from_slice(&rand_f64(r).to_le_bytes()),
            I16 | I32 | I64 => b[..8].copy_from_slice(&rand_int(r).to_le_bytes()),
            _ => b[..10].copy_from_slice(&f80_bytes(rand_f80(r))),
        }
        b
    }

    fn fmt_state(d: &[u8]) -> String {
        let mut s = format!(
            "fcw={:04x} fsw={:04x} ftw={:04x} ",
            u16::from_le_bytes([d[0], d[1]]),
            u16::from_le_bytes([d[4], d[5]]),
            u16::from_le_bytes([d[8], d[9]])
        );
        for i in 0..8 {
            let v = f80_from_bytes(&d[28 + 10 * i..38 + 10 * i]);
            s += &format!("st{i}={:04x}:{:016x} ", v.se, v.mant);
        }
        s
    }

    /// Compares the FNSAVE image (minus pointers), the memory operand, RAX and the arithmetic
    /// flags. `tol`: the ulp tolerance on ST0/ST1 and ignoring PE/UE/C1 (transcendentals).
    fn compare(
        h: &H,
        input: &[u8; DSZ],
        nat: &[u8; DSZ],
        emu: &[u8; DSZ],
        exit: UserExit,
        tol: u64,
    ) {
        let ctx = || {
            format!(
                "insn {:02x?}\n in:  {}\n mem: {:02x?}\n nat: {}\n emu: {}\n nat mem {:02x?} emu mem {:02x?}",
                h.insn,
                fmt_state(&input[..108]),
                &input[MEM..MEM + 16],
                fmt_state(&nat[OUT..OUT + 108]),
                fmt_state(&emu[OUT..OUT + 108]),
                &nat[MEM..MEM + 16],
                &emu[MEM..MEM + 16],
            )
        };
        assert_eq!(exit, UserExit::Done, "{}", ctx());
        let (n, e) = (&nat[OUT..OUT + 108], &emu[OUT..OUT + 108]);
        if tol == 0 {
            let same = n[..12] == e[..12] && n[28..] == e[28..];
            assert!(same, "state differs\n{}", ctx());
        } else {
            let m = !(PE | UE | C1 | ES | BUSY);
            let (sn, se) = (
                u16::from_le_bytes([n[4], n[5]]),
                u16::from_le_bytes([e[4], e[5]]),
            );
            assert_eq!(sn & m, se & m, "fsw differs\n{}", ctx());
            // Tags: a result rounded to a neighbour may change class (denormal/zero), so only
            // empty-ness is compared.
            let tw = |d: &[u8]| {
                let t = u16::from_le_bytes([d[8], d[9]]);
                (0..8).fold(0u16, |a, p| a | (u16::from((t >> (2 * p)) & 3 == 3) << p))
            };
            assert!(
                n[..4] == e[..4] && tw(n) == tw(e),
                "fcw/ftw differ\n{}",
                ctx()
            );
            for i in 0..8 {
                let (a, b) = (&n[28 + 10 * i..38 + 10 * i], &e[28 + 10 * i..38 + 10 * i]);
                if a != b {
                    let (x, y) = (f80_from_bytes(a), f80_from_bytes(b));
                    let key = |v: F80| {
                        (i128::from(v.se & 0x7fff) << 63) + i128::from(v.mant & (u64::MAX >> 1))
                    };
                    let close = x.se & 0x8000 == y.se & 0x8000
                        && (key(x) - key(y)).unsigned_abs() <= u128::from(tol)
                        && x.mant >> 63 == y.mant >> 63;
                    assert!(close, "st{i} differs beyond {tol} ulp\n{}", ctx());
                }
            }
        }
        assert_eq!(
            nat[MEM..MEM + 16],
            emu[MEM..MEM + 16],
            "memory differs\n{}",
            ctx()
        );
        assert_eq!(
            nat[0x308..0x310],
            emu[0x308..0x310],
            "rax differs\n{}",
            ctx()
        );
        let fl = |d: &[u8]| u64::from_le_bytes(d[0x300..0x308].try_into().unwrap()) & 0x8d5;
        assert_eq!(fl(nat), fl(emu), "flags differ\n{}", ctx());
    }

    /// A random FRSTOR state for an instruction that reads `reads` stack slots.
    pub fn rand_state(r: &mut Rng) -> [u8; DSZ] {
        let mut st = [F80::default(); 8];
        for v in st.iter_mut() {
            *v = rand_f80(r);
        }
        if r.below(2) == 0 {
            st[1] = rand_pair(r, st[0]);
        }
        let empty = match r.below(16) {
            0 => 1,
            1 => 2,
            2 => 0x80,
            3 => 0xfe,
            4 => 0xfc,
            _ => 0x80 * (r.below(2) as u8),
        };
        let fcw = rand_fcw(r);
        // Only masked exception flags may be pending, or the FRSTOR'd state would trap.
        let fsw = ((r.next() as u16) & (C0 | C1 | C2 | C3)) | (r.next() as u16 & fcw & 0x3f);
        let mut d = image(fcw, fsw, r.below(8) as u8, empty, &st);
        let fl = 0x202 | (r.next() & 0x8d5);
        d[0x310..0x318].copy_from_slice(&fl.to_le_bytes());
        d[0x318..0x320].copy_from_slice(&r.next().to_le_bytes());
        d
    }

    /// Register form: opcode byte and ModRM base (C0..F8) + i.
    fn reg(op: u8, modrm: u8, i: u8) -> Vec<u8> {
        vec![op, modrm + i]
    }

    /// Memory form [rdi+0x100].
    fn mem(op: u8, regf: u8) -> Vec<u8> {
        vec![op, 0x87 | (regf << 3), 0x00, 0x01, 0, 0]
    }

    pub fn check(insn: &[u8], memkind: Option<u8>, cases: usize, seed: u64, tol: u64) {
        let mut h = H::new(insn);
        let mut r = Rng(seed | 1);
        for _ in 0..cases {
            let mut d = rand_state(&mut r);
            if let Some(k) = memkind {
                d[MEM..MEM + 16].copy_from_slice(&rand_mem(&mut r, k));
            }
            let (n, e, x) = h.run(&d);
            compare(&h, &d, &n, &e, x, tol);
        }
    }

    /// Cases per instruction form; X87_CASES scales it for longer runs.
    static N_CELL: OnceLock<usize> = OnceLock::new();
    #[allow(non_snake_case)]
    fn N() -> usize {
        *N_CELL.get_or_init(|| {
            std::env::var("X87_CASES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3000)
        })
    }

    #[test]
    fn arith_reg_forms() {
        for (k, g) in (0u8..8).enumerate() {
            if g == 2 || g == 3 {
                continue;
            }
            for i in [0u8, 1, 3] {
                check(
                    &reg(0xd8, 0xc0 | (g << 3), i),
                    None,
                    N() / 3,
                    11 + k as u64 * 7 + u64::from(i),
                    0,
                );
                check(
                    &reg(0xdc, 0xc0 | (g << 3), i),
                    None,
                    N() / 3,
                    12 + k as u64 * 7 + u64::from(i),
                    0,
                );
                check(
                    &reg(0xde, 0xc0 | (g << 3), i),
                    None,
                    N() / 3,
                    13 + k as u64 * 7 + u64::from(i),
                    0,
                );
            }
        }
    }

    #[test]
    fn arith_mem_forms() {
        for g in [0u8, 1, 4, 5, 6, 7] {
            check(&mem(0xd8, g), Some(M32), N(), 100 + u64::from(g), 0);
            check(&mem(0xdc, g), Some(M64), N(), 200 + u64::from(g), 0);
            check(&mem(0xda, g), Some(I32), N() / 3, 300 + u64::from(g), 0);
            check(&mem(0xde, g), Some(I16), N() / 3, 400 + u64::from(g), 0);
        }
    }

    #[test]
    fn compares() {
        for g in [2u8, 3] {
            check(&mem(0xd8, g), Some(M32), N(), 500 + u64::from(g), 0);
            check(&mem(0xdc, g), Some(M64), N(), 510 + u64::from(g), 0);
            check(&mem(0xda, g), Some(I32), N() / 3, 520 + u64::from(g), 0);
            check(&mem(0xde, g), Some(I16), N() / 3, 530 + u64::from(g), 0);
            for i in [0u8, 1, 5] {
                check(
                    &reg(0xd8, 0xc0 | (g << 3), i),
                    None,
                    N() / 3,
                    540 + u64::from(g + i),
                    0,
                );
            }
        }
        for i in [0u8, 1, 4] {
            check(&reg(0xdd, 0xe0, i), None, N() / 3, 550 + u64::from(i), 0); // fucom
            check(&reg(0xdd, 0xe8, i), None, N() / 3, 560 + u64::from(i), 0); // fucomp
            check(&reg(0xdb, 0xf0, i), None, N() / 3, 570 + u64::from(i), 0); // fcomi
            check(&reg(0xdf, 0xf0, i), None, N() / 3, 580 + u64::from(i), 0); // fcomip
            check(&reg(0xdb, 0xe8, i), None, N() / 3, 590 + u64::from(i), 0); // fucomi
            check(&reg(0xdf, 0xe8, i), None, N() / 3, 600 + u64::from(i), 0); // fucomip
        }
        check(&[0xde, 0xd9], None, N(), 610, 0); // fcompp
        check(&[0xda, 0xe9], None, N(), 611, 0); // fucompp
        check(&[0xd9, 0xe4], None, N(), 612, 0); // ftst
        check(&[0xd9, 0xe5], None, N(), 613, 0); // fxam
    }

    #[test]
    fn fcmov() {
        for (op, g) in [
            (0xdau8, 0u8),
            (0xda, 1),
            (0xda, 2),
            (0xda, 3),
            (0xdb, 0),
            (0xdb, 1),
            (0xdb, 2),
            (0xdb, 3),
        ] {
            for i in [0u8, 2] {
                check(
                    &reg(op, 0xc0 | (g << 3), i),
                    None,
                    N() / 4,
                    700 + u64::from(g + i),
                    0,
                );
            }
        }
    }

    #[test]
    fn loads() {
        check(&mem(0xd9, 0), Some(M32), N(), 800, 0);
        check(&mem(0xdd, 0), Some(M64), N(), 801, 0);
        check(&mem(0xdb, 5), Some(M80), N(), 802, 0);
        check(&mem(0xdf, 0), Some(I16), N() / 3, 803, 0);
        check(&mem(0xdb, 0), Some(I32), N() / 3, 804, 0);
        check(&mem(0xdf, 5), Some(I64), N() / 3, 805, 0);
        for i in [0u8, 1, 7] {
            check(&reg(0xd9, 0xc0, i), None, N() / 3, 806 + u64::from(i), 0);
        }
        for k in 0..7u8 {
            check(&[0xd9, 0xe8 + k], None, N() / 3, 820 + u64::from(k), 0);
        }
    }

    #[test]
    fn fbld() {
        let mut h = H::new(&mem(0xdf, 4));
        let mut r = Rng(77);
        for _ in 0..N() {
            let mut d = rand_state(&mut r);
            let mut b = [0u8; 16];
            for v in b.iter_mut().take(9) {
                *v = (r.below(10) as u8) | ((r.below(10) as u8) << 4);
            }
            b[9] = (r.next() as u8) & 0x80;
            d[MEM..MEM + 16].copy_from_slice(&b);
            let (n, e, x) = h.run(&d);
            compare(&h, &d, &n, &e, x, 0);
        }
    }

    #[test]
    fn stores() {
        check(&mem(0xd9, 2), None, N(), 900, 0);
        check(&mem(0xd9, 3), None, N(), 901, 0);
        check(&mem(0xdd, 2), None, N(), 902, 0);
        check(&mem(0xdd, 3), None, N(), 903, 0);
        check(&mem(0xdb, 7), None, N() / 3, 904, 0);
        check(&mem(0xdf, 2), None, N(), 905, 0); // fist m16
        check(&mem(0xdf, 3), None, N() / 3, 906, 0);
        check(&mem(0xdb, 2), None, N(), 907, 0); // fist m32
        check(&mem(0xdb, 3), None, N() / 3, 908, 0);
        check(&mem(0xdf, 7), None, N(), 909, 0); // fistp m64
        check(&mem(0xdf, 1), None, N() / 2, 910, 0); // fisttp m16
        check(&mem(0xdb, 1), None, N() / 2, 911, 0); // fisttp m32
        check(&mem(0xdd, 1), None, N() / 2, 912, 0); // fisttp m64
        check(&mem(0xdf, 6), None, N(), 913, 0); // fbstp
        for i in [0u8, 1, 6] {
            check(&reg(0xdd, 0xd0, i), None, N() / 3, 920 + u64::from(i), 0); // fst sti
            check(&reg(0xdd, 0xd8, i), None, N() / 3, 930 + u64::from(i), 0); // fstp sti
        }
    }

    #[test]
    fn unary_and_misc() {
        for (k, b) in [
            0xe0u8, 0xe1, 0xfa, 0xfc, 0xfd, 0xf4, 0xf8, 0xf5, 0xf6, 0xf7, 0xd0,
        ]
        .iter()
        .enumerate()
        {
            check(&[0xd9, *b], None, N(), 1000 + k as u64, 0);
        }
        for i in [0u8, 1, 7] {
            check(&reg(0xd9, 0xc8, i), None, N() / 3, 1020 + u64::from(i), 0); // fxch
            check(&reg(0xdd, 0xc0, i), None, N() / 3, 1030 + u64::from(i), 0); // ffree
            check(&reg(0xdf, 0xc0, i), None, N() / 3, 1040 + u64::from(i), 0); // ffreep
        }
        check(&[0xdf, 0xe0], None, N() / 3, 1050, 0); // fnstsw ax
        check(&[0xdb, 0xe2], None, N() / 3, 1051, 0); // fnclex
        check(&[0xdb, 0xe3], None, N() / 3, 1052, 0); // fninit
        check(&mem(0xdd, 7), None, N() / 3, 1053, 0); // fnstsw m16
        check(&mem(0xd9, 7), None, N() / 3, 1054, 0); // fnstcw
        check(&mem(0xd9, 5), Some(I16), N() / 3, 1055, 0); // fldcw
    }

    #[test]
    fn fldenv_random() {
        // fldenv [rdi+0x100] from random bytes (pending unmasked exceptions included: FNSAVE
        // does not wait).
        let mut h = H::new(&mem(0xd9, 4));
        let mut r = Rng(9191);
        for _ in 0..N() / 3 {
            let mut d = rand_state(&mut r);
            for k in 0..28 {
                d[MEM + k] = r.next() as u8;
            }
            let (n, e, x) = h.run(&d);
            compare(&h, &d, &n, &e, x, 0);
        }
    }

    #[test]
    fn fnstenv_image() {
        // fnstenv [rdi+0x100]: the 28-byte image minus the pointer fields.
        let mut h = H::new(&mem(0xd9, 6));
        let mut r = Rng(4242);
        for _ in 0..N() / 3 {
            let d = rand_state(&mut r);
            let (mut n, mut e, x) = h.run(&d);
            for b in [&mut n, &mut e] {
                b[MEM + 12..MEM + 28].fill(0);
            }
            compare(&h, &d, &n, &e, x, 0);
        }
    }

    #[test]
    fn transcendental() {
        // f2xm1 fyl2x fptan fpatan fyl2xp1 fsin fcos fsincos, compared within 2 ulp.
        for (k, b) in [0xf0u8, 0xf1, 0xf2, 0xf3, 0xf9, 0xfe, 0xff, 0xfb]
            .iter()
            .enumerate()
        {
            let mut h = H::new(&[0xd9, *b]);
            let mut r = Rng(5000 + k as u64);
            for _ in 0..N() {
                let mut d = rand_state(&mut r);
                // Keep F2XM1/FYL2XP1 inside their defined domains.
                let mut x = f80_from_bytes(&d[28..38]);
                if (*b == 0xf0 || *b == 0xf9) && unpack(x).k == K::Fin && x.se & 0x7fff >= 16382 {
                    x.se = (x.se & 0x8000) | (16382 - r.below(30) as u16);
                    if *b == 0xf9 {
                        x.mant &= 0x95ff_ffff_ffff_ffff;
                    }
                    d[28..38].copy_from_slice(&f80_bytes(x));
                }
                let (n, e, ex) = h.run(&d);
                compare(&h, &d, &n, &e, ex, 2);
            }
        }
    }

    #[test]
    fn fxsave_matches_host() {
        // frstor; fxsave64 [rdi+0x400] — compare the x87 part of the image.
        let mut h = H::new(&[0x48, 0x0f, 0xae, 0x87, 0x00, 0x04, 0, 0]);
        let mut r = Rng(31337);
        for _ in 0..500 {
            let d = rand_state(&mut r);
            let (n, e, x) = h.run(&d);
            assert_eq!(x, UserExit::Done);
            let (a, b) = (&n[0x400..0x400 + 160], &e[0x400..0x400 + 160]);
            assert_eq!(a[0..8], b[0..8], "fcw/fsw/ftw/fop\n{}", fmt_state(&d));
            assert_eq!(a[32..160], b[32..160]);
        }
    }

    fn run_user(
        code: &[u8],
        setup: impl FnOnce(&mut UserMachine),
    ) -> (UserExit, UserMachine, UserState) {
        let mut m = UserMachine::new();
        let mut c = code.to_vec();
        c.extend_from_slice(&[0x48, 0xbb]);
        c.extend_from_slice(&UserMachine::STOP.to_le_bytes());
        c.extend_from_slice(&[0xff, 0xe3]);
        m.load_code(&c);
        setup(&mut m);
        let mut s = UserState {
            rip: UserMachine::CODE,
            ..UserState::default()
        };
        s.gpr[7] = UserMachine::DATA;
        let x = m.run(&mut s, 1000);
        (x, m, s)
    }

    #[test]
    fn nm_and_mf() {
        // #NM with CR0.TS for x87; WAIT only with MP and TS.
        let (x, ..) = run_user(&[0xd9, 0xe8], |m| m.cpu.cr0 |= CR0_TS);
        assert!(matches!(x, UserExit::Exception { vector: 7, .. }));
        let (x, ..) = run_user(&[0x9b], |m| m.cpu.cr0 = (m.cpu.cr0 | CR0_TS) & !CR0_MP);
        assert_eq!(x, UserExit::Done);
        let (x, ..) = run_user(&[0x9b], |m| m.cpu.cr0 |= CR0_TS | CR0_MP);
        assert!(matches!(x, UserExit::Exception { vector: 7, .. }));
        let (x, ..) = run_user(&[0xd9, 0xe8], |m| m.cpu.cr0 |= CR0_EM);
        assert!(matches!(x, UserExit::Exception { vector: 7, .. }));
        // Unmasked ZE: fldcw (all but ZE masked); fldz; fld1; fdivrp → pending; then fwait → #MF
        // at the FWAIT, with FIP pointing at the division.
        let mut code = vec![0xd9, 0x2f]; // fldcw [rdi]
        code.extend_from_slice(&[0xd9, 0xee, 0xd9, 0xe8, 0xde, 0xf1]); // fldz; fld1; fdivrp
        code.extend_from_slice(&[0xdf, 0xe0]); // fnstsw ax (no wait)
        code.push(0x9b); // fwait
        let (x, m, s) = run_user(&code, |m| {
            m.data_mut()[0..2].copy_from_slice(&0x037bu16.to_le_bytes())
        });
        assert!(matches!(x, UserExit::Exception { vector: 16, .. }), "{x:?}");
        assert_eq!(s.rip, UserMachine::CODE + 10);
        assert_eq!(s.gpr[0] as u16 & 0x80ff, 0x8084);
        assert_eq!(m.cpu.fpu.fip, UserMachine::CODE + 6);
        assert_eq!(m.cpu.fpu.fop, 0x6f1);
        // The divide did not complete: ST0 = 1, ST1 = 0 still.
        assert_eq!(m.cpu.fpu.st(0), ONE);
        // Same without CR0.NE: no #MF.
        let (x, ..) = run_user(&code, |m| {
            m.data_mut()[0..2].copy_from_slice(&0x037bu16.to_le_bytes());
            m.cpu.cr0 &= !CR0_NE;
        });
        assert_eq!(x, UserExit::Done);
    }

    #[test]
    fn fxsave_alignment_and_mxcsr() {
        // fxsave [rdi+8] → #GP(0)
        let (x, ..) = run_user(&[0x0f, 0xae, 0x47, 0x08], |_| {});
        assert_eq!(
            x,
            UserExit::Exception {
                vector: 13,
                error: 0,
                fault_addr: 0
            }
        );
        // fxrstor with a reserved MXCSR bit → #GP(0)
        let (x, ..) = run_user(&[0x0f, 0xae, 0x4f, 0x00], |m| {
            m.data_mut()[24..28].copy_from_slice(&0x1_0000u32.to_le_bytes());
        });
        assert_eq!(
            x,
            UserExit::Exception {
                vector: 13,
                error: 0,
                fault_addr: 0
            }
        );
        // fld1; fxsave [rdi]; fninit; fxrstor [rdi]; fdp/fip in the 64-bit image.
        let code = [
            0xd9, 0xe8, 0x48, 0x0f, 0xae, 0x07, 0xdb, 0xe3, 0x48, 0x0f, 0xae, 0x0f,
        ];
        let (x, m, _) = run_user(&code, |_| {});
        assert_eq!(x, UserExit::Done);
        assert_eq!(m.cpu.fpu.st(0), ONE);
        assert_eq!(m.cpu.fpu.top, 7);
        assert_eq!(m.cpu.fpu.fip, UserMachine::CODE);
        // fld qword [rdi+0x20] records FDP.
        let (_, m, _) = run_user(&[0xdd, 0x47, 0x20], |_| {});
        assert_eq!(m.cpu.fpu.fdp, UserMachine::DATA + 0x20);
        assert_eq!(m.cpu.fpu.fop, 0x547);
    }

    /// Cost of the soft-float core (run with --ignored --nocapture, in a release-like build).
    #[test]
    #[ignore]
    fn bench_softfloat() {
        let mut r = Rng(1);
        let v: Vec<F80> = (0..1024)
            .map(|_| F80 {
                mant: r.next() | 1 << 63,
                se: 16383 - 20 + r.below(40) as u16,
            })
            .collect();
        let time = |name: &str, f: &dyn Fn(&mut Env, F80, F80) -> F80| {
            let mut e = Env::new(0x37f);
            let t = std::time::Instant::now();
            let mut acc = 0u64;
            for k in 0..1_000_000 {
                acc ^= f(&mut e, v[k & 1023], v[(k * 7 + 3) & 1023]).mant;
            }
            let ns = t.elapsed().as_nanos() as f64 / 1e6;
            println!("{name}: {ns:.1} ns/op ({acc:x})");
        };
        time("fadd", &|e, a, b| fadd(e, a, b, false));
        time("fsub", &|e, a, b| fadd(e, a, b, true));
        time("fmul", &fmul);
        time("fdiv", &fdiv);
        time("fsqrt", &|e, a, _| fsqrt(e, a));
        time("fprem", &|e, a, b| fprem(e, a, b, false).0);
        time("to_f64", &|e, a, _| F80 {
            mant: to_ieee(e, a, F64, 11).unwrap_or(0),
            se: 0,
        });
        time("fpatan", &|e, a, b| fpatan(e, a, b));
        time("fyl2x", &|e, a, b| fyl2x(e, a.abs(), b, false));
        let mut u = Un {
            k: K::Fin,
            sign: false,
            exp: 16383,
            sig: 1 << 63,
            denorm: false,
        };
        let t = std::time::Instant::now();
        let mut acc = 0u64;
        for k in 0..100_000 {
            u.sig = v[k & 1023].mant;
            let (x, _) = reduce_pio2(&u);
            acc ^= sincos_b(x).0.m as u64;
        }
        println!(
            "fsin core: {:.1} ns/op ({acc:x})",
            t.elapsed().as_nanos() as f64 / 1e5
        );
    }
}
