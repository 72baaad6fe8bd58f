/* Privileged architecture, interrupts: CLINT machine timer (mtimecmp) and software interrupt
 * (msip), supervisor software interrupt (mip.SSIP), delegation with mideleg, interrupts from
 * lower privilege modes, priority, vectored mtvec/stvec (base + 4 * cause), WFI waking on a
 * pending interrupt while interrupts are globally disabled, Sstc (stimecmp, menvcfg.STCE).
 * Interrupt latency is not checked (only that the interrupt arrives before a deadline). */
#include "test.h"

#define CSR_STIMECMP 0x14d
#define MIP_SEIP (1 << IRQ_S_EXT)
#define TIMEOUT_TICKS 2000000                 /* 200 ms of mtime */
#define MENVCFG_STCE (1 << 63)

/* s11 = a deadline TIMEOUT_TICKS from now */
.macro DEADLINE
    csrr s11, time
    li t0, TIMEOUT_TICKS
    add s11, s11, t0
.endm
/* spin (in any mode with time access) until the deadline */
.macro SPIN_UNTIL_DEADLINE
.Ls\@:
    csrr t0, time
    bltu t0, s11, .Ls\@
.endm
.macro MTIMECMP_IN delta
    li t0, CLINT_MTIME
    ld t1, 0(t0)
    li t2, \delta
    add t1, t1, t2
    li t0, CLINT_MTIMECMP
    sd t1, 0(t0)
.endm
.macro MTIMECMP_SET value
    li t0, CLINT_MTIMECMP
    li t1, \value
    sd t1, 0(t0)
.endm
.macro MSIP_SET value
    li t0, CLINT_MSIP
    li t1, \value
    sw t1, 0(t0)
.endm
/* mip & mask must become equal to exp before the deadline */
.macro WAIT_MIP_ mask, exp, line
    DEADLINE
.Lw\@:
    csrr t0, mip
    li t1, \mask
    and t0, t0, t1
    li t1, \exp
    beq t0, t1, .Ld\@
    csrr t2, time
    bltu t2, s11, .Lw\@
.Ld\@:
    CHECK_ t0, \exp, \line
.endm
#define WAIT_MIP(mask, exp) WAIT_MIP_ mask, exp, __LINE__
#define CHECK_MIP(mask, exp) csrr t5, mip; li t6, mask; and t5, t5, t6; CHECK_ t5, exp, __LINE__
#define CHECK_TRAP_VEC(v) TRAP_FIELD t5, TS_VEC; CHECK_ t5, v, __LINE__
#define CHECK_STRAP_VEC(v) STRAP_FIELD t5, TS_VEC; CHECK_ t5, v, __LINE__

    .text
    .globl main
main:
    MTIMECMP_SET -1
    MSIP_SET 0
    csrw mie, zero
    li t0, 7
    csrw mcounteren, t0                       /* time readable in S and U */
    csrw scounteren, t0
    la t0, __strap
    csrw stvec, t0

    /* ------------------------------------------------------------------ */
    GROUP("mtime/mtimecmp/MTIP")
    CHECK_MIP(MIP_MTIP, 0)
    li t0, CLINT_MTIME
    ld a0, 0(t0)
    li t1, 1000
1:  addi t1, t1, -1
    bnez t1, 1b
    ld a1, 0(t0)
    sltu a2, a0, a1                           /* mtime advances */
    CHECK(a2, 1)
    rdtime a2                                 /* time CSR mirrors mtime */
    sltu a3, a2, a1
    CHECK(a3, 0)
    li t1, 100000                             /* within 10 ms */
    add a1, a1, t1
    sltu a3, a2, a1
    CHECK(a3, 1)
    /* MTIP rises when mtime >= mtimecmp; not taken while MIE = 0 */
    EXPECT_TRAP 9f
    li t0, MIP_MTIP
    csrw mie, t0
    MTIMECMP_IN 5000
    WAIT_MIP(MIP_MTIP, MIP_MTIP)
    li t0, MIP_MTIP
    csrc mip, t0                              /* read-only in mip */
    CHECK_MIP(MIP_MTIP, MIP_MTIP)
9:  CHECK_NO_TRAP
    /* enabling MIE takes it */
    EXPECT_TRAP 9f
    DEADLINE
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_DEADLINE
9:  CHECK_TRAP(INTR_BIT | IRQ_M_TIMER)
    CHECK_TRAP_PRV(PRV_M)
    TRAP_FIELD a0, TS_STATUS
    andi a1, a0, MSTATUS_MIE | MSTATUS_MPIE
    CHECK(a1, MSTATUS_MPIE)
    CHECK_TRAP_TVAL(0)
    /* a new mtimecmp in the future clears MTIP */
    MTIMECMP_SET -1
    WAIT_MIP(MIP_MTIP, 0)
    /* writing mtimecmp in two 32-bit halves */
    li t0, CLINT_MTIMECMP
    li t1, -1
    sw t1, 4(t0)
    sw zero, 0(t0)
    ld a0, 0(t0)
    CHECK(a0, 0xffffffff00000000)
    MTIMECMP_SET -1
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("wfi")
    /* wfi with MIE = 0 wakes up on a pending enabled interrupt without taking it */
    EXPECT_TRAP 9f
    li t0, MIP_MTIP
    csrw mie, t0
    MTIMECMP_IN 5000
    wfi
    CHECK_MIP(MIP_MTIP, MIP_MTIP)
9:  CHECK_NO_TRAP
    MTIMECMP_SET -1
    WAIT_MIP(MIP_MTIP, 0)
    /* wfi with MIE = 1: the interrupt is taken and mepc is the instruction after wfi */
    EXPECT_TRAP 9f
    MTIMECMP_IN 5000
    csrsi mstatus, MSTATUS_MIE
1:  wfi
2:  j 2b
9:  CHECK_TRAP(INTR_BIT | IRQ_M_TIMER)
    CHECK_TRAP_EPC(2b)
    MTIMECMP_SET -1
    /* wfi in S (TW = 0) also wakes on an M interrupt, which is then taken */
    MTIMECMP_IN 5000
    RUN_IN PRV_S, 1f, 9f
1:  wfi
2:  j 2b
9:  CHECK_TRAP(INTR_BIT | IRQ_M_TIMER)
    CHECK_TRAP_PRV(PRV_S)
    CHECK_TRAP_EPC(2b)
    MTIMECMP_SET -1
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("msip")
    CHECK_MIP(MIP_MSIP, 0)
    li t0, MIP_MSIP
    csrs mip, t0                              /* read-only in mip */
    CHECK_MIP(MIP_MSIP, 0)
    MSIP_SET 1
    WAIT_MIP(MIP_MSIP, MIP_MSIP)
    li t0, CLINT_MSIP
    lw a0, 0(t0)
    CHECK(a0, 1)
    EXPECT_TRAP 9f
    li t0, MIP_MSIP
    csrw mie, t0
    DEADLINE
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_DEADLINE
9:  CHECK_TRAP(INTR_BIT | IRQ_M_SOFT)
    MSIP_SET 0
    WAIT_MIP(MIP_MSIP, 0)
    /* msip wakes wfi too */
    EXPECT_TRAP 9f
    MSIP_SET 1
    wfi
    CHECK_MIP(MIP_MSIP, MIP_MSIP)
9:  CHECK_NO_TRAP
    MSIP_SET 0
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("ssip in M")
    /* SSIP is writable by M; not delegated, it is taken in M */
    li t0, MIP_SSIP
    csrs mip, t0
    CHECK_MIP(MIP_SSIP, MIP_SSIP)
    csrc mip, t0
    CHECK_MIP(MIP_SSIP, 0)
    EXPECT_TRAP 9f
    li t0, MIP_SSIP
    csrw mie, t0
    csrs mip, t0
    DEADLINE
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_DEADLINE
9:  CHECK_TRAP(INTR_BIT | IRQ_S_SOFT)
    li t0, MIP_SSIP
    csrc mip, t0
    /* a delegated SSIP is never taken in M */
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrs mip, t0
    EXPECT_TRAP 9f
    csrsi mstatus, MSTATUS_MIE
    li t1, 1000
1:  addi t1, t1, -1
    bnez t1, 1b
    csrci mstatus, MSTATUS_MIE
9:  CHECK_NO_TRAP
    li t0, MIP_SSIP
    csrc mip, t0
    csrw mideleg, zero
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("priority")
    /* MSI > MTI, SSI > STI when both are pending. (MTI > SSI and MSI > SSI are not checked:
     * QEMU 7.2 without AIA takes the lowest-numbered interrupt first; see README.) */
    csrw menvcfg, zero
    MSIP_SET 1
    MTIMECMP_SET 0
    WAIT_MIP(MIP_MSIP | MIP_MTIP, MIP_MSIP | MIP_MTIP)
    li t0, MIP_MSIP | MIP_MTIP
    csrw mie, t0
    EXPECT_TRAP 9f
    csrsi mstatus, MSTATUS_MIE
    nop
9:  CHECK_TRAP(INTR_BIT | IRQ_M_SOFT)
    MSIP_SET 0
    WAIT_MIP(MIP_MSIP, 0)
    EXPECT_TRAP 9f
    csrsi mstatus, MSTATUS_MIE
    nop
9:  CHECK_TRAP(INTR_BIT | IRQ_M_TIMER)
    MTIMECMP_SET -1
    WAIT_MIP(MIP_MTIP, 0)
    li t0, MIP_SSIP | MIP_STIP
    csrs mip, t0
    csrw mie, t0
    EXPECT_TRAP 9f
    csrsi mstatus, MSTATUS_MIE
    nop
9:  CHECK_TRAP(INTR_BIT | IRQ_S_SOFT)
    li t0, MIP_SSIP
    csrc mip, t0
    EXPECT_TRAP 9f
    csrsi mstatus, MSTATUS_MIE
    nop
9:  CHECK_TRAP(INTR_BIT | IRQ_S_TIMER)
    li t0, MIP_STIP
    csrc mip, t0
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("interrupts from S/U")
    /* M-level interrupts are always enabled below M, whatever mstatus.MIE */
    li t0, MIP_MTIP
    csrw mie, t0
    csrci mstatus, MSTATUS_MIE
    MTIMECMP_IN 5000
    DEADLINE
    RUN_IN PRV_U, 1f, 9f
1:  SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(INTR_BIT | IRQ_M_TIMER)
    CHECK_TRAP_PRV(PRV_U)
    MTIMECMP_SET -1
    WAIT_MIP(MIP_MTIP, 0)
    li t0, MIP_MSIP
    csrw mie, t0
    DEADLINE
    RUN_IN PRV_S, 1f, 9f
1:  li t0, CLINT_MSIP                         /* S raises an M software interrupt */
    li t1, 1
    sw t1, 0(t0)
    SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(INTR_BIT | IRQ_M_SOFT)
    CHECK_TRAP_PRV(PRV_S)
    MSIP_SET 0
    WAIT_MIP(MIP_MSIP, 0)
    /* delegated SSIP: taken in S from U (SIE irrelevant below S), SPP = U */
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    STRAP_RESET
    li t0, MSTATUS_SIE
    csrc mstatus, t0
    DEADLINE
    RUN_IN PRV_U, 1f, 9f
1:  SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)                 /* the S handler hands over to M */
    CHECK_STRAP(INTR_BIT | IRQ_S_SOFT)
    CHECK_STRAP_PRV(PRV_U)
    /* in S with SIE = 0 it is not taken ... */
    STRAP_RESET
    RUN_IN PRV_S, 1f, 9f
1:  li t1, 1000
2:  addi t1, t1, -1
    bnez t1, 2b
    csrr a0, sip
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP_COUNT(0)
    andi a0, a0, MIP_SSIP
    CHECK(a0, MIP_SSIP)
    /* ... and with SIE = 1 it is */
    STRAP_RESET
    DEADLINE
    RUN_IN PRV_S, 1f, 9f
1:  csrsi sstatus, MSTATUS_SIE
    SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(INTR_BIT | IRQ_S_SOFT)
    CHECK_STRAP_PRV(PRV_S)
    STRAP_FIELD a0, TS_STATUS
    andi a1, a0, MSTATUS_SIE | MSTATUS_SPIE
    CHECK(a1, MSTATUS_SPIE)
    /* S clears its own SSIP through sip */
    RUN_IN PRV_S, 1f, 9f
1:  csrci sip, MIP_SSIP
    csrr a0, sip
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    andi a0, a0, MIP_SSIP
    CHECK(a0, 0)
    CHECK_MIP(MIP_SSIP, 0)
    csrw mideleg, zero
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("vectored mtvec/stvec")
    la t0, mvtab + 1
    csrw mtvec, t0
    li t0, MIP_MSIP | MIP_MTIP | MIP_SSIP
    csrw mie, t0
    .irp irq, IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_SOFT
    la t0, __trap_state
    li t1, -1
    sd t1, TS_VEC(t0)
    .if \irq == IRQ_M_SOFT
    MSIP_SET 1
    .elseif \irq == IRQ_M_TIMER
    MTIMECMP_SET 0
    .else
    li t0, MIP_SSIP
    csrs mip, t0
    .endif
    EXPECT_TRAP 9f
    DEADLINE
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_DEADLINE
9:  CHECK_TRAP(INTR_BIT | \irq)
    CHECK_TRAP_VEC(\irq)
    MSIP_SET 0
    MTIMECMP_SET -1
    li t0, MIP_SSIP
    csrc mip, t0
    WAIT_MIP(MIP_MSIP | MIP_MTIP | MIP_SSIP, 0)
    .endr
    la t0, __mtrap
    csrw mtvec, t0
    /* stvec vectored: delegated SSIP arrives at stvec base + 4 */
    la t0, svtab + 1
    csrw stvec, t0
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    STRAP_RESET
    la t0, __strap_state
    li t1, -1
    sd t1, TS_VEC(t0)
    DEADLINE
    RUN_IN PRV_U, 1f, 9f
1:  SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(INTR_BIT | IRQ_S_SOFT)
    CHECK_STRAP_VEC(IRQ_S_SOFT)
    li t0, MIP_SSIP
    csrc mip, t0
    csrw mideleg, zero
    csrw mie, zero
    la t0, __strap
    csrw stvec, t0

    /* ------------------------------------------------------------------ */
    GROUP("STIP/SEIP written by M")
    /* without Sstc (STCE = 0) M-mode drives STIP by writing mip */
    csrw menvcfg, zero
    li t0, MIP_STIP
    csrs mip, t0
    CHECK_MIP(MIP_STIP, MIP_STIP)
    csrc mip, t0
    CHECK_MIP(MIP_STIP, 0)
    li t0, MIP_STIP
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    STRAP_RESET
    DEADLINE
    RUN_IN PRV_U, 1f, 9f
1:  SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(INTR_BIT | IRQ_S_TIMER)
    li t0, MIP_STIP
    csrc mip, t0
    CHECK_MIP(MIP_STIP, 0)
    li t0, MIP_SEIP
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    STRAP_RESET
    DEADLINE
    RUN_IN PRV_U, 1f, 9f
1:  SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(INTR_BIT | IRQ_S_EXT)
    li t0, MIP_SEIP
    csrc mip, t0
    CHECK_MIP(MIP_SEIP, 0)
    csrw mideleg, zero
    csrw mie, zero

    /* ------------------------------------------------------------------ */
    GROUP("Sstc stimecmp")
    /* S access needs menvcfg.STCE and mcounteren.TM */
    li t0, 7
    csrw mcounteren, t0
    csrw menvcfg, zero
    RUN_IN PRV_S, 1f, 9f
1:  csrr a0, CSR_STIMECMP
    ecall
9:  CHECK_TRAP(CAUSE_ILLEGAL)
    li t0, MENVCFG_STCE
    csrw menvcfg, t0
    li t0, 5                                  /* TM clear */
    csrw mcounteren, t0
    RUN_IN PRV_S, 1f, 9f
1:  csrr a0, CSR_STIMECMP
    ecall
9:  CHECK_TRAP(CAUSE_ILLEGAL)
    li t0, 7
    csrw mcounteren, t0
    RUN_IN PRV_S, 1f, 9f
1:  li t0, 0x123456789
    csrw CSR_STIMECMP, t0
    csrr a0, CSR_STIMECMP
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0x123456789)
    /* STIP follows time >= stimecmp and is read-only in mip */
    csrw CSR_STIMECMP, zero
    WAIT_MIP(MIP_STIP, MIP_STIP)
    li t0, MIP_STIP
    csrc mip, t0
    CHECK_MIP(MIP_STIP, MIP_STIP)
    li t0, -1
    csrw CSR_STIMECMP, t0
    WAIT_MIP(MIP_STIP, 0)
    li t0, MIP_STIP
    csrs mip, t0
    CHECK_MIP(MIP_STIP, 0)
    /* not delegated: taken in M */
    li t0, MIP_STIP
    csrw mie, t0
    EXPECT_TRAP 9f
    csrr t0, time
    li t1, 5000
    add t0, t0, t1
    csrw CSR_STIMECMP, t0
    DEADLINE
    csrsi mstatus, MSTATUS_MIE
    SPIN_UNTIL_DEADLINE
9:  CHECK_TRAP(INTR_BIT | IRQ_S_TIMER)
    li t0, -1
    csrw CSR_STIMECMP, t0
    WAIT_MIP(MIP_STIP, 0)
    /* delegated: S programs its own timer and takes the interrupt (vectored stvec) */
    li t0, MIP_STIP
    csrw mideleg, t0
    la t0, svtab + 1
    csrw stvec, t0
    STRAP_RESET
    la t0, __strap_state
    li t1, -1
    sd t1, TS_VEC(t0)
    DEADLINE
    RUN_IN PRV_S, 1f, 9f
1:  csrr t0, time
    li t1, 5000
    add t0, t0, t1
    csrw CSR_STIMECMP, t0
    csrsi sstatus, MSTATUS_SIE
    SPIN_UNTIL_DEADLINE
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(INTR_BIT | IRQ_S_TIMER)
    CHECK_STRAP_VEC(IRQ_S_TIMER)
    CHECK_STRAP_PRV(PRV_S)
    la t0, __strap
    csrw stvec, t0
    /* wfi in S with SIE = 0 wakes on the delegated timer without taking it */
    STRAP_RESET
    RUN_IN PRV_S, 1f, 9f
1:  li t0, -1
    csrw CSR_STIMECMP, t0
    csrci sstatus, MSTATUS_SIE
    csrr t0, time
    li t1, 5000
    add t0, t0, t1
    csrw CSR_STIMECMP, t0
    wfi
    csrr a0, sip
    li t0, -1
    csrw CSR_STIMECMP, t0
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP_COUNT(0)
    andi a0, a0, MIP_STIP
    CHECK(a0, MIP_STIP)
    csrw mideleg, zero
    csrw mie, zero
    csrw menvcfg, zero

    TESTS_DONE

/* ---------------------------------------------------------------------------------------- */
/* Vector tables: entry k records k in TS_VEC of the M (resp. S) trap state, then continues in
 * the common handler. */
.macro MVEC k
    .align 2
    j mvec_\k
.endm
.macro MSTUB k
mvec_\k:
    csrrw t0, mscratch, t0
    sd t1, TS_T1(t0)
    li t1, \k
    sd t1, TS_VEC(t0)
    ld t1, TS_T1(t0)
    csrrw t0, mscratch, t0
    j __mtrap
.endm
.macro SVEC k
    .align 2
    j svec_\k
.endm
.macro SSTUB k
svec_\k:
    csrw sscratch, t0
    la t0, __strap_state
    sd t1, TS_T1(t0)
    li t1, \k
    sd t1, TS_VEC(t0)
    ld t1, TS_T1(t0)
    csrr t0, sscratch
    j __strap
.endm
    .align 8
mvtab:
    .irp k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    MVEC \k
    .endr
    .irp k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    MSTUB \k
    .endr
    .align 8
svtab:
    .irp k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    SVEC \k
    .endr
    .irp k, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    SSTUB \k
    .endr
