/* RV64C compressed instructions, written explicitly with c.* mnemonics (or .half for HINTs and
 * reserved encodings): every RV64C instruction, immediate edge values, 32-bit instructions at
 * 2-byte alignment and across a page boundary, c.ebreak, illegal encodings (mtval = the 16-bit
 * instruction). */
#include "test.h"
    .option rvc

    .text
    .globl main
main:
    /* ------------------------------------------------------------------ */
    GROUP("c.li/c.lui/c.addi/c.addiw")
    c.li a0, 31
    CHECK(a0, 31)
    c.li a0, -32
    CHECK(a0, -32)
    c.li s1, 0
    CHECK(s1, 0)
    c.lui a0, 1
    CHECK(a0, 0x1000)
    c.lui a0, 31
    CHECK(a0, 0x1f000)
    c.lui a0, 0xfffe0                     /* nzimm = -32 */
    CHECK(a0, 0xfffffffffffe0000)
    c.lui a0, 0xfffff
    CHECK(a0, 0xfffffffffffff000)
    c.lui t1, 0x10
    CHECK(t1, 0x10000)
    li a0, 100
    c.addi a0, 31
    CHECK(a0, 131)
    c.addi a0, -32
    CHECK(a0, 99)
    li a0, -1
    c.addi a0, 1
    CHECK(a0, 0)
    li a0, 0x7fffffff
    c.addiw a0, 1                         /* RV64: 001/01 is c.addiw, not c.jal */
    CHECK(a0, 0xffffffff80000000)
    li a0, 0x1234567880000000
    c.addiw a0, 0                         /* sext.w */
    CHECK(a0, 0xffffffff80000000)
    li a0, 0xffffffff00000000
    c.addiw a0, -1
    CHECK(a0, -1)
    li a0, 0x100000005
    c.addiw a0, -32
    CHECK(a0, -27)

    /* ------------------------------------------------------------------ */
    GROUP("c.addi16sp/c.addi4spn")
    mv s2, sp
    la sp, cbuf + 1024
    c.addi16sp sp, -512
    la a0, cbuf + 512
    CHECKR(sp, a0)
    c.addi16sp sp, 496
    la a0, cbuf + 1008
    CHECKR(sp, a0)
    c.addi16sp sp, 16
    c.addi16sp sp, -16
    CHECKR(sp, a0)
    la sp, cbuf
    c.addi4spn a0, sp, 4
    la a1, cbuf + 4
    CHECKR(a0, a1)
    c.addi4spn s0, sp, 1020
    la a1, cbuf + 1020
    CHECKR(s0, a1)
    c.addi4spn a5, sp, 512
    la a1, cbuf + 512
    CHECKR(a5, a1)
    mv sp, s2

    /* ------------------------------------------------------------------ */
    GROUP("c.slli/c.srli/c.srai/c.andi")
    li a0, 1
    c.slli a0, 63
    CHECK(a0, 0x8000000000000000)
    li a0, 0x123456789
    c.slli a0, 32
    CHECK(a0, 0x2345678900000000)
    li t2, 0x81
    c.slli t2, 1                          /* c.slli takes any register */
    CHECK(t2, 0x102)
    li a0, 0x8000000000000000
    c.srli a0, 63
    CHECK(a0, 1)
    li a0, -1
    c.srli a0, 32
    CHECK(a0, 0xffffffff)
    li a0, 0x8000000000000000
    c.srai a0, 63
    CHECK(a0, -1)
    li a0, 0x8000000000000000
    c.srai a0, 32
    CHECK(a0, 0xffffffff80000000)
    li s1, 0x7000000000000000
    c.srai s1, 1
    CHECK(s1, 0x3800000000000000)
    li a0, 0x123456789abcdef0
    c.andi a0, -1
    CHECK(a0, 0x123456789abcdef0)
    c.andi a0, -32
    CHECK(a0, 0x123456789abcdee0)
    li a0, 0x123456789abcdeff
    c.andi a0, 31
    CHECK(a0, 0x1f)
    c.andi a0, 0
    CHECK(a0, 0)

    /* ------------------------------------------------------------------ */
    GROUP("c.mv/c.add/c.sub/c.xor/c.or/c.and/c.addw/c.subw")
    li a1, 0x123456789abcdef0
    c.mv a0, a1
    CHECK(a0, 0x123456789abcdef0)
    c.mv t3, a1
    CHECK(t3, 0x123456789abcdef0)
    li a0, 0x7fffffffffffffff
    li t3, 1
    c.add a0, t3
    CHECK(a0, 0x8000000000000000)
    li a0, 5
    li a1, 7
    c.sub a0, a1
    CHECK(a0, -2)
    li a0, 0xff00ff00ff00ff00
    li a1, 0x0ff00ff00ff00ff0
    c.xor a0, a1
    CHECK(a0, 0xf0f0f0f0f0f0f0f0)
    li a0, 0xff00ff00ff00ff00
    c.or a0, a1
    CHECK(a0, 0xfff0fff0fff0fff0)
    li a0, 0xff00ff00ff00ff00
    c.and a0, a1
    CHECK(a0, 0x0f000f000f000f00)
    li a0, 0x7fffffff
    li a1, 0x100000001
    c.addw a0, a1
    CHECK(a0, 0xffffffff80000000)
    li a0, 0x80000000
    li a1, 1
    c.subw a0, a1
    CHECK(a0, 0x7fffffff)
    li s0, 0
    li s1, 1
    c.subw s0, s1
    CHECK(s0, -1)

    /* ------------------------------------------------------------------ */
    GROUP("c.lw/c.ld/c.sw/c.sd/c.fld/c.fsd")
    la s0, cbuf
    li a0, 0x8070605040302010
    sd a0, 0(s0)
    li a0, 0x0123456789abcdef
    sd a0, 248(s0)
    li a0, 0xfedcba98
    sw a0, 124(s0)
    c.lw a1, 0(s0)
    CHECK(a1, 0x40302010)
    c.lw a1, 4(s0)
    CHECK(a1, 0xffffffff80706050)         /* sign-extended */
    c.lw a2, 124(s0)
    CHECK(a2, 0xfffffffffedcba98)
    c.ld a3, 0(s0)
    CHECK(a3, 0x8070605040302010)
    c.ld a4, 248(s0)
    CHECK(a4, 0x0123456789abcdef)
    li a5, 0x1122334455667788
    c.sw a5, 8(s0)
    c.sd a5, 16(s0)
    c.sd a5, 240(s0)
    ld a0, 8(s0)
    CHECK(a0, 0x55667788)
    ld a0, 16(s0)
    CHECK(a0, 0x1122334455667788)
    ld a0, 240(s0)
    CHECK(a0, 0x1122334455667788)
    li a0, 0x400921fb54442d18
    sd a0, 32(s0)
    c.fld fa0, 32(s0)
    CHECK_D(fa0, 0x400921fb54442d18)
    c.fsd fa0, 248(s0)
    ld a0, 248(s0)
    CHECK(a0, 0x400921fb54442d18)
    c.fld fs1, 248(s0)
    CHECK_D(fs1, 0x400921fb54442d18)

    /* ------------------------------------------------------------------ */
    GROUP("c.lwsp/c.ldsp/c.fldsp/c.swsp/c.sdsp/c.fsdsp")
    mv s2, sp
    la sp, cbuf
    li a0, 0x89abcdef01234567
    sd a0, 504(sp)
    li a0, 0x80000001
    sw a0, 252(sp)
    c.lwsp t0, 252(sp)
    CHECK(t0, 0xffffffff80000001)
    c.ldsp t1, 504(sp)
    CHECK(t1, 0x89abcdef01234567)
    li a0, 0x7654321
    sw a0, 248(sp)
    c.lwsp a0, 248(sp)
    CHECK(a0, 0x7654321)
    li ra, 0x5555666677778888
    c.sdsp ra, 0(sp)
    c.swsp ra, 8(sp)
    c.sdsp ra, 400(sp)
    mv ra, x0
    ld a0, 0(sp)
    CHECK(a0, 0x5555666677778888)
    lwu a0, 8(sp)
    CHECK(a0, 0x77778888)
    c.ldsp a0, 400(sp)
    CHECK(a0, 0x5555666677778888)
    li a0, 0xbff0000000000000
    sd a0, 256(sp)
    c.fldsp ft3, 256(sp)
    CHECK_D(ft3, 0xbff0000000000000)
    c.fsdsp ft3, 496(sp)
    ld a0, 496(sp)
    CHECK(a0, 0xbff0000000000000)
    mv sp, s2

    /* ------------------------------------------------------------------ */
    GROUP("c.j/c.beqz/c.bnez/c.jr/c.jalr")
    li a0, 0
    c.j 1f
    c.li a0, 1                            /* skipped */
1:  CHECK(a0, 0)
    li a1, 0
    c.j 3f
2:  c.li a1, 2
    c.j 4f
3:  c.j 2b                                /* backward */
4:  CHECK(a1, 2)
    li a0, 0
    li s0, 0
    c.beqz s0, 1f
    c.li a0, 1
1:  CHECK(a0, 0)
    li s0, 5
    c.beqz s0, 1f
    c.li a0, 2
1:  CHECK(a0, 2)
    li a0, 0
    c.bnez s0, 1f
    c.li a0, 3
1:  CHECK(a0, 0)
    li s1, 0
    c.bnez s1, 1f
    c.li a0, 4
1:  CHECK(a0, 4)
    li s1, 0x100000000                    /* all 64 bits are compared */
    li a0, 0
    c.beqz s1, 1f
    c.li a0, 5
1:  CHECK(a0, 5)
    /* countdown loop with c.bnez */
    li a5, 7
    li a0, 0
1:  c.addi a0, 2
    c.addi a5, -1
    c.bnez a5, 1b
    CHECK(a0, 14)
    la t0, 1f
    c.jr t0
    c.li a0, 9                            /* skipped */
1:  CHECK(a0, 14)
    mv s3, ra
    la t0, cfunc
2:  c.jalr t0                             /* ra = pc + 2 */
3:  CHECK_LA(ra, 3b)
    CHECK(a0, 0x77)
    la t0, 1f
    c.jalr t0
    c.nop
1:  CHECK_LA(ra, 1b - 2)
    mv ra, s3

    /* ------------------------------------------------------------------ */
    GROUP("32-bit at 2-byte alignment")
    .balign 4
    c.nop
    addi a0, zero, 0x123                  /* 32-bit instruction at pc % 4 == 2 */
    lui a1, 0x12345
    CHECK(a0, 0x123)
    CHECK(a1, 0x12345000)
    .balign 4
    c.nop
1:  auipc a0, 0
    la a1, 1b
    CHECKR(a0, a1)
    andi a1, a1, 3
    CHECK(a1, 2)
    /* jumps and branches to 2-byte aligned targets */
    la t0, 2f
    andi a0, t0, 3
    CHECK(a0, 2)
    jalr ra, 0(t0)
    j 9f
    .balign 4
    c.nop
2:  li a0, 0x44
    beq a0, a0, 3f
    j 9f
    .balign 4
    c.nop
3:  CHECK(a0, 0x44)
    /* a 32-bit instruction straddling a 4 KiB page boundary */
    li a0, 1
    call straddle
    CHECK(a0, 0x101)
    j 8f
9:  EXIT_WITH(0x7e)
8:

    /* ------------------------------------------------------------------ */
    GROUP("c.nop/HINTs")
    EXPECT_TRAP 1f
    li a0, 11
    c.nop
    .half 0x0005                          /* c.nop with nzimm = 1 (HINT) */
    .half 0x4015                          /* c.li x0, 5 (HINT) */
    .half 0x6005                          /* c.lui x0, 1 (HINT) */
    .half 0x802a                          /* c.mv x0, a0 (HINT) */
    .half 0x902a                          /* c.add x0, a0 (HINT) */
    .half 0x0501                          /* c.addi a0, 0 (HINT) */
1:  CHECK_NO_TRAP
    CHECK(a0, 11)

    /* ------------------------------------------------------------------ */
    GROUP("c.ebreak")
    EXPECT_TRAP 2f
    li a0, 11
1:  c.ebreak
    c.li a0, 0                            /* not reached: resumes at 2f */
2:  CHECK_TRAP(CAUSE_BREAKPOINT)
    CHECK_TRAP_EPC(1b)
    CHECK(a0, 11)

    /* ------------------------------------------------------------------ */
    GROUP("illegal compressed")
    /* reserved encodings raise illegal instruction with mtval = the 16-bit instruction */
    .macro ILL_ bits, line
    EXPECT_TRAP .Lr\@
.Li\@:
    .half \bits
    .half 0x0001                          /* c.nop, keeps the stream aligned */
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    CHECK_ t5, \bits, \line
    TRAP_FIELD t5, TS_EPC
    la t6, .Li\@
    CHECKR_ t5, t6, \line
    .endm
#define ILL(bits) ILL_ bits, __LINE__
    ILL(0x0000)                           /* all zeros: defined illegal */
    ILL(0x0004)                           /* c.addi4spn with nzuimm = 0 */
    ILL(0x6101)                           /* c.addi16sp with nzimm = 0 */
    ILL(0x6081)                           /* c.lui x1, 0 */
    ILL(0x4002)                           /* c.lwsp x0 */
    ILL(0x6002)                           /* c.ldsp x0 */
    ILL(0x8002)                           /* c.jr x0 */
    ILL(0x2001)                           /* c.addiw x0 */
    ILL(0x9c41)                           /* reserved: 100 1 11 ... 10 (c.subw/addw funct2 10) */

    TESTS_DONE

cfunc:
    li a0, 0x77
    c.jr ra

    /* straddle: c.nop at page end - 4, then addi at page end - 2 crossing into the next page */
    .section .text.straddle, "ax", @progbits
    .balign 4096
    .space 4092
straddle:
    c.nop
    addi a0, a0, 0x100
    ret

    .data
    .align 4
cbuf: .space 1024
