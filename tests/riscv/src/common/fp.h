/* Floating-point check macros (used by the generated rv64f.S / rv64d.S).
 * Operands are 64-bit integer constants moved in with MV (fmv.w.x NaN-boxes singles,
 * fmv.d.x is raw); results are compared as the full 64-bit register (so single results must
 * be NaN-boxed) and fflags is compared and cleared after every operation. */
#ifndef PETREL_FP_H
#define PETREL_FP_H
#include "test.h"

/* rd = op(rs1, rs2) with rounding mode rm ("" for ops without one) */
.macro FP_RR_ mv, op, rm, a, b, exp, flags, line
    li a0, \a
    \mv fa0, a0
    li a1, \b
    \mv fa1, a1
    .ifb \rm
    \op fa2, fa0, fa1
    .else
    \op fa2, fa0, fa1, \rm
    .endif
    fmv.x.d t5, fa2
    CHECK_ t5, \exp, \line
    csrrw t5, fflags, zero
    CHECK_ t5, \flags, \line
.endm
#define FP_RR(mv, op, rm, a, b, exp, flags) FP_RR_ mv, op, rm, a, b, exp, flags, __LINE__

.macro FP_R_ mv, op, rm, a, exp, flags, line
    li a0, \a
    \mv fa0, a0
    .ifb \rm
    \op fa2, fa0
    .else
    \op fa2, fa0, \rm
    .endif
    fmv.x.d t5, fa2
    CHECK_ t5, \exp, \line
    csrrw t5, fflags, zero
    CHECK_ t5, \flags, \line
.endm
#define FP_R(mv, op, rm, a, exp, flags) FP_R_ mv, op, rm, a, exp, flags, __LINE__

.macro FP_RRR_ mv, op, rm, a, b, c, exp, flags, line
    li a0, \a
    \mv fa0, a0
    li a1, \b
    \mv fa1, a1
    li a2, \c
    \mv fa3, a2
    \op fa2, fa0, fa1, fa3, \rm
    fmv.x.d t5, fa2
    CHECK_ t5, \exp, \line
    csrrw t5, fflags, zero
    CHECK_ t5, \flags, \line
.endm
#define FP_RRR(mv, op, rm, a, b, c, exp, flags) FP_RRR_ mv, op, rm, a, b, c, exp, flags, __LINE__

/* integer result: compares, fclass, fcvt to integer, fmv.x.* */
.macro FP_XR_ mv, op, rm, a, b, exp, flags, line
    li a0, \a
    \mv fa0, a0
    .ifnb \b
    li a1, \b
    \mv fa1, a1
    .endif
    li a2, 0x5a5a5a5a5a5a5a5a
    .ifb \b
    .ifb \rm
    \op a2, fa0
    .else
    \op a2, fa0, \rm
    .endif
    .else
    \op a2, fa0, fa1
    .endif
    CHECK_ a2, \exp, \line
    csrrw t5, fflags, zero
    CHECK_ t5, \flags, \line
.endm
#define FP_XR(mv, op, rm, a, exp, flags) FP_XR_ mv, op, rm, a, , exp, flags, __LINE__
#define FP_CMP(mv, op, a, b, exp, flags) FP_XR_ mv, op, , a, b, exp, flags, __LINE__

/* FP result from an integer operand: fcvt from integer, fmv.*.x */
.macro FP_RX_ op, rm, a, exp, flags, line
    li a0, \a
    .ifb \rm
    \op fa2, a0
    .else
    \op fa2, a0, \rm
    .endif
    fmv.x.d t5, fa2
    CHECK_ t5, \exp, \line
    csrrw t5, fflags, zero
    CHECK_ t5, \flags, \line
.endm
#define FP_RX(op, rm, a, exp, flags) FP_RX_ op, rm, a, exp, flags, __LINE__

#endif
