//! SSE floating-point instructions: packed/scalar arithmetic, compares, conversions, rounding,
//! horizontal and dot-product operations, reciprocal approximations. Flags of all elements
//! are gathered first; an unmasked exception raises #XM (#UD without CR4.OSXMMEXCPT) with
//! MXCSR updated and the destination untouched.

use super::super::cpu::{Cpu, Exc, CR4_OSXMMEXCPT, R};
use super::super::flags;
use super::sse_fp::*;
use super::{load, mmx_check, mn, src_gpr, src_x, xn, Handler};
use iced_x86::{Code, Instruction, Mnemonic, OpKind};

/// Records the flags of an instruction; unmasked ones fault. When an unmasked exception is a
/// pre-computation one (IE, DE, ZE), the post-computation flags are not reported.
#[inline(always)]
fn commit(c: &mut Cpu, fl: u32) -> R<()> {
    if fl & !(c.mxcsr >> 7) & 0x3f == 0 {
        c.mxcsr |= fl;
        return Ok(());
    }
    simd_fault(c, fl)
}

#[cold]
fn simd_fault(c: &mut Cpu, fl: u32) -> R<()> {
    let unmasked = fl & !(c.mxcsr >> 7) & 0x3f;
    c.mxcsr |= if unmasked & PRE != 0 { fl & PRE } else { fl };
    Err(if c.cr4 & CR4_OSXMMEXCPT != 0 {
        Exc::new(super::super::vec::XM)
    } else {
        Exc::ud()
    })
}

trait FOp {
    fn s(a: u32, b: u32, imm: u8, mx: u32, fl: &mut u32) -> u32;
    fn d(a: u64, b: u64, imm: u8, mx: u32, fl: &mut u32) -> u64;
}

/// Gives the lane closures their types without going through a function pointer.
#[inline(always)]
fn call<T>(a: T, b: T, imm: u8, mx: u32, f: impl Fn(T, T, u8, u32) -> (T, u32)) -> (T, u32) {
    f(a, b, imm, mx)
}

macro_rules! fop {
    ($name:ident, $s:expr, $d:expr) => {
        struct $name;
        impl FOp for $name {
            #[inline(always)]
            fn s(a: u32, b: u32, imm: u8, mx: u32, fl: &mut u32) -> u32 {
                let (r, g) = call(a, b, imm, mx, $s);
                *fl |= g;
                r
            }
            #[inline(always)]
            fn d(a: u64, b: u64, imm: u8, mx: u32, fl: &mut u32) -> u64 {
                let (r, g) = call(a, b, imm, mx, $d);
                *fl |= g;
                r
            }
        }
    };
}

fop!(Add, |a, b, _, m| add32(a, b, m), |a, b, _, m| add64(
    a, b, m
));
fop!(Sub, |a, b, _, m| sub32(a, b, m), |a, b, _, m| sub64(
    a, b, m
));
fop!(Mul, |a, b, _, m| mul32(a, b, m), |a, b, _, m| mul64(
    a, b, m
));
fop!(Div, |a, b, _, m| div32(a, b, m), |a, b, _, m| div64(
    a, b, m
));
fop!(Sqrt, |_, b, _, m| sqrt32(b, m), |_, b, _, m| sqrt64(b, m));
fop!(
    Min,
    |a, b, _, m| {
        let (r, f) = minmax::<F32>(a.into(), b.into(), false, m);
        (r as u32, f)
    },
    |a, b, _, m| minmax::<F64>(a, b, false, m)
);
fop!(
    Max,
    |a, b, _, m| {
        let (r, f) = minmax::<F32>(a.into(), b.into(), true, m);
        (r as u32, f)
    },
    |a, b, _, m| minmax::<F64>(a, b, true, m)
);
fop!(
    Cmp,
    |a, b, imm, m| {
        let mut f = 0;
        let r = cmp_pred::<F32>(a.into(), b.into(), imm, m, &mut f);
        (if r { u32::MAX } else { 0 }, f)
    },
    |a, b, imm, m| {
        let mut f = 0;
        let r = cmp_pred::<F64>(a, b, imm, m, &mut f);
        (if r { u64::MAX } else { 0 }, f)
    }
);
fop!(
    Round,
    |_, b, imm, m| {
        let (r, f) = round_int::<F32>(b.into(), round_mode(imm, m), imm & 8 != 0, m);
        (r as u32, f)
    },
    |_, b, imm, m| round_int::<F64>(b, round_mode(imm, m), imm & 8 != 0, m)
);
fop!(Rcp, |_, b, _, _| (rcp32(b), 0), |_, b, _, _| (b, 0));
fop!(Rsqrt, |_, b, _, _| (rsqrt32(b), 0), |_, b, _, _| (b, 0));

#[inline(always)]
fn round_mode(imm: u8, mx: u32) -> u32 {
    if imm & 4 != 0 {
        rc_of(mx)
    } else {
        u32::from(imm & 3)
    }
}

#[inline(always)]
fn lane32(x: u128, k: usize) -> u32 {
    (x >> (32 * k)) as u32
}
#[inline(always)]
fn lane64(x: u128, k: usize) -> u64 {
    (x >> (64 * k)) as u64
}

fn fp_ps<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx, imm) = (c.xmm[d], c.mxcsr, i.immediate8());
    let mut fl = 0;
    let mut r = 0u128;
    for k in 0..4 {
        r |= (O::s(lane32(a, k), lane32(b, k), imm, mx, &mut fl) as u128) << (32 * k);
    }
    commit(c, fl)?;
    c.xmm[d] = r;
    Ok(())
}

fn fp_pd<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx, imm) = (c.xmm[d], c.mxcsr, i.immediate8());
    let mut fl = 0;
    let r0 = O::d(lane64(a, 0), lane64(b, 0), imm, mx, &mut fl);
    let r1 = O::d(lane64(a, 1), lane64(b, 1), imm, mx, &mut fl);
    commit(c, fl)?;
    c.xmm[d] = r0 as u128 | (r1 as u128) << 64;
    Ok(())
}

fn fp_ss<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx, imm) = (c.xmm[d], c.mxcsr, i.immediate8());
    let mut fl = 0;
    let r = O::s(a as u32, b as u32, imm, mx, &mut fl);
    commit(c, fl)?;
    c.xmm[d] = (a & !0xffff_ffff) | r as u128;
    Ok(())
}

fn fp_sd<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx, imm) = (c.xmm[d], c.mxcsr, i.immediate8());
    let mut fl = 0;
    let r = O::d(a as u64, b as u64, imm, mx, &mut fl);
    commit(c, fl)?;
    c.xmm[d] = (a & !(u64::MAX as u128)) | r as u128;
    Ok(())
}

/// COMISS/UCOMISS/COMISD/UCOMISD.
fn comis<const D: bool, const QUIET: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    use std::cmp::Ordering::*;
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let a = c.xmm[xn(i.op0_register())];
    let mut fl = 0;
    let o = if D {
        compare::<F64>(a as u64, b as u64, QUIET, c.mxcsr, &mut fl)
    } else {
        compare::<F32>(a as u32 as u64, b as u32 as u64, QUIET, c.mxcsr, &mut fl)
    };
    commit(c, fl)?;
    let f = match o {
        None => flags::ZF | flags::PF | flags::CF,
        Some(Less) => flags::CF,
        Some(Equal) => flags::ZF,
        Some(Greater) => 0,
    };
    c.lazy.set_eager(f);
    Ok(())
}

fn addsubps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx) = (c.xmm[d], c.mxcsr);
    let mut fl = 0;
    let mut r = 0u128;
    for k in 0..4 {
        let (x, y) = (lane32(a, k), lane32(b, k));
        let v = if k & 1 == 0 {
            Sub::s(x, y, 0, mx, &mut fl)
        } else {
            Add::s(x, y, 0, mx, &mut fl)
        };
        r |= (v as u128) << (32 * k);
    }
    commit(c, fl)?;
    c.xmm[d] = r;
    Ok(())
}

fn addsubpd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx) = (c.xmm[d], c.mxcsr);
    let mut fl = 0;
    let r0 = Sub::d(lane64(a, 0), lane64(b, 0), 0, mx, &mut fl);
    let r1 = Add::d(lane64(a, 1), lane64(b, 1), 0, mx, &mut fl);
    commit(c, fl)?;
    c.xmm[d] = r0 as u128 | (r1 as u128) << 64;
    Ok(())
}

fn hps<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx) = (c.xmm[d], c.mxcsr);
    let mut fl = 0;
    let r = [
        O::s(lane32(a, 0), lane32(a, 1), 0, mx, &mut fl),
        O::s(lane32(a, 2), lane32(a, 3), 0, mx, &mut fl),
        O::s(lane32(b, 0), lane32(b, 1), 0, mx, &mut fl),
        O::s(lane32(b, 2), lane32(b, 3), 0, mx, &mut fl),
    ];
    commit(c, fl)?;
    c.xmm[d] = (0..4).fold(0u128, |x, k| x | (r[k] as u128) << (32 * k));
    Ok(())
}

fn hpd<O: FOp>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, mx) = (c.xmm[d], c.mxcsr);
    let mut fl = 0;
    let r0 = O::d(lane64(a, 0), lane64(a, 1), 0, mx, &mut fl);
    let r1 = O::d(lane64(b, 0), lane64(b, 1), 0, mx, &mut fl);
    commit(c, fl)?;
    c.xmm[d] = r0 as u128 | (r1 as u128) << 64;
    Ok(())
}

/// DPPS/DPPD run in stages (multiplies, then adds): an unmasked exception stops at the end of
/// the stage that raised it, with the earlier stages' flags recorded.
fn dpps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, imm) = (c.xmm[d], i.immediate8());
    let mut fl = 0;
    let mut t = [0u32; 4];
    for (k, v) in t.iter_mut().enumerate() {
        if imm >> (4 + k) & 1 != 0 {
            *v = Mul::s(lane32(a, k), lane32(b, k), 0, c.mxcsr, &mut fl);
        }
    }
    commit(c, fl)?;
    fl = 0;
    // Hardware sums pairwise per lane (u[k] = t[k^1] + t[k], then u[k] + u[k^2]); the
    // association is the documented one, the operand order shows in which NaN propagates.
    let mut u = [0u32; 4];
    for k in 0..4 {
        u[k] = Add::s(t[k ^ 1], t[k], 0, c.mxcsr, &mut fl);
    }
    commit(c, fl)?;
    fl = 0;
    let mut v = [0u32; 4];
    for k in 0..4 {
        v[k] = Add::s(u[k], u[k ^ 2], 0, c.mxcsr, &mut fl);
    }
    commit(c, fl)?;
    let mut r = 0u128;
    for (k, x) in v.iter().enumerate() {
        if imm >> k & 1 != 0 {
            r |= (*x as u128) << (32 * k);
        }
    }
    c.xmm[d] = r;
    Ok(())
}

fn dppd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let b = src_x(c, i, 1)?;
    let d = xn(i.op0_register());
    let (a, imm) = (c.xmm[d], i.immediate8());
    let mut fl = 0;
    let mut t = [0u64; 2];
    for (k, v) in t.iter_mut().enumerate() {
        if imm >> (4 + k) & 1 != 0 {
            *v = Mul::d(lane64(a, k), lane64(b, k), 0, c.mxcsr, &mut fl);
        }
    }
    commit(c, fl)?;
    fl = 0;
    let s = [
        Add::d(t[0], t[1], 0, c.mxcsr, &mut fl),
        Add::d(t[1], t[0], 0, c.mxcsr, &mut fl),
    ];
    commit(c, fl)?;
    let mut r = 0u128;
    for (k, x) in s.iter().enumerate() {
        if imm >> k & 1 != 0 {
            r |= (*x as u128) << (64 * k);
        }
    }
    c.xmm[d] = r;
    Ok(())
}

fn insertps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let imm = i.immediate8();
    let v = match i.op_kind(1) {
        OpKind::Register => lane32(c.xmm[xn(i.op1_register())], (imm >> 6) as usize),
        _ => load(c, i, false)? as u32,
    };
    let d = xn(i.op0_register());
    let sh = 32 * ((imm >> 4) & 3) as u32;
    let mut r = (c.xmm[d] & !(0xffff_ffffu128 << sh)) | (v as u128) << sh;
    for k in 0..4 {
        if imm >> k & 1 != 0 {
            r &= !(0xffff_ffffu128 << (32 * k));
        }
    }
    c.xmm[d] = r;
    Ok(())
}

// ---- conversions ----

/// An MMX-register or m64 source of CVTPI2PS/CVTPI2PD (a register makes the x87 stack MMX).
fn src_mm(c: &mut Cpu, i: &Instruction) -> R<u64> {
    match i.op_kind(1) {
        OpKind::Register => {
            mmx_check(c)?;
            Ok(c.fpu.mmx_read(mn(i.op1_register())))
        }
        _ => Ok(load(c, i, false)? as u64),
    }
}

fn cvtpi2ps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = src_mm(c, i)?;
    let mx = c.mxcsr;
    let mut fl = 0;
    let mut r = 0u128;
    for k in 0..2 {
        let (x, f) = from_int::<F32>((v >> (32 * k)) as i32 as i64, mx);
        fl |= f;
        r |= (x as u128) << (32 * k);
    }
    commit(c, fl)?;
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & !(u64::MAX as u128)) | r;
    Ok(())
}

fn cvtpi2pd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let v = src_mm(c, i)?;
    let mx = c.mxcsr;
    let (x0, _) = from_int::<F64>(v as i32 as i64, mx);
    let (x1, _) = from_int::<F64>((v >> 32) as i32 as i64, mx);
    c.xmm[xn(i.op0_register())] = x0 as u128 | (x1 as u128) << 64;
    Ok(())
}

/// CVT(T)PS2PI / CVT(T)PD2PI: two elements to int32 in an MMX register.
fn cvt2pi<const D: bool, const T: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    mmx_check(c)?;
    let s = src_x(c, i, 1)?;
    // The x87-to-MMX transition happens even when the conversion then raises #XM.
    c.fpu.mmx_enter();
    let mx = c.mxcsr;
    let mut fl = 0;
    let mut r = 0u64;
    for k in 0..2 {
        let (x, f) = if D {
            to_int::<F64>(lane64(s, k), 32, T, mx)
        } else {
            to_int::<F32>(lane32(s, k).into(), 32, T, mx)
        };
        fl |= f;
        r |= x << (32 * k);
    }
    commit(c, fl)?;
    c.fpu.mmx_write(mn(i.op0_register()), r);
    Ok(())
}

fn cvtsi2s<const D: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let size = match i.op_kind(1) {
        OpKind::Register => i.op1_register().size(),
        _ => i.memory_size().size(),
    };
    let raw = src_gpr(c, i, 1)?;
    let v = if size == 8 {
        raw as i64
    } else {
        raw as i32 as i64
    };
    let mx = c.mxcsr;
    let d = xn(i.op0_register());
    if D {
        let (x, f) = from_int::<F64>(v, mx);
        commit(c, f)?;
        c.xmm[d] = (c.xmm[d] & !(u64::MAX as u128)) | x as u128;
    } else {
        let (x, f) = from_int::<F32>(v, mx);
        commit(c, f)?;
        c.xmm[d] = (c.xmm[d] & !0xffff_ffff) | x as u128;
    }
    Ok(())
}

fn cvts2si<const D: bool, const T: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let bits = if i.op0_register().size() == 8 { 64 } else { 32 };
    let (x, f) = if D {
        to_int::<F64>(s as u64, bits, T, c.mxcsr)
    } else {
        to_int::<F32>(s as u32 as u64, bits, T, c.mxcsr)
    };
    commit(c, f)?;
    c.set_reg(i.op0_register(), x);
    Ok(())
}

fn cvtps2pd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let (x0, f0) = f32_to_f64(lane32(s, 0), mx);
    let (x1, f1) = f32_to_f64(lane32(s, 1), mx);
    commit(c, f0 | f1)?;
    c.xmm[xn(i.op0_register())] = x0 as u128 | (x1 as u128) << 64;
    Ok(())
}

fn cvtpd2ps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let (x0, f0) = f64_to_f32(lane64(s, 0), mx);
    let (x1, f1) = f64_to_f32(lane64(s, 1), mx);
    commit(c, f0 | f1)?;
    c.xmm[xn(i.op0_register())] = x0 as u128 | (x1 as u128) << 32;
    Ok(())
}

fn cvtss2sd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let (x, f) = f32_to_f64(s as u32, c.mxcsr);
    commit(c, f)?;
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & !(u64::MAX as u128)) | x as u128;
    Ok(())
}

fn cvtsd2ss(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let (x, f) = f64_to_f32(s as u64, c.mxcsr);
    commit(c, f)?;
    let d = xn(i.op0_register());
    c.xmm[d] = (c.xmm[d] & !0xffff_ffff) | x as u128;
    Ok(())
}

fn cvtdq2ps(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let mut fl = 0;
    let mut r = 0u128;
    for k in 0..4 {
        let (x, f) = from_int::<F32>(lane32(s, k) as i32 as i64, mx);
        fl |= f;
        r |= (x as u128) << (32 * k);
    }
    commit(c, fl)?;
    c.xmm[xn(i.op0_register())] = r;
    Ok(())
}

fn cvtps2dq<const T: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let mut fl = 0;
    let mut r = 0u128;
    for k in 0..4 {
        let (x, f) = to_int::<F32>(lane32(s, k).into(), 32, T, mx);
        fl |= f;
        r |= (x as u128) << (32 * k);
    }
    commit(c, fl)?;
    c.xmm[xn(i.op0_register())] = r;
    Ok(())
}

fn cvtdq2pd(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let (x0, _) = from_int::<F64>(lane32(s, 0) as i32 as i64, mx);
    let (x1, _) = from_int::<F64>(lane32(s, 1) as i32 as i64, mx);
    c.xmm[xn(i.op0_register())] = x0 as u128 | (x1 as u128) << 64;
    Ok(())
}

fn cvtpd2dq<const T: bool>(c: &mut Cpu, i: &Instruction) -> R<()> {
    c.check_sse()?;
    let s = src_x(c, i, 1)?;
    let mx = c.mxcsr;
    let (x0, f0) = to_int::<F64>(lane64(s, 0), 32, T, mx);
    let (x1, f1) = to_int::<F64>(lane64(s, 1), 32, T, mx);
    commit(c, f0 | f1)?;
    c.xmm[xn(i.op0_register())] = x0 as u128 | (x1 as u128) << 32;
    Ok(())
}

pub fn handler(code: Code) -> Option<Handler> {
    use Mnemonic as M;
    Some(match code.mnemonic() {
        M::Addps => fp_ps::<Add>,
        M::Addpd => fp_pd::<Add>,
        M::Addss => fp_ss::<Add>,
        M::Addsd => fp_sd::<Add>,
        M::Subps => fp_ps::<Sub>,
        M::Subpd => fp_pd::<Sub>,
        M::Subss => fp_ss::<Sub>,
        M::Subsd => fp_sd::<Sub>,
        M::Mulps => fp_ps::<Mul>,
        M::Mulpd => fp_pd::<Mul>,
        M::Mulss => fp_ss::<Mul>,
        M::Mulsd => fp_sd::<Mul>,
        M::Divps => fp_ps::<Div>,
        M::Divpd => fp_pd::<Div>,
        M::Divss => fp_ss::<Div>,
        M::Divsd => fp_sd::<Div>,
        M::Sqrtps => fp_ps::<Sqrt>,
        M::Sqrtpd => fp_pd::<Sqrt>,
        M::Sqrtss => fp_ss::<Sqrt>,
        M::Sqrtsd => fp_sd::<Sqrt>,
        M::Minps => fp_ps::<Min>,
        M::Minpd => fp_pd::<Min>,
        M::Minss => fp_ss::<Min>,
        M::Minsd => fp_sd::<Min>,
        M::Maxps => fp_ps::<Max>,
        M::Maxpd => fp_pd::<Max>,
        M::Maxss => fp_ss::<Max>,
        M::Maxsd => fp_sd::<Max>,
        M::Cmpps => fp_ps::<Cmp>,
        M::Cmppd => fp_pd::<Cmp>,
        M::Cmpss => fp_ss::<Cmp>,
        // CMPSD is also the string instruction's mnemonic.
        M::Cmpsd if code == Code::Cmpsd_xmm_xmmm64_imm8 => fp_sd::<Cmp>,
        M::Roundps => fp_ps::<Round>,
        M::Roundpd => fp_pd::<Round>,
        M::Roundss => fp_ss::<Round>,
        M::Roundsd => fp_sd::<Round>,
        M::Rcpps => fp_ps::<Rcp>,
        M::Rcpss => fp_ss::<Rcp>,
        M::Rsqrtps => fp_ps::<Rsqrt>,
        M::Rsqrtss => fp_ss::<Rsqrt>,
        M::Comiss => comis::<false, false>,
        M::Ucomiss => comis::<false, true>,
        M::Comisd => comis::<true, false>,
        M::Ucomisd => comis::<true, true>,
        M::Addsubps => addsubps,
        M::Addsubpd => addsubpd,
        M::Haddps => hps::<Add>,
        M::Hsubps => hps::<Sub>,
        M::Haddpd => hpd::<Add>,
        M::Hsubpd => hpd::<Sub>,
        M::Dpps => dpps,
        M::Dppd => dppd,
        M::Insertps => insertps,
        M::Cvtpi2ps => cvtpi2ps,
        M::Cvtpi2pd => cvtpi2pd,
        M::Cvtps2pi => cvt2pi::<false, false>,
        M::Cvttps2pi => cvt2pi::<false, true>,
        M::Cvtpd2pi => cvt2pi::<true, false>,
        M::Cvttpd2pi => cvt2pi::<true, true>,
        M::Cvtsi2ss => cvtsi2s::<false>,
        M::Cvtsi2sd => cvtsi2s::<true>,
        M::Cvtss2si => cvts2si::<false, false>,
        M::Cvttss2si => cvts2si::<false, true>,
        M::Cvtsd2si => cvts2si::<true, false>,
        M::Cvttsd2si => cvts2si::<true, true>,
        M::Cvtps2pd => cvtps2pd,
        M::Cvtpd2ps => cvtpd2ps,
        M::Cvtss2sd => cvtss2sd,
        M::Cvtsd2ss => cvtsd2ss,
        M::Cvtdq2ps => cvtdq2ps,
        M::Cvtps2dq => cvtps2dq::<false>,
        M::Cvttps2dq => cvtps2dq::<true>,
        M::Cvtdq2pd => cvtdq2pd,
        M::Cvtpd2dq => cvtpd2dq::<false>,
        M::Cvttpd2dq => cvtpd2dq::<true>,
        _ => return None,
    })
}
