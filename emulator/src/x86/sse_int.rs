//! Integer SIMD operations as pure functions of (destination, source, imm8, width in bytes):
//! the same function serves the 64-bit MMX form (width 8, operands zero-extended, result
//! truncated) and the 128-bit SSE form (width 16).

// Lane loops index several arrays in step; iterators would obscure the element pairing.
#![allow(clippy::needless_range_loop)]

pub trait VOp {
    fn f(a: u128, b: u128, imm: u8, n: usize) -> u128;
}

macro_rules! vop {
    ($($name:ident = |$a:ident, $b:ident, $imm:ident, $n:ident| $body:expr;)*) => {$(
        pub struct $name;
        impl VOp for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn f($a: u128, $b: u128, $imm: u8, $n: usize) -> u128 {
                $body
            }
        }
    )*};
}

#[inline(always)]
fn b8(x: u128) -> [u8; 16] {
    x.to_le_bytes()
}
#[inline(always)]
fn w16(x: u128) -> [u16; 8] {
    let mut r = [0u16; 8];
    for (k, v) in r.iter_mut().enumerate() {
        *v = (x >> (16 * k)) as u16;
    }
    r
}
#[inline(always)]
fn d32(x: u128) -> [u32; 4] {
    let mut r = [0u32; 4];
    for (k, v) in r.iter_mut().enumerate() {
        *v = (x >> (32 * k)) as u32;
    }
    r
}
#[inline(always)]
fn q64(x: u128) -> [u64; 2] {
    [x as u64, (x >> 64) as u64]
}
#[inline(always)]
fn from8(r: [u8; 16]) -> u128 {
    u128::from_le_bytes(r)
}
#[inline(always)]
fn from16(r: [u16; 8]) -> u128 {
    let mut x = 0u128;
    for (k, v) in r.iter().enumerate() {
        x |= (*v as u128) << (16 * k);
    }
    x
}
#[inline(always)]
fn from32(r: [u32; 4]) -> u128 {
    let mut x = 0u128;
    for (k, v) in r.iter().enumerate() {
        x |= (*v as u128) << (32 * k);
    }
    x
}
#[inline(always)]
fn from64(r: [u64; 2]) -> u128 {
    r[0] as u128 | (r[1] as u128) << 64
}

#[inline(always)]
pub fn map8(a: u128, b: u128, f: impl Fn(u8, u8) -> u8) -> u128 {
    let (x, y) = (b8(a), b8(b));
    let mut r = [0u8; 16];
    for k in 0..16 {
        r[k] = f(x[k], y[k]);
    }
    from8(r)
}
#[inline(always)]
pub fn map16(a: u128, b: u128, f: impl Fn(u16, u16) -> u16) -> u128 {
    let (x, y) = (w16(a), w16(b));
    let mut r = [0u16; 8];
    for k in 0..8 {
        r[k] = f(x[k], y[k]);
    }
    from16(r)
}
#[inline(always)]
pub fn map32(a: u128, b: u128, f: impl Fn(u32, u32) -> u32) -> u128 {
    let (x, y) = (d32(a), d32(b));
    let mut r = [0u32; 4];
    for k in 0..4 {
        r[k] = f(x[k], y[k]);
    }
    from32(r)
}
#[inline(always)]
pub fn map64(a: u128, b: u128, f: impl Fn(u64, u64) -> u64) -> u128 {
    let (x, y) = (q64(a), q64(b));
    from64([f(x[0], y[0]), f(x[1], y[1])])
}

#[inline(always)]
fn ss8(v: i32) -> u8 {
    v.clamp(-128, 127) as i8 as u8
}
#[inline(always)]
fn us8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}
#[inline(always)]
fn ss16(v: i32) -> u16 {
    v.clamp(-32768, 32767) as i16 as u16
}
#[inline(always)]
fn us16(v: i32) -> u16 {
    v.clamp(0, 65535) as u16
}
#[inline(always)]
fn mask(b: bool) -> u128 {
    if b {
        u128::MAX
    } else {
        0
    }
}

/// Shift count of PSLL/PSRL/PSRA: the whole low quadword of the source (or the imm8).
#[inline(always)]
fn count(b: u128) -> u64 {
    b as u64
}

/// Interleaves the low (`hi` false) or high halves of a and b in elements of `s` bytes.
#[inline(always)]
fn unpack(a: u128, b: u128, s: usize, n: usize, hi: bool) -> u128 {
    let (x, y) = (b8(a), b8(b));
    let mut r = [0u8; 16];
    let half = n / 2;
    let base = if hi { half } else { 0 };
    for e in 0..half / s {
        for k in 0..s {
            r[2 * e * s + k] = x[base + e * s + k];
            r[2 * e * s + s + k] = y[base + e * s + k];
        }
    }
    from8(r)
}

/// Horizontal pairs: the first half of the result from a's pairs, the second from b's.
#[inline(always)]
fn hpair16(a: u128, b: u128, n: usize, f: impl Fn(u16, u16) -> u16) -> u128 {
    let (x, y) = (w16(a), w16(b));
    let l = n / 2;
    let mut r = [0u16; 8];
    for k in 0..l / 2 {
        r[k] = f(x[2 * k], x[2 * k + 1]);
        r[l / 2 + k] = f(y[2 * k], y[2 * k + 1]);
    }
    from16(r)
}
#[inline(always)]
fn hpair32(a: u128, b: u128, n: usize, f: impl Fn(u32, u32) -> u32) -> u128 {
    let (x, y) = (d32(a), d32(b));
    let l = n / 4;
    let mut r = [0u32; 4];
    for k in 0..l / 2 {
        r[k] = f(x[2 * k], x[2 * k + 1]);
        r[l / 2 + k] = f(y[2 * k], y[2 * k + 1]);
    }
    from32(r)
}

fn pack16to8(a: u128, b: u128, n: usize, f: fn(i32) -> u8) -> u128 {
    let (x, y) = (w16(a), w16(b));
    let l = n / 2;
    let mut r = [0u8; 16];
    for k in 0..l {
        r[k] = f(x[k] as i16 as i32);
        r[l + k] = f(y[k] as i16 as i32);
    }
    from8(r)
}
fn pack32to16(a: u128, b: u128, n: usize, f: fn(i64) -> u16) -> u128 {
    let (x, y) = (d32(a), d32(b));
    let l = n / 4;
    let mut r = [0u16; 8];
    for k in 0..l {
        r[k] = f(x[k] as i32 as i64);
        r[l + k] = f(y[k] as i32 as i64);
    }
    from16(r)
}

fn sign_op8(a: u8, b: u8) -> u8 {
    match (b as i8).signum() {
        -1 => a.wrapping_neg(),
        0 => 0,
        _ => a,
    }
}
fn sign_op16(a: u16, b: u16) -> u16 {
    match (b as i16).signum() {
        -1 => a.wrapping_neg(),
        0 => 0,
        _ => a,
    }
}
fn sign_op32(a: u32, b: u32) -> u32 {
    match (b as i32).signum() {
        -1 => a.wrapping_neg(),
        0 => 0,
        _ => a,
    }
}

fn shuf32(x: u128, imm: u8) -> [u32; 4] {
    let d = d32(x);
    [
        d[(imm & 3) as usize],
        d[((imm >> 2) & 3) as usize],
        d[((imm >> 4) & 3) as usize],
        d[((imm >> 6) & 3) as usize],
    ]
}

fn mov_ext(b: u128, from: usize, to: usize, signed: bool) -> u128 {
    let bytes = b8(b);
    let mut r = 0u128;
    for k in 0..16 / to {
        let mut v: u64 = 0;
        for j in 0..from {
            v |= (bytes[k * from + j] as u64) << (8 * j);
        }
        if signed {
            let sh = 64 - 8 * from as u32;
            v = (((v << sh) as i64) >> sh) as u64;
        }
        let m = if to == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * to)) - 1
        };
        r |= ((v & m) as u128) << (8 * to * k);
    }
    r
}

vop! {
    Paddb = |a, b, imm, n| map8(a, b, |x, y| x.wrapping_add(y));
    Paddw = |a, b, imm, n| map16(a, b, |x, y| x.wrapping_add(y));
    Paddd = |a, b, imm, n| map32(a, b, |x, y| x.wrapping_add(y));
    Paddq = |a, b, imm, n| map64(a, b, |x, y| x.wrapping_add(y));
    Psubb = |a, b, imm, n| map8(a, b, |x, y| x.wrapping_sub(y));
    Psubw = |a, b, imm, n| map16(a, b, |x, y| x.wrapping_sub(y));
    Psubd = |a, b, imm, n| map32(a, b, |x, y| x.wrapping_sub(y));
    Psubq = |a, b, imm, n| map64(a, b, |x, y| x.wrapping_sub(y));
    Paddsb = |a, b, imm, n| map8(a, b, |x, y| (x as i8).saturating_add(y as i8) as u8);
    Paddsw = |a, b, imm, n| map16(a, b, |x, y| (x as i16).saturating_add(y as i16) as u16);
    Paddusb = |a, b, imm, n| map8(a, b, |x, y| x.saturating_add(y));
    Paddusw = |a, b, imm, n| map16(a, b, |x, y| x.saturating_add(y));
    Psubsb = |a, b, imm, n| map8(a, b, |x, y| (x as i8).saturating_sub(y as i8) as u8);
    Psubsw = |a, b, imm, n| map16(a, b, |x, y| (x as i16).saturating_sub(y as i16) as u16);
    Psubusb = |a, b, imm, n| map8(a, b, |x, y| x.saturating_sub(y));
    Psubusw = |a, b, imm, n| map16(a, b, |x, y| x.saturating_sub(y));
    Pmullw = |a, b, imm, n| map16(a, b, |x, y| x.wrapping_mul(y));
    Pmulhw = |a, b, imm, n| map16(a, b, |x, y| ((x as i16 as i32 * y as i16 as i32) >> 16) as u16);
    Pmulhuw = |a, b, imm, n| map16(a, b, |x, y| ((x as u32 * y as u32) >> 16) as u16);
    Pmuludq = |a, b, imm, n| map64(a, b, |x, y| (x as u32 as u64) * (y as u32 as u64));
    Pmuldq = |a, b, imm, n| map64(a, b, |x, y| ((x as i32 as i64) * (y as i32 as i64)) as u64);
    Pmulld = |a, b, imm, n| map32(a, b, |x, y| x.wrapping_mul(y));
    Pmulhrsw = |a, b, imm, n| map16(a, b, |x, y| {
        ((((x as i16 as i32 * y as i16 as i32) >> 14) + 1) >> 1) as u16
    });
    Pmaddwd = |a, b, imm, n| {
        let (x, y) = (w16(a), w16(b));
        let mut r = [0u32; 4];
        for k in 0..4 {
            let p0 = x[2 * k] as i16 as i32 * y[2 * k] as i16 as i32;
            let p1 = x[2 * k + 1] as i16 as i32 * y[2 * k + 1] as i16 as i32;
            r[k] = p0.wrapping_add(p1) as u32;
        }
        from32(r)
    };
    Pmaddubsw = |a, b, imm, n| {
        let (x, y) = (b8(a), b8(b));
        let mut r = [0u16; 8];
        for k in 0..8 {
            let p0 = x[2 * k] as i32 * y[2 * k] as i8 as i32;
            let p1 = x[2 * k + 1] as i32 * y[2 * k + 1] as i8 as i32;
            r[k] = ss16(p0 + p1);
        }
        from16(r)
    };
    Psadbw = |a, b, imm, n| map64(a, b, |x, y| {
        let (p, q) = (x.to_le_bytes(), y.to_le_bytes());
        (0..8).map(|k| p[k].abs_diff(q[k]) as u64).sum()
    });
    Pavgb = |a, b, imm, n| map8(a, b, |x, y| ((x as u16 + y as u16 + 1) >> 1) as u8);
    Pavgw = |a, b, imm, n| map16(a, b, |x, y| ((x as u32 + y as u32 + 1) >> 1) as u16);
    Pminub = |a, b, imm, n| map8(a, b, |x, y| x.min(y));
    Pmaxub = |a, b, imm, n| map8(a, b, |x, y| x.max(y));
    Pminsb = |a, b, imm, n| map8(a, b, |x, y| (x as i8).min(y as i8) as u8);
    Pmaxsb = |a, b, imm, n| map8(a, b, |x, y| (x as i8).max(y as i8) as u8);
    Pminuw = |a, b, imm, n| map16(a, b, |x, y| x.min(y));
    Pmaxuw = |a, b, imm, n| map16(a, b, |x, y| x.max(y));
    Pminsw = |a, b, imm, n| map16(a, b, |x, y| (x as i16).min(y as i16) as u16);
    Pmaxsw = |a, b, imm, n| map16(a, b, |x, y| (x as i16).max(y as i16) as u16);
    Pminud = |a, b, imm, n| map32(a, b, |x, y| x.min(y));
    Pmaxud = |a, b, imm, n| map32(a, b, |x, y| x.max(y));
    Pminsd = |a, b, imm, n| map32(a, b, |x, y| (x as i32).min(y as i32) as u32);
    Pmaxsd = |a, b, imm, n| map32(a, b, |x, y| (x as i32).max(y as i32) as u32);
    Pcmpeqb = |a, b, imm, n| map8(a, b, |x, y| mask(x == y) as u8);
    Pcmpeqw = |a, b, imm, n| map16(a, b, |x, y| mask(x == y) as u16);
    Pcmpeqd = |a, b, imm, n| map32(a, b, |x, y| mask(x == y) as u32);
    Pcmpeqq = |a, b, imm, n| map64(a, b, |x, y| mask(x == y) as u64);
    Pcmpgtb = |a, b, imm, n| map8(a, b, |x, y| mask(x as i8 > y as i8) as u8);
    Pcmpgtw = |a, b, imm, n| map16(a, b, |x, y| mask(x as i16 > y as i16) as u16);
    Pcmpgtd = |a, b, imm, n| map32(a, b, |x, y| mask(x as i32 > y as i32) as u32);
    Pcmpgtq = |a, b, imm, n| map64(a, b, |x, y| mask(x as i64 > y as i64) as u64);
    Pand = |a, b, imm, n| a & b;
    Pandn = |a, b, imm, n| !a & b;
    Por = |a, b, imm, n| a | b;
    Pxor = |a, b, imm, n| a ^ b;
    Psllw = |a, b, imm, n| { let c = count(b); if c > 15 { 0 } else { map16(a, 0, |x, _| x << c) } };
    Pslld = |a, b, imm, n| { let c = count(b); if c > 31 { 0 } else { map32(a, 0, |x, _| x << c) } };
    Psllq = |a, b, imm, n| { let c = count(b); if c > 63 { 0 } else { map64(a, 0, |x, _| x << c) } };
    Psrlw = |a, b, imm, n| { let c = count(b); if c > 15 { 0 } else { map16(a, 0, |x, _| x >> c) } };
    Psrld = |a, b, imm, n| { let c = count(b); if c > 31 { 0 } else { map32(a, 0, |x, _| x >> c) } };
    Psrlq = |a, b, imm, n| { let c = count(b); if c > 63 { 0 } else { map64(a, 0, |x, _| x >> c) } };
    Psraw = |a, b, imm, n| { let c = count(b).min(15); map16(a, 0, |x, _| ((x as i16) >> c) as u16) };
    Psrad = |a, b, imm, n| { let c = count(b).min(31); map32(a, 0, |x, _| ((x as i32) >> c) as u32) };
    Pslldq = |a, b, imm, n| if imm > 15 { 0 } else { a << (8 * imm as u32) };
    Psrldq = |a, b, imm, n| if imm > 15 { 0 } else { a >> (8 * imm as u32) };
    Packsswb = |a, b, imm, n| pack16to8(a, b, n, ss8);
    Packuswb = |a, b, imm, n| pack16to8(a, b, n, us8);
    Packssdw = |a, b, imm, n| pack32to16(a, b, n, |v| ss16(v.clamp(-32768, 32767) as i32));
    Packusdw = |a, b, imm, n| pack32to16(a, b, n, |v| us16(v.clamp(0, 65535) as i32));
    Punpcklbw = |a, b, imm, n| unpack(a, b, 1, n, false);
    Punpcklwd = |a, b, imm, n| unpack(a, b, 2, n, false);
    Punpckldq = |a, b, imm, n| unpack(a, b, 4, n, false);
    Punpcklqdq = |a, b, imm, n| unpack(a, b, 8, n, false);
    Punpckhbw = |a, b, imm, n| unpack(a, b, 1, n, true);
    Punpckhwd = |a, b, imm, n| unpack(a, b, 2, n, true);
    Punpckhdq = |a, b, imm, n| unpack(a, b, 4, n, true);
    Punpckhqdq = |a, b, imm, n| unpack(a, b, 8, n, true);
    Pshufb = |a, b, imm, n| {
        let (x, y) = (b8(a), b8(b));
        let mut r = [0u8; 16];
        for k in 0..n {
            r[k] = if y[k] & 0x80 != 0 { 0 } else { x[(y[k] as usize) & (n - 1)] };
        }
        from8(r)
    };
    Phaddw = |a, b, imm, n| hpair16(a, b, n, |x, y| x.wrapping_add(y));
    Phaddd = |a, b, imm, n| hpair32(a, b, n, |x, y| x.wrapping_add(y));
    Phaddsw = |a, b, imm, n| hpair16(a, b, n, |x, y| (x as i16).saturating_add(y as i16) as u16);
    Phsubw = |a, b, imm, n| hpair16(a, b, n, |x, y| x.wrapping_sub(y));
    Phsubd = |a, b, imm, n| hpair32(a, b, n, |x, y| x.wrapping_sub(y));
    Phsubsw = |a, b, imm, n| hpair16(a, b, n, |x, y| (x as i16).saturating_sub(y as i16) as u16);
    Pabsb = |a, b, imm, n| map8(b, 0, |x, _| (x as i8).unsigned_abs());
    Pabsw = |a, b, imm, n| map16(b, 0, |x, _| (x as i16).unsigned_abs());
    Pabsd = |a, b, imm, n| map32(b, 0, |x, _| (x as i32).unsigned_abs());
    Psignb = |a, b, imm, n| map8(a, b, sign_op8);
    Psignw = |a, b, imm, n| map16(a, b, sign_op16);
    Psignd = |a, b, imm, n| map32(a, b, sign_op32);
    Palignr = |a, b, imm, n| {
        let (x, y) = (b8(a), b8(b));
        let mut t = [0u8; 32];
        t[..n].copy_from_slice(&y[..n]);
        t[n..2 * n].copy_from_slice(&x[..n]);
        let mut r = [0u8; 16];
        for k in 0..n {
            let s = k + imm as usize;
            r[k] = if s < 2 * n { t[s] } else { 0 };
        }
        from8(r)
    };
    Pshufd = |a, b, imm, n| from32(shuf32(b, imm));
    Pshufw = |a, b, imm, n| {
        let w = w16(b);
        let mut r = [0u16; 8];
        for k in 0..4 {
            r[k] = w[((imm >> (2 * k)) & 3) as usize];
        }
        from16(r)
    };
    Pshuflw = |a, b, imm, n| {
        let w = w16(b);
        let mut r = w;
        for k in 0..4 {
            r[k] = w[((imm >> (2 * k)) & 3) as usize];
        }
        from16(r)
    };
    Pshufhw = |a, b, imm, n| {
        let w = w16(b);
        let mut r = w;
        for k in 0..4 {
            r[4 + k] = w[4 + ((imm >> (2 * k)) & 3) as usize];
        }
        from16(r)
    };
    Pblendw = |a, b, imm, n| {
        let (x, y) = (w16(a), w16(b));
        let mut r = [0u16; 8];
        for k in 0..8 {
            r[k] = if imm >> k & 1 != 0 { y[k] } else { x[k] };
        }
        from16(r)
    };
    Phminposuw = |a, b, imm, n| {
        let w = w16(b);
        let mut idx = 0;
        for k in 1..8 {
            if w[k] < w[idx] {
                idx = k;
            }
        }
        w[idx] as u128 | (idx as u128) << 16
    };
    Mpsadbw = |a, b, imm, n| {
        let (x, y) = (b8(a), b8(b));
        let ao = ((imm >> 2) & 1) as usize * 4;
        let bo = (imm & 3) as usize * 4;
        let mut r = [0u16; 8];
        for k in 0..8 {
            r[k] = (0..4).map(|j| x[ao + k + j].abs_diff(y[bo + j]) as u16).sum();
        }
        from16(r)
    };
    Pmovsxbw = |a, b, imm, n| mov_ext(b, 1, 2, true);
    Pmovsxbd = |a, b, imm, n| mov_ext(b, 1, 4, true);
    Pmovsxbq = |a, b, imm, n| mov_ext(b, 1, 8, true);
    Pmovsxwd = |a, b, imm, n| mov_ext(b, 2, 4, true);
    Pmovsxwq = |a, b, imm, n| mov_ext(b, 2, 8, true);
    Pmovsxdq = |a, b, imm, n| mov_ext(b, 4, 8, true);
    Pmovzxbw = |a, b, imm, n| mov_ext(b, 1, 2, false);
    Pmovzxbd = |a, b, imm, n| mov_ext(b, 1, 4, false);
    Pmovzxbq = |a, b, imm, n| mov_ext(b, 1, 8, false);
    Pmovzxwd = |a, b, imm, n| mov_ext(b, 2, 4, false);
    Pmovzxwq = |a, b, imm, n| mov_ext(b, 2, 8, false);
    Pmovzxdq = |a, b, imm, n| mov_ext(b, 4, 8, false);
    // Packed floating-point data movement and logic (no SIMD exceptions).
    Andnps = |a, b, imm, n| !a & b;
    Unpcklps = |a, b, imm, n| unpack(a, b, 4, 16, false);
    Unpckhps = |a, b, imm, n| unpack(a, b, 4, 16, true);
    Unpcklpd = |a, b, imm, n| unpack(a, b, 8, 16, false);
    Unpckhpd = |a, b, imm, n| unpack(a, b, 8, 16, true);
    Shufps = |a, b, imm, n| {
        let (x, y) = (shuf32(a, imm), shuf32(b, imm));
        from32([x[0], x[1], y[2], y[3]])
    };
    Shufpd = |a, b, imm, n| {
        let (x, y) = (q64(a), q64(b));
        from64([x[(imm & 1) as usize], y[((imm >> 1) & 1) as usize]])
    };
    Blendps = |a, b, imm, n| {
        let (x, y) = (d32(a), d32(b));
        let mut r = [0u32; 4];
        for k in 0..4 {
            r[k] = if imm >> k & 1 != 0 { y[k] } else { x[k] };
        }
        from32(r)
    };
    Blendpd = |a, b, imm, n| {
        let (x, y) = (q64(a), q64(b));
        from64([
            if imm & 1 != 0 { y[0] } else { x[0] },
            if imm & 2 != 0 { y[1] } else { x[1] },
        ])
    };
    Movsldup = |a, b, imm, n| { let d = d32(b); from32([d[0], d[0], d[2], d[2]]) };
    Movshdup = |a, b, imm, n| { let d = d32(b); from32([d[1], d[1], d[3], d[3]]) };
    Movddup = |a, b, imm, n| { let q = b as u64 as u128; q | q << 64 };
}

/// PBLENDVB/BLENDVPS/BLENDVPD: elements of `s` bytes from b where the mask element's top bit
/// is set.
pub fn blendv(a: u128, b: u128, m: u128, s: usize) -> u128 {
    let mut r = 0u128;
    for k in 0..16 / s {
        let sh = 8 * s * k;
        let em = if s == 16 {
            u128::MAX
        } else {
            ((1u128 << (8 * s)) - 1) << sh
        };
        let top = (m >> (sh + 8 * s - 1)) & 1 != 0;
        r |= if top { b & em } else { a & em };
    }
    r
}

// ---- SSE4.2 string compares ----

/// PCMPxSTRx: IntRes2 (one bit per element) for operands a (xmm1, length la) and b
/// (xmm2/m128, length lb), and the flags CF, ZF, SF, OF as RFLAGS bits.
pub fn pcmpstr(a: u128, b: u128, la: usize, lb: usize, imm: u8) -> (u32, u64) {
    use super::super::flags::{CF, OF, SF, ZF};
    let words = imm & 1 != 0;
    let signed = imm & 2 != 0;
    let n = if words { 8 } else { 16 };
    let el = |x: u128, k: usize| -> i32 {
        if words {
            let v = (x >> (16 * k)) as u16;
            if signed {
                v as i16 as i32
            } else {
                v as i32
            }
        } else {
            let v = (x >> (8 * k)) as u8;
            if signed {
                v as i8 as i32
            } else {
                v as i32
            }
        }
    };
    let (ea, eb): ([i32; 16], [i32; 16]) = {
        let mut x = [0; 16];
        let mut y = [0; 16];
        for k in 0..n {
            x[k] = el(a, k);
            y[k] = el(b, k);
        }
        (x, y)
    };
    let mut res1: u32 = 0;
    match (imm >> 2) & 3 {
        0 => {
            // Equal any.
            for j in 0..lb {
                if (0..la).any(|i| ea[i] == eb[j]) {
                    res1 |= 1 << j;
                }
            }
        }
        1 => {
            // Ranges.
            for j in 0..lb {
                let mut hit = false;
                let mut i = 0;
                while i + 1 < la {
                    if eb[j] >= ea[i] && eb[j] <= ea[i + 1] {
                        hit = true;
                    }
                    i += 2;
                }
                if hit {
                    res1 |= 1 << j;
                }
            }
        }
        2 => {
            // Equal each.
            for k in 0..n {
                let bit = match (k < la, k < lb) {
                    (true, true) => ea[k] == eb[k],
                    (false, false) => true,
                    _ => false,
                };
                if bit {
                    res1 |= 1 << k;
                }
            }
        }
        _ => {
            // Equal ordered.
            for j in 0..n {
                let mut ok = true;
                for k in 0..n - j {
                    let v = match (k < la, j + k < lb) {
                        (false, _) => true,
                        (true, false) => false,
                        (true, true) => ea[k] == eb[j + k],
                    };
                    if !v {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    res1 |= 1 << j;
                }
            }
        }
    }
    let all = (1u32 << n) - 1;
    let res2 = match (imm >> 4) & 3 {
        1 => !res1 & all,
        3 => res1 ^ ((1u32 << lb) - 1),
        _ => res1,
    };
    let mut fl = 0;
    if res2 != 0 {
        fl |= CF;
    }
    if lb < n {
        fl |= ZF;
    }
    if la < n {
        fl |= SF;
    }
    if res2 & 1 != 0 {
        fl |= OF;
    }
    (res2, fl)
}

/// Length of an implicit (NUL-terminated) string operand.
pub fn implicit_len(x: u128, words: bool) -> usize {
    if words {
        (0..8).find(|&k| (x >> (16 * k)) as u16 == 0).unwrap_or(8)
    } else {
        (0..16).find(|&k| (x >> (8 * k)) as u8 == 0).unwrap_or(16)
    }
}

/// Length of an explicit string operand: |v| saturated to the element count.
pub fn explicit_len(v: i64, words: bool) -> usize {
    let n = if words { 8 } else { 16 };
    (v.unsigned_abs().min(n)) as usize
}

// ---- CRC32 (Castagnoli, reflected) ----

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static CRC: [u32; 256] = crc_table();

pub fn crc32c(mut crc: u32, v: u64, bytes: usize) -> u32 {
    for k in 0..bytes {
        let b = (v >> (8 * k)) as u8;
        crc = (crc >> 8) ^ CRC[((crc as u8) ^ b) as usize];
    }
    crc
}
