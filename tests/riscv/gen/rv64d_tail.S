
    /* ---------------- hand-written part (gen/rv64d_tail.S) ---------------- */
    GROUP("fmv.x.d/fmv.d.x/fld/fsd")
    li a0, 0x123456789abcdef0
    fmv.d.x fa0, a0
    fmv.x.d a1, fa0
    CHECK(a1, 0x123456789abcdef0)
    li a0, 0x7ff0000000000001            /* sNaN moves unchanged, no flags */
    fmv.d.x fa0, a0
    fmv.x.d a1, fa0
    CHECK(a1, 0x7ff0000000000001)
    fmv.d fa1, fa0                       /* fsgnj.d: no canonicalisation */
    CHECK_D(fa1, 0x7ff0000000000001)
    la s0, dbuf
    fsd fa0, 8(s0)
    ld a1, 8(s0)
    CHECK(a1, 0x7ff0000000000001)
    li a0, 0xc00921fb54442d18
    sd a0, 16(s0)
    fld fa2, 16(s0)
    CHECK_D(fa2, 0xc00921fb54442d18)
    flw fa3, 16(s0)                      /* single load of the low word: boxed */
    CHECK_D(fa3, 0xffffffff54442d18)
    fsd fa3, 0(s0)
    ld a1, 0(s0)
    CHECK(a1, 0xffffffff54442d18)
    CHECK_FLAGS(0)

    GROUP("invalid rounding mode .d")
    li a0, 0x3ff0000000000000
    fmv.d.x fa0, a0
    fmv.d.x fa1, a0
.macro BADRM_D frm, line
    csrwi frm, \frm
    EXPECT_TRAP .Lr\@
.Li\@:
    fmul.d fa2, fa0, fa1, dyn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
    BADRM_D 5, __LINE__
    BADRM_D 6, __LINE__
    BADRM_D 7, __LINE__
    csrwi frm, 0
.macro BADSTATIC_D rm, funct7, line
    EXPECT_TRAP .Lr\@
.Li\@:
    .insn r 0x53, \rm, \funct7, fa2, fa0, fa1
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
    BADSTATIC_D 5, 0x01, __LINE__        /* fadd.d */
    BADSTATIC_D 6, 0x05, __LINE__        /* fsub.d */
    BADSTATIC_D 5, 0x0d, __LINE__        /* fdiv.d */
    CHECK_FLAGS(0)

    GROUP("fflags accumulation .d")
    csrwi fflags, 0
    li a0, 0x3ff0000000000000
    fmv.d.x fa0, a0
    li a0, 0x4008000000000000
    fmv.d.x fa1, a0
    fdiv.d fa2, fa0, fa1                 /* NX */
    fmv.d.x fa3, zero
    fdiv.d fa2, fa0, fa3                 /* DZ */
    fneg.d fa5, fa0
    fsqrt.d fa2, fa5                     /* NV */
    csrr a1, fflags
    CHECK(a1, 0x19)
    li a0, 0x7fefffffffffffff
    fmv.d.x fa4, a0
    fmul.d fa2, fa4, fa1                 /* OF, NX */
    csrr a1, fflags
    CHECK(a1, 0x1d)
    li a0, 0x0010000000000001
    fmv.d.x fa4, a0
    fmul.d fa2, fa4, fa4                 /* UF, NX */
    csrr a1, fflags
    CHECK(a1, 0x1f)
    fcvt.w.d a2, fa5, rtz                /* exact: no change */
    csrr a1, fflags
    CHECK(a1, 0x1f)
    csrsi fflags, 0                      /* csrsi with 0 does not write */
    csrw fflags, zero
    fcvt.w.d a2, fa1, rtz
    csrr a1, fflags
    CHECK(a1, 0)
    feq.d a2, fa3, fa3
    flt.d a2, fa3, fa0
    csrr a1, fflags
    CHECK(a1, 0)
    CHECK(a2, 1)

    GROUP("mstatus.FS")
    /* FS = Off: every FP instruction and FP CSR access is illegal (mtval = the instruction);
     * the register contents survive. */
    li a0, 0x4045000000000000
    fmv.d.x fs0, a0
    li t0, MSTATUS_FS
    csrc mstatus, t0
    csrr a1, mstatus
    and a1, a1, t0
    CHECK(a1, 0)
.macro FS_OFF_ insn, line
    EXPECT_TRAP .Lr\@
.Li\@:
    \insn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
#define FS_OFF(insn) FS_OFF_ insn, __LINE__
    la s0, dbuf
    FS_OFF("fadd.d fa0, fa1, fa2")
    FS_OFF("fadd.s fa0, fa1, fa2")
    FS_OFF("fld fa0, 0(s0)")
    FS_OFF("flw fa0, 0(s0)")
    FS_OFF("fsd fa0, 0(s0)")
    FS_OFF("fmv.x.d a0, fs0")
    FS_OFF("fmv.d.x fa0, a0")
    FS_OFF("fmv.w.x fa0, a0")
    FS_OFF("fcvt.d.l fa0, a0")
    FS_OFF("fclass.d a0, fs0")
    FS_OFF("feq.d a0, fs0, fs0")
    FS_OFF("fmadd.d fa0, fa1, fa2, fa3")
    FS_OFF("fsgnj.d fa0, fa1, fa1")
    FS_OFF("csrr a0, fflags")
    FS_OFF("csrr a0, frm")
    FS_OFF("csrr a0, fcsr")
    FS_OFF("csrwi fflags, 1")
    FS_OFF("csrw fcsr, zero")
    /* FS = Clean: registers kept; a write makes FS Dirty and sets SD */
    li t0, MSTATUS_FS_CLEAN
    csrs mstatus, t0
    csrr a1, mstatus
    srli a2, a1, 63
    CHECK(a2, 0)                          /* SD clear while Clean */
    CHECK_D(fs0, 0x4045000000000000)
    li t0, MSTATUS_FS
    csrr a1, mstatus
    and a1, a1, t0
    CHECK(a1, MSTATUS_FS_CLEAN)
    fadd.d fs1, fs0, fs0
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    srli a2, a1, 63
    CHECK(a2, 1)                          /* SD */
    CHECK_D(fs1, 0x4055000000000000)
    /* Initial -> Dirty by an FP load */
    csrc mstatus, t0
    li t1, MSTATUS_FS_INITIAL
    csrs mstatus, t1
    fld fa0, 0(s0)
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    /* Clean -> Dirty by fmv.d.x */
    csrc mstatus, t0
    li t1, MSTATUS_FS_CLEAN
    csrs mstatus, t1
    fmv.d.x fa0, zero
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    /* Clean -> Dirty by a write to fflags */
    csrc mstatus, t0
    li t1, MSTATUS_FS_CLEAN
    csrs mstatus, t1
    csrwi fflags, 0
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    /* Initial -> Dirty by a single-precision op */
    csrc mstatus, t0
    li t1, MSTATUS_FS_INITIAL
    csrs mstatus, t1
    fcvt.s.w fa0, zero
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    /* sstatus mirrors FS and SD */
    csrr a1, sstatus
    and a2, a1, t0
    CHECK(a2, MSTATUS_FS_DIRTY)
    srli a2, a1, 63
    CHECK(a2, 1)
    li t1, MSTATUS_FS_DIRTY
    csrc sstatus, t1                      /* FS = Off through sstatus */
    csrr a1, mstatus
    and a2, a1, t0
    CHECK(a2, 0)
    FS_OFF("fadd.d fa0, fa1, fa2")
    li t1, MSTATUS_FS_INITIAL
    csrs mstatus, t1
    CHECK_FLAGS(0)

    .data
    .align 4
dbuf: .space 32
    .text
