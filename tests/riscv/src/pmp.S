/* Physical memory protection (privileged spec 1.12, 3.7): pmpcfg/pmpaddr WARL behaviour (odd
 * pmpcfg registers illegal on RV64, pmpaddr bits 53:0 with 4-byte granularity, locked entries),
 * S/U accesses with no matching entry, NAPOT/TOR/NA4 permissions for loads, stores and
 * fetches (causes 5/7/1, mtval = address), region boundaries inside a page, priority, M-mode
 * vs unlocked and locked entries, MPRV, and PMP checks on page-table walks.
 *
 * QEMU 7.2 (the oracle) implements 16 PMP entries, so only entries 0-15 are used and entry 15
 * is the lowest-priority one. Test pages live at AREA, well clear of the program image; the
 * image itself is covered for S/U by entry 1 (TOR [RAM, AREA), RWX). Every PMP change is
 * followed by sfence.vma x0, x0, as the spec requires for implementations with paging.
 * The locked entries are set up last: they cannot be undone.
 *
 * Left out because QEMU 7.2 disagrees with the spec (petrel should follow the spec):
 *   - pmpaddr bits 63:54 read back as written (spec: read as 0); only bits 53:0 are checked;
 *   - pmpcfg R=0,W=1 (and W=1,X=1,R=0) is stored as written, and so are the reserved bits
 *     6:5 (spec: WARL, R=0/W=1 is reserved; bits 6:5 read as 0);
 *   - mret to S/U while no PMP entry is active raises an illegal-instruction exception (spec:
 *     the mret completes and the first fetch is an access fault), so S/U code always runs with
 *     at least entry 1 on;
 *   - an instruction inside a non-executable NA4/TOR region is executed when control falls
 *     through into it from an executable word of the same page (QEMU checks fetch permission
 *     once per translated block); only jumps to such a word are tested. */
#include "test.h"

#define PMP_R     0x01
#define PMP_W     0x02
#define PMP_X     0x04
#define PMP_RWX   0x07
#define PMP_TOR   0x08
#define PMP_NA4   0x10
#define PMP_NAPOT 0x18
#define PMP_L     0x80

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

#define RAM  0x80000000
#define AREA 0x84000000                  /* test pages (well clear of the program) */
#define PG(n) (AREA + (n) * 0x1000)
/* byte of entry i in its pmpcfg register (pmpcfg0: entries 0-7, pmpcfg2: entries 8-15) */
#define CFG(i, v) ((v) << (8 * ((i) % 8)))
/* NAPOT pmpaddr value for a naturally aligned power-of-two region of size >= 8 */
#define NAPOT(base, size) (((base) >> 2) | (((size) >> 3) - 1))

#define INSN_ECALL 0x00000073
#define INSN_ADDI_A0_1 0x00150513        /* addi a0, a0, 1 */

/* PMP changes must be made visible to address-translation caches (priv 3.7.2) */
#define PMP_SYNC sfence.vma zero, zero

/* Store a 32-bit value at a physical address (M-mode) */
.macro POKE addr, val
    li t0, \addr
    li t1, \val
    sw t1, 0(t0)
.endm

/* Base layout: entry 0 = OFF with pmpaddr0 = RAM (the bottom of entry 1), entry 1 = TOR
 * [RAM, AREA) RWX (the program), all other entries off; with all = 1 also entry 15 = NAPOT
 * over the whole address space, RWX (lowest priority). */
.macro PMP_BASE all
    csrw pmpcfg0, zero
    csrw pmpcfg2, zero
    li t0, RAM >> 2
    csrw pmpaddr0, t0
    li t0, AREA >> 2
    csrw pmpaddr1, t0
    li t0, -1
    csrw pmpaddr15, t0
    li t0, CFG(1, PMP_TOR | PMP_RWX)
    csrw pmpcfg0, t0
    .if \all
    li t0, CFG(15, PMP_NAPOT | PMP_RWX)
    csrw pmpcfg2, t0
    .endif
    PMP_SYNC
.endm

/* Entry idx (0-15): pmpaddr = addr, cfg byte = cfg (other entries unchanged) */
.macro PMP_SET idx, cfg, addr
    li t0, \addr
    csrw pmpaddr\idx, t0
    li t0, 0xff << (8 * (\idx % 8))
    li t1, (\cfg) << (8 * (\idx % 8))
    .if \idx < 8
    csrc pmpcfg0, t0
    csrs pmpcfg0, t1
    .else
    csrc pmpcfg2, t0
    csrs pmpcfg2, t1
    .endif
    PMP_SYNC
.endm

/* Switch to privilege prv at label (nothing for PRV_M); the next trap resumes at resume */
.macro ENTER_ prv, label, resume
    EXPECT_TRAP \resume
    .if \prv != PRV_M
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, (\prv << 11)
    csrs mstatus, t6
    la t6, \label
    csrw mepc, t6
    mret
    .endif
.endm

/* ecall cause for a privilege level */
.macro CHECK_ECALL_ prv, line
    .if \prv == PRV_S
    CHECK_TRAP_ CAUSE_ECALL_S, \line
    .elseif \prv == PRV_U
    CHECK_TRAP_ CAUSE_ECALL_U, \line
    .else
    CHECK_TRAP_ CAUSE_ECALL_M, \line
    .endif
.endm

/* Run `insn`, which accesses the address in s0, in privilege prv. cause = 0: it completes (the
 * ecall after it is the trap); otherwise it traps with that cause, mtval = s0, mepc = the
 * instruction (s0 for a fetch fault) and the previous privilege = prv. */
.macro ACC_ prv, insn, cause, line
    ENTER_ \prv, .Li\@, .Lr\@
.Li\@:
    \insn
.Le\@:
    ecall
.Lr\@:
    .if \cause == 0
    CHECK_ECALL_ \prv, \line
    TRAP_FIELD t5, TS_EPC
    la t4, .Le\@
    CHECKR_ t5, t4, \line
    .else
    CHECK_TRAP_ \cause, \line
    TRAP_FIELD t5, TS_TVAL
    CHECKR_ t5, s0, \line
    TRAP_FIELD t5, TS_EPC
    .if \cause == CAUSE_FETCH_ACCESS
    CHECKR_ t5, s0, \line
    .else
    la t4, .Li\@
    CHECKR_ t5, t4, \line
    .endif
    TRAP_FIELD t5, TS_PRV
    CHECK_ t5, \prv, \line
    .endif
.endm

/* Jump to s0 (which holds an ecall) in privilege prv: the ecall there must be the trap */
.macro FETCH_OK_ prv, line
    ENTER_ \prv, .Li\@, .Lr\@
.Li\@:
    jalr s0
.Lr\@:
    CHECK_ECALL_ \prv, \line
    TRAP_FIELD t5, TS_EPC
    CHECKR_ t5, s0, \line
.endm

#define LOAD_OK(prv)     ACC_ prv, "lwu a0, 0(s0)", 0, __LINE__
#define LOAD_FAULT(prv)  ACC_ prv, "lwu a0, 0(s0)", CAUSE_LOAD_ACCESS, __LINE__
#define STORE_OK(prv)    ACC_ prv, "sw a1, 0(s0)", 0, __LINE__
#define STORE_FAULT(prv) ACC_ prv, "sw a1, 0(s0)", CAUSE_STORE_ACCESS, __LINE__
#define FETCH_OK(prv)    FETCH_OK_ prv, __LINE__
#define FETCH_FAULT(prv) ACC_ prv, "jalr s0", CAUSE_FETCH_ACCESS, __LINE__

/* M-mode access with MPRV = 1 and MPP = mpp (address in s0), like ACC_ */
.macro MPRV_ACC_ mpp, insn, cause, line
    EXPECT_TRAP .Lr\@
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, MSTATUS_MPRV | (\mpp << 11)
    csrs mstatus, t6
.Li\@:
    \insn
    li t6, MSTATUS_MPRV
    csrc mstatus, t6
    ecall
.Lr\@:
    .if \cause == 0
    CHECK_TRAP_ CAUSE_ECALL_M, \line
    .else
    CHECK_TRAP_ \cause, \line
    TRAP_FIELD t5, TS_TVAL
    CHECKR_ t5, s0, \line
    TRAP_FIELD t5, TS_EPC
    la t4, .Li\@
    CHECKR_ t5, t4, \line
    TRAP_FIELD t5, TS_PRV
    CHECK_ t5, PRV_M, \line
    .endif
.endm
#define MPRV_LOAD(mpp, cause)  MPRV_ACC_ mpp, "lwu a0, 0(s0)", cause, __LINE__
#define MPRV_STORE(mpp, cause) MPRV_ACC_ mpp, "sw a1, 0(s0)", cause, __LINE__

/* Illegal CSR instruction in M-mode: cause 2, mtval = the instruction */
.macro ILL_M_ insn, line
    EXPECT_TRAP .Lr\@
.Li\@:
    \insn
.Lr\@:
    CHECK_TRAP_ CAUSE_ILLEGAL, \line
    TRAP_FIELD t5, TS_TVAL
    lwu t4, .Li\@
    CHECKR_ t5, t4, \line
.endm
#define ILL_M(insn) ILL_M_ insn, __LINE__

    .text
    .globl main
main:
    /* test code in the area: ecall at the start of pages 0, 1, 4, 5, 8, 13; page 7 holds
     * addi, addi, ecall, ecall (see the NA4 fetch tests) */
    POKE PG(0), INSN_ECALL
    POKE PG(1), INSN_ECALL
    POKE PG(4), INSN_ECALL
    POKE PG(5), INSN_ECALL
    POKE PG(8), INSN_ECALL
    POKE PG(13), INSN_ECALL
    POKE PG(7), INSN_ADDI_A0_1
    POKE PG(7) + 4, INSN_ADDI_A0_1
    POKE PG(7) + 8, INSN_ECALL
    POKE PG(7) + 12, INSN_ECALL
    fence.i

    /* ------------------------------------------------------------------ */
    GROUP("pmp CSRs")
    /* odd pmpcfg registers do not exist on RV64 */
    ILL_M("csrr a0, pmpcfg1")
    ILL_M("csrw pmpcfg1, zero")
    ILL_M("csrr a0, pmpcfg3")
    ILL_M("csrs pmpcfg3, a0")
    ILL_M("csrrwi a0, pmpcfg15, 0")
    /* pmpaddr keeps bits 53:0 (granularity 4 bytes) */
    li t0, 0x003fffffffffffff
    csrw pmpaddr2, t0
    csrr a0, pmpaddr2
    CHECK(a0, 0x003fffffffffffff)
    li t0, 0x0015555555555555
    csrw pmpaddr14, t0
    csrr a0, pmpaddr14
    CHECK(a0, 0x0015555555555555)
    li t0, 0x002aaaaaaaaaaaaa
    csrw pmpaddr9, t0
    csrr a0, pmpaddr9
    CHECK(a0, 0x002aaaaaaaaaaaaa)
    csrw pmpaddr9, zero
    csrr a0, pmpaddr9
    CHECK(a0, 0)
    /* legal pmpcfg bytes read back unchanged (entry 0 = crt's all-memory RWX entry kept) */
    li t0, 0x13190f1d140b011f
    csrw pmpcfg0, t0
    csrr a0, pmpcfg0
    CHECK(a0, 0x13190f1d140b011f)
    li t0, 0x1f1b17110d090500
    csrw pmpcfg2, t0
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f1b17110d090500)
    csrw pmpcfg2, zero
    csrr a0, pmpcfg2
    CHECK(a0, 0)
    li t0, 0x1f
    csrw pmpcfg0, t0
    csrr a0, pmpcfg0
    CHECK(a0, 0x1f)
    /* csrs/csrc on single bytes */
    li t0, CFG(3, PMP_NAPOT | PMP_R)
    csrs pmpcfg0, t0
    csrr a0, pmpcfg0
    CHECK(a0, 0x1900001f)
    li t0, CFG(3, PMP_NAPOT)
    csrc pmpcfg0, t0
    csrr a0, pmpcfg0
    CHECK(a0, 0x0100001f)
    PMP_BASE 1
    csrr a0, pmpcfg0
    CHECK(a0, 0x0f00)
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f00000000000000)

    /* ------------------------------------------------------------------ */
    GROUP("no matching entry (S/U)")
    /* only entry 1 (the program) is on: the area matches no entry */
    PMP_BASE 0
    POKE PG(0) + 8, 0x1234
    li a1, 0x5678
    li s0, PG(0) + 8
    LOAD_FAULT(PRV_S)
    STORE_FAULT(PRV_S)
    LOAD_FAULT(PRV_U)
    STORE_FAULT(PRV_U)
    li s0, PG(0)
    FETCH_FAULT(PRV_S)
    FETCH_FAULT(PRV_U)
    /* an entry with A = OFF matches nothing, whatever its permissions */
    PMP_SET 2, PMP_RWX, NAPOT(PG(0), 0x1000)
    li s0, PG(0) + 8
    LOAD_FAULT(PRV_S)
    STORE_FAULT(PRV_U)
    /* TOR with pmpaddr[i-1] >= pmpaddr[i] matches nothing */
    PMP_SET 3, 0, PG(1) >> 2
    PMP_SET 4, PMP_TOR | PMP_RWX, PG(0) >> 2
    LOAD_FAULT(PRV_S)
    li s0, PG(0) + 0x800
    LOAD_FAULT(PRV_U)
    /* M is not restricted by a missing match */
    li s0, PG(0) + 8
    LOAD_OK(PRV_M)
    CHECK(a0, 0x1234)
    /* an all-memory NAPOT RWX entry at the lowest priority: everything works */
    PMP_SET 15, PMP_NAPOT | PMP_RWX, -1
    li a0, 0
    LOAD_OK(PRV_S)
    CHECK(a0, 0x1234)
    li a0, 0
    LOAD_OK(PRV_U)
    CHECK(a0, 0x1234)
    li a1, 0x5678
    STORE_OK(PRV_S)
    lwu a2, 0(s0)
    CHECK(a2, 0x5678)
    li a1, 0x9abc
    STORE_OK(PRV_U)
    lwu a2, 0(s0)
    CHECK(a2, 0x9abc)
    li s0, PG(0)
    FETCH_OK(PRV_S)
    FETCH_OK(PRV_U)

    /* ------------------------------------------------------------------ */
    GROUP("NAPOT page readable, not writable")
    PMP_BASE 1
    POKE PG(1) + 0x10, 0x11111111
    PMP_SET 2, PMP_NAPOT | PMP_R, NAPOT(PG(1), 0x1000)
    li s0, PG(1) + 0x10
    LOAD_OK(PRV_S)
    CHECK(a0, 0x11111111)
    li a0, 0
    LOAD_OK(PRV_U)
    CHECK(a0, 0x11111111)
    li a1, 0x2222
    STORE_FAULT(PRV_S)
    STORE_FAULT(PRV_U)
    lwu a2, 0(s0)
    CHECK(a2, 0x11111111)                 /* not written */
    li s0, PG(1)
    STORE_FAULT(PRV_S)
    FETCH_FAULT(PRV_S)                    /* no X */
    li s0, PG(1) + 0xffc
    STORE_FAULT(PRV_U)
    /* the words just outside the 4 KiB region are writable (entry 15) */
    li s0, PG(1) - 4
    STORE_OK(PRV_S)
    li s0, PG(2)
    STORE_OK(PRV_U)
    /* an AMO is a store for PMP */
    li s0, PG(1) + 0x10
    ACC_ PRV_S, "amoadd.w a0, a1, (s0)", CAUSE_STORE_ACCESS, __LINE__

    /* ------------------------------------------------------------------ */
    GROUP("TOR region without permissions")
    PMP_BASE 1
    POKE PG(3) - 4, 0x33
    POKE PG(3) + 0x100, 0x44
    /* entry 3 = OFF (bottom), entry 4 = TOR [PG(3), PG(3) + 0x100), no permissions */
    PMP_SET 3, 0, PG(3) >> 2
    PMP_SET 4, PMP_TOR, (PG(3) + 0x100) >> 2
    li s0, PG(3)
    LOAD_FAULT(PRV_S)
    LOAD_FAULT(PRV_U)
    li s0, PG(3) + 0xfc
    LOAD_FAULT(PRV_S)
    li s0, PG(3) + 0x80
    STORE_FAULT(PRV_U)
    li s0, PG(3) + 0x100
    LOAD_OK(PRV_S)
    CHECK(a0, 0x44)
    li s0, PG(3) - 4
    li a0, 0
    LOAD_OK(PRV_U)
    CHECK(a0, 0x33)

    /* ------------------------------------------------------------------ */
    GROUP("region without X")
    PMP_BASE 1
    PMP_SET 5, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PG(4), 0x1000)
    li s0, PG(4)
    FETCH_FAULT(PRV_S)
    FETCH_FAULT(PRV_U)
    LOAD_OK(PRV_S)                        /* readable: it holds the ecall */
    CHECK(a0, INSN_ECALL)
    li s0, PG(5)                          /* the next page is executable (entry 15) */
    FETCH_OK(PRV_S)
    li s0, PG(4)
    FETCH_FAULT(PRV_S)

    /* ------------------------------------------------------------------ */
    GROUP("NA4 region inside a page")
    PMP_BASE 1
    POKE PG(6) + 0x7fc, 0x0a
    POKE PG(6) + 0x800, 0x0b
    POKE PG(6) + 0x804, 0x0c
    PMP_SET 6, PMP_NA4, (PG(6) + 0x800) >> 2
    li s0, PG(6) + 0x800
    /* neighbours first (a decision for the whole page must not be cached), then the word */
    li a1, 0
    li a2, 0
    li a3, 0x77
    RUN_IN PRV_S, 1f, 2f
1:  lwu a1, -4(s0)
    lwu a2, 4(s0)
    sw a1, -8(s0)
    sw a2, 8(s0)
3:  lwu a3, 0(s0)
    ecall
2:  CHECK_TRAP(CAUSE_LOAD_ACCESS)
    CHECK_TRAP_EPC(3b)
    CHECK_TRAP_TVAL(PG(6) + 0x800)
    CHECK(a1, 0x0a)
    CHECK(a2, 0x0c)
    CHECK(a3, 0x77)
    RUN_IN PRV_U, 1f, 2f
1:  lwu a1, 4(s0)
    sw a1, -4(s0)
3:  sw a1, 0(s0)
    ecall
2:  CHECK_TRAP(CAUSE_STORE_ACCESS)
    CHECK_TRAP_EPC(3b)
    CHECK_TRAP_TVAL(PG(6) + 0x800)
    lwu a0, -4(s0)
    CHECK(a0, 0x0c)
    lwu a0, 0(s0)
    CHECK(a0, 0x0b)
    li s0, PG(6) + 0x804
    LOAD_OK(PRV_S)
    CHECK(a0, 0x0c)
    li s0, PG(6) + 0x800
    STORE_FAULT(PRV_S)
    LOAD_FAULT(PRV_U)
    li s0, PG(6) + 0x7fc
    STORE_OK(PRV_U)
    li s0, PG(6) + 0x7f8                  /* a doubleword just below the NA4 word */
    ACC_ PRV_S, "ld a0, 0(s0)", 0, __LINE__
    /* an access that matches only part of an entry fails, even though the entry (NA4 RWX at
     * +0x900) and entry 15 would each allow their part */
    PMP_SET 8, PMP_NA4 | PMP_RWX, (PG(6) + 0x900) >> 2
    li s0, PG(6) + 0x900
    ACC_ PRV_S, "ld a0, 0(s0)", CAUSE_LOAD_ACCESS, __LINE__
    ACC_ PRV_U, "sd a1, 0(s0)", CAUSE_STORE_ACCESS, __LINE__
    LOAD_OK(PRV_S)
    STORE_OK(PRV_U)
    li s0, PG(6) + 0x904
    LOAD_OK(PRV_S)
    li s0, PG(6) + 0x8f8
    ACC_ PRV_S, "ld a0, 0(s0)", 0, __LINE__
    /* NA4 without X on an instruction inside a code page: page 7 holds addi, addi, ecall,
     * ecall; the region is the word at +8. Jumping to +12 works, jumping to +8 is a fetch
     * fault at +8. (Running from +0 into +8 must fault too, but QEMU 7.2 executes the word:
     * not tested, see the header.) */
    PMP_SET 7, PMP_NA4 | PMP_R, (PG(7) + 8) >> 2
    li s0, PG(7) + 12
    FETCH_OK(PRV_S)
    li s0, PG(7) + 8
    FETCH_FAULT(PRV_S)
    li s0, PG(7) + 12
    FETCH_OK(PRV_U)
    li s0, PG(7) + 8
    FETCH_FAULT(PRV_U)
    li s0, PG(7) + 8
    LOAD_OK(PRV_S)
    CHECK(a0, INSN_ECALL)

    /* ------------------------------------------------------------------ */
    GROUP("priority")
    PMP_BASE 1
    POKE PG(8) + 0x10, 0x81
    POKE PG(9), 0x90
    POKE PG(9) + 4, 0x94
    /* entry 8 (no permissions) wins over entry 9 (RW) on the same page */
    PMP_SET 8, PMP_NAPOT, NAPOT(PG(8), 0x1000)
    PMP_SET 9, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PG(8), 0x1000)
    li s0, PG(8) + 0x10
    LOAD_FAULT(PRV_S)
    STORE_FAULT(PRV_U)
    /* entry 10 (NA4, RW) wins over entry 11 (NAPOT page, no permissions) */
    PMP_SET 10, PMP_NA4 | PMP_R | PMP_W, PG(9) >> 2
    PMP_SET 11, PMP_NAPOT, NAPOT(PG(9), 0x1000)
    li s0, PG(9)
    LOAD_OK(PRV_S)
    CHECK(a0, 0x90)
    li a1, 0x99
    STORE_OK(PRV_U)
    li s0, PG(9) + 4
    LOAD_FAULT(PRV_S)
    STORE_FAULT(PRV_U)
    li s0, PG(10)                         /* the next page: entry 15 */
    STORE_OK(PRV_S)
    /* entry 0 as TOR covers [0, pmpaddr0): here [0, PG(10) + 0x100) RX, the program
     * included, which makes entry 1 empty */
    PMP_SET 0, PMP_TOR | PMP_R | PMP_X, (PG(10) + 0x100) >> 2
    li s0, PG(10) + 0xfc
    LOAD_OK(PRV_S)
    STORE_FAULT(PRV_S)
    STORE_FAULT(PRV_U)
    li s0, PG(10) + 0x100
    STORE_OK(PRV_U)
    li s0, PG(9)                          /* entry 0 now wins over entry 10 */
    STORE_FAULT(PRV_S)

    /* ------------------------------------------------------------------ */
    GROUP("M-mode and unlocked entries")
    PMP_BASE 1
    PMP_SET 8, PMP_NAPOT, NAPOT(PG(8), 0x1000)
    PMP_SET 6, PMP_NA4, (PG(6) + 0x800) >> 2
    PMP_SET 2, PMP_NAPOT | PMP_R, NAPOT(PG(1), 0x1000)
    li s0, PG(8) + 0x10
    LOAD_OK(PRV_M)
    CHECK(a0, 0x81)
    li a1, 0x82
    STORE_OK(PRV_M)
    lwu a0, 0(s0)
    CHECK(a0, 0x82)
    li s0, PG(8)
    FETCH_OK(PRV_M)
    li s0, PG(6) + 0x800
    STORE_OK(PRV_M)
    li s0, PG(1) + 0x10
    STORE_OK(PRV_M)
    STORE_FAULT(PRV_S)                    /* entry 2 still applies to S: R only ... */
    li s0, PG(6) + 0x800
    LOAD_FAULT(PRV_S)                     /* ... and entry 6 */

    /* ------------------------------------------------------------------ */
    GROUP("MPRV")
    /* same entries: page 1 R only, NA4 at PG(6) + 0x800 without permissions */
    POKE PG(1) + 0x10, 0x11111111
    li s0, PG(6) + 0x800
    MPRV_LOAD(PRV_S, CAUSE_LOAD_ACCESS)
    MPRV_STORE(PRV_U, CAUSE_STORE_ACCESS)
    MPRV_LOAD(PRV_M, 0)                   /* MPP = M: no restriction */
    li s0, PG(6) + 0x804
    MPRV_LOAD(PRV_S, 0)
    li s0, PG(1) + 0x10
    li a0, 0
    MPRV_LOAD(PRV_S, 0)
    CHECK(a0, 0x11111111)
    li a1, 0x1212
    MPRV_STORE(PRV_S, CAUSE_STORE_ACCESS)
    MPRV_STORE(PRV_M, 0)
    lwu a0, 0(s0)
    CHECK(a0, 0x1212)
    li s0, PG(8) + 0x10
    MPRV_LOAD(PRV_U, CAUSE_LOAD_ACCESS)
    /* MPRV does not apply to fetches: M still runs its own code */

    /* ------------------------------------------------------------------ */
    GROUP("page-table walk")
    /* Sv39 root table at PG(12): entry 2 = 1 GiB identity leaf at RAM (S, RWX, A, D) */
    PMP_BASE 1
    li t0, PG(12)
    li t1, 512
1:  sd zero, 0(t0)
    addi t0, t0, 8
    addi t1, t1, -1
    bnez t1, 1b
    li t0, PG(12) + 2 * 8
    li t1, (RAM >> 12 << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
    sd t1, 0(t0)
    POKE PG(11), 0x5a5a
    li t0, (8 << 60) | (PG(12) >> 12)
    csrw satp, t0
    sfence.vma
    li s0, PG(11)
    MPRV_LOAD(PRV_S, 0)
    CHECK(a0, 0x5a5a)
    /* the page table is not readable by S: every walk ends in an access fault */
    PMP_SET 12, PMP_NAPOT | PMP_X, NAPOT(PG(12), 0x1000)
    MPRV_LOAD(PRV_S, CAUSE_LOAD_ACCESS)
    li a1, 0x6b6b
    MPRV_STORE(PRV_S, CAUSE_STORE_ACCESS)
    RUN_IN PRV_S, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_FETCH_ACCESS)
    CHECK_TRAP_EPC(1b)
    CHECK_TRAP_TVAL_LA(1b)
    /* readable (not writable) is enough when A and D are already set */
    PMP_SET 12, PMP_NAPOT | PMP_R, NAPOT(PG(12), 0x1000)
    li a0, 0
    MPRV_LOAD(PRV_S, 0)
    CHECK(a0, 0x5a5a)
    li a1, 0x6c6c
    MPRV_STORE(PRV_S, 0)
    lwu a0, 0(s0)
    CHECK(a0, 0x6c6c)
    RUN_IN PRV_S, 1f, 2f
1:  ecall
2:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_TRAP_EPC(1b)
    csrw satp, zero
    sfence.vma

    /* ------------------------------------------------------------------ */
    GROUP("locked entries")
    /* entry 13 = locked NAPOT page 13, R only; entry 11 = locked TOR [PG(15), PG(16)), R
     * only, with entry 10 (OFF) as its bottom. They now apply to M as well. */
    PMP_BASE 1
    POKE PG(15), 0x150
    li t0, NAPOT(PG(13), 0x1000)
    csrw pmpaddr13, t0
    li t0, PG(15) >> 2
    csrw pmpaddr10, t0
    li t0, PG(16) >> 2
    csrw pmpaddr11, t0
    li t0, CFG(11, PMP_L | PMP_TOR | PMP_R) | CFG(13, PMP_L | PMP_NAPOT | PMP_R) | CFG(15, PMP_NAPOT | PMP_RWX)
    csrw pmpcfg2, t0
    PMP_SYNC
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f00990089000000)
    li s0, PG(13)
    LOAD_OK(PRV_M)
    CHECK(a0, INSN_ECALL)
    li a1, 0x1313
    STORE_FAULT(PRV_M)
    FETCH_FAULT(PRV_M)
    li s0, PG(13) + 0xffc
    STORE_FAULT(PRV_M)
    li s0, PG(15)
    LOAD_OK(PRV_M)
    CHECK(a0, 0x150)
    STORE_FAULT(PRV_M)
    li s0, PG(16) - 4
    STORE_FAULT(PRV_M)
    li s0, PG(15) - 4                     /* just outside both: M is not restricted */
    STORE_OK(PRV_M)
    li s0, PG(16)
    STORE_OK(PRV_M)
    li s0, PG(14)
    STORE_OK(PRV_M)
    /* writes to locked pmpcfg bytes are ignored; the other bytes change */
    li t0, CFG(10, PMP_R) | CFG(11, PMP_NAPOT | PMP_RWX) | CFG(12, PMP_NA4 | PMP_R) | CFG(13, PMP_TOR | PMP_RWX) | CFG(15, PMP_NAPOT | PMP_RWX)
    csrw pmpcfg2, t0
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f00991189010000)
    li t0, CFG(11, PMP_L | PMP_R) | CFG(13, PMP_L | PMP_R)
    csrc pmpcfg2, t0
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f00991189010000)
    li t0, CFG(12, 0xff)
    csrc pmpcfg2, t0
    csrr a0, pmpcfg2
    CHECK(a0, 0x1f00990089010000)
    /* locked entries' pmpaddr registers ignore writes, and so does the one below a locked
     * TOR entry; pmpaddr12 (below a locked NAPOT entry) and pmpaddr14 stay writable */
    li t0, 0x1234
    csrw pmpaddr13, t0
    csrr a0, pmpaddr13
    CHECK(a0, NAPOT(PG(13), 0x1000))
    csrw pmpaddr11, t0
    csrr a0, pmpaddr11
    CHECK(a0, PG(16) >> 2)
    csrw pmpaddr10, t0
    csrr a0, pmpaddr10
    CHECK(a0, PG(15) >> 2)
    csrw pmpaddr12, t0
    csrr a0, pmpaddr12
    CHECK(a0, 0x1234)
    csrw pmpaddr14, t0
    csrr a0, pmpaddr14
    CHECK(a0, 0x1234)
    /* still enforced, for M and for S */
    PMP_SYNC
    li s0, PG(13)
    STORE_FAULT(PRV_M)
    STORE_FAULT(PRV_S)
    LOAD_OK(PRV_S)
    CHECK(a0, INSN_ECALL)
    li s0, PG(15)
    STORE_FAULT(PRV_M)

    TESTS_DONE
