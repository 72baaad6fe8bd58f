#!/usr/bin/env python3
"""Generates src/rv64f.S (single precision) and src/rv64d.S (double precision).

Expected values come from fpref.py, an exact rational model of IEEE 754 with the RISC-V
conventions; QEMU then validates the generated programs (`make expected` must give PASS).
Run from tests/riscv:  python3 gen/gen_fp.py
"""
import os
import sys
from fractions import Fraction as Fr

sys.path.insert(0, os.path.dirname(__file__))
from fpref import *  # noqa: E402,F401,F403

M64 = (1 << 64) - 1


def vals(f):
    """Named operand bit patterns for format f."""
    def b(x):
        return f2b(x, f)
    v = dict(
        P0=0, N0=1 << (f.W - 1), ONE=b(1.0), M1=b(-1.0), HALF=b(0.5), ONEP5=b(1.5), TWO=b(2.0),
        THREE=b(3.0), FOUR=b(4.0), TEN=b(10.0), TENTH=b(0.1), FIFTH=b(0.2), THIRD=b(1 / 3),
        MAX=maxfinite(0, f), NMAX=maxfinite(1, f), MINN=1 << f.M, MINS=1, MAXS=(1 << f.M) - 1,
        NMINS=(1 << (f.W - 1)) | 1, INF=f.inf, NINF=(1 << (f.W - 1)) | f.inf, QNAN=f.canon,
        QNANP=(1 << (f.W - 1)) | f.canon | 0x12345, SNAN=f.inf | 1,
        SNANP=(1 << (f.W - 1)) | f.inf | (1 << (f.M - 3)) | 1,
        EPS=encode_val(0, Fr(1, 2 ** (f.M + 1)), f),
        NEPS=encode_val(1, Fr(1, 2 ** (f.M + 1)), f),
        QEPS=encode_val(1, Fr(1, 2 ** (f.M + 2)), f),
        ONEUP=b(1.0) + 1, ONEDN=b(1.0) - 1,
        HULPMAX=encode_val(0, Fr(2) ** (f.emax - f.M - 1), f),
        NHULPMAX=encode_val(1, Fr(2) ** (f.emax - f.M - 1), f),
    )
    return v


class Gen:
    def __init__(self, f, sfx):
        self.f = f
        self.sfx = sfx
        self.out = []
        self.v = vals(f)
        self.mv = 'fmv.w.x' if sfx == 's' else 'fmv.d.x'

    def box(self, bits):
        return (0xffffffff00000000 | bits) if self.sfx == 's' else bits

    def emit(self, s):
        self.out.append(s)

    def group(self, name):
        self.emit('')
        self.emit(f'    GROUP("{name}")')

    def h(self, x):
        return f'{x & M64:#x}'

    def rr(self, op, rm, a, b, res):
        r, fl = res
        self.emit(f'    FP_RR({self.mv}, {op}, {rm}, {self.h(a)}, {self.h(b)}, {self.h(self.box(r))}, {fl})')

    def r1(self, op, rm, a, res, mv=None):
        r, fl = res
        self.emit(f'    FP_R({mv or self.mv}, {op}, {rm}, {self.h(a)}, {self.h(self.box(r))}, {fl})')

    def rrr(self, op, rm, a, b, c, res):
        r, fl = res
        self.emit(f'    FP_RRR({self.mv}, {op}, {rm}, {self.h(a)}, {self.h(b)}, {self.h(c)}, '
                  f'{self.h(self.box(r))}, {fl})')

    def arith(self):
        f, v, s = self.f, self.v, self.sfx
        V = lambda n: v[n]  # noqa: E731
        add_pairs = [('ONE', 'EPS'), ('ONEUP', 'EPS'), ('M1', 'NEPS'), ('ONE', 'QEPS'),
                     ('TENTH', 'FIFTH'), ('THIRD', 'THIRD'), ('MAX', 'MAX'), ('MAX', 'HULPMAX'),
                     ('NMAX', 'NHULPMAX'), ('ONE', 'M1'), ('N0', 'N0'), ('P0', 'N0'), ('INF', 'NINF'),
                     ('INF', 'ONE'), ('QNANP', 'ONE'), ('SNAN', 'ONE'), ('MINS', 'MINS'),
                     ('MINN', 'NMINS'), ('THREE', 'TENTH')]
        sub_pairs = [('ONE', 'ONE'), ('ONE', 'EPS'), ('TENTH', 'FIFTH'), ('N0', 'P0'), ('P0', 'P0'),
                     ('INF', 'INF'), ('MINN', 'MINS'), ('NMAX', 'MAX'), ('M1', 'THIRD'),
                     ('ONE', 'NEPS'), ('SNANP', 'QNAN')]
        mul_pairs = [('THREE', 'THIRD'), ('TENTH', 'TENTH'), ('MAX', 'TWO'), ('NMAX', 'ONEP5'),
                     ('MINN', 'HALF'), ('MINS', 'HALF'), ('MINN', 'ONEDN'), ('INF', 'P0'),
                     ('N0', 'THREE'), ('INF', 'M1'), ('SNAN', 'INF'), ('QNAN', 'P0'),
                     ('THIRD', 'TENTH'), ('MAXS', 'TWO'), ('ONEUP', 'ONEUP'), ('M1', 'N0')]
        div_pairs = [('ONE', 'THREE'), ('TWO', 'THREE'), ('M1', 'THREE'), ('ONE', 'TEN'),
                     ('ONE', 'P0'), ('M1', 'P0'), ('ONE', 'N0'), ('P0', 'P0'), ('INF', 'INF'),
                     ('INF', 'P0'), ('P0', 'INF'), ('MAX', 'HALF'), ('MINN', 'THREE'),
                     ('MINS', 'TWO'), ('ONE', 'MAX'), ('QNANP', 'ONE'), ('SNAN', 'ONE'),
                     ('N0', 'M1')]
        sqrt_vals = ['FOUR', 'TWO', 'TENTH', 'M1', 'N0', 'P0', 'INF', 'NINF', 'MINS', 'MAX',
                     'QNANP', 'SNAN', 'THREE', 'MINN', 'ONEUP', 'NMINS']
        fma_triples = [('ONE', 'ONE', 'EPS'), ('TENTH', 'TEN', 'M1'), ('INF', 'P0', 'QNAN'),
                       ('P0', 'NINF', 'ONE'), ('INF', 'ONE', 'NINF'), ('ONE', 'M1', 'ONE'),
                       ('N0', 'ONE', 'N0'), ('P0', 'ONE', 'N0'), ('MAX', 'TWO', 'NMAX'),
                       ('MINS', 'HALF', 'P0'), ('THIRD', 'THREE', 'M1'), ('TWO', 'THREE', 'TENTH'),
                       ('SNAN', 'ONE', 'ONE'), ('QNANP', 'ONE', 'ONE'), ('ONE', 'ONE', 'SNAN'),
                       ('MAX', 'MAX', 'NINF')]
        for op, pairs, fn in [('fadd', add_pairs, lambda a, b, rm: add(a, b, f, rm)),
                              ('fsub', sub_pairs, lambda a, b, rm: add(a, b, f, rm, sub=True)),
                              ('fmul', mul_pairs, lambda a, b, rm: mul(a, b, f, rm)),
                              ('fdiv', div_pairs, lambda a, b, rm: div(a, b, f, rm))]:
            self.group(f'{op}.{s}')
            for a, b in pairs:
                for rm in range(5):
                    self.rr(f'{op}.{s}', RMNAMES[rm], V(a), V(b), fn(V(a), V(b), rm))
        self.group(f'fsqrt.{s}')
        for a in sqrt_vals:
            for rm in range(5):
                self.r1(f'fsqrt.{s}', RMNAMES[rm], V(a), sqrt(V(a), f, rm))
        for op, np_, na in [('fmadd', False, False), ('fmsub', False, True),
                            ('fnmsub', True, False), ('fnmadd', True, True)]:
            self.group(f'{op}.{s}')
            for a, b, c in fma_triples:
                for rm in range(5):
                    self.rrr(f'{op}.{s}', RMNAMES[rm], V(a), V(b), V(c),
                             fma(V(a), V(b), V(c), f, rm, np_, na))

    def misc(self):
        f, v, s = self.f, self.v, self.sfx
        V = lambda n: v[n]  # noqa: E731
        self.group(f'fmin.{s}/fmax.{s}')
        for a, b in [('ONE', 'TWO'), ('TWO', 'ONE'), ('N0', 'P0'), ('P0', 'N0'), ('QNAN', 'ONE'),
                     ('ONE', 'QNANP'), ('SNAN', 'ONE'), ('ONE', 'SNAN'), ('QNAN', 'QNANP'),
                     ('SNAN', 'QNAN'), ('NINF', 'INF'), ('MINS', 'NMINS'), ('M1', 'N0'),
                     ('MAX', 'INF')]:
            self.rr(f'fmin.{s}', '', V(a), V(b), minmax(V(a), V(b), f, False))
            self.rr(f'fmax.{s}', '', V(a), V(b), minmax(V(a), V(b), f, True))
        self.group(f'feq.{s}/flt.{s}/fle.{s}')
        for a, b in [('ONE', 'ONE'), ('ONE', 'TWO'), ('TWO', 'ONE'), ('N0', 'P0'), ('P0', 'N0'),
                     ('QNAN', 'ONE'), ('ONE', 'QNANP'), ('SNAN', 'ONE'), ('ONE', 'SNAN'),
                     ('INF', 'INF'), ('NINF', 'NMAX'), ('MINS', 'P0'), ('QNAN', 'QNAN'),
                     ('M1', 'NMINS')]:
            for op in ('eq', 'lt', 'le'):
                r, fl = cmp(V(a), V(b), f, op)
                self.emit(f'    FP_CMP({self.mv}, f{op}.{s}, {self.h(V(a))}, {self.h(V(b))}, {r}, {fl})')
        self.group(f'fclass.{s}')
        for a in ['NINF', 'M1', 'NMAX', 'NMINS', 'N0', 'P0', 'MINS', 'MAXS', 'MINN', 'ONE', 'MAX',
                  'INF', 'SNAN', 'SNANP', 'QNAN', 'QNANP']:
            self.emit(f'    FP_XR({self.mv}, fclass.{s}, , {self.h(V(a))}, {fclass(V(a), f):#x}, 0)')
        self.group(f'fsgnj.{s}/fsgnjn.{s}/fsgnjx.{s}')
        sb = 1 << (f.W - 1)
        for a, b in [('ONE', 'M1'), ('M1', 'ONE'), ('M1', 'M1'), ('ONE', 'ONE'), ('QNANP', 'ONE'),
                     ('SNAN', 'M1'), ('INF', 'N0'), ('N0', 'P0'), ('NMAX', 'SNANP')]:
            x, y = V(a), V(b)
            self.rr(f'fsgnj.{s}', '', x, y, ((x & ~sb) | (y & sb), 0))
            self.rr(f'fsgnjn.{s}', '', x, y, ((x & ~sb) | (~y & sb), 0))
            self.rr(f'fsgnjx.{s}', '', x, y, (x ^ (y & sb), 0))
        # pseudo-instructions fmv/fneg/fabs (fsgnj with rs1 == rs2)
        for a in ['M1', 'ONE', 'QNANP', 'N0']:
            x = V(a)
            self.r1(f'fneg.{s}', '', x, (x ^ sb, 0))
            self.r1(f'fabs.{s}', '', x, (x & ~sb, 0))
            self.r1(f'fmv.{s}', '', x, (x, 0))

    def cvt(self):
        f, v, s = self.f, self.v, self.sfx
        self.group(f'fcvt.w/wu/l/lu.{s}')
        fl_vals = [2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 3.7, -3.7, -0.3, 2.0 ** 31, -2.0 ** 31,
                   2.0 ** 31 - 128, 2.0 ** 31 - 0.5, 2.0 ** 32, 2.0 ** 32 - 0.5, -2.0 ** 31 - 1,
                   2.0 ** 63, -2.0 ** 63, 2.0 ** 64, 1e10, -1e10, 123456789.0]
        seen = set()
        bits = []
        for x in fl_vals:
            b = f2b(x, f)
            if b not in seen:
                seen.add(b)
                bits.append(b)
        for n in ['QNANP', 'SNAN', 'INF', 'NINF', 'N0', 'MAX', 'NMAX', 'MINS', 'NMINS']:
            bits.append(v[n])
        for b in bits:
            for rm in range(5):
                for w, sg, nm in [(32, True, 'w'), (32, False, 'wu'), (64, True, 'l'), (64, False, 'lu')]:
                    r, fl = to_int(b, f, rm, w, sg)
                    self.emit(f'    FP_XR({self.mv}, fcvt.{nm}.{s}, {RMNAMES[rm]}, {self.h(b)}, {self.h(r)}, {fl})')
        self.group(f'fcvt.{s}.w/wu/l/lu')
        ints = [0, 1, -1, 0x7fffffff, -0x80000000, 0xffffffff, (1 << 24) + 1, (1 << 24) + 3,
                (1 << 53) + 1, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff,
                0x123456789abcdef0, 0x1234567800000005, -3, 0xfedcba9880000001]
        for x in ints:
            for rm in range(5):
                for w, sg, nm in [(32, True, 'w'), (32, False, 'wu'), (64, True, 'l'), (64, False, 'lu')]:
                    r, fl = from_int(x, w, sg, f, rm)
                    rmn = RMNAMES[rm]
                    if s == 'd' and w == 32:  # exact: the assembler takes no rounding mode
                        if rm:
                            continue
                        rmn = ''
                    self.emit(f'    FP_RX(fcvt.{s}.{nm}, {rmn}, {self.h(x)}, {self.h(self.box(r))}, {fl})')

    def dynamic_rm(self):
        f, v, s = self.f, self.v, self.sfx
        V = lambda n: v[n]  # noqa: E731
        self.group(f'dynamic rounding (frm) .{s}')
        for rm in range(5):
            self.emit(f'    csrwi frm, {rm}')
            self.emit(f'    csrr a3, frm')
            self.emit(f'    CHECK(a3, {rm})')
            self.rr(f'fadd.{s}', 'dyn', V('ONE'), V('EPS'), add(V('ONE'), V('EPS'), f, rm))
            self.rr(f'fadd.{s}', 'dyn', V('M1'), V('NEPS'), add(V('M1'), V('NEPS'), f, rm))
            self.rr(f'fsub.{s}', 'dyn', V('ONE'), V('ONE'), add(V('ONE'), V('ONE'), f, rm, sub=True))
            self.rr(f'fdiv.{s}', 'dyn', V('ONE'), V('THREE'), div(V('ONE'), V('THREE'), f, rm))
            self.rr(f'fdiv.{s}', 'dyn', V('M1'), V('THREE'), div(V('M1'), V('THREE'), f, rm))
            self.rr(f'fmul.{s}', 'dyn', V('MAX'), V('TWO'), mul(V('MAX'), V('TWO'), f, rm))
            self.r1(f'fsqrt.{s}', 'dyn', V('TWO'), sqrt(V('TWO'), f, rm))
            self.rrr(f'fmadd.{s}', 'dyn', V('TENTH'), V('TEN'), V('M1'),
                     fma(V('TENTH'), V('TEN'), V('M1'), f, rm))
            self.rrr(f'fnmsub.{s}', 'dyn', V('THIRD'), V('THREE'), V('ONE'),
                     fma(V('THIRD'), V('THREE'), V('ONE'), f, rm, True, False))
            b = f2b(-2.5, f)
            r, fl = to_int(b, f, rm, 32, True)
            self.emit(f'    FP_XR({self.mv}, fcvt.w.{s}, dyn, {self.h(b)}, {self.h(r)}, {fl})')
            r, fl = from_int(0x7fffffffffffffff, 64, True, f, rm)
            self.emit(f'    FP_RX(fcvt.{s}.l, dyn, 0x7fffffffffffffff, {self.h(self.box(r))}, {fl})')
            if s == 'd':
                b = f2b(0.1, D)
                self.r1('fcvt.s.d', 'dyn', b, (0xffffffff00000000 | cvt(b, D, S, rm)[0], cvt(b, D, S, rm)[1]))
            # the static rounding mode overrides frm
            srm = (rm + 1) % 5
            self.emit(f'    /* frm = {RMNAMES[rm]}, static {RMNAMES[srm]} */')
            self.rr(f'fdiv.{s}', RMNAMES[srm], V('M1'), V('THREE'), div(V('M1'), V('THREE'), f, srm))
            self.emit(f'    csrr a3, fcsr')
            self.emit(f'    CHECK(a3, {rm << 5})')
        self.emit('    csrwi frm, 0')


HEADER = '''/* GENERATED by gen/gen_fp.py from the exact reference model gen/fpref.py -- do not edit.
 * {title}: every arithmetic op in all five static rounding modes, fused multiply-add with
 * inf*0 and signed zeros, min/max with -0/+0 and NaNs, compares (quiet/signaling flags),
 * fclass, sign injection, conversions with saturation and flags, dynamic rounding via frm.
 * Each check compares the full 64-bit result register (single results must be NaN-boxed)
 * and fflags. Hand-written parts: {hand}. */
#include "fp.h"

    .text
    .globl main
main:'''


def write(path, g, title, hand, tail):
    with open(path, 'w') as fh:
        fh.write(HEADER.format(title=title, hand=hand) + '\n')
        fh.write('\n'.join(g.out) + '\n')
        fh.write(tail)
        fh.write('\n    TESTS_DONE\n')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, '..', 'src')
    for sfx, f, title in [('s', S, 'RV64F single precision'), ('d', D, 'RV64D double precision')]:
        g = Gen(f, sfx)
        g.arith()
        g.misc()
        g.cvt()
        if sfx == 'd':
            g.group('fcvt.s.d/fcvt.d.s')
            dv = [f2b(x, D) for x in [0.1, 1 / 3, 1e300, -1e300, 1e-300, -1e-300,
                                      3.4028234663852886e38, 3.4028235677973366e38, 3.4028235e38,
                                      2.0 ** -149, 2.0 ** -150, 2.0 ** -150 * 1.5, 1 + 2.0 ** -24,
                                      1 + 2.0 ** -24 + 2.0 ** -40, -(1 + 2.0 ** -23 + 2.0 ** -24),
                                      2.0 ** -126 * (1 - 2.0 ** -25), 65504.0]]
            dv += [0x7ff8000000000123, 0xfff0000000000001, 0x7ff0000000000000, 1 << 63,
                   0x7ff8000000000000, 0xfff8000000000000]
            for b in dv:
                for rm in range(5):
                    r, fl = cvt(b, D, S, rm)
                    g.r1('fcvt.s.d', RMNAMES[rm], b, (0xffffffff00000000 | r, fl))
            sv = vals(S)
            for n in ['ONE', 'TENTH', 'MINS', 'MAXS', 'MAX', 'NINF', 'N0', 'QNANP', 'SNAN', 'SNANP']:
                r, fl = cvt(sv[n], S, D, 0)
                g.r1('fcvt.d.s', '', sv[n], (r, fl), mv='fmv.w.x')
        g.dynamic_rm()
        tail = open(os.path.join(here, f'rv64{"f" if sfx == "s" else "d"}_tail.S')).read()
        hand = ('moves, loads/stores, NaN boxing, invalid rounding modes, fflags accumulation'
                if sfx == 's' else
                'moves, loads/stores, invalid rounding modes, fflags accumulation, mstatus.FS')
        write(os.path.join(src, f'rv64{"f" if sfx == "s" else "d"}.S'), g, title, hand, tail)


if __name__ == '__main__':
    main()
