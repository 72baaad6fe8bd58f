/* Shared definitions and check macros for the petrel RISC-V test programs.
 *
 * Conventions for assembly tests (see README.md):
 *   - the test body is `main`, entered in M-mode with a stack, mtvec = __mtrap, FS = Initial,
 *     PMP entry 0 = full RWX access for S/U;
 *   - gp counts the checks of the current group, t6 is scratch for CHECK (never pass t6 as the
 *     value to check); CHECK/CHECKR clobber only t6 (and gp) on success, the CHECK_S/D/FLAGS,
 *     CHECK_TRAP* and EXPECT_TRAP/RUN_IN macros also t5;
 *   - GROUP("name") ends the previous group (printing "ok N - name (K checks)") and clobbers all
 *     caller-saved registers; TESTS_DONE prints the last group and exits 0;
 *   - a failing check prints "FAIL ..." with expected/got and exits with the group number;
 *   - checks only run in M-mode with translation off (S/U code hands values back via registers
 *     and an ecall: see RUN_IN and EXPECT_TRAP).
 */
#ifndef PETREL_TEST_H
#define PETREL_TEST_H

#define UART_BASE     0x10000000
#define FINISHER_BASE 0x100000
#define CLINT_BASE    0x2000000
#define CLINT_MSIP    (CLINT_BASE + 0)
#define CLINT_MTIMECMP (CLINT_BASE + 0x4000)
#define CLINT_MTIME   (CLINT_BASE + 0xbff8)

/* mstatus bits */
#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_UBE   (1 << 6)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_MPP_M (3 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_FS_INITIAL (1 << 13)
#define MSTATUS_FS_CLEAN   (2 << 13)
#define MSTATUS_FS_DIRTY   (3 << 13)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
#define MSTATUS_TVM   (1 << 20)
#define MSTATUS_TW    (1 << 21)
#define MSTATUS_TSR   (1 << 22)

/* privilege levels */
#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* interrupt numbers */
#define IRQ_S_SOFT  1
#define IRQ_M_SOFT  3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT   9
#define IRQ_M_EXT   11
#define MIP_SSIP (1 << IRQ_S_SOFT)
#define MIP_MSIP (1 << IRQ_M_SOFT)
#define MIP_STIP (1 << IRQ_S_TIMER)
#define MIP_MTIP (1 << IRQ_M_TIMER)
#define INTR_BIT (1 << 63)

/* exception causes */
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL          2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15

/* __trap_state layout (filled by the default M-mode trap handler __mtrap) */
#define TS_T0     0
#define TS_T1     8
#define TS_T2     16
#define TS_CAUSE  32
#define TS_EPC    40
#define TS_TVAL   48
#define TS_PRV    56   /* privilege the trap came from (mstatus.MPP after entry) */
#define TS_COUNT  64   /* traps taken since the last EXPECT_TRAP */
#define TS_RESUME 72   /* resume address in M-mode; 0 = any trap is unexpected */
#define TS_STATUS 80   /* mstatus right after trap entry */
#define TS_VEC    88   /* free slot: written by test-specific vector stubs */
#define TS_SIZE   96

#ifdef __ASSEMBLER__

/* All assembly tests use 32-bit encodings unless they opt in with .option rvc. */
.option norvc

/* ---- groups ---- */
.macro GROUP_ name
    .pushsection .rodata.groupnames, "a"
.Lgname\@: .asciz "\name"
    .popsection
    la a0, .Lgname\@
    call __group_begin
.endm
#define GROUP(name) GROUP_ name

#define TESTS_DONE  call __tests_done

/* ---- checks ---- */
/* CHECK(reg, imm): reg must equal the 64-bit constant imm. */
.macro CHECK_ got, exp, line
    .ifc \got, t6
    .error "CHECK: t6 is the scratch register"
    .endif
    li t6, \exp
    beq \got, t6, .Lok\@
    mv t5, \got
    li t4, \line
    j __check_fail
.Lok\@:
    addi gp, gp, 1
.endm
#define CHECK(got, exp) CHECK_ got, exp, __LINE__

/* CHECKR(reg, reg2): two registers must be equal. */
.macro CHECKR_ got, exp, line
    beq \got, \exp, .Lok\@
    addi sp, sp, -16
    sd \got, 0(sp)
    sd \exp, 8(sp)
    ld t5, 0(sp)
    ld t6, 8(sp)
    addi sp, sp, 16
    li t4, \line
    j __check_fail
.Lok\@:
    addi gp, gp, 1
.endm
#define CHECKR(got, exp) CHECKR_ got, exp, __LINE__

/* CHECK_LA(reg, label): reg must equal the address of label. */
#define CHECK_LA(got, label) la t6, label; CHECKR_ got, t6, __LINE__

/* 32-bit pattern of a single-precision register (upper bits ignored). */
#define CHECK_S(freg, exp) fmv.x.w t5, freg; slli t5, t5, 32; srli t5, t5, 32; CHECK_ t5, exp, __LINE__
/* full 64-bit register contents of an FP register */
#define CHECK_D(freg, exp) fmv.x.d t5, freg; CHECK_ t5, exp, __LINE__
/* fflags must equal exp; clears fflags afterwards */
#define CHECK_FLAGS(exp) csrrw t5, fflags, zero; CHECK_ t5, exp, __LINE__

/* ---- traps ---- */
/* Arm the default handler: the next trap is recorded in __trap_state and execution resumes at
 * `resume` in M-mode with MIE = 0 and MPRV = 0 (registers other than t5/t6 preserved). */
.macro EXPECT_TRAP resume
    la t6, __trap_state
    la t5, \resume
    sd t5, TS_RESUME(t6)
    sd zero, TS_COUNT(t6)
.endm

/* Load a field of __trap_state into reg. */
.macro TRAP_FIELD reg, off
    la \reg, __trap_state
    ld \reg, \off(\reg)
.endm

/* Exactly one trap since EXPECT_TRAP with this mcause; disarms the handler. */
.macro CHECK_TRAP_ cause, line
    la t5, __trap_state
    sd zero, TS_RESUME(t5)
    ld t5, TS_COUNT(t5)
    CHECK_ t5, 1, \line
    TRAP_FIELD t5, TS_CAUSE
    CHECK_ t5, \cause, \line
.endm
#define CHECK_TRAP(cause) CHECK_TRAP_ cause, __LINE__
#define CHECK_TRAP_TVAL(v) TRAP_FIELD t5, TS_TVAL; CHECK_ t5, v, __LINE__
#define CHECK_TRAP_EPC(label) TRAP_FIELD t5, TS_EPC; CHECK_LA(t5, label)
#define CHECK_TRAP_TVAL_LA(label) TRAP_FIELD t5, TS_TVAL; CHECK_LA(t5, label)
#define CHECK_TRAP_PRV(p) TRAP_FIELD t5, TS_PRV; CHECK_ t5, p, __LINE__
/* No trap at all since EXPECT_TRAP; disarms the handler. */
.macro CHECK_NO_TRAP_ line
    la t5, __trap_state
    sd zero, TS_RESUME(t5)
    ld t5, TS_COUNT(t5)
    CHECK_ t5, 0, \line
.endm
#define CHECK_NO_TRAP CHECK_NO_TRAP_ __LINE__

/* S-mode handler (__strap) state: reset before a test, then check what S-mode saw. */
.macro STRAP_RESET
    la t6, __strap_state
    sd zero, TS_COUNT(t6)
    sd zero, TS_RESUME(t6)
.endm
.macro STRAP_FIELD reg, off
    la \reg, __strap_state
    ld \reg, \off(\reg)
.endm
.macro CHECK_STRAP_ cause, line
    STRAP_FIELD t5, TS_COUNT
    CHECK_ t5, 1, \line
    STRAP_FIELD t5, TS_CAUSE
    CHECK_ t5, \cause, \line
.endm
#define CHECK_STRAP(cause) CHECK_STRAP_ cause, __LINE__
#define CHECK_STRAP_COUNT(n) STRAP_FIELD t5, TS_COUNT; CHECK_ t5, n, __LINE__
#define CHECK_STRAP_TVAL(v) STRAP_FIELD t5, TS_TVAL; CHECK_ t5, v, __LINE__
#define CHECK_STRAP_EPC(label) STRAP_FIELD t5, TS_EPC; CHECK_LA(t5, label)
#define CHECK_STRAP_PRV(p) STRAP_FIELD t5, TS_PRV; CHECK_ t5, p, __LINE__

/* Enter privilege `prv` (PRV_S/PRV_U/PRV_M) at `entry` with mret; the first trap taken to M
 * (typically the ecall that ends the code) is recorded and resumes at `resume` in M-mode. */
.macro RUN_IN prv, entry, resume
    EXPECT_TRAP \resume
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, (\prv << 11)
    csrs mstatus, t6
    la t6, \entry
    csrw mepc, t6
    mret
.endm

/* ---- instruction test helpers (operands in a0/a1, result in a2; clobber a0-a2, t5, t6) ---- */
/* register-register op, also with rd aliasing rs1 and rs2 */
.macro TEST_RR_ op, exp, a, b, line
    li a0, \a
    li a1, \b
    \op a2, a0, a1
    CHECK_ a2, \exp, \line
    \op a0, a0, a1
    CHECK_ a0, \exp, \line
    li a0, \a
    \op a1, a0, a1
    CHECK_ a1, \exp, \line
.endm
#define TEST_RR(op, exp, a, b) TEST_RR_ op, exp, a, b, __LINE__

/* register-immediate op */
.macro TEST_RI_ op, exp, a, imm, line
    li a0, \a
    \op a2, a0, \imm
    CHECK_ a2, \exp, \line
    \op a0, a0, \imm
    CHECK_ a0, \exp, \line
.endm
#define TEST_RI(op, exp, a, imm) TEST_RI_ op, exp, a, imm, __LINE__

/* unary op */
.macro TEST_R_ op, exp, a, line
    li a0, \a
    \op a2, a0
    CHECK_ a2, \exp, \line
    \op a0, a0
    CHECK_ a0, \exp, \line
.endm
#define TEST_R(op, exp, a) TEST_R_ op, exp, a, __LINE__

/* exit with a status from anywhere in M-mode */
#define EXIT_WITH(code) li a0, code; call __exit

#endif /* __ASSEMBLER__ */
#endif
