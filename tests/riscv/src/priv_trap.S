/* Privileged architecture, synchronous traps: ecall from each mode, mret/sret state changes,
 * exception delegation to S, direct and vectored trap vectors for exceptions, illegal
 * instruction mtval, ebreak, TVM/TW/TSR, xRET privilege rules, counter enables, MPRV. */
#include "test.h"

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

/* Run `insn` in privilege prv; expect an illegal-instruction trap to M with mtval = insn */
.macro ILLEGAL_IN_ prv, insn, line
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
    ecall
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_PRV
    CHECK_ t5, \prv, \line
    TRAP_FIELD t5, TS_EPC
    la t4, .Li\@
    CHECKR_ t5, t4, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
#define ILLEGAL_IN(prv, insn) ILLEGAL_IN_ prv, insn, __LINE__

/* Run `insn` in privilege prv; expect it to complete (the following ecall traps) */
.macro LEGAL_IN_ prv, insn, line
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
.Le\@:
    ecall
.Lr\@:
    .if \prv == PRV_S
    CHECK_TRAP_ CAUSE_ECALL_S, \line
    .else
    CHECK_TRAP_ CAUSE_ECALL_U, \line
    .endif
    TRAP_FIELD t5, TS_EPC
    la t4, .Le\@
    CHECKR_ t5, t4, \line
.endm
#define LEGAL_IN(prv, insn) LEGAL_IN_ prv, insn, __LINE__

    .text
    .globl main
main:
    /* ------------------------------------------------------------------ */
    GROUP("ecall from M/S/U")
    EXPECT_TRAP 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_M)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_TVAL(0)
    CHECK_TRAP_PRV(PRV_M)
    RUN_IN PRV_S, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_TVAL(0)
    CHECK_TRAP_PRV(PRV_S)
    RUN_IN PRV_U, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_TVAL(0)
    CHECK_TRAP_PRV(PRV_U)
    /* registers survive the mode switches */
    li s0, 0x1234
    RUN_IN PRV_U, 1f, 2f
1:  addi s0, s0, 1
    ecall
2:  CHECK(s0, 0x1235)

    /* ------------------------------------------------------------------ */
    GROUP("mret/sret status bits")
    /* trap entry: MPIE <- MIE, MIE <- 0, MPP <- previous mode */
    li t0, MSTATUS_MPIE
    csrs mstatus, t0                      /* after mret MIE = 1 (harmless in S: mie = 0) */
    RUN_IN PRV_S, 1f, 2f
1:  ecall
2:  TRAP_FIELD a0, TS_STATUS
    srli a1, a0, 11
    andi a1, a1, 3
    CHECK(a1, PRV_S)
    andi a1, a0, MSTATUS_MPIE
    CHECK(a1, MSTATUS_MPIE)
    andi a1, a0, MSTATUS_MIE
    CHECK(a1, 0)
    /* mret to M: MIE <- MPIE, MPIE <- 1, MPP <- U, MPRV kept (new mode is M) */
    li t0, MSTATUS_MIE | MSTATUS_MPP | MSTATUS_MPRV
    csrc mstatus, t0
    li t0, MSTATUS_MPIE | MSTATUS_MPP_M | MSTATUS_MPRV
    csrs mstatus, t0
    la t0, 1f
    csrw mepc, t0
    mret
1:  csrr a0, mstatus
    li t0, MSTATUS_MIE | MSTATUS_MPRV
    csrc mstatus, t0
    andi a1, a0, MSTATUS_MIE
    CHECK(a1, MSTATUS_MIE)
    andi a1, a0, MSTATUS_MPIE
    CHECK(a1, MSTATUS_MPIE)
    li t0, MSTATUS_MPP
    and a1, a0, t0
    CHECK(a1, 0)
    li t0, MSTATUS_MPRV
    and a1, a0, t0
    CHECK(a1, MSTATUS_MPRV)
    /* (mret to S/U must also clear MPRV per priv 1.12; QEMU 7.2 keeps it: not checked,
     * see README) */
    /* sret: SIE <- SPIE, SPIE <- 1, SPP <- U; to S then to U */
    RUN_IN PRV_S, 1f, 2f
1:  li t0, MSTATUS_SIE
    csrc sstatus, t0
    li t0, MSTATUS_SPP | MSTATUS_SPIE
    csrs sstatus, t0
    la t0, 3f
    csrw sepc, t0
    sret
3:  csrr s1, sstatus                      /* now in S (SPP was S) */
    li t0, MSTATUS_SIE
    csrc sstatus, t0
    la t0, 4f
    csrw sepc, t0
    sret                                  /* SPP is now U */
4:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK_TRAP_EPC(4b)
    andi a1, s1, MSTATUS_SIE
    CHECK(a1, MSTATUS_SIE)
    andi a1, s1, MSTATUS_SPIE
    CHECK(a1, MSTATUS_SPIE)
    andi a1, s1, MSTATUS_SPP
    CHECK(a1, 0)
    /* mret to U */
    RUN_IN PRV_U, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_U)

    /* ------------------------------------------------------------------ */
    GROUP("xRET privilege")
    ILLEGAL_IN(PRV_S, "mret")
    ILLEGAL_IN(PRV_U, "mret")
    ILLEGAL_IN(PRV_U, "sret")
    ILLEGAL_IN(PRV_U, "sfence.vma")
    ILLEGAL_IN(PRV_U, "csrw satp, zero")

    /* ------------------------------------------------------------------ */
    GROUP("illegal instruction mtval")
    .macro ILL_M_ insn, line
    EXPECT_TRAP .Lr\@
.Li\@:
    \insn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
    TRAP_FIELD t5, TS_EPC
    la t4, .Li\@
    CHECKR_ t5, t4, \line
    .endm
#define ILL_M(insn) ILL_M_ insn, __LINE__
    ILL_M(".word 0x00007003")             /* LOAD with funct3 = 7 */
    ILL_M(".word 0x0000705b")             /* custom-2 */
    ILL_M(".word 0xfe00003b")             /* OP-32 funct7 = 0x7f */
    ILL_M(".word 0xfe000033")             /* OP funct7 = 0x7f */
    ILL_M(".word 0x0000001b | (1 << 12) | (1 << 31)")   /* slliw with imm[11:5] != 0 */
    ILL_M(".word 0x00006023")             /* STORE with funct3 = 6 */
    ILL_M(".word 0x00003063")             /* BRANCH with funct3 = 3 */
    ILL_M(".word 0x00001067")             /* JALR with funct3 = 1 */
    /* U-mode and S-mode illegal instructions trap to M with the same mtval */
    ILLEGAL_IN(PRV_U, ".word 0x00007003")
    ILLEGAL_IN(PRV_S, ".word 0xfe000033")

    /* ------------------------------------------------------------------ */
    GROUP("ebreak")
    EXPECT_TRAP 2f
1:  ebreak
    li a0, 1                              /* skipped */
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    RUN_IN PRV_S, 1f, 2f
1:  ebreak
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_PRV(PRV_S)
    RUN_IN PRV_U, 1f, 2f
1:  ebreak
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_PRV(PRV_U)

    /* ------------------------------------------------------------------ */
    GROUP("medeleg delegation")
    la t0, __strap
    csrw stvec, t0
    /* U ecall delegated: S handler sees cause 8, then hands over to M with an S ecall */
    li t0, 1 << CAUSE_ECALL_U
    csrw medeleg, t0
    STRAP_RESET
    li t0, MSTATUS_SIE
    csrs mstatus, t0                      /* SIE = 1 before the trap -> SPIE = 1, SIE = 0 */
    RUN_IN PRV_U, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_ECALL_U)
    CHECK_STRAP_EPC(1b)
    CHECK_STRAP_PRV(PRV_U)
    CHECK_STRAP_TVAL(0)
    STRAP_FIELD a0, TS_STATUS
    andi a1, a0, MSTATUS_SPIE | MSTATUS_SIE
    CHECK(a1, MSTATUS_SPIE)
    li t0, MSTATUS_SIE
    csrc mstatus, t0
    csrr a0, mcause                       /* the M-level CSRs hold the second trap only */
    CHECK(a0, CAUSE_ECALL_S)
    csrr a0, scause
    CHECK(a0, CAUSE_ECALL_U)
    /* delegated illegal instruction from U: stval = the instruction */
    li t0, 1 << CAUSE_ILLEGAL
    csrw medeleg, t0
    STRAP_RESET
    RUN_IN PRV_U, 1f, 2f
1:  .word 0x00007003
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_ILLEGAL)
    CHECK_STRAP_EPC(1b)
    CHECK_STRAP_TVAL(0x00007003)
    /* delegated illegal instruction from S stays in S (SPP = S) */
    STRAP_RESET
    RUN_IN PRV_S, 1f, 2f
1:  .word 0x0000705b
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_ILLEGAL)
    CHECK_STRAP_PRV(PRV_S)
    CHECK_STRAP_TVAL(0x0000705b)
    /* ... but an exception in M-mode is never delegated */
    STRAP_RESET
    EXPECT_TRAP 2f
1:  .word 0x00007003
2:  CHECK_TRAP(CAUSE_ILLEGAL)
    CHECK_STRAP_COUNT(0)
    /* delegated breakpoint from S */
    li t0, 1 << CAUSE_BREAKPOINT
    csrw medeleg, t0
    STRAP_RESET
    RUN_IN PRV_S, 1f, 2f
1:  ebreak
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_BREAKPOINT)
    CHECK_STRAP_EPC(1b)
    CHECK_STRAP_PRV(PRV_S)
    /* delegated S ecall: the S handler resumes in S, which then leaves with an ebreak */
    li t0, 1 << CAUSE_ECALL_S
    csrw medeleg, t0
    STRAP_RESET
    la t0, __strap_state
    la t1, 3f
    sd t1, TS_RESUME(t0)
    RUN_IN PRV_S, 1f, 2f
1:  ecall
    li a0, 1                              /* skipped */
3:  ebreak
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(3b)
    CHECK_TRAP_PRV(PRV_S)
    CHECK_STRAP(CAUSE_ECALL_S)
    CHECK_STRAP_EPC(1b)
    /* not delegated: U ecall goes to M even with other bits set */
    li t0, (1 << CAUSE_ECALL_S) | (1 << CAUSE_ILLEGAL)
    csrw medeleg, t0
    STRAP_RESET
    RUN_IN PRV_U, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK_STRAP_COUNT(0)
    csrw medeleg, zero

    /* ------------------------------------------------------------------ */
    GROUP("vectored tvec: exceptions use base")
    la t0, mvtab + 1
    csrw mtvec, t0
    EXPECT_TRAP 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_M)
    EXPECT_TRAP 2f
    .word 0x00007003
2:  CHECK_TRAP(CAUSE_ILLEGAL)
    RUN_IN PRV_U, 1f, 2f
1:  ebreak
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    la t0, __mtrap
    csrw mtvec, t0
    la t0, svtab + 1
    csrw stvec, t0
    li t0, 1 << CAUSE_ECALL_U
    csrw medeleg, t0
    STRAP_RESET
    RUN_IN PRV_U, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_ECALL_U)
    csrw medeleg, zero
    la t0, __strap
    csrw stvec, t0

    /* ------------------------------------------------------------------ */
    GROUP("TVM/TW/TSR")
    LEGAL_IN(PRV_S, "csrr a0, satp")
    LEGAL_IN(PRV_S, "sfence.vma")
    LEGAL_IN(PRV_S, "csrw satp, zero")
    li t0, MSTATUS_TVM
    csrs mstatus, t0
    ILLEGAL_IN(PRV_S, "csrr a0, satp")
    ILLEGAL_IN(PRV_S, "csrw satp, zero")
    ILLEGAL_IN(PRV_S, "sfence.vma")
    ILLEGAL_IN(PRV_S, "sfence.vma a0, a1")
    LEGAL_IN(PRV_S, "csrr a0, sscratch")
    li t0, MSTATUS_TVM
    csrc mstatus, t0
    /* TW = 1: wfi in S or U traps */
    li t0, MSTATUS_TW
    csrs mstatus, t0
    ILLEGAL_IN(PRV_S, "wfi")
    ILLEGAL_IN(PRV_U, "wfi")
    li t0, MSTATUS_TW
    csrc mstatus, t0
    /* TW = 0: wfi in S completes once an interrupt is pending and enabled in mie, even
     * though it is not taken (delegated SSIP with sstatus.SIE = 0) */
    li t0, MIP_SSIP
    csrw mideleg, t0
    csrw mie, t0
    csrs mip, t0
    li t0, MSTATUS_SIE
    csrc mstatus, t0
    LEGAL_IN(PRV_S, "wfi")
    csrw mie, zero
    li t0, MIP_SSIP
    csrc mip, t0
    csrw mideleg, zero
    /* TSR = 1: sret in S traps; TSR = 0: sret works */
    li t0, MSTATUS_TSR
    csrs mstatus, t0
    ILLEGAL_IN(PRV_S, "sret")
    li t0, MSTATUS_TSR
    csrc mstatus, t0
    RUN_IN PRV_S, 1f, 2f
1:  la t0, 3f
    csrw sepc, t0
    li t0, MSTATUS_SPP
    csrs sstatus, t0
    sret
    li a0, 1                              /* skipped */
3:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_TRAP_EPC(3b)

    /* ------------------------------------------------------------------ */
    GROUP("mcounteren/scounteren")
    .macro CTR_ prv, men, sen, insn, ok, line
    li t0, \men
    csrw mcounteren, t0
    li t0, \sen
    csrw scounteren, t0
    .if \ok
    LEGAL_IN_ \prv, "\insn", \line
    .else
    ILLEGAL_IN_ \prv, "\insn", \line
    .endif
    .endm
#define CTR(prv, men, sen, insn, ok) CTR_ prv, men, sen, insn, ok, __LINE__
    CTR(PRV_S, 0, 7, "rdcycle a0", 0)
    CTR(PRV_S, 1, 0, "rdcycle a0", 1)
    CTR(PRV_S, 6, 7, "rdcycle a0", 0)
    CTR(PRV_S, 0, 7, "rdtime a0", 0)
    CTR(PRV_S, 2, 0, "rdtime a0", 1)
    CTR(PRV_S, 0, 7, "rdinstret a0", 0)
    CTR(PRV_S, 4, 0, "rdinstret a0", 1)
    CTR(PRV_U, 1, 0, "rdcycle a0", 0)
    CTR(PRV_U, 0, 1, "rdcycle a0", 0)
    CTR(PRV_U, 1, 1, "rdcycle a0", 1)
    CTR(PRV_U, 2, 0, "rdtime a0", 0)
    CTR(PRV_U, 0, 2, "rdtime a0", 0)
    CTR(PRV_U, 2, 2, "rdtime a0", 1)
    CTR(PRV_U, 4, 3, "rdinstret a0", 0)
    CTR(PRV_U, 3, 4, "rdinstret a0", 0)
    CTR(PRV_U, 4, 4, "rdinstret a0", 1)
    CTR(PRV_U, 7, 7, "csrr a0, cycle", 1)
    /* M-mode reads are not gated */
    csrw mcounteren, zero
    csrw scounteren, zero
    EXPECT_TRAP 1f
    rdcycle a0
    rdtime a0
    rdinstret a0
1:  CHECK_NO_TRAP

    /* ------------------------------------------------------------------ */
    GROUP("MPRV")
    /* Sv39: VA 0xc0000000 -> page B (S page), VA 0xc0001000 -> page B (U page); identity
     * gigapage for the program at 0x80000000 (S, not U) */
    la s0, pt_root
    la s1, pt_l1
    la s2, pt_l0
    la s3, page_b
    li t0, 0x4000 / 8
    mv t1, s0
1:  sd zero, 0(t1)                        /* clear the three tables */
    addi t1, t1, 8
    addi t0, t0, -1
    bnez t0, 1b
    li t0, (0x80000000 >> 12 << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
    sd t0, 2*8(s0)
    srli t0, s1, 12
    slli t0, t0, 10
    ori t0, t0, PTE_V
    sd t0, 3*8(s0)
    srli t0, s2, 12
    slli t0, t0, 10
    ori t0, t0, PTE_V
    sd t0, 0(s1)
    srli t0, s3, 12
    slli t0, t0, 10
    ori t1, t0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sd t1, 0(s2)
    ori t1, t0, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D | PTE_U
    sd t1, 8(s2)
    li t0, 0x0123456789abcdef
    sd t0, 0(s3)
    li t0, 8 << 60
    srli t1, s0, 12
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    li s4, 0xc0000000                     /* S page */
    li s5, 0xc0001000                     /* U page */
    /* MPRV = 1, MPP = S: loads and stores are translated; fetches are not */
    EXPECT_TRAP 1f
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    li t0, MSTATUS_MPRV | MSTATUS_MPP_S
    csrs mstatus, t0
    ld a0, 0(s4)
    li t0, 0x5555
    sd t0, 8(s4)
    ld a1, 8(s5)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
1:  CHECK_TRAP(CAUSE_LOAD_PAGE)           /* S access to the U page with SUM = 0 */
    CHECK_TRAP_TVAL(0xc0001008)
    CHECK(a0, 0x0123456789abcdef)
    ld a2, 8(s3)
    CHECK(a2, 0x5555)
    /* SUM = 1 allows it */
    EXPECT_TRAP 1f
    li t0, MSTATUS_MPRV | MSTATUS_MPP_S | MSTATUS_SUM
    csrs mstatus, t0
    ld a1, 8(s5)
    li t0, MSTATUS_MPRV | MSTATUS_SUM
    csrc mstatus, t0
1:  CHECK_NO_TRAP
    CHECK(a1, 0x5555)
    /* MPP = U: the U page is accessible, the S page faults (store: cause 15) */
    li t0, MSTATUS_MPP
    csrc mstatus, t0
    EXPECT_TRAP 1f
    li t0, MSTATUS_MPRV
    csrs mstatus, t0
    ld a1, 0(s5)
    sd a1, 16(s4)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
1:  CHECK_TRAP(CAUSE_STORE_PAGE)
    CHECK_TRAP_TVAL(0xc0000010)
    CHECK(a1, 0x0123456789abcdef)
    /* MPP = M: no translation */
    EXPECT_TRAP 1f
    li t0, MSTATUS_MPRV | MSTATUS_MPP_M
    csrs mstatus, t0
    ld a2, 0(s3)
    li t0, MSTATUS_MPRV
    csrc mstatus, t0
1:  CHECK_NO_TRAP
    CHECK(a2, 0x0123456789abcdef)
    csrw satp, zero
    sfence.vma

    TESTS_DONE

/* ---------------------------------------------------------------------------------------- */
wrong_vector:
    la a0, wrong_msg
    call __puts
    EXIT_WITH(0x7d)

    .align 8
mvtab:
    j __mtrap                             /* exceptions */
    .rept 15
    j wrong_vector
    .endr
    .align 8
svtab:
    j __strap
    .rept 15
    j wrong_vector
    .endr

    .section .rodata
wrong_msg: .asciz "FAIL: an exception was taken through a vector entry other than base\n"

    .section .pages, "aw", @nobits
    .align 12
pt_root: .space 4096
pt_l1:   .space 4096
pt_l0:   .space 4096
page_b:  .space 4096
