# Exact IEEE-754 binary32/binary64 reference with RISC-V conventions (canonical NaN, tininess
# after rounding, fcvt saturation). Used only to generate expected values for the tests;
# QEMU then validates the generated programs.
from fractions import Fraction as F
import math

NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16
RNE, RTZ, RDN, RUP, RMM = 0, 1, 2, 3, 4
RMNAMES = ['rne', 'rtz', 'rdn', 'rup', 'rmm']

class Fmt:
    def __init__(s, E, M):
        s.E, s.M = E, M
        s.W = 1 + E + M
        s.bias = (1 << (E - 1)) - 1
        s.emin = 1 - s.bias
        s.emax = s.bias
        s.canon = ((1 << E) - 1) << M | (1 << (M - 1))
        s.inf = ((1 << E) - 1) << M
S = Fmt(8, 23)
D = Fmt(11, 52)

def decode(bits, f):
    sign = bits >> (f.W - 1) & 1
    e = bits >> f.M & ((1 << f.E) - 1)
    m = bits & ((1 << f.M) - 1)
    if e == (1 << f.E) - 1:
        if m == 0:
            return ('inf', sign, None)
        return ('snan' if not (m >> (f.M - 1)) else 'qnan', sign, None)
    if e == 0:
        v = F(m) * F(2) ** (f.emin - f.M)
    else:
        v = F((1 << f.M) | m) * F(2) ** (e - f.bias - f.M)
    return ('zero' if v == 0 else 'num', sign, v)

def isnan(d): return d[0] in ('snan', 'qnan')
def sval(d): return -d[2] if d[1] else d[2]

def log2floor(q):
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while F(2) ** e > q: e -= 1
    while F(2) ** (e + 1) <= q: e += 1
    return e

def rnd_int(x, sign, rm):
    """round nonnegative Fraction x to an integer, sign says whether the real value is negative"""
    fl = x.numerator // x.denominator
    rem = x - fl
    if rem == 0:
        return fl, False
    if rm == RNE: up = rem > F(1, 2) or (rem == F(1, 2) and fl % 2 == 1)
    elif rm == RTZ: up = False
    elif rm == RDN: up = bool(sign)
    elif rm == RUP: up = not sign
    else: up = rem >= F(1, 2)
    return fl + up, True

def encode_val(sign, v, f):
    if v == 0:
        return sign << (f.W - 1)
    if v < F(2) ** f.emin:
        m = v / F(2) ** (f.emin - f.M)
        assert m.denominator == 1
        return sign << (f.W - 1) | int(m)
    e = log2floor(v)
    m = v / F(2) ** (e - f.M)
    assert m.denominator == 1
    return sign << (f.W - 1) | (e + f.bias) << f.M | (int(m) - (1 << f.M))

def maxfinite(sign, f):
    return sign << (f.W - 1) | (((1 << f.E) - 2) << f.M) | ((1 << f.M) - 1)

def round_to(sign, q, f, rm):
    """q > 0 exact magnitude; returns (bits, flags)"""
    e = log2floor(q)
    qe = max(e, f.emin)
    quantum = F(2) ** (qe - f.M)
    n, inexact = rnd_int(q / quantum, sign, rm)
    n_unb, _ = rnd_int(q / F(2) ** (e - f.M), sign, rm)
    tiny = n_unb * F(2) ** (e - f.M) < F(2) ** f.emin
    v = n * quantum
    flags = 0
    if inexact:
        flags |= NX
        if tiny:
            flags |= UF
    if v >= F(2) ** (f.emax + 1):
        flags = OF | NX
        if rm == RTZ or (rm == RDN and not sign) or (rm == RUP and sign):
            return maxfinite(sign, f), flags
        return sign << (f.W - 1) | f.inf, flags
    return encode_val(sign, v, f), flags

def from_exact(x, f, rm, zero_sign):
    if x == 0:
        return zero_sign << (f.W - 1), 0
    return round_to(1 if x < 0 else 0, abs(x), f, rm)

def nan_flags(*ds):
    return NV if any(d[0] == 'snan' for d in ds) else 0

def add(a, b, f, rm, sub=False):
    da, db = decode(a, f), decode(b, f)
    if sub:
        db = (db[0], db[1] ^ 1, db[2])
    if isnan(da) or isnan(db):
        return f.canon, nan_flags(da, db)
    if da[0] == 'inf' and db[0] == 'inf':
        if da[1] != db[1]:
            return f.canon, NV
        return da[1] << (f.W - 1) | f.inf, 0
    if da[0] == 'inf': return da[1] << (f.W - 1) | f.inf, 0
    if db[0] == 'inf': return db[1] << (f.W - 1) | f.inf, 0
    x = sval(da) + sval(db)
    if x == 0:
        if da[0] == 'zero' and db[0] == 'zero' and da[1] == db[1]:
            zs = da[1]
        else:
            zs = 1 if rm == RDN else 0
        return zs << (f.W - 1), 0
    return from_exact(x, f, rm, 0)

def mul(a, b, f, rm):
    da, db = decode(a, f), decode(b, f)
    if isnan(da) or isnan(db):
        return f.canon, nan_flags(da, db)
    s = da[1] ^ db[1]
    if (da[0] == 'inf' and db[0] == 'zero') or (db[0] == 'inf' and da[0] == 'zero'):
        return f.canon, NV
    if da[0] == 'inf' or db[0] == 'inf':
        return s << (f.W - 1) | f.inf, 0
    x = da[2] * db[2]
    if x == 0:
        return s << (f.W - 1), 0
    return round_to(s, x, f, rm)

def div(a, b, f, rm):
    da, db = decode(a, f), decode(b, f)
    if isnan(da) or isnan(db):
        return f.canon, nan_flags(da, db)
    s = da[1] ^ db[1]
    if da[0] == 'inf' and db[0] == 'inf': return f.canon, NV
    if da[0] == 'zero' and db[0] == 'zero': return f.canon, NV
    if da[0] == 'inf': return s << (f.W - 1) | f.inf, 0
    if db[0] == 'inf': return s << (f.W - 1), 0
    if db[0] == 'zero': return s << (f.W - 1) | f.inf, DZ
    if da[0] == 'zero': return s << (f.W - 1), 0
    return round_to(s, da[2] / db[2], f, rm)

def sqrt(a, f, rm):
    da = decode(a, f)
    if isnan(da): return f.canon, nan_flags(da)
    if da[0] == 'zero': return a, 0
    if da[1]: return f.canon, NV
    if da[0] == 'inf': return a, 0
    q = da[2]
    k = 200 + max(0, -log2floor(q))
    N = q * F(4) ** k
    n = N.numerator // N.denominator
    s = math.isqrt(n)
    if s * s == n and N.denominator == 1:
        r = F(s) / F(2) ** k
    else:
        r = F(2 * s + 1, 2) / F(2) ** k
    return round_to(0, r, f, rm)

def fma(a, b, c, f, rm, negprod=False, negadd=False):
    da, db, dc = decode(a, f), decode(b, f), decode(c, f)
    infzero = (da[0] == 'inf' and db[0] == 'zero') or (db[0] == 'inf' and da[0] == 'zero')
    if infzero:
        return f.canon, NV
    if isnan(da) or isnan(db) or isnan(dc):
        return f.canon, nan_flags(da, db, dc)
    ps = da[1] ^ db[1] ^ (1 if negprod else 0)
    cs = dc[1] ^ (1 if negadd else 0)
    pinf = da[0] == 'inf' or db[0] == 'inf'
    if pinf and dc[0] == 'inf':
        if ps != cs: return f.canon, NV
        return ps << (f.W - 1) | f.inf, 0
    if pinf: return ps << (f.W - 1) | f.inf, 0
    if dc[0] == 'inf': return cs << (f.W - 1) | f.inf, 0
    p = da[2] * db[2] * (-1 if ps else 1)
    cv = dc[2] * (-1 if cs else 1)
    x = p + cv
    if x == 0:
        if p == 0 and cv == 0 and ps == cs:
            zs = ps
        else:
            zs = 1 if rm == RDN else 0
        return zs << (f.W - 1), 0
    return from_exact(x, f, rm, 0)

def minmax(a, b, f, is_max):
    da, db = decode(a, f), decode(b, f)
    fl = nan_flags(da, db)
    if isnan(da) and isnan(db): return f.canon, fl
    if isnan(da): return b, fl
    if isnan(db): return a, fl
    def key(d, bits):
        if d[0] == 'inf': return (F(-1) if d[1] else F(1)) * F(2) ** 100000, 0
        v = sval(d)
        return v, (0 if d[1] else 1)
    ka, kb = key(da, a), key(db, b)
    if is_max:
        return (a if ka >= kb else b), fl
    return (a if ka <= kb else b), fl

def cmp(a, b, f, op):
    da, db = decode(a, f), decode(b, f)
    if isnan(da) or isnan(db):
        if op == 'eq':
            return 0, nan_flags(da, db)
        return 0, NV
    def v(d):
        if d[0] == 'inf': return (F(-1) if d[1] else F(1)) * F(2) ** 100000
        return sval(d)
    x, y = v(da), v(db)
    return int({'eq': x == y, 'lt': x < y, 'le': x <= y}[op]), 0

def fclass(a, f):
    d = decode(a, f)
    s = d[1]
    if d[0] == 'inf': return 1 << (0 if s else 7)
    if d[0] == 'zero': return 1 << (3 if s else 4)
    if d[0] == 'snan': return 1 << 8
    if d[0] == 'qnan': return 1 << 9
    sub = d[2] < F(2) ** f.emin
    if s: return 1 << (2 if sub else 1)
    return 1 << (5 if sub else 6)

def to_int(a, f, rm, bits, signed):
    d = decode(a, f)
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    def sx(v):  # 64-bit register value (W results sign-extended)
        v &= (1 << bits) - 1
        if bits == 32 and v >> 31: v |= 0xffffffff00000000
        return v
    if isnan(d): return sx(hi), NV
    if d[0] == 'inf': return sx(lo if d[1] else hi), NV
    if d[0] == 'zero': return 0, 0
    n, inexact = rnd_int(d[2], d[1], rm)
    v = -n if d[1] else n
    if v < lo: return sx(lo), NV
    if v > hi: return sx(hi), NV
    return sx(v), (NX if inexact else 0)

def from_int(x, bits, signed, f, rm):
    x &= (1 << bits) - 1
    if signed and x >> (bits - 1): x -= 1 << bits
    return from_exact(F(x), f, rm, 0)

def cvt(a, fa, fb, rm):
    d = decode(a, fa)
    if isnan(d): return fb.canon, nan_flags(d)
    if d[0] == 'inf': return d[1] << (fb.W - 1) | fb.inf, 0
    if d[0] == 'zero': return d[1] << (fb.W - 1), 0
    return round_to(d[1], d[2], fb, rm)

def f2b(x, f):
    import struct
    if f is D: return struct.unpack('<Q', struct.pack('<d', x))[0]
    return struct.unpack('<I', struct.pack('<f', x))[0]
