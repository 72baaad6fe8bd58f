
    /* ---------------- hand-written part (gen/rv64f_tail.S) ---------------- */
    GROUP("fmv.x.w/fmv.w.x/flw/fsw")
    li a0, 0x1234567887654321
    fmv.w.x fa0, a0                      /* NaN-boxes the low word */
    CHECK_D(fa0, 0xffffffff87654321)
    fmv.x.w a1, fa0                      /* sign-extends bit 31 */
    CHECK(a1, 0xffffffff87654321)
    li a0, 0x7f800000
    fmv.w.x fa0, a0
    fmv.x.w a1, fa0
    CHECK(a1, 0x7f800000)
    li a0, 0x1122334455667788            /* not NaN-boxed */
    fmv.d.x fa0, a0
    fmv.x.w a1, fa0                      /* transfers ignore the upper bits */
    CHECK(a1, 0x55667788)
    la s0, fbuf
    li a0, -1
    sd a0, 0(s0)
    fsw fa0, 0(s0)
    ld a1, 0(s0)
    CHECK(a1, 0xffffffff55667788)
    li a0, 0x00000000bf800000
    sd a0, 8(s0)
    flw fa1, 8(s0)                       /* loads NaN-box */
    CHECK_D(fa1, 0xffffffffbf800000)
    flw fa1, 12(s0)
    CHECK_D(fa1, 0xffffffff00000000)
    fsw fa1, 4(s0)
    ld a1, 0(s0)
    CHECK(a1, 0x0000000055667788)
    CHECK_FLAGS(0)

    GROUP("NaN boxing")
    /* a single-precision operand whose upper 32 bits are not all ones is the canonical NaN */
    FP_RR(fmv.d.x, fadd.s, rne, 0x000000003f800000, 0xffffffff3f800000, 0xffffffff7fc00000, 0)
    FP_RR(fmv.d.x, fadd.s, rne, 0xffffffff3f800000, 0xfffffffe3f800000, 0xffffffff7fc00000, 0)
    FP_RR(fmv.d.x, fmul.s, rne, 0x7fffffff3f800000, 0xffffffff00000000, 0xffffffff7fc00000, 0)
    FP_RR(fmv.d.x, fsgnj.s, , 0x000000003f800000, 0xffffffff3f800000, 0xffffffff7fc00000, 0)
    FP_RR(fmv.d.x, fsgnjn.s, , 0x000000003f800000, 0xffffffff3f800000, 0xffffffffffc00000, 0)
    FP_RR(fmv.d.x, fsgnj.s, , 0xffffffffbf800000, 0x00000000bf800000, 0xffffffff3f800000, 0)
    FP_RR(fmv.d.x, fsgnjx.s, , 0xffffffffbf800000, 0x00000000bf800000, 0xffffffffbf800000, 0)
    FP_RR(fmv.d.x, fmin.s, , 0x00000000bf800000, 0xffffffff40000000, 0xffffffff40000000, 0)
    FP_RR(fmv.d.x, fmax.s, , 0x7ff0000000000000, 0xffffffffc0000000, 0xffffffffc0000000, 0)
    FP_R(fmv.d.x, fsqrt.s, rne, 0x0000000040800000, 0xffffffff7fc00000, 0)
    FP_R(fmv.d.x, fcvt.d.s, , 0x0000000040800000, 0x7ff8000000000000, 0)
    FP_XR(fmv.d.x, fclass.s, , 0x000000003f800000, 0x200, 0)
    FP_XR(fmv.d.x, fclass.s, , 0x3ff0000000000000, 0x200, 0)
    FP_XR(fmv.d.x, fcvt.w.s, rtz, 0x0000000040800000, 0x7fffffff, 0x10)
    FP_XR(fmv.d.x, fcvt.lu.s, rtz, 0x0000000040800000, 0xffffffffffffffff, 0x10)
    FP_CMP(fmv.d.x, feq.s, 0x000000003f800000, 0x000000003f800000, 0, 0)
    FP_CMP(fmv.d.x, flt.s, 0x000000003f800000, 0xffffffff40000000, 0, 0x10)
    FP_CMP(fmv.d.x, fle.s, 0xffffffff3f800000, 0x0000000040000000, 0, 0x10)
    FP_RRR(fmv.d.x, fmadd.s, rne, 0xffffffff3f800000, 0xffffffff3f800000, 0x000000003f800000, 0xffffffff7fc00000, 0)
    /* the result of a single op is always boxed, even from boxed NaN inputs */
    FP_RR(fmv.d.x, fadd.s, rne, 0xffffffff7fc00001, 0xffffffff3f800000, 0xffffffff7fc00000, 0)

    GROUP("invalid rounding mode .s")
    /* static rm 5/6 and dynamic rm with frm 5/6/7 are illegal; mtval = the instruction */
    li a0, 0x3f800000
    fmv.w.x fa0, a0
    fmv.w.x fa1, a0
.macro BADRM_S frm, line
    csrwi frm, \frm
    EXPECT_TRAP .Lr\@
.Li\@:
    fadd.s fa2, fa0, fa1, dyn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
    csrr a1, frm
    CHECK_ a1, \frm, \line
.endm
    BADRM_S 5, __LINE__
    BADRM_S 6, __LINE__
    BADRM_S 7, __LINE__
    csrwi frm, 0
.macro BADSTATIC_S rm, line
    EXPECT_TRAP .Lr\@
.Li\@:
    .insn r 0x53, \rm, 0x00, fa2, fa0, fa1     /* fadd.s with rm field \rm */
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
    BADSTATIC_S 5, __LINE__
    BADSTATIC_S 6, __LINE__
    /* instructions without a rounding mode are unaffected by an invalid frm */
    csrwi frm, 7
    EXPECT_TRAP 1f
    fsgnjn.s fa2, fa0, fa1
    fmin.s fa3, fa0, fa1
    feq.s a2, fa0, fa1
    fmv.x.w a3, fa2
1:  CHECK_NO_TRAP
    CHECK(a2, 1)
    CHECK(a3, 0xffffffffbf800000)
    csrwi frm, 0
    CHECK_FLAGS(0)

    GROUP("fflags accumulation .s")
    csrwi fflags, 0
    li a0, 0x3f800000                    /* 1.0 */
    fmv.w.x fa0, a0
    li a0, 0x40400000                    /* 3.0 */
    fmv.w.x fa1, a0
    fdiv.s fa2, fa0, fa1                 /* NX */
    csrr a1, fflags
    CHECK(a1, 0x01)
    fmv.w.x fa3, zero
    fdiv.s fa2, fa0, fa3                 /* DZ */
    csrr a1, fflags
    CHECK(a1, 0x09)
    fadd.s fa2, fa0, fa0                 /* exact: flags unchanged */
    csrr a1, fflags
    CHECK(a1, 0x09)
    li a0, 0x7f7fffff
    fmv.w.x fa4, a0
    fadd.s fa2, fa4, fa4                 /* OF, NX */
    csrr a1, fflags
    CHECK(a1, 0x0d)
    li a0, 0x00000001
    fmv.w.x fa4, a0
    li a0, 0x3f000000
    fmv.w.x fa5, a0
    fmul.s fa2, fa4, fa5                 /* UF, NX */
    csrr a1, fflags
    CHECK(a1, 0x0f)
    fneg.s fa5, fa0
    fsqrt.s fa2, fa5                     /* NV */
    csrr a1, fflags
    CHECK(a1, 0x1f)
    csrwi frm, 3
    csrr a1, fcsr
    CHECK(a1, 0x7f)
    csrci fflags, 0x1c
    csrr a1, fcsr
    CHECK(a1, 0x63)
    csrwi fcsr, 0
    csrr a1, fflags
    CHECK(a1, 0)

    .data
    .align 4
fbuf: .space 32
    .text
