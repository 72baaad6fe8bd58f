/* Zicond: czero.eqz / czero.nez.
 * QEMU 7.2 does not implement Zicond, so this source is also built with -DVENTANA into
 * zicond_vt.elf, which uses the XVentanaCondOps encodings of the same operations
 * (vt.maskc = czero.eqz, vt.maskcn = czero.nez: custom-3 opcode, funct3 110/111); the expected
 * output of zicond.elf is that of zicond_vt.elf on QEMU with xventanacondops=true. The
 * checked values are those of the Zicond specification:
 *   czero.eqz rd, rs1, rs2: rd = (rs2 == 0) ? 0 : rs1
 *   czero.nez rd, rs1, rs2: rd = (rs2 != 0) ? 0 : rs1 */
#include "test.h"

#ifdef VENTANA
.macro czero_eqz rd, rs1, rs2
    .insn r 0x7b, 6, 0x00, \rd, \rs1, \rs2       /* vt.maskc */
.endm
.macro czero_nez rd, rs1, rs2
    .insn r 0x7b, 7, 0x00, \rd, \rs1, \rs2       /* vt.maskcn */
.endm
#else
.macro czero_eqz rd, rs1, rs2
    .insn r 0x33, 5, 0x07, \rd, \rs1, \rs2       /* czero.eqz */
.endm
.macro czero_nez rd, rs1, rs2
    .insn r 0x33, 7, 0x07, \rd, \rs1, \rs2       /* czero.nez */
.endm
#endif

    .text
    .globl main
main:
    GROUP("czero.eqz")
    TEST_RR(czero_eqz, 0, 0x123456789abcdef0, 0)
    TEST_RR(czero_eqz, 0x123456789abcdef0, 0x123456789abcdef0, 1)
    TEST_RR(czero_eqz, 0x123456789abcdef0, 0x123456789abcdef0, -1)
    TEST_RR(czero_eqz, 0x123456789abcdef0, 0x123456789abcdef0, 0x100000000)   /* all 64 bits tested */
    TEST_RR(czero_eqz, 0x123456789abcdef0, 0x123456789abcdef0, 0x8000000000000000)
    TEST_RR(czero_eqz, 0, 0, 5)
    TEST_RR(czero_eqz, 0xffffffffffffffff, 0xffffffffffffffff, 2)
    TEST_RR(czero_eqz, 0, 0xffffffffffffffff, 0)
    li a0, 77
    czero_eqz a1, a0, x0                          /* rs2 = x0: always zero */
    CHECK(a1, 0)
    li a1, 1
    czero_eqz a2, x0, a1                          /* rs1 = x0 */
    CHECK(a2, 0)
    czero_eqz a2, a0, a0                          /* rs1 == rs2 */
    CHECK(a2, 77)
    li a3, 0
    czero_eqz a3, a3, a3
    CHECK(a3, 0)
    czero_eqz x0, a0, a1                          /* rd = x0 */
    mv a2, x0
    CHECK(a2, 0)

    GROUP("czero.nez")
    TEST_RR(czero_nez, 0x123456789abcdef0, 0x123456789abcdef0, 0)
    TEST_RR(czero_nez, 0, 0x123456789abcdef0, 1)
    TEST_RR(czero_nez, 0, 0x123456789abcdef0, -1)
    TEST_RR(czero_nez, 0, 0x123456789abcdef0, 0x100000000)
    TEST_RR(czero_nez, 0, 0x123456789abcdef0, 0x8000000000000000)
    TEST_RR(czero_nez, 0, 0, 0)
    TEST_RR(czero_nez, 0xffffffffffffffff, 0xffffffffffffffff, 0)
    TEST_RR(czero_nez, 0, 0xffffffffffffffff, 3)
    li a0, 77
    czero_nez a1, a0, x0                          /* rs2 = x0: rs1 */
    CHECK(a1, 77)
    li a1, 0
    czero_nez a2, x0, a1
    CHECK(a2, 0)
    czero_nez a2, a0, a0                          /* rs1 == rs2 != 0 */
    CHECK(a2, 0)

    GROUP("conditional select")
    /* rd = c ? a : b  ==  czero.nez(b, c) | czero.eqz(a, c) */
    .macro SELECT_ c, exp, line
    li s0, 0x1111
    li s1, 0x2222
    li s2, \c
    czero_eqz t0, s0, s2
    czero_nez t1, s1, s2
    or a0, t0, t1
    CHECK_ a0, \exp, \line
    .endm
    SELECT_ 1, 0x1111, __LINE__
    SELECT_ 0, 0x2222, __LINE__
    SELECT_ -1, 0x1111, __LINE__
    SELECT_ 0x8000000000000000, 0x1111, __LINE__
    /* conditional add: a0 += c ? 5 : 0 */
    li a0, 10
    li a1, 5
    li a2, 0
    czero_eqz t0, a1, a2
    add a0, a0, t0
    CHECK(a0, 10)
    li a2, 9
    czero_eqz t0, a1, a2
    add a0, a0, t0
    CHECK(a0, 15)

    TESTS_DONE
