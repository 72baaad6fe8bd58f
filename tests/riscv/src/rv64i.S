/* RV64I base integer instructions. */
#include "test.h"

    .text
    .globl main
main:
    /* ------------------------------------------------------------------ */
    GROUP("lui/auipc")
    lui a0, 0x12345
    CHECK(a0, 0x12345000)
    lui a0, 0x80000
    CHECK(a0, 0xffffffff80000000)       /* sign-extended from bit 31 */
    lui a0, 0xfffff
    CHECK(a0, 0xfffffffffffff000)
    lui a0, 0x7ffff
    CHECK(a0, 0x7ffff000)
1:  auipc a0, 0
    CHECK_LA(a0, 1b)
1:  auipc a0, 1
    la a1, 1b
    sub a0, a0, a1
    CHECK(a0, 0x1000)
1:  auipc a0, 0x80000                   /* offset -2 GiB */
    la a1, 1b
    sub a0, a0, a1
    CHECK(a0, 0xffffffff80000000)
1:  auipc a0, 0xfffff                   /* offset -4096 */
    la a1, 1b
    sub a0, a0, a1
    CHECK(a0, -4096)

    /* ------------------------------------------------------------------ */
    GROUP("add/sub/addi")
    TEST_RR(add, 0, 0, 0)
    TEST_RR(add, 3, 1, 2)
    TEST_RR(add, 0, -1, 1)
    TEST_RR(add, 0x8000000000000000, 0x7fffffffffffffff, 1)   /* wraps */
    TEST_RR(add, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff)
    TEST_RR(add, 0x100000000, 0xffffffff, 1)                    /* no 32-bit truncation */
    TEST_RR(sub, 0, 5, 5)
    TEST_RR(sub, -1, 0, 1)
    TEST_RR(sub, 0x7fffffffffffffff, 0x8000000000000000, 1)
    TEST_RR(sub, 0x8000000000000000, 0x8000000000000000, 0)
    TEST_RR(sub, 0xffffffff00000000, 0, 0x100000000)
    TEST_RI(addi, 0x7ff, 0, 0x7ff)
    TEST_RI(addi, -2048, 0, -2048)
    TEST_RI(addi, 0xffffffffffffffff, 0, -1)
    TEST_RI(addi, 0x8000000000000000, 0x7fffffffffffffff, 1)
    TEST_RI(addi, 0x7fffffffffffffff, 0x8000000000000000, -1)
    TEST_RI(addi, 0x100000000, 0xffffffff, 1)
    /* x0 as source and destination */
    li a0, 123
    add a1, x0, a0
    CHECK(a1, 123)
    add a1, a0, x0
    CHECK(a1, 123)
    sub a1, x0, a0
    CHECK(a1, -123)
    addi x0, x0, 5
    mv a1, x0
    CHECK(a1, 0)
    add x0, a0, a0
    mv a1, x0
    CHECK(a1, 0)
    lui x0, 0x12345
    mv a1, x0
    CHECK(a1, 0)

    /* ------------------------------------------------------------------ */
    GROUP("and/or/xor")
    TEST_RR(and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
    TEST_RR(and, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0, -1)
    TEST_RR(or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f)
    TEST_RR(or,  0xffffffff00000000, 0xffff000000000000, 0x0000ffff00000000)
    TEST_RR(xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f)
    TEST_RR(xor, 0, 0x123456789abcdef0, 0x123456789abcdef0)
    TEST_RR(xor, 0xedcba9876543210f, 0x123456789abcdef0, -1)
    TEST_RI(andi, 0x00000700, 0xff00ff00, 0x70f)
    TEST_RI(andi, 0xff00ff00, 0xff00ff00, -1)                  /* imm sign-extends */
    TEST_RI(andi, 0xffffffffffffff00, 0xffffffffffffff0f, -256)
    TEST_RI(andi, 0, 0x123456789abcdef0, 0)
    TEST_RI(ori,  0xff00ff0f, 0xff00ff00, 0xf)
    TEST_RI(ori,  -1, 0, -1)
    TEST_RI(ori,  0xfffffffffffff800, 0, -2048)
    TEST_RI(xori, 0xff00f80f, 0xff00ff00, 0x70f)
    TEST_RI(xori, 0xffffffff00ff00ff, 0xff00ff00, -1)           /* not */
    TEST_RI(xori, 0x00ff00ff00ff07ff, 0xff00ff00ff00f800, -1)

    /* ------------------------------------------------------------------ */
    GROUP("sll/srl/sra")
    TEST_RR(sll, 0x0000000000000001, 1, 0)
    TEST_RR(sll, 0x0000000000000080, 1, 7)
    TEST_RR(sll, 0x8000000000000000, 1, 63)
    TEST_RR(sll, 0x0000000100000000, 1, 32)
    TEST_RR(sll, 0x2468acf13579bde0, 0x123456789abcdef0, 1)
    TEST_RR(sll, 0x0000000000000080, 1, 64 + 7)                 /* only rs2[5:0] used */
    TEST_RR(sll, 0x8000000000000000, 1, -1)
    TEST_RR(sll, 0x0000000000000001, 1, 0xffffffffffffffc0)
    TEST_RR(srl, 0x7fffffffffffffff, -1, 1)
    TEST_RR(srl, 0x0000000000000001, 0x8000000000000000, 63)
    TEST_RR(srl, 0x00000000ffffffff, 0xffffffff00000000, 32)
    TEST_RR(srl, 0x0000000000000001, 0x8000000000000000, -1)
    TEST_RR(srl, 0x0123456789abcdef, 0x123456789abcdef0, 4 + 128)
    TEST_RR(sra, 0xffffffffffffffff, 0x8000000000000000, 63)
    TEST_RR(sra, 0xc000000000000000, 0x8000000000000000, 1)
    TEST_RR(sra, 0xffffffff80000000, 0x8000000000000000, 32)
    TEST_RR(sra, 0x3fffffffffffffff, 0x7fffffffffffffff, 1)
    TEST_RR(sra, 0xff80000000000000, 0x8000000000000000, 8 + 64)
    TEST_RR(sra, 0x8000000000000000, 0x8000000000000000, 0)
    TEST_RI(slli, 0x8000000000000000, 1, 63)
    TEST_RI(slli, 0x23456789abcdef00, 0x123456789abcdef0, 4)
    TEST_RI(slli, 0x0000000100000000, 1, 32)
    TEST_RI(srli, 0x0000000000000001, 0x8000000000000000, 63)
    TEST_RI(srli, 0x0000000080000000, 0x8000000000000000, 32)
    TEST_RI(srli, 0x00000000ffffffff, -1, 32)
    TEST_RI(srai, 0xffffffffffffffff, 0x8000000000000000, 63)
    TEST_RI(srai, 0xffffffff80000000, 0x8000000000000000, 32)
    TEST_RI(srai, 0x0000000012345678, 0x1234567800000000, 32)
    TEST_RI(srai, 0xfff0000000000000, 0x8000000000000000, 11)
    TEST_RI(srai, 0x123456789abcdef0, 0x123456789abcdef0, 0)

    /* ------------------------------------------------------------------ */
    GROUP("addw/subw/addiw")
    TEST_RR(addw, 0x0000000000000003, 1, 2)
    TEST_RR(addw, 0xffffffff80000000, 0x7fffffff, 1)            /* 32-bit overflow, sign-extended */
    TEST_RR(addw, 0x0000000000000000, 0xffffffff, 1)
    TEST_RR(addw, 0x000000007fffffff, 0x80000000, 0xffffffff)
    TEST_RR(addw, 0x0000000012345678, 0xabcdef0012345678, 0x1234567800000000)   /* upper bits ignored */
    TEST_RR(addw, 0xffffffff9abcdef0, 0x000000009abcdef0, 0xffffffff00000000)
    TEST_RR(subw, 0xffffffffffffffff, 0, 1)
    TEST_RR(subw, 0x000000007fffffff, 0x80000000, 1)
    TEST_RR(subw, 0xffffffff80000000, 0x7fffffff, 0xffffffff)
    TEST_RR(subw, 0x0000000000000000, 0x1234567800000000, 0x8765432100000000)
    TEST_RI(addiw, 0xffffffff80000000, 0x7fffffff, 1)
    TEST_RI(addiw, 0x000000007ffff800, 0x7fffffff, -2047)
    TEST_RI(addiw, 0xffffffffffffffff, 0xffffffff, 0)           /* sext.w */
    TEST_RI(addiw, 0x0000000012345678, 0xfedcba9812345678, 0)
    TEST_RI(addiw, 0x00000000000007ff, 0x100000000, 0x7ff)
    TEST_RI(addiw, 0x000000007fffffff, 0x80000000, -1)

    /* ------------------------------------------------------------------ */
    GROUP("sllw/srlw/sraw")
    TEST_RR(sllw, 0xffffffff80000000, 1, 31)
    TEST_RR(sllw, 0x0000000000000001, 1, 32)                    /* only rs2[4:0] used */
    TEST_RR(sllw, 0x0000000000000002, 1, 33)
    TEST_RR(sllw, 0xffffffff80000000, 1, -1)
    TEST_RR(sllw, 0x0000000034567800, 0x0000000012345678, 8)
    TEST_RR(sllw, 0xffffffffabcdef00, 0x123456789abcdef0, 4)
    TEST_RR(srlw, 0x000000007fffffff, 0xffffffffffffffff, 1)
    TEST_RR(srlw, 0x0000000000000001, 0x80000000, 31)
    TEST_RR(srlw, 0xffffffff80000000, 0x80000000, 32)           /* shift 0: sign-extends bit 31 */
    TEST_RR(srlw, 0x0000000000000001, 0x80000000, -1)
    TEST_RR(srlw, 0x0000000009abcdef, 0x123456789abcdef0, 4)    /* upper 32 bits of rs1 ignored */
    TEST_RR(sraw, 0xffffffffc0000000, 0x80000000, 1)
    TEST_RR(sraw, 0xffffffffffffffff, 0x80000000, 31)
    TEST_RR(sraw, 0xffffffff80000000, 0x80000000, 32)
    TEST_RR(sraw, 0x0000000000000000, 0x7fffffff, 31)
    TEST_RR(sraw, 0x000000003fffffff, 0x7fffffff, 1)
    TEST_RR(sraw, 0xfffffffff9abcdef, 0x123456789abcdef0, 4)
    TEST_RI(slliw, 0xffffffff80000000, 1, 31)
    TEST_RI(slliw, 0x0000000000000000, 0x100000000, 0)
    TEST_RI(slliw, 0xffffffffabcdef00, 0x123456789abcdef0, 4)
    TEST_RI(srliw, 0x0000000000000001, 0x80000000, 31)
    TEST_RI(srliw, 0xffffffff80000000, 0x80000000, 0)
    TEST_RI(srliw, 0x0000000009abcdef, 0x123456789abcdef0, 4)
    TEST_RI(sraiw, 0xffffffffffffffff, 0x80000000, 31)
    TEST_RI(sraiw, 0xfffffffff9abcdef, 0x123456789abcdef0, 4)
    TEST_RI(sraiw, 0x0000000012345678, 0xffffffff12345678, 0)

    /* ------------------------------------------------------------------ */
    GROUP("slt/sltu/slti/sltiu")
    TEST_RR(slt, 0, 0, 0)
    TEST_RR(slt, 1, -1, 0)
    TEST_RR(slt, 0, 0, -1)
    TEST_RR(slt, 1, 0x8000000000000000, 0x7fffffffffffffff)
    TEST_RR(slt, 0, 0x7fffffffffffffff, 0x8000000000000000)
    TEST_RR(slt, 1, 0x8000000000000000, -1)
    TEST_RR(slt, 0, 5, 5)
    TEST_RR(sltu, 0, -1, 0)
    TEST_RR(sltu, 1, 0, -1)
    TEST_RR(sltu, 0, 0x8000000000000000, 0x7fffffffffffffff)
    TEST_RR(sltu, 1, 0x7fffffffffffffff, 0x8000000000000000)
    TEST_RR(sltu, 1, 0xfffffffffffffffe, 0xffffffffffffffff)
    TEST_RR(sltu, 0, 7, 7)
    TEST_RI(slti, 1, -1, 0)
    TEST_RI(slti, 0, 0, -1)
    TEST_RI(slti, 1, 0x8000000000000000, -2048)
    TEST_RI(slti, 0, 0x7ff, 0x7ff)
    TEST_RI(slti, 1, 0x7fe, 0x7ff)
    TEST_RI(sltiu, 1, 0, 1)                                     /* seqz */
    TEST_RI(sltiu, 0, 5, 1)
    TEST_RI(sltiu, 1, 0x7fffffffffffffff, -1)                   /* imm -1 = 0xffff...ffff unsigned */
    TEST_RI(sltiu, 0, -1, -1)
    TEST_RI(sltiu, 1, 0xfffffffffffff7ff, -2048)
    TEST_RI(sltiu, 0, 0xfffffffffffff800, -2048)
    li a0, 5
    sltu a1, x0, a0                                             /* snez */
    CHECK(a1, 1)
    sltu a1, x0, x0
    CHECK(a1, 0)
    slt a1, a0, x0                                              /* sltz */
    CHECK(a1, 0)
    slt a1, x0, a0                                              /* sgtz */
    CHECK(a1, 1)

    /* ------------------------------------------------------------------ */
    GROUP("branches")
    /* each branch sets a bit in a2 if taken; layout exercises forward and backward targets */
    .macro BR_ op, a, b, taken, line
    li a0, \a
    li a1, \b
    li a2, 0
    j .Lfwd\@
.Lback\@:
    li a2, 1
    j .Lend\@
.Lfwd\@:
    \op a0, a1, .Lback\@
    \op a0, a1, .Ltaken2\@
    j .Lend\@
.Ltaken2\@:
    li a2, 2        /* unreachable: first branch already taken */
.Lend\@:
    CHECK_ a2, \taken, \line
    .endm
#define BR(op, a, b, taken) BR_ op, a, b, taken, __LINE__
    BR(beq, 0, 0, 1)
    BR(beq, 1, 0, 0)
    BR(beq, -1, -1, 1)
    BR(beq, 0x100000000, 0, 0)
    BR(bne, 1, 0, 1)
    BR(bne, 0, 0, 0)
    BR(bne, 0x100000000, 0, 1)
    BR(blt, -1, 0, 1)
    BR(blt, 0, -1, 0)
    BR(blt, 0, 0, 0)
    BR(blt, 0x8000000000000000, 0x7fffffffffffffff, 1)
    BR(bge, 0, 0, 1)
    BR(bge, 0, -1, 1)
    BR(bge, -1, 0, 0)
    BR(bge, 0x7fffffffffffffff, 0x8000000000000000, 1)
    BR(bltu, 0, -1, 1)
    BR(bltu, -1, 0, 0)
    BR(bltu, 5, 5, 0)
    BR(bltu, 0x7fffffffffffffff, 0x8000000000000000, 1)
    BR(bgeu, -1, 0, 1)
    BR(bgeu, 0, -1, 0)
    BR(bgeu, 5, 5, 1)
    BR(bgeu, 0x8000000000000000, 0x7fffffffffffffff, 1)
    /* loop with a backward branch: sum 1..10 */
    li a0, 0
    li a1, 10
1:  add a0, a0, a1
    addi a1, a1, -1
    bnez a1, 1b
    CHECK(a0, 55)

    /* ------------------------------------------------------------------ */
    GROUP("jal/jalr")
    jal a0, 1f
2:  j 9f
1:  CHECK_LA(a0, 2b)                     /* link = pc + 4 */
    la a1, 3f
    jalr a0, 0(a1)
4:  j 9f
3:  CHECK_LA(a0, 4b)
    la a1, 3f + 1                        /* bit 0 of the target is cleared */
    jalr a0, 0(a1)
    j 9f
3:  la a1, 3f - 7
    jalr a0, 7(a1)                       /* offset added before clearing bit 0 */
    j 9f
3:  la a1, 3f + 9
    jalr a0, -8(a1)                      /* (a1 - 8) = 3f + 1 -> 3f */
    j 9f
3:  la a0, 3f
    jalr a0, 0(a0)                       /* rd == rs1: target uses the old value */
5:  j 9f
3:  CHECK_LA(a0, 5b)
    la a1, 3f
    jalr x0, 0(a1)                       /* no link */
    j 9f
3:  jal x0, 3f
    j 9f
3:  /* jal / jalr with large offsets: call a function placed far away */
    call far_function
    CHECK(a0, 0x600d)
    j 8f
9:  EXIT_WITH(0x7f)                      /* a wrong jump lands here */
8:

    /* ------------------------------------------------------------------ */
    GROUP("loads")
    la s0, ldata
    lb a0, 0(s0)
    CHECK(a0, 0xffffffffffffff81)
    lbu a0, 0(s0)
    CHECK(a0, 0x81)
    lb a0, 1(s0)
    CHECK(a0, 0x7f)
    lh a0, 0(s0)
    CHECK(a0, 0x7f81)
    lh a0, 2(s0)
    CHECK(a0, 0xffffffffffffff80)
    lhu a0, 2(s0)
    CHECK(a0, 0xff80)
    lw a0, 0(s0)
    CHECK(a0, 0xffffffffff807f81)
    lwu a0, 0(s0)
    CHECK(a0, 0xff807f81)
    lw a0, 4(s0)
    CHECK(a0, 0x7ffe0102)
    lwu a0, 4(s0)
    CHECK(a0, 0x7ffe0102)
    ld a0, 0(s0)
    CHECK(a0, 0x7ffe0102ff807f81)
    ld a0, 8(s0)
    CHECK(a0, 0x8000000000000001)
    addi s1, s0, 16
    lb a0, -9(s1)                        /* negative offsets */
    CHECK(a0, 0x7f)
    lw a0, -16(s1)
    CHECK(a0, 0xffffffffff807f81)
    ld a0, -8(s1)
    CHECK(a0, 0x8000000000000001)
    lbu a0, 15(s0)
    CHECK(a0, 0x80)
    lb a0, 15(s0)
    CHECK(a0, 0xffffffffffffff80)
    lh a0, 14(s0)
    CHECK(a0, 0xffffffffffff8000)
    lw a0, 12(s0)
    CHECK(a0, 0xffffffff80000000)
    lw x0, 0(s0)                         /* load to x0 is discarded */
    mv a0, x0
    CHECK(a0, 0)

    /* ------------------------------------------------------------------ */
    GROUP("stores")
    la s0, sdata
    li a0, 0x1122334455667788
    sd a0, 0(s0)
    li a1, 0xaa
    sb a1, 0(s0)
    ld a0, 0(s0)
    CHECK(a0, 0x11223344556677aa)
    li a1, 0xffffffffffffbbcc            /* only the low bits are stored */
    sh a1, 2(s0)
    ld a0, 0(s0)
    CHECK(a0, 0x11223344bbcc77aa)
    li a1, 0xdeadbeefcafef00d
    sw a1, 4(s0)
    ld a0, 0(s0)
    CHECK(a0, 0xcafef00dbbcc77aa)
    sb a1, 7(s0)
    ld a0, 0(s0)
    CHECK(a0, 0x0dfef00dbbcc77aa)
    sd zero, 8(s0)
    addi s1, s0, 16
    sw a1, -4(s1)                        /* negative offset */
    ld a0, 8(s0)
    CHECK(a0, 0xcafef00d00000000)
    sd a1, 8(s0)
    ld a0, 8(s0)
    CHECK(a0, 0xdeadbeefcafef00d)
    sh x0, 10(s0)                        /* store of x0 */
    ld a0, 8(s0)
    CHECK(a0, 0xdeadbeef0000f00d)

    /* ------------------------------------------------------------------ */
    GROUP("misaligned load/store")
    /* ordinary misaligned accesses must give the right data (emulated), not trap */
    EXPECT_TRAP 9f
    la s0, mdata
    li a0, 0x0706050403020100
    sd a0, 0(s0)
    li a0, 0x0f0e0d0c0b0a0908
    sd a0, 8(s0)
    li a0, 0x8786858483828180
    sd a0, 16(s0)
    lh a0, 1(s0)
    CHECK(a0, 0x0201)
    lhu a0, 7(s0)                        /* crosses an 8-byte boundary */
    CHECK(a0, 0x0807)
    lh a0, 15(s0)
    CHECK(a0, 0xffffffffffff800f)
    lw a0, 1(s0)
    CHECK(a0, 0x04030201)
    lw a0, 6(s0)
    CHECK(a0, 0x09080706)
    lw a0, 14(s0)
    CHECK(a0, 0xffffffff81800f0e)
    lwu a0, 13(s0)
    CHECK(a0, 0x800f0e0d)
    ld a0, 1(s0)
    CHECK(a0, 0x0807060504030201)
    ld a0, 4(s0)
    CHECK(a0, 0x0b0a090807060504)
    ld a0, 15(s0)
    CHECK(a0, 0x868584838281800f)
    li a1, 0xa1a2
    sh a1, 3(s0)
    ld a0, 0(s0)
    CHECK(a0, 0x070605a1a2020100)
    li a1, 0xb1b2b3b4
    sw a1, 6(s0)
    ld a0, 0(s0)
    CHECK(a0, 0xb3b405a1a2020100)
    ld a0, 8(s0)
    CHECK(a0, 0x0f0e0d0c0b0ab1b2)
    li a1, 0xc1c2c3c4c5c6c7c8
    sd a1, 13(s0)
    ld a0, 8(s0)
    CHECK(a0, 0xc6c7c80c0b0ab1b2)
    ld a0, 16(s0)
    CHECK(a0, 0x878685c1c2c3c4c5)
    /* across a 4 KiB page boundary */
    la s1, pagebuf + 4096
    li a1, 0x1112131415161718
    sd a1, -3(s1)
    lbu a0, -3(s1)
    CHECK(a0, 0x18)
    lbu a0, 4(s1)
    CHECK(a0, 0x11)
    ld a0, -3(s1)
    CHECK(a0, 0x1112131415161718)
    lw a0, -2(s1)
    CHECK(a0, 0x14151617)
    lh a0, -1(s1)
    CHECK(a0, 0x1516)
    /* misaligned FP loads/stores too */
    li a1, 0x400921fb54442d18
    sd a1, 3(s0)
    fld fa0, 3(s0)
    CHECK_D(fa0, 0x400921fb54442d18)
    fsd fa0, 17(s0)
    ld a0, 17(s0)
    CHECK(a0, 0x400921fb54442d18)
    li a1, 0x3f800000
    sw a1, 2(s0)
    flw fa1, 2(s0)
    CHECK_S(fa1, 0x3f800000)
    fsw fa1, 9(s0)
    lwu a0, 9(s0)
    CHECK(a0, 0x3f800000)
9:  CHECK_NO_TRAP

    /* ------------------------------------------------------------------ */
    GROUP("fence/hints")
    EXPECT_TRAP 9f
    fence
    fence rw, rw
    fence r, w
    fence iorw, iorw
    fence.tso
    .word 0x0100000f                     /* pause (Zihintpause HINT: fence w,0) */
    fence.i
    addi x0, x1, 0                       /* HINT encodings execute as no-ops */
    slli x0, x0, 1
    li a0, 7
9:  CHECK_NO_TRAP
    CHECK(a0, 7)

    TESTS_DONE

/* place far_function > 4 KiB away so jal/call use their full range */
    .section .text.far, "ax", @progbits
    .space 8192
far_function:
    li a0, 0x600d
    ret

    .data
    .align 4
ldata:
    .byte 0x81, 0x7f, 0x80, 0xff, 0x02, 0x01, 0xfe, 0x7f
    .dword 0x8000000000000001
sdata:
    .dword 0, 0
mdata:
    .space 32

    .section .pages, "aw", @nobits
    .align 12
pagebuf:
    .space 8192
