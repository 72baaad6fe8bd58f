//! IEEE single/double arithmetic with x86's MXCSR semantics: the four rounding modes, DAZ and
//! FTZ, the six exception flags (tininess detected after rounding, as x86 does), SSE's NaN
//! rules (the first operand's NaN wins, SNaNs are quieted, invalid operations give the
//! negative "indefinite" QNaN). Round-to-nearest results with normal operands and results take
//! a fast path on the host's own f32/f64 operations plus exactness checks; everything else is
//! computed exactly in integers and rounded once.

pub const IE: u32 = 0x01;
pub const DE: u32 = 0x02;
pub const ZE: u32 = 0x04;
pub const OE: u32 = 0x08;
pub const UE: u32 = 0x10;
pub const PE: u32 = 0x20;
pub const DAZ: u32 = 0x40;
pub const OM: u32 = 0x400;
pub const UM: u32 = 0x800;
pub const FTZ: u32 = 0x8000;
/// Flags detected before the computation: an unmasked one stops the others from being
/// reported.
pub const PRE: u32 = IE | DE | ZE;

/// The rounding modes of MXCSR.RC / ROUNDPS imm8[1:0].
pub const RN: u32 = 0;
pub const RD: u32 = 1;
pub const RU: u32 = 2;
pub const RZ: u32 = 3;

#[inline(always)]
pub fn rc_of(mx: u32) -> u32 {
    (mx >> 13) & 3
}

/// A binary floating-point format, values held as bit patterns in u64.
pub trait Fmt {
    /// Fraction bits.
    const M: u32;
    /// Total bits.
    const W: u32;
    /// All-ones biased exponent.
    const EMAX: i32;
    const BIAS: i32;
    const SIGN: u64 = 1 << (Self::W - 1);
    const FRAC: u64 = (1 << Self::M) - 1;
    const QBIT: u64 = 1 << (Self::M - 1);
    const INF: u64 = (Self::EMAX as u64) << Self::M;
    /// The default ("indefinite") QNaN.
    const DNAN: u64 = Self::SIGN | Self::INF | Self::QBIT;
    const MAXF: u64 = Self::INF - 1;
}

pub struct F32;
pub struct F64;

impl Fmt for F32 {
    const M: u32 = 23;
    const W: u32 = 32;
    const EMAX: i32 = 255;
    const BIAS: i32 = 127;
}

impl Fmt for F64 {
    const M: u32 = 52;
    const W: u32 = 64;
    const EMAX: i32 = 2047;
    const BIAS: i32 = 1023;
}

#[inline(always)]
fn sign<F: Fmt>(x: u64) -> bool {
    x & F::SIGN != 0
}
#[inline(always)]
fn bexp<F: Fmt>(x: u64) -> i32 {
    ((x >> F::M) as i32) & F::EMAX
}
#[inline(always)]
pub fn is_nan<F: Fmt>(x: u64) -> bool {
    x & !F::SIGN > F::INF
}
#[inline(always)]
pub fn is_snan<F: Fmt>(x: u64) -> bool {
    is_nan::<F>(x) && x & F::QBIT == 0
}
#[inline(always)]
fn is_inf<F: Fmt>(x: u64) -> bool {
    x & !F::SIGN == F::INF
}
#[inline(always)]
fn is_zero<F: Fmt>(x: u64) -> bool {
    x & !F::SIGN == 0
}
#[inline(always)]
pub fn is_denormal<F: Fmt>(x: u64) -> bool {
    bexp::<F>(x) == 0 && x & F::FRAC != 0
}

/// Applies DAZ to an input (denormals become signed zeros) or reports it as a denormal operand.
#[inline(always)]
fn input<F: Fmt>(x: u64, mx: u32, fl: &mut u32) -> u64 {
    if is_denormal::<F>(x) {
        if mx & DAZ != 0 {
            return x & F::SIGN;
        }
        *fl |= DE;
    }
    x
}

/// The significand (leading bit at M) and exponent of a finite non-zero value: x = sig * 2^exp.
#[inline(always)]
fn unpack<F: Fmt>(x: u64) -> (u64, i32) {
    let e = bexp::<F>(x);
    let f = x & F::FRAC;
    if e == 0 {
        let sh = f.leading_zeros() - (63 - F::M);
        (f << sh, 1 - F::BIAS - F::M as i32 - sh as i32)
    } else {
        (f | (1 << F::M), e - F::BIAS - F::M as i32)
    }
}

/// SSE's NaN result for two operands where at least one is a NaN.
#[inline]
fn nan2<F: Fmt>(a: u64, b: u64, fl: &mut u32) -> u64 {
    if is_snan::<F>(a) || is_snan::<F>(b) {
        *fl |= IE;
    }
    if is_nan::<F>(a) {
        a | F::QBIT
    } else {
        b | F::QBIT
    }
}

#[inline]
fn nan1<F: Fmt>(a: u64, fl: &mut u32) -> u64 {
    if is_snan::<F>(a) {
        *fl |= IE;
    }
    a | F::QBIT
}

/// Rounds sig >> sh (sh >= 1) per `rc`; sig must be below 2^127. Returns (q, inexact).
#[inline(always)]
fn rnd(sig: u128, sh: u32, rc: u32, neg: bool) -> (u128, bool) {
    if sh >= 128 {
        // The value is below half an ulp and non-zero.
        let up = match rc {
            RD => neg,
            RU => !neg,
            _ => false,
        };
        return (up as u128, true);
    }
    let q = sig >> sh;
    let rem = sig & ((1u128 << sh) - 1);
    let half = 1u128 << (sh - 1);
    let up = match rc {
        RN => rem > half || (rem == half && q & 1 != 0),
        RD => neg && rem != 0,
        RU => !neg && rem != 0,
        _ => false,
    };
    (q + up as u128, rem != 0)
}

/// Rounds the exact value (-1)^neg * sig * 2^exp (sig != 0; bit 0 may be a sticky bit) to the
/// format under MXCSR `mx` with rounding mode `rc`. Returns the result and the OE/UE/PE flags as
/// hardware reports them under the masks in `mx`.
pub fn round_pack<F: Fmt>(neg: bool, exp: i32, sig: u128, mx: u32, rc: u32) -> (u64, u32) {
    debug_assert!(sig != 0);
    let lz = sig.leading_zeros();
    // Leading bit at 126 so that shifts of 128 and more are "below half an ulp".
    let (sig, e) = if lz >= 1 {
        (sig << (lz - 1), exp - (lz as i32 - 1))
    } else {
        ((sig >> 1) | (sig & 1), exp + 1)
    };
    // value = 1.f * 2^(e + 126)
    let biased = e + 126 + F::BIAS;
    let sbit = if neg { F::SIGN } else { 0 };
    let shift = 126 - F::M;
    let mut fl = 0;
    if biased >= 1 {
        let (mut q, inexact) = rnd(sig, shift, rc, neg);
        let mut be = biased;
        if q >> (F::M + 1) != 0 {
            q >>= 1;
            be += 1;
        }
        if be >= F::EMAX {
            // An unmasked overflow reports PE only when the significand was rounded (the
            // exponent-adjusted result is inexact).
            fl |= if mx & OM != 0 || inexact { OE | PE } else { OE };
            let inf = match rc {
                RN => true,
                RD => neg,
                RU => !neg,
                _ => false,
            };
            return (sbit | if inf { F::INF } else { F::MAXF }, fl);
        }
        if inexact {
            fl |= PE;
        }
        let bits = sbit | (((be - 1) as u64) << F::M).wrapping_add(q as u64);
        return (bits, fl);
    }
    // Tiny before rounding; x86 decides tininess after rounding (to the unbounded exponent
    // range): a value just below the smallest normal that rounds up to it is not tiny.
    let (qf, inexact_full) = rnd(sig, shift, rc, neg);
    let tiny = biased < 0 || qf >> (F::M + 1) == 0;
    let um = mx & UM != 0;
    if tiny && um && mx & FTZ != 0 {
        return (sbit, UE | PE);
    }
    let sh = shift + (1 - biased) as u32;
    let (q, inexact) = rnd(sig, sh, rc, neg);
    if tiny && !um {
        // An unmasked underflow reports PE only when the exponent-adjusted result is
        // inexact.
        return (sbit | q as u64, if inexact_full { UE | PE } else { UE });
    }
    if inexact {
        fl |= PE;
    }
    if tiny && inexact {
        fl |= UE;
    }
    // q == 2^M is the smallest normal: its bit M lands in the exponent field.
    (sbit | q as u64, fl)
}

// ---- arithmetic (slow, exact paths) ----

#[inline(never)]
pub fn add_slow<F: Fmt>(a: u64, b: u64, neg_b: bool, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    if is_nan::<F>(a) || is_nan::<F>(b) {
        let r = nan2::<F>(a, b, &mut fl);
        // A denormal beside a NaN is not reported (DE is not checked once a NaN is seen).
        return (r, fl);
    }
    let a = input::<F>(a, mx, &mut fl);
    let b = input::<F>(b, mx, &mut fl) ^ if neg_b { F::SIGN } else { 0 };
    let rc = rc_of(mx);
    if is_inf::<F>(a) {
        if is_inf::<F>(b) && sign::<F>(a) != sign::<F>(b) {
            return (F::DNAN, fl | IE);
        }
        return (a, fl);
    }
    if is_inf::<F>(b) {
        return (b, fl);
    }
    let (za, zb) = (is_zero::<F>(a), is_zero::<F>(b));
    if za && zb {
        let s = if sign::<F>(a) == sign::<F>(b) {
            a & F::SIGN
        } else if rc == RD {
            F::SIGN
        } else {
            0
        };
        return (s, fl);
    }
    let (r, f2) = if za {
        let (s, e) = unpack::<F>(b);
        round_pack::<F>(sign::<F>(b), e, s as u128, mx, rc)
    } else if zb {
        let (s, e) = unpack::<F>(a);
        round_pack::<F>(sign::<F>(a), e, s as u128, mx, rc)
    } else {
        let (sa, ea) = unpack::<F>(a);
        let (sb, eb) = unpack::<F>(b);
        let (mut na, mut nb) = (sign::<F>(a), sign::<F>(b));
        let (mut xa, mut xb, mut ea, mut eb) = ((sa as u128) << 64, (sb as u128) << 64, ea, eb);
        if ea < eb {
            std::mem::swap(&mut xa, &mut xb);
            std::mem::swap(&mut ea, &mut eb);
            std::mem::swap(&mut na, &mut nb);
        }
        let d = (ea - eb) as u32;
        xb = if d >= 127 {
            1
        } else {
            (xb >> d) | ((xb & ((1u128 << d) - 1) != 0) as u128)
        };
        let (neg, s) = if na == nb {
            (na, xa + xb)
        } else if xa >= xb {
            (na, xa - xb)
        } else {
            (nb, xb - xa)
        };
        if s == 0 {
            return (if rc == RD { F::SIGN } else { 0 }, fl);
        }
        round_pack::<F>(neg, ea - 64, s, mx, rc)
    };
    (r, fl | f2)
}

#[inline(never)]
pub fn mul_slow<F: Fmt>(a: u64, b: u64, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    if is_nan::<F>(a) || is_nan::<F>(b) {
        let r = nan2::<F>(a, b, &mut fl);
        return (r, fl);
    }
    let a = input::<F>(a, mx, &mut fl);
    let b = input::<F>(b, mx, &mut fl);
    let s = (a ^ b) & F::SIGN;
    if is_inf::<F>(a) || is_inf::<F>(b) {
        if is_zero::<F>(a) || is_zero::<F>(b) {
            return (F::DNAN, fl | IE);
        }
        return (s | F::INF, fl);
    }
    if is_zero::<F>(a) || is_zero::<F>(b) {
        return (s, fl);
    }
    let (sa, ea) = unpack::<F>(a);
    let (sb, eb) = unpack::<F>(b);
    let (r, f2) = round_pack::<F>(s != 0, ea + eb, sa as u128 * sb as u128, mx, rc_of(mx));
    (r, fl | f2)
}

#[inline(never)]
pub fn div_slow<F: Fmt>(a: u64, b: u64, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    if is_nan::<F>(a) || is_nan::<F>(b) {
        let r = nan2::<F>(a, b, &mut fl);
        return (r, fl);
    }
    let a = input::<F>(a, mx, &mut fl);
    let b = input::<F>(b, mx, &mut fl);
    let s = (a ^ b) & F::SIGN;
    if is_inf::<F>(a) {
        if is_inf::<F>(b) {
            return (F::DNAN, fl | IE);
        }
        return (s | F::INF, fl);
    }
    if is_inf::<F>(b) {
        return (s, fl);
    }
    if is_zero::<F>(b) {
        if is_zero::<F>(a) {
            return (F::DNAN, fl | IE);
        }
        // Division by zero is reported without DE for a denormal dividend.
        return (s | F::INF, (fl & !DE) | ZE);
    }
    if is_zero::<F>(a) {
        return (s, fl);
    }
    let (sa, ea) = unpack::<F>(a);
    let (sb, eb) = unpack::<F>(b);
    let n = 125 - F::M;
    let num = (sa as u128) << n;
    let q = num / sb as u128;
    let r = num % sb as u128;
    let sig = (q << 1) | (r != 0) as u128;
    let (res, f2) = round_pack::<F>(s != 0, ea - eb - n as i32 - 1, sig, mx, rc_of(mx));
    (res, fl | f2)
}

#[inline(never)]
pub fn sqrt_slow<F: Fmt>(a: u64, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    if is_nan::<F>(a) {
        return (nan1::<F>(a, &mut fl), fl);
    }
    // A negative operand is invalid before it is a denormal.
    if sign::<F>(a) && !is_zero::<F>(a) && !(is_denormal::<F>(a) && mx & DAZ != 0) {
        return (F::DNAN, IE);
    }
    let a = input::<F>(a, mx, &mut fl);
    if is_zero::<F>(a) {
        return (a, fl);
    }
    if is_inf::<F>(a) {
        return (a, fl);
    }
    let (s, e) = unpack::<F>(a);
    let (mut s, mut e) = (s as u128, e);
    if e & 1 != 0 {
        s <<= 1;
        e -= 1;
    }
    // Scale to about 124 bits (an even shift) so the root has about 62.
    let k = (124 - (F::M + 2)) & !1;
    let n = s << k;
    let r = n.isqrt();
    let sig = (r << 1) | (r * r != n) as u128;
    let (res, f2) = round_pack::<F>(false, (e - k as i32) / 2 - 1, sig, mx, rc_of(mx));
    (res, fl | f2)
}

// ---- fast paths ----

/// Biased exponent field is neither 0 nor all ones, or the value is a zero.
#[inline(always)]
fn plain64(x: u64) -> bool {
    let e = (x >> 52) & 0x7ff;
    (e.wrapping_sub(1) < 0x7fe) || x << 1 == 0
}
#[inline(always)]
fn plain32(x: u32) -> bool {
    let e = (x >> 23) & 0xff;
    (e.wrapping_sub(1) < 0xfe) || x << 1 == 0
}

/// A result that cannot have been tiny before rounding: not a denormal, zero, or the smallest
/// binade (a rounded-up tiny product or quotient lands there and must report underflow).
#[inline(always)]
fn safe64(x: u64) -> bool {
    ((x >> 52) & 0x7ff).wrapping_sub(2) < 0x7fd
}
#[inline(always)]
fn safe32(x: u32) -> bool {
    ((x >> 23) & 0xff).wrapping_sub(2) < 0xfd
}

/// The fast path applies: round to nearest and a precision exception would be masked (the
/// only flag a fast-path result can raise).
#[inline(always)]
fn fast_ok(mx: u32) -> bool {
    mx & 0x7000 == 0x1000
}

/// Odd part of the 106-bit product of two significands equals the odd part of `c`: the
/// rounded product/quotient/root was exact.
#[inline(always)]
fn sig64(x: u64) -> u64 {
    (x & 0xf_ffff_ffff_ffff) | (1 << 52)
}
#[inline(always)]
fn odd(x: u128) -> u128 {
    x >> x.trailing_zeros()
}

#[inline(always)]
pub fn add64(a: u64, b: u64, mx: u32) -> (u64, u32) {
    if fast_ok(mx) && plain64(a) && plain64(b) {
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let s = x + y;
        let r = s.to_bits();
        if plain64(r) {
            let bb = s - x;
            let err = (x - (s - bb)) + (y - bb);
            return (r, if err != 0.0 { PE } else { 0 });
        }
    }
    add_slow::<F64>(a, b, false, mx)
}

#[inline(always)]
pub fn sub64(a: u64, b: u64, mx: u32) -> (u64, u32) {
    if plain64(b) && b << 1 != 0 {
        return add64(a, b ^ (1 << 63), mx);
    }
    add_slow::<F64>(a, b, true, mx)
}

#[inline(always)]
pub fn mul64(a: u64, b: u64, mx: u32) -> (u64, u32) {
    if fast_ok(mx) && plain64(a) && plain64(b) {
        let r = (f64::from_bits(a) * f64::from_bits(b)).to_bits();
        if safe64(r) {
            let p = sig64(a) as u128 * sig64(b) as u128;
            return (
                r,
                if odd(p) != odd(sig64(r) as u128) {
                    PE
                } else {
                    0
                },
            );
        }
        if (a << 1 == 0 || b << 1 == 0) && r << 1 == 0 {
            return (r, 0);
        }
    }
    mul_slow::<F64>(a, b, mx)
}

#[inline(always)]
pub fn div64(a: u64, b: u64, mx: u32) -> (u64, u32) {
    if fast_ok(mx) && plain64(a) && plain64(b) && b << 1 != 0 {
        let r = (f64::from_bits(a) / f64::from_bits(b)).to_bits();
        if a << 1 == 0 {
            return (r, 0);
        }
        if safe64(r) {
            let p = sig64(r) as u128 * sig64(b) as u128;
            return (
                r,
                if odd(p) != odd(sig64(a) as u128) {
                    PE
                } else {
                    0
                },
            );
        }
    }
    div_slow::<F64>(a, b, mx)
}

#[inline(always)]
pub fn sqrt64(a: u64, mx: u32) -> (u64, u32) {
    if fast_ok(mx) && plain64(a) && a >> 63 == 0 {
        let r = f64::from_bits(a).sqrt().to_bits();
        if a == 0 {
            return (r, 0);
        }
        let p = sig64(r) as u128 * sig64(r) as u128;
        return (
            r,
            if odd(p) != odd(sig64(a) as u128) {
                PE
            } else {
                0
            },
        );
    }
    sqrt_slow::<F64>(a, mx)
}

#[inline(always)]
pub fn add32(a: u32, b: u32, mx: u32) -> (u32, u32) {
    if fast_ok(mx) && plain32(a) && plain32(b) {
        // Double rounding through f64 is innocuous for +,-,*,/,sqrt (53 >= 2*24+2).
        let (x, y) = (f64::from(f32::from_bits(a)), f64::from(f32::from_bits(b)));
        let s = x + y;
        let r = s as f32;
        let rb = r.to_bits();
        if plain32(rb) {
            let bb = s - x;
            let err = (x - (s - bb)) + (y - bb);
            let inexact = err != 0.0 || f64::from(r) != s;
            return (rb, if inexact { PE } else { 0 });
        }
    }
    let (r, f) = add_slow::<F32>(a.into(), b.into(), false, mx);
    (r as u32, f)
}

#[inline(always)]
pub fn sub32(a: u32, b: u32, mx: u32) -> (u32, u32) {
    if plain32(b) && b << 1 != 0 {
        return add32(a, b ^ (1 << 31), mx);
    }
    let (r, f) = add_slow::<F32>(a.into(), b.into(), true, mx);
    (r as u32, f)
}

#[inline(always)]
pub fn mul32(a: u32, b: u32, mx: u32) -> (u32, u32) {
    if fast_ok(mx) && plain32(a) && plain32(b) {
        let p = f64::from(f32::from_bits(a)) * f64::from(f32::from_bits(b));
        let r = p as f32;
        let rb = r.to_bits();
        if safe32(rb) || p == 0.0 {
            return (rb, if f64::from(r) != p { PE } else { 0 });
        }
    }
    let (r, f) = mul_slow::<F32>(a.into(), b.into(), mx);
    (r as u32, f)
}

#[inline(always)]
pub fn div32(a: u32, b: u32, mx: u32) -> (u32, u32) {
    if fast_ok(mx) && plain32(a) && plain32(b) && b << 1 != 0 {
        let (x, y) = (f64::from(f32::from_bits(a)), f64::from(f32::from_bits(b)));
        let r = (x / y) as f32;
        let rb = r.to_bits();
        if safe32(rb) || a << 1 == 0 {
            return (rb, if f64::from(r) * y != x { PE } else { 0 });
        }
    }
    let (r, f) = div_slow::<F32>(a.into(), b.into(), mx);
    (r as u32, f)
}

#[inline(always)]
pub fn sqrt32(a: u32, mx: u32) -> (u32, u32) {
    if fast_ok(mx) && plain32(a) && a >> 31 == 0 {
        let x = f64::from(f32::from_bits(a));
        let r = x.sqrt() as f32;
        let y = f64::from(r);
        return (r.to_bits(), if y * y != x { PE } else { 0 });
    }
    let (r, f) = sqrt_slow::<F32>(a.into(), mx);
    (r as u32, f)
}

// ---- comparisons ----

/// Ordering of two non-NaN values after DAZ (zeros of either sign are equal).
#[inline]
fn key<F: Fmt>(x: u64) -> i64 {
    let m = (x & !F::SIGN) as i64;
    if sign::<F>(x) {
        -m
    } else {
        m
    }
}

/// Compares a and b: Some(ordering) or None when unordered. `quiet`: QNaNs do not raise IE.
#[inline]
pub fn compare<F: Fmt>(
    a: u64,
    b: u64,
    quiet: bool,
    mx: u32,
    fl: &mut u32,
) -> Option<std::cmp::Ordering> {
    let (na, nb) = (is_nan::<F>(a), is_nan::<F>(b));
    if na || nb {
        if !quiet || is_snan::<F>(a) || is_snan::<F>(b) {
            *fl |= IE;
        }
        return None;
    }
    let a = input::<F>(a, mx, fl);
    let b = input::<F>(b, mx, fl);
    Some(key::<F>(a).cmp(&key::<F>(b)))
}

/// CMPPS/CMPSS predicate (imm8[2:0]): all ones or zero.
pub fn cmp_pred<F: Fmt>(a: u64, b: u64, imm: u8, mx: u32, fl: &mut u32) -> bool {
    use std::cmp::Ordering::*;
    let p = imm & 7;
    // EQ, UNORD, NEQ, ORD are quiet predicates.
    let quiet = matches!(p, 0 | 3 | 4 | 7);
    let o = compare::<F>(a, b, quiet, mx, fl);
    match p {
        0 => o == Some(Equal),
        1 => o == Some(Less),
        2 => matches!(o, Some(Less | Equal)),
        3 => o.is_none(),
        4 => o != Some(Equal),
        5 => o != Some(Less),
        6 => !matches!(o, Some(Less | Equal)),
        _ => o.is_some(),
    }
}

/// MINPS/MAXPS: the second operand unless the first is strictly smaller (larger); NaNs are
/// not quieted and always raise IE.
pub fn minmax<F: Fmt>(a: u64, b: u64, max: bool, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    let (na, nb) = (is_nan::<F>(a), is_nan::<F>(b));
    if na || nb {
        // The source is returned as is, but after DAZ.
        let b = if is_denormal::<F>(b) && mx & DAZ != 0 {
            b & F::SIGN
        } else {
            b
        };
        return (b, IE);
    }
    let a2 = input::<F>(a, mx, &mut fl);
    let b2 = input::<F>(b, mx, &mut fl);
    let (ka, kb) = (key::<F>(a2), key::<F>(b2));
    let first = if max { ka > kb } else { ka < kb };
    (if first { a2 } else { b2 }, fl)
}

// ---- conversions ----

/// Float to signed integer of `bits` (32 or 64); `trunc` for CVTT*. Out-of-range and NaN give
/// the integer indefinite (only the sign bit set) with IE.
pub fn to_int<F: Fmt>(x: u64, bits: u32, trunc: bool, mx: u32) -> (u64, u32) {
    let indef = 1u64 << (bits - 1);
    // Fast path: normal or zero operands in range; rounding to an integer is exact on the
    // host in every mode.
    let e = bexp::<F>(x);
    if (e != 0 || x & F::FRAC == 0) && e < F::BIAS + bits as i32 - 1 {
        let v = if F::W == 32 {
            f64::from(f32::from_bits(x as u32))
        } else {
            f64::from_bits(x)
        };
        let r = match if trunc { RZ } else { rc_of(mx) } {
            RN => v.round_ties_even(),
            RD => v.floor(),
            RU => v.ceil(),
            _ => v.trunc(),
        };
        let lim = (1u64 << (bits - 1)) as f64;
        if r < lim && r >= -lim {
            let m = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            return ((r as i64 as u64) & m, if r != v { PE } else { 0 });
        }
    }
    if is_nan::<F>(x) || is_inf::<F>(x) {
        return (indef, IE);
    }
    let mut fl = 0;
    let x = if is_denormal::<F>(x) && mx & DAZ != 0 {
        x & F::SIGN
    } else {
        x
    };
    if is_zero::<F>(x) {
        return (0, 0);
    }
    let neg = sign::<F>(x);
    let (s, e) = unpack::<F>(x);
    let rc = if trunc { RZ } else { rc_of(mx) };
    let mag: u128 = if e >= 0 {
        if e > 64 {
            return (indef, IE);
        }
        (s as u128) << e
    } else {
        let sh = (-e) as u32;
        let (q, inexact) = rnd(s as u128, sh.min(200), rc, neg);
        if inexact {
            fl |= PE;
        }
        q
    };
    let lim = if neg {
        1u128 << (bits - 1)
    } else {
        (1u128 << (bits - 1)) - 1
    };
    if mag > lim {
        return (indef, IE);
    }
    let v = if neg {
        (mag as u64).wrapping_neg()
    } else {
        mag as u64
    };
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    (v & m, fl)
}

/// Signed integer to float.
pub fn from_int<F: Fmt>(v: i64, mx: u32) -> (u64, u32) {
    if v == 0 {
        return (0, 0);
    }
    if rc_of(mx) == RN {
        // Rust's integer-to-float conversion rounds to nearest even.
        return if F::W == 32 {
            let r = v as f32;
            (
                r.to_bits().into(),
                if r as i128 != v as i128 { PE } else { 0 },
            )
        } else {
            let r = v as f64;
            (r.to_bits(), if r as i128 != v as i128 { PE } else { 0 })
        };
    }
    round_pack::<F>(v < 0, 0, v.unsigned_abs() as u128, mx, rc_of(mx))
}

pub fn f32_to_f64(x: u32, mx: u32) -> (u64, u32) {
    let x = u64::from(x);
    let mut fl = 0;
    if is_nan::<F32>(x) {
        let q = nan1::<F32>(x, &mut fl);
        return (
            ((q & F32::SIGN) << 32) | F64::INF | ((q & F32::FRAC) << 29),
            fl,
        );
    }
    let x = input::<F32>(x, mx, &mut fl);
    let s = (x & F32::SIGN) << 32;
    if is_zero::<F32>(x) {
        return (s, fl);
    }
    if is_inf::<F32>(x) {
        return (s | F64::INF, fl);
    }
    let (m, e) = unpack::<F32>(x);
    let be = (e + 23 + 1023) as u64;
    (s | (be << 52) | ((m & F32::FRAC) << 29), fl)
}

pub fn f64_to_f32(x: u64, mx: u32) -> (u32, u32) {
    let mut fl = 0;
    if is_nan::<F64>(x) {
        let q = nan1::<F64>(x, &mut fl);
        return (
            (((q >> 32) & 0x8000_0000) | 0x7f80_0000 | ((q & F64::FRAC) >> 29)) as u32,
            fl,
        );
    }
    let x = input::<F64>(x, mx, &mut fl);
    let s = ((x >> 32) & 0x8000_0000) as u32;
    if is_zero::<F64>(x) {
        return (s, fl);
    }
    if is_inf::<F64>(x) {
        return (s | 0x7f80_0000, fl);
    }
    let (m, e) = unpack::<F64>(x);
    let (r, f2) = round_pack::<F32>(s != 0, e, m as u128, mx, rc_of(mx));
    (r as u32, fl | f2)
}

/// ROUNDPS/ROUNDSS: round to an integral value with rounding mode `rc`; PE unless
/// `no_pe`.
pub fn round_int<F: Fmt>(x: u64, rc: u32, no_pe: bool, mx: u32) -> (u64, u32) {
    let mut fl = 0;
    if is_nan::<F>(x) {
        return (nan1::<F>(x, &mut fl), fl);
    }
    // ROUNDPS does not report denormal operands.
    let x = input::<F>(x, mx, &mut 0);
    if is_zero::<F>(x) || is_inf::<F>(x) {
        return (x, fl);
    }
    let (s, e) = unpack::<F>(x);
    if e >= 0 {
        return (x, fl);
    }
    let neg = sign::<F>(x);
    let (q, inexact) = rnd(s as u128, ((-e) as u32).min(200), rc, neg);
    if inexact && !no_pe {
        fl |= PE;
    }
    let sbit = x & F::SIGN;
    if q == 0 {
        return (sbit, fl);
    }
    let (r, _) = round_pack::<F>(neg, 0, q, 0x1f80, RN);
    (r, fl)
}

// ---- approximations ----

/// RCPSS as Intel hardware computes it (table of the top 11 significand bits); no flags.
pub fn rcp32(x: u32) -> u32 {
    let s = x & 0x8000_0000;
    let e = ((x >> 23) & 0xff) as i32;
    if e == 0xff {
        return if x & 0x7f_ffff != 0 { x | 0x40_0000 } else { s };
    }
    if e == 0 {
        return s | 0x7f80_0000;
    }
    let t = u32::from(super::sse_tables::RCP[((x >> 12) & 0x7ff) as usize]);
    // Table results lie in (0.5, 1]: biased exponent 126 or 127.
    let r = 0x3f00_0000 + (t << 11);
    let re = ((r >> 23) & 0xff) as i32 - (e - 127);
    if re <= 0 {
        return s;
    }
    s | ((re as u32) << 23) | (r & 0x7f_ffff)
}

/// RSQRTSS as Intel hardware computes it.
pub fn rsqrt32(x: u32) -> u32 {
    let s = x & 0x8000_0000;
    let e = ((x >> 23) & 0xff) as i32;
    if e == 0xff && x & 0x7f_ffff != 0 {
        return x | 0x40_0000;
    }
    if e == 0 {
        return s | 0x7f80_0000;
    }
    if s != 0 {
        return 0xffc0_0000;
    }
    if e == 0xff {
        return 0;
    }
    // Inputs scaled to [1, 4): exponent parity selects the table half.
    let odd = (e - 127) & 1;
    let idx = ((odd as u32) << 10) | ((x >> 13) & 0x3ff);
    let t = u32::from(super::sse_tables::RSQRT[idx as usize]);
    let r = 0x3f00_0000 + (t << 11);
    let re = ((r >> 23) & 0xff) as i32 - ((e - 127 - odd) >> 1);
    s | ((re as u32) << 23) | (r & 0x7f_ffff)
}
