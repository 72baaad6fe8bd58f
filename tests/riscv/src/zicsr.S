/* Zicsr and Zifencei: CSR instruction read/write rules, read-only and nonexistent CSRs,
 * privilege checks on CSR access, fcsr/frm/fflags aliasing, sstatus/sie views,
 * self-modifying code made visible by fence.i. */
#include "test.h"

/* CSR access expected to trap as illegal instruction, mtval = the instruction bits */
.macro CSR_ILLEGAL_ insn, line
    EXPECT_TRAP .Lr\@
.Li\@:
    \insn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
#define CSR_ILLEGAL(insn) CSR_ILLEGAL_ insn, __LINE__

/* CSR access expected not to trap */
.macro CSR_OK_ insn, line
    EXPECT_TRAP .Lr\@
    \insn
.Lr\@:
    CHECK_NO_TRAP_ \line
.endm
#define CSR_OK(insn) CSR_OK_ insn, __LINE__

    .text
    .globl main
main:
    /* ------------------------------------------------------------------ */
    GROUP("csrrw/csrrs/csrrc")
    li a0, 0x123456789abcdef0
    csrw mscratch, a0
    csrr a1, mscratch
    CHECK(a1, 0x123456789abcdef0)
    li a0, -1
    csrrw a1, mscratch, a0                /* returns the old value */
    CHECK(a1, 0x123456789abcdef0)
    csrr a1, mscratch
    CHECK(a1, -1)
    li a0, 0x00ff00ff00ff00ff
    csrrc a1, mscratch, a0
    CHECK(a1, -1)
    csrr a1, mscratch
    CHECK(a1, 0xff00ff00ff00ff00)
    li a0, 0x0f
    csrrs a1, mscratch, a0
    CHECK(a1, 0xff00ff00ff00ff00)
    csrr a1, mscratch
    CHECK(a1, 0xff00ff00ff00ff0f)
    csrrs a1, mscratch, x0                /* read only */
    CHECK(a1, 0xff00ff00ff00ff0f)
    csrrc a1, mscratch, x0
    CHECK(a1, 0xff00ff00ff00ff0f)
    csrrwi a1, mscratch, 31               /* zero-extended 5-bit immediate */
    CHECK(a1, 0xff00ff00ff00ff0f)
    csrr a1, mscratch
    CHECK(a1, 31)
    csrrci a1, mscratch, 0x15
    CHECK(a1, 31)
    csrr a1, mscratch
    CHECK(a1, 0x0a)
    csrrsi a1, mscratch, 0x11
    CHECK(a1, 0x0a)
    csrr a1, mscratch
    CHECK(a1, 0x1b)
    csrrsi a1, mscratch, 0
    CHECK(a1, 0x1b)
    csrrci a1, mscratch, 0
    CHECK(a1, 0x1b)
    csrrw x0, mscratch, zero              /* rd = x0: still writes */
    csrr a1, mscratch
    CHECK(a1, 0)
    li a0, 0x77
    csrrw a0, mscratch, a0                /* rd == rs1: old value to rd, new from rs1 */
    CHECK(a0, 0)
    csrr a1, mscratch
    CHECK(a1, 0x77)
    la t0, __trap_state                   /* restore mscratch for the trap handler */
    csrw mscratch, t0
    li a0, 0xfedcba9876543210
    csrw sscratch, a0
    csrr a1, sscratch
    CHECK(a1, 0xfedcba9876543210)

    /* ------------------------------------------------------------------ */
    GROUP("read-only CSRs")
    /* reads never trap; csrrs/csrrc with rs1 = x0 and the immediate forms with uimm = 0 do
     * not write, so they are legal on read-only CSRs */
    CSR_OK("csrr a0, mhartid")
    CHECK(a0, 0)
    CSR_OK("csrrs a0, mhartid, x0")
    CSR_OK("csrrc a0, mvendorid, x0")
    CSR_OK("csrrsi a0, marchid, 0")
    CSR_OK("csrrci a0, mimpid, 0")
    CSR_OK("csrr a0, cycle")
    CSR_OK("csrr a0, time")
    CSR_OK("csrr a0, instret")
    CSR_OK("csrrs a0, cycle, x0")
    /* any write attempt to a read-only CSR is illegal (even csrrw with rd = x0) */
    CSR_ILLEGAL("csrw mhartid, a0")
    CSR_ILLEGAL("csrrw x0, mvendorid, zero")
    CSR_ILLEGAL("csrrwi a0, marchid, 0")
    CSR_ILLEGAL("csrrsi a0, mhartid, 1")
    CSR_ILLEGAL("csrrci a0, mimpid, 1")
    CSR_ILLEGAL("csrw cycle, zero")
    CSR_ILLEGAL("csrrw a0, time, a0")
    CSR_ILLEGAL("csrrsi a0, instret, 2")
    /* misa is writable-WARL (must not trap); MXL = 2 and I/M/A/F/D/C/S/U present */
    CSR_OK("csrr a0, misa")
    srli a1, a0, 62
    CHECK(a1, 2)
    li a2, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20)
    and a1, a0, a2
    CHECKR(a1, a2)

    /* ------------------------------------------------------------------ */
    GROUP("nonexistent CSRs")
    CSR_ILLEGAL("csrr a0, 0x801")
    CSR_ILLEGAL("csrw 0x801, a0")
    CSR_ILLEGAL("csrr a0, 0x7c0")
    CSR_ILLEGAL("csrrs a0, 0x5c3, x0")
    CSR_ILLEGAL("csrr a0, 0xfc0")
    CSR_ILLEGAL("csrrwi a0, 0x4c1, 1")

    /* ------------------------------------------------------------------ */
    GROUP("CSR privilege checks")
    /* M-mode CSRs from S-mode and S/M-mode CSRs from U-mode are illegal */
    .macro PRIV_ILLEGAL_ prv, insn, line
    EXPECT_TRAP .Lr\@
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, (\prv << 11)
    csrs mstatus, t6
    la t6, .Li\@
    csrw mepc, t6
    mret
.Li\@:
    \insn
    ecall                                 /* not reached if the CSR access traps */
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_PRV
    CHECK_ t5, \prv, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
    .endm
#define PRIV_ILLEGAL(prv, insn) PRIV_ILLEGAL_ prv, insn, __LINE__
    PRIV_ILLEGAL(PRV_S, "csrr a0, mstatus")
    PRIV_ILLEGAL(PRV_S, "csrw mscratch, a0")
    PRIV_ILLEGAL(PRV_S, "csrr a0, mhartid")
    PRIV_ILLEGAL(PRV_S, "csrr a0, mepc")
    PRIV_ILLEGAL(PRV_S, "csrr a0, mcycle")
    PRIV_ILLEGAL(PRV_S, "csrr a0, pmpcfg0")
    PRIV_ILLEGAL(PRV_U, "csrr a0, sstatus")
    PRIV_ILLEGAL(PRV_U, "csrw sscratch, a0")
    PRIV_ILLEGAL(PRV_U, "csrr a0, satp")
    PRIV_ILLEGAL(PRV_U, "csrr a0, mstatus")
    PRIV_ILLEGAL(PRV_U, "csrr a0, mhartid")
    /* S-mode may use its own CSRs */
    RUN_IN PRV_S, 1f, 2f
1:  li a0, 0x5a5a
    csrw sscratch, a0
    csrr a1, sscratch
    csrr a2, sstatus
    ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a1, 0x5a5a)
    /* U-mode may read fcsr (FS on) */
    RUN_IN PRV_U, 1f, 2f
1:  csrwi fflags, 3
    csrr a1, fflags
    csrwi fflags, 0
    ecall
2:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK(a1, 3)

    /* ------------------------------------------------------------------ */
    GROUP("fcsr/frm/fflags")
    csrwi fcsr, 0
    csrwi fflags, 0x1f
    csrr a0, fcsr
    CHECK(a0, 0x1f)
    csrwi frm, 3
    csrr a0, fcsr
    CHECK(a0, 0x7f)
    csrr a0, frm
    CHECK(a0, 3)
    li a1, 0xa5
    csrrw a0, fcsr, a1                    /* frm = 5, fflags = 5 */
    CHECK(a0, 0x7f)
    csrr a0, frm
    CHECK(a0, 5)
    csrr a0, fflags
    CHECK(a0, 5)
    csrrci a0, fflags, 1
    CHECK(a0, 5)
    csrr a0, fcsr
    CHECK(a0, 0xa4)
    csrrsi a0, frm, 2
    CHECK(a0, 5)
    csrr a0, fcsr
    CHECK(a0, 0xe4)
    li a1, 0xff
    csrw fflags, a1                       /* only 5 bits */
    csrr a0, fcsr
    CHECK(a0, 0xff)
    csrw frm, zero
    csrr a0, fcsr
    CHECK(a0, 0x1f)
    li a1, 0xf9
    csrw frm, a1                          /* only 3 bits */
    csrr a0, frm
    CHECK(a0, 1)
    csrwi fcsr, 0
    csrr a0, fcsr
    CHECK(a0, 0)

    /* ------------------------------------------------------------------ */
    GROUP("sstatus/sie/sip views")
    li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
    csrc mstatus, t0
    li a0, MSTATUS_SIE | MSTATUS_SUM
    csrs sstatus, a0
    csrr a1, mstatus
    and a1, a1, t0
    CHECK(a1, MSTATUS_SIE | MSTATUS_SUM)
    li a0, MSTATUS_MXR | MSTATUS_SPP
    csrs mstatus, a0
    csrr a1, sstatus
    and a1, a1, t0
    CHECK(a1, MSTATUS_SIE | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SPP)
    csrc mstatus, t0
    /* M-only fields are invisible in sstatus and cannot be set through it */
    li t1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
    csrs sstatus, t1
    csrr a1, sstatus
    and a1, a1, t1
    CHECK(a1, 0)
    csrr a1, mstatus
    li t2, MSTATUS_MIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
    and a1, a1, t2
    CHECK(a1, 0)
    /* with SSIP/STIP delegated, sie/sip are views of mie/mip */
    li t0, MIP_SSIP | MIP_STIP
    csrw mideleg, t0
    csrw mie, zero
    li a0, MIP_SSIP | MIP_STIP
    csrs sie, a0
    csrr a1, mie
    and a1, a1, t0
    CHECK(a1, MIP_SSIP | MIP_STIP)
    csrr a1, sie
    and a1, a1, t0
    CHECK(a1, MIP_SSIP | MIP_STIP)
    li a0, MIP_MSIP | MIP_MTIP
    csrs sie, a0                          /* M bits are not writable through sie */
    csrr a1, mie
    and a1, a1, a0
    CHECK(a1, 0)
    csrw mie, zero
    csrr a1, sie
    CHECK(a1, 0)
    csrsi sip, MIP_SSIP                   /* SSIP is writable through sip */
    csrr a1, mip
    andi a1, a1, MIP_SSIP
    CHECK(a1, MIP_SSIP)
    csrci mip, MIP_SSIP
    csrr a1, sip
    andi a1, a1, MIP_SSIP
    CHECK(a1, 0)
    csrw mideleg, zero

    /* ------------------------------------------------------------------ */
    GROUP("counter enables/envcfg")
    li a0, 7
    csrw mcounteren, a0
    csrr a1, mcounteren
    andi a1, a1, 7
    CHECK(a1, 7)
    csrw scounteren, a0
    csrr a1, scounteren
    andi a1, a1, 7
    CHECK(a1, 7)
    csrw mcounteren, zero
    csrw scounteren, zero
    csrr a1, mcounteren
    andi a1, a1, 7
    CHECK(a1, 0)
    csrwi menvcfg, 1                      /* FIOM */
    csrr a1, menvcfg
    andi a1, a1, 1
    CHECK(a1, 1)
    csrwi menvcfg, 0
    csrr a1, menvcfg
    andi a1, a1, 1
    CHECK(a1, 0)
    csrwi senvcfg, 1
    csrr a1, senvcfg
    andi a1, a1, 1
    CHECK(a1, 1)
    csrwi senvcfg, 0
    li a0, 1 << 63                        /* STCE (Sstc) */
    csrs menvcfg, a0
    csrr a1, menvcfg
    srli a1, a1, 63
    CHECK(a1, 1)
    csrc menvcfg, a0
    csrr a1, menvcfg
    srli a1, a1, 63
    CHECK(a1, 0)
    /* counters tick: cycle/time/instret are monotonic */
    csrr a0, instret
    csrr a1, cycle
    li t0, 100
1:  addi t0, t0, -1
    bnez t0, 1b
    csrr a2, instret
    csrr a3, cycle
    sltu a4, a0, a2
    CHECK(a4, 1)
    sltu a4, a1, a3
    CHECK(a4, 1)
    rdtime a0
    li t0, 2000
1:  addi t0, t0, -1
    bnez t0, 1b
    rdtime a1
    sltu a4, a1, a0
    CHECK(a4, 0)

    /* ------------------------------------------------------------------ */
    GROUP("mepc/sepc/mtvec WARL")
    /* (mepc[0] must read as 0, but QEMU 7.2 keeps it: not checked, see README) */
    li a0, 0x80001236                     /* IALIGN = 16: bit 1 is kept */
    csrw mepc, a0
    csrr a1, mepc
    CHECK(a1, 0x80001236)
    csrw sepc, a0
    csrr a1, sepc
    CHECK(a1, 0x80001236)
    la a0, __mtrap                        /* mtvec: direct mode, base kept */
    csrw mtvec, a0
    csrr a1, mtvec
    CHECKR(a1, a0)
    la a0, vtab
    ori a0, a0, 1                         /* vectored */
    csrw stvec, a0
    csrr a1, stvec
    CHECKR(a1, a0)
    csrw stvec, zero

    /* ------------------------------------------------------------------ */
    GROUP("fence.i self-modifying code")
    call smc_func                         /* run the original code first */
    CHECK(a0, 1)
    li t0, 0x00200513                     /* addi a0, zero, 2 */
    la t1, smc_func
    sw t0, 0(t1)
    fence.i
    call smc_func
    CHECK(a0, 2)
    li t0, 0x03000513                     /* addi a0, zero, 48: write by halves */
    la t1, smc_func
    sh t0, 0(t1)
    srli t0, t0, 16
    sh t0, 2(t1)
    fence.i
    call smc_func
    CHECK(a0, 48)
    /* patch an instruction in a loop body that has already executed many times */
    li s0, 0
    li s1, 0
1:  la t1, smc_loop
    jalr ra, 0(t1)
    add s1, s1, a0
    addi s0, s0, 1
    li t0, 5
    bne s0, t0, 2f
    li t0, 0x00a00513                     /* addi a0, zero, 10 */
    sw t0, 0(t1)
    fence.i
2:  li t0, 10
    bne s0, t0, 1b
    CHECK(s1, 5 * 1 + 5 * 10)
    /* a patched jump */
    li a0, 0
    call smc_jump
    CHECK(a0, 3)
    la t1, smc_jump
    li t0, 0x0080006f                     /* jal x0, +8 (skips the next instruction) */
    sw t0, 0(t1)
    fence.i
    li a0, 0
    call smc_jump
    CHECK(a0, 1)

    TESTS_DONE

    /* code that is rewritten at run time (.text is writable RAM) */
    .align 2
smc_func:
    addi a0, zero, 1
    ret
smc_loop:
    addi a0, zero, 1
    ret
smc_jump:
    addi a0, a0, 1
    addi a0, a0, 1
    addi a0, a0, 1
    ret

    .align 8
vtab:
    j vtab
