/* riscv-tests style program using the HTIF mailbox instead of the UART and finisher:
 *   - the ELF defines `tohost`/`fromhost`; console output is tohost = (1 << 56) | (1 << 48) | ch;
 *   - TESTNUM (gp) holds the current test number; on failure tohost = (TESTNUM << 1) | 1, so
 *     the exit status is the number of the failing test; on success tohost = 1 (status 0).
 * QEMU runs it on `-machine spike`; petrel runs it on its normal board.
 * Covers a cross-section of RV64I/M plus a trap round trip. */
#include "test.h"

#define TESTNUM gp

/* riscv-tests macros (simplified) */
#define TEST_CASE(testnum, testreg, correctval, code...) \
test_ ## testnum: \
    li TESTNUM, testnum; \
    code; \
    li x7, correctval; \
    bne testreg, x7, fail;

#define TEST_RR_OP(testnum, inst, result, val1, val2) \
    TEST_CASE(testnum, x14, result, \
      li x11, val1; \
      li x12, val2; \
      inst x14, x11, x12; \
    )

#define TEST_IMM_OP(testnum, inst, result, val1, imm) \
    TEST_CASE(testnum, x14, result, \
      li x11, val1; \
      inst x14, x11, imm; \
    )

#define TEST_LD_OP(testnum, inst, result, offset, base) \
    TEST_CASE(testnum, x14, result, \
      la x11, base; \
      inst x14, offset(x11); \
    )

#define TEST_ST_OP(testnum, load_inst, store_inst, result, offset, base) \
    TEST_CASE(testnum, x14, result, \
      la x11, base; \
      li x12, result; \
      store_inst x12, offset(x11); \
      load_inst x14, offset(x11); \
    )

#define TEST_BR2_TAKEN(testnum, inst, val1, val2) \
test_ ## testnum: \
    li TESTNUM, testnum; \
    li x11, val1; \
    li x12, val2; \
    inst x11, x12, 2f; \
    j fail; \
2:

#define TEST_BR2_NOTTAKEN(testnum, inst, val1, val2) \
test_ ## testnum: \
    li TESTNUM, testnum; \
    li x11, val1; \
    li x12, val2; \
    inst x11, x12, 1f; \
    j 2f; \
1:  j fail; \
2:

#define SAY(msg) la a0, msg; call __puts

    .text
    .globl main
main:
    TEST_RR_OP(2, add, 0x00000000, 0x00000000, 0x00000000)
    TEST_RR_OP(3, add, 0xffffffff80000000, 0xffffffff80000000, 0x0000000000000000)
    TEST_RR_OP(4, add, 0x000000007fffffff, 0x0000000080000000, 0xffffffffffffffff)
    TEST_RR_OP(5, sub, 0xffffffffffff8001, 0x0000000000000000, 0x0000000000007fff)
    TEST_RR_OP(6, and, 0x000000000f000f00, 0xffffffffff00ff00, 0x000000000f0f0f0f)
    TEST_RR_OP(7, or, 0xffffffffff0fff0f, 0xffffffffff00ff00, 0x000000000f0f0f0f)
    TEST_RR_OP(8, xor, 0xfffffffff00ff00f, 0xffffffffff00ff00, 0x000000000f0f0f0f)
    TEST_RR_OP(9, sll, 0x8000000000000000, 0x0000000000000001, 63)
    TEST_RR_OP(10, srl, 0x0000000000000001, 0x8000000000000000, 63)
    TEST_RR_OP(11, sra, 0xffffffffffffffff, 0x8000000000000000, 63)
    TEST_RR_OP(12, slt, 1, 0x8000000000000000, 0)
    TEST_RR_OP(13, sltu, 0, 0x8000000000000000, 0)
    TEST_RR_OP(14, addw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_RR_OP(15, subw, 0x000000007fffffff, 0xffffffff80000000, 1)
    TEST_IMM_OP(16, addi, 0x00000000000007ff, 0x0, 0x7ff)
    TEST_IMM_OP(17, addiw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_IMM_OP(18, slli, 0x0000000100000000, 1, 32)
    TEST_IMM_OP(19, srai, 0xffffffffff000000, 0xffffffff80000000, 7)
    TEST_IMM_OP(20, sltiu, 1, 0, -1)
    TEST_IMM_OP(21, xori, 0xffffffffff00f00f, 0x0000000000ff0ff0, -1)
    TEST_CASE(22, x14, 0x12345000, lui x14, 0x12345)
    TEST_CASE(23, x14, 0xfffffffffffff000, lui x14, 0xfffff)

    SAY(s_alu)
    TEST_LD_OP(30, lb, 0xffffffffffffffff, 0, tdat)
    TEST_LD_OP(31, lbu, 0x00000000000000ff, 0, tdat)
    TEST_LD_OP(32, lh, 0x0000000000000ff0, 2, tdat)
    TEST_LD_OP(33, lw, 0xfffffffff00ff00f, 4, tdat)
    TEST_LD_OP(34, lwu, 0x00000000f00ff00f, 4, tdat)
    TEST_LD_OP(35, ld, 0xf00ff00f0ff000ff, 0, tdat)
    TEST_ST_OP(36, lb, sb, 0xffffffffffffffaa, 0, sdat)
    TEST_ST_OP(37, lh, sh, 0xffffffffffffaa00, 2, sdat)
    TEST_ST_OP(38, lw, sw, 0xffffffffaa00aa00, 4, sdat)
    TEST_ST_OP(39, ld, sd, 0x00aa00aa00aa00aa, 8, sdat)

    SAY(s_mem)
    TEST_BR2_TAKEN(40, beq, 0, 0)
    TEST_BR2_NOTTAKEN(41, beq, 0, 1)
    TEST_BR2_TAKEN(42, bne, 0, 1)
    TEST_BR2_TAKEN(43, blt, -1, 1)
    TEST_BR2_NOTTAKEN(44, bltu, -1, 1)
    TEST_BR2_TAKEN(45, bge, 1, -1)
    TEST_BR2_TAKEN(46, bgeu, -1, 1)
    TEST_CASE(47, x11, 3, \
      li x11, 0; \
      jal x5, 1f; \
      addi x11, x11, 1; \
      1: addi x11, x11, 3; \
      la x6, 2f; \
      jalr x0, 0(x6); \
      addi x11, x11, 1; \
      2: nop)

    SAY(s_branch)
    TEST_RR_OP(50, mul, 0x0000000000001200, 0x0000000000007e00, 0x6db6db6db6db6db7)
    TEST_RR_OP(51, mulh, 0xffffffffffffffff, 0x8000000000000000, 1)
    TEST_RR_OP(52, mulhu, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff)
    TEST_RR_OP(53, mulhsu, 0xffffffffffffffff, -1, 1)
    TEST_RR_OP(54, mulw, 0xffffffff80000000, 0x40000000, 2)
    TEST_RR_OP(55, div, -1, 20, 0)
    TEST_RR_OP(56, div, 0x8000000000000000, 0x8000000000000000, -1)
    TEST_RR_OP(57, divu, 3, 20, 6)
    TEST_RR_OP(58, rem, -2, -20, 6)
    TEST_RR_OP(59, remu, 20, 20, 0)
    TEST_RR_OP(60, divw, 0xffffffff80000000, 0xffffffff80000000, -1)
    TEST_RR_OP(61, remw, 0, 0xffffffff80000000, -1)

    SAY(s_mul)
    /* ecall from U-mode comes back through the trap handler */
    TEST_CASE(70, x14, CAUSE_ECALL_U, \
      RUN_IN PRV_U, 1f, 2f; \
      1: ecall; \
      2: TRAP_FIELD x14, TS_CAUSE)
    TEST_CASE(71, x14, CAUSE_ILLEGAL, \
      EXPECT_TRAP 2f; \
      .word 0x00007003; \
      2: TRAP_FIELD x14, TS_CAUSE)
    TEST_CASE(72, x14, 0x00007003, TRAP_FIELD x14, TS_TVAL)

    SAY(s_trap)
    SAY(s_pass)
    li a0, 0
    call __exit                           /* tohost = 1 */

fail:
    SAY(s_fail)
    mv a0, TESTNUM
    call __putdec
    li a0, '\n'
    call __putc
    mv a0, TESTNUM
    call __exit                           /* tohost = (TESTNUM << 1) | 1 */

    .section .rodata
s_alu:    .asciz "ok 1 - htif alu (tests 2-23)\n"
s_mem:    .asciz "ok 2 - htif loads/stores (tests 30-39)\n"
s_branch: .asciz "ok 3 - htif branches/jumps (tests 40-47)\n"
s_mul:    .asciz "ok 4 - htif mul/div (tests 50-61)\n"
s_trap:   .asciz "ok 5 - htif traps (tests 70-72)\n"
s_pass:   .asciz "PASS\n"
s_fail:   .asciz "FAIL: test "

    .data
    .align 3
tdat:
    .dword 0xf00ff00f0ff000ff
sdat:
    .dword 0xdeadbeefdeadbeef, 0xdeadbeefdeadbeef
