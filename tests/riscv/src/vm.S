/* Virtual memory: built three times, -DSV=39 / 48 / 57 (vm_sv39.elf, vm_sv48.elf, vm_sv57.elf).
 * Page walks at every level (4 KiB, 2 MiB, 1 GiB, 512 GiB for Sv48+, 256 TiB for Sv57),
 * misaligned superpages, load/store/fetch page faults (causes 13/15/12, tval = VA),
 * U bit vs SUM, MXR, hardware A/D updates, invalid PTE encodings, sfence.vma after PTE
 * changes, non-canonical VAs, page-crossing accesses and fetches, delegated page faults.
 * Test code runs in S (identity map) or U (an alias of the program with U = 1); checks run in
 * M-mode after the S/U code traps back. */
#include "test.h"

#ifndef SV
#error "build with -DSV=39, 48 or 57"
#endif
#if SV == 39
#define SATP_MODE 8
#define LEVELS 3
#elif SV == 48
#define SATP_MODE 9
#define LEVELS 4
#elif SV == 57
#define SATP_MODE 10
#define LEVELS 5
#else
#error "bad SV"
#endif

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define RWXAD (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define RWAD  (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define RAD   (PTE_V | PTE_R | PTE_A)
#define XAD   (PTE_V | PTE_X | PTE_A)

#define RAM      0x80000000
#define DATA     0x84000000              /* physical test pages (well clear of the program) */
#define UALIAS   0x100000000             /* program alias with U = 1 (1 GiB page) */
#define VA_4K    0x140000000
#define VA_2M    0x180000000
#define VA_1G    0x40000000
#define VA_1GBAD 0xc0000000              /* for a misaligned 1 GiB leaf */
#define VA_TOP   0xfffffffffffff000      /* highest page (sign-extended VA) */
#define NONCANON (1 << (SV - 1))         /* bit VA_BITS-1 set, upper bits clear */


/* map(va, pa, level, flags) -> a0 = PTE address */
.macro MAP va, pa, level, flags
    li a0, \va
    li a1, \pa
    li a2, \level
    li a3, \flags
    call map
.endm
/* a0 = PTE address of va at level (tables created as needed) */
.macro PTE_OF va, level
    li a0, \va
    li a1, \level
    call pt_walk
.endm
/* run `entry` in U through the alias */
.macro RUN_U entry, resume
    EXPECT_TRAP \resume
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    la t6, \entry
    li t5, UALIAS - RAM
    add t6, t6, t5
    csrw mepc, t6
    mret
.endm
/* store a 64-bit marker at a physical address */
.macro POKE pa, value
    li t0, \pa
    li t1, \value
    sd t1, 0(t0)
.endm
#define CHECK_PTE(va, level, exp) PTE_OF va, level; ld t5, 0(a0); CHECK_ t5, exp, __LINE__
#define FLUSH sfence.vma

    .text
    .globl main
main:
    /* ------------------------------------------------------------------ */
    GROUP("satp")
    li t0, (SATP_MODE << 60) | 0x12345
    csrw satp, t0
    csrr a0, satp
    srli a1, a0, 60
    CHECK(a1, SATP_MODE)
    li t1, 0xfffffffffff                  /* PPN field */
    and a1, a0, t1
    CHECK(a1, 0x12345)
    li t0, (8 << 60) | 0x12345            /* Sv39 is always supported with Sv48/57 */
    csrw satp, t0
    csrr a0, satp
    srli a1, a0, 60
    CHECK(a1, 8)
    csrw satp, zero
    li t0, (11 << 60) | 0x5555            /* Sv64: not supported, write ignored */
    csrw satp, t0
    csrr a0, satp
    CHECK(a0, 0)
    li t0, (3 << 60) | 0x5555             /* reserved mode: write ignored */
    csrw satp, t0
    csrr a0, satp
    CHECK(a0, 0)

    /* build the page tables: identity gigapage for the program (S), U alias */
    call pt_init
    MAP RAM, RAM, 2, RWXAD
    MAP UALIAS, RAM, 2, RWXAD | PTE_U
    call paging_on

    /* ------------------------------------------------------------------ */
    GROUP("page sizes")
    POKE DATA, 0x1111
    POKE DATA + 0x1008, 0x2222
    POKE DATA + 0x200000 + 0x1ff8, 0x3333
    MAP VA_4K, DATA, 0, RWAD
    MAP VA_4K + 0x1000, DATA + 0x1000, 0, RWAD
    MAP VA_4K + 0x5000, DATA, 0, RAD                       /* second alias of the same page */
    MAP VA_2M, DATA + 0x200000, 1, RWAD
    MAP VA_1G, RAM, 2, RWAD
    MAP VA_TOP, DATA + 0x1000, 0, RWAD
#if LEVELS >= 4
    MAP 0x8000000000, 0, 3, RWAD                           /* 512 GiB page -> PA 0 */
#endif
#if LEVELS >= 5
    MAP 0x1000000000000, 0, 4, RWAD                        /* 256 TiB page -> PA 0 */
#endif
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K
    ld a0, 0(t0)
    li t1, VA_4K + 0x1000
    ld a1, 8(t1)
    li t0, VA_4K + 0x5000
    ld a2, 0(t0)
    li t0, VA_2M + 0x1ff8
    ld a3, 0(t0)
    li t0, VA_1G
    la t1, marker
    li t2, RAM
    sub t1, t1, t2
    add t0, t0, t1
    ld a4, 0(t0)                          /* marker through the 1 GiB page */
    li t0, VA_TOP
    ld a5, 8(t0)
    li t1, 0x4444
    li t2, -8
    sd t1, 0(t2)                          /* store at the very top of the address space */
#if LEVELS >= 4
    li t0, 0x8000000000
    la t1, marker
    add t0, t0, t1
    ld a6, 0(t0)
#else
    li a6, 0x600d
#endif
#if LEVELS >= 5
    li t0, 0x1000000000000
    la t1, marker
    add t0, t0, t1
    ld a7, 0(t0)
#else
    li a7, 0x600d
#endif
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0x1111)
    CHECK(a1, 0x2222)
    CHECK(a2, 0x1111)
    CHECK(a3, 0x3333)
    CHECK(a4, 0x600d)
    CHECK(a5, 0x2222)
    CHECK(a6, 0x600d)
    CHECK(a7, 0x600d)
    li t0, DATA + 0x1ff8
    ld a0, 0(t0)
    CHECK(a0, 0x4444)
    /* code runs through a 4 KiB mapping too: map the page of vm_func at VA_4K + 0x8000 */
    la a1, vm_func
    li t0, ~0xfff
    and a1, a1, t0
    li a0, VA_4K + 0x8000
    li a2, 0
    li a3, PTE_V | PTE_R | PTE_X | PTE_A
    call map
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  la t0, vm_func
    slli t0, t0, 52
    srli t0, t0, 52
    li t1, VA_4K + 0x8000
    add t0, t0, t1
    jalr ra, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0x5151)

    /* ------------------------------------------------------------------ */
    GROUP("page faults")
    /* unmapped: load 13, store 15, fetch 12, tval = the VA */
    .macro FAULT_ cause, tval, line
    CHECK_TRAP_ \cause, \line
    TRAP_FIELD t5, TS_TVAL
    CHECK_ t5, \tval, \line
    .endm
#define FAULT(cause, tval) FAULT_ cause, tval, __LINE__
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
    ld a0, 0x10(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x3010)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
    sw a0, 0x24(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x3024)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_FETCH_PAGE, VA_4K + 0x3000)
    TRAP_FIELD t5, TS_EPC
    CHECK(t5, VA_4K + 0x3000)
    /* store to a read-only page: 15; AMO: 15; LR from an unmapped page: 13 */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x5000
    ld a0, 0(t0)                          /* readable */
    sd a0, 8(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x5008)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x5000
    amoadd.d a0, a0, (t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x5000)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
    lr.d a0, (t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x3000)
    /* (sc.d without a reservation to an unmapped page: QEMU fails it without a page fault;
     * whether a failing SC checks translation is not pinned down, so it is not tested) */
    /* fetch from a readable, non-executable page */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x1000
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_FETCH_PAGE, VA_4K + 0x1000)
    /* mepc of a faulting load is the load itself */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
2:  lb a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP_EPC(2b)

    /* ------------------------------------------------------------------ */
    GROUP("page-crossing accesses")
    /* a misaligned access whose second half is on an unmapped page faults (nothing is
     * written); one that spans two mapped pages works */
    POKE DATA + 0xff8, 0x8877665544332211
    POKE DATA + 0x1000, 0x00ffeeddccbbaa99
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0xffc
    ld a0, 0(t0)                          /* VA_4K and VA_4K + 0x1000 are both mapped */
    li t1, 0x0102030405060708
    sd t1, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xccbbaa9988776655)
    li t0, DATA + 0xff8
    ld a0, 0(t0)
    CHECK(a0, 0x0506070844332211)
    ld a0, 8(t0)
    CHECK(a0, 0x00ffeedd01020304)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x1ffc                 /* VA_4K + 0x2000 is not mapped yet */
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP(CAUSE_LOAD_PAGE)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x1ffe
    sw a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP(CAUSE_STORE_PAGE)
    /* a 32-bit instruction straddling into an unmapped page: epc = its start, tval = the
     * start of the unmapped page */
    la a1, straddle_page
    li a0, VA_4K + 0x9000
    li a2, 0
    li a3, XAD
    call map
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x9000 + 0xff8
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP(CAUSE_FETCH_PAGE)
    CHECK_TRAP_TVAL(VA_4K + 0xa000)
    TRAP_FIELD a0, TS_EPC
    CHECK(a0, VA_4K + 0x9ffe)

    /* ------------------------------------------------------------------ */
    GROUP("U bit and SUM")
    POKE DATA + 0x2000, 0x7777
    MAP VA_4K + 0x2000, DATA + 0x2000, 0, RWAD | PTE_U     /* U data page */
    la a1, vm_func
    li t0, ~0xfff
    and a1, a1, t0
    li a0, VA_4K + 0x7000                                  /* U code page */
    li a2, 0
    li a3, PTE_V | PTE_R | PTE_X | PTE_A | PTE_U
    call map
    FLUSH
    li t0, MSTATUS_SUM
    csrc mstatus, t0
    RUN_IN PRV_S, 1f, 9f                  /* S load from a U page, SUM = 0 */
1:  li t0, VA_4K + 0x2000
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x2000)
    RUN_IN PRV_S, 1f, 9f                  /* S store to a U page, SUM = 0 */
1:  li t0, VA_4K + 0x2000
    sd a0, 8(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x2008)
    li t0, MSTATUS_SUM
    csrs mstatus, t0
    RUN_IN PRV_S, 1f, 9f                  /* SUM = 1: allowed */
1:  li t0, VA_4K + 0x2000
    ld a0, 0(t0)
    sd a0, 8(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0x7777)
    RUN_IN PRV_S, 1f, 9f                  /* S never executes U pages, even with SUM = 1 */
1:  la t0, vm_func
    slli t0, t0, 52
    srli t0, t0, 52
    li t1, VA_4K + 0x7000
    add t0, t0, t1
    jalr ra, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_FETCH_PAGE)
    li t0, MSTATUS_SUM
    csrc mstatus, t0
    /* U-mode: runs from the U alias; U pages accessible, S pages not */
    RUN_U 1f, 9f
1:  li t0, VA_4K + 0x2000
    ld a0, 8(t0)
    li t1, 0x8888
    sd t1, 16(t0)
    la t0, vm_func                        /* U code page */
    slli t0, t0, 52
    srli t0, t0, 52
    li t1, VA_4K + 0x7000
    add t0, t0, t1
    jalr ra, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK(a0, 0x5151)
    li t0, DATA + 0x2010
    ld a1, 0(t0)
    CHECK(a1, 0x8888)
    RUN_U 1f, 9f
1:  li t0, VA_4K
    ld a0, 0(t0)                          /* S page */
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K)
    CHECK_TRAP_PRV(PRV_U)
    RUN_U 1f, 9f
1:  li t0, VA_4K
    sd a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K)
    RUN_U 1f, 9f
1:  li t0, RAM                            /* the identity map is S-only */
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_FETCH_PAGE, RAM)
    li t0, MSTATUS_SUM                    /* SUM does not matter for U */
    csrs mstatus, t0
    RUN_U 1f, 9f
1:  li t0, VA_4K
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K)
    li t0, MSTATUS_SUM
    csrc mstatus, t0

    /* ------------------------------------------------------------------ */
    GROUP("MXR")
    POKE DATA + 0x4000, 0x9999
    MAP VA_4K + 0x4000, DATA + 0x4000, 0, XAD              /* execute-only */
    MAP VA_4K + 0x6000, DATA + 0x4000, 0, XAD | PTE_U      /* execute-only, U */
    FLUSH
    li t0, MSTATUS_MXR
    csrc mstatus, t0
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x4000
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x4000)
    li t0, MSTATUS_MXR
    csrs mstatus, t0
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x4000
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0x9999)
    RUN_IN PRV_S, 1f, 9f                  /* MXR does not make it writable */
1:  li t0, VA_4K + 0x4000
    sd a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x4000)
    RUN_U 1f, 9f                          /* MXR applies to U as well */
1:  li t0, VA_4K + 0x6000
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_U)
    CHECK(a0, 0x9999)
    li t0, MSTATUS_MXR
    csrc mstatus, t0
    RUN_U 1f, 9f
1:  li t0, VA_4K + 0x6000
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x6000)

    /* ------------------------------------------------------------------ */
    GROUP("A/D bits")
    /* the hardware sets A on any access and D on a store; non-leaf PTEs are untouched */
    MAP VA_4K + 0x10000, DATA + 0x10000, 0, PTE_V | PTE_R | PTE_W
    MAP VA_4K + 0x11000, DATA + 0x11000, 0, PTE_V | PTE_R | PTE_W
    MAP VA_4K + 0x12000, DATA + 0x12000, 0, PTE_V | PTE_R | PTE_W | PTE_A
    la a1, vm_func
    li t0, ~0xfff
    and a1, a1, t0
    li a0, VA_4K + 0x13000
    li a2, 0
    li a3, PTE_V | PTE_X
    call map
    mv s8, a1
    MAP VA_2M + 0x400000, DATA + 0x400000, 1, PTE_V | PTE_R | PTE_W
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x10000
    ld a0, 0(t0)                          /* load: A */
    li t0, VA_4K + 0x11000
    sd a0, 0(t0)                          /* store: A and D */
    li t0, VA_4K + 0x12000
    ld a0, 0(t0)
    sd a0, 8(t0)                          /* A already set: D */
    la t0, vm_func
    slli t0, t0, 52
    srli t0, t0, 52
    li t1, VA_4K + 0x13000
    add t0, t0, t1
    jalr ra, 0(t0)                        /* fetch: A */
    li t0, VA_2M + 0x400000 + 0x1234
    sb a0, 0(t0)                          /* superpage leaf */
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_PTE(VA_4K + 0x10000, 0, ((DATA + 0x10000) >> 2) | PTE_V | PTE_R | PTE_W | PTE_A)
    CHECK_PTE(VA_4K + 0x11000, 0, ((DATA + 0x11000) >> 2) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
    CHECK_PTE(VA_4K + 0x12000, 0, ((DATA + 0x12000) >> 2) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
    PTE_OF VA_4K + 0x13000, 0
    ld a0, 0(a0)
    srli a1, s8, 2
    ori a1, a1, PTE_V | PTE_X | PTE_A
    CHECKR(a0, a1)
    CHECK_PTE(VA_2M + 0x400000, 1, ((DATA + 0x400000) >> 2) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
    PTE_OF VA_4K + 0x10000, 1             /* the non-leaf PTE above: V only */
    ld a0, 0(a0)
    andi a0, a0, 0x3ff
    CHECK(a0, PTE_V)
    /* a faulting access does not set A (no permission) */
    MAP VA_4K + 0x14000, DATA + 0x14000, 0, PTE_V | PTE_R
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x14000
    sd a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, VA_4K + 0x14000)
    CHECK_PTE(VA_4K + 0x14000, 0, ((DATA + 0x14000) >> 2) | PTE_V | PTE_R)
    /* a load then a store through the same (cached) translation still sets D */
    MAP VA_4K + 0x15000, DATA + 0x15000, 0, PTE_V | PTE_R | PTE_W
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x15000
    ld a0, 0(t0)
    ld a0, 8(t0)
    sd a0, 16(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_PTE(VA_4K + 0x15000, 0, ((DATA + 0x15000) >> 2) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

    /* ------------------------------------------------------------------ */
    GROUP("invalid PTEs")
    MAP VA_4K + 0x20000, DATA, 0, PTE_V | PTE_W | PTE_A | PTE_D            /* W without R */
    MAP VA_4K + 0x21000, DATA, 0, PTE_V | PTE_W | PTE_X | PTE_A | PTE_D    /* WX without R */
    MAP VA_4K + 0x22000, DATA, 0, PTE_R | PTE_W | PTE_A | PTE_D            /* V = 0 */
    MAP VA_4K + 0x23000, DATA, 0, PTE_V                                    /* pointer at level 0 */
    MAP VA_2M + 0x800000, DATA + 0x1000, 1, RWXAD                          /* misaligned 2M */
    MAP VA_1GBAD, RAM + 0x200000, 2, RWXAD                                 /* misaligned 1G */
    FLUSH
    .macro BADPTE_ va, line
    RUN_IN PRV_S, 1f, 9f
1:  li t0, \va
    ld a0, 8(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT_ CAUSE_LOAD_PAGE, \va + 8, \line
    RUN_IN PRV_S, 1f, 9f
1:  li t0, \va
    sd a0, 16(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT_ CAUSE_STORE_PAGE, \va + 16, \line
    RUN_IN PRV_S, 1f, 9f
1:  li t0, \va
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  FAULT_ CAUSE_FETCH_PAGE, \va, \line
    .endm
#define BADPTE(va) BADPTE_ (va), __LINE__
    BADPTE(VA_4K + 0x20000)
    BADPTE(VA_4K + 0x21000)
    BADPTE(VA_4K + 0x22000)
    BADPTE(VA_4K + 0x23000)
    BADPTE(VA_2M + 0x800000)
    BADPTE(VA_1GBAD)

    /* ------------------------------------------------------------------ */
    GROUP("sfence.vma")
    POKE DATA + 0x30000, 0xaaaa
    POKE DATA + 0x31000, 0xbbbb
    MAP VA_4K + 0x30000, DATA + 0x30000, 0, RWAD
    FLUSH
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xaaaa)
    MAP VA_4K + 0x30000, DATA + 0x31000, 0, RWAD           /* remap */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    sfence.vma                            /* global flush from S */
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xbbbb)
    MAP VA_4K + 0x30000, DATA + 0x30000, 0, RWAD           /* back again */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    sfence.vma t0, zero                   /* flush one address */
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xaaaa)
    MAP VA_4K + 0x30000, DATA + 0x30000, 0, 0              /* unmap */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    sfence.vma t0, zero
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, VA_4K + 0x30000)
    MAP VA_4K + 0x30000, DATA + 0x31000, 0, RWAD           /* invalid -> valid */
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    sfence.vma zero, zero
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xbbbb)
    /* remap from M-mode with an M-mode sfence.vma */
    MAP VA_4K + 0x30000, DATA + 0x30000, 0, RWAD
    sfence.vma
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    ld a0, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xaaaa)
    /* switching satp to a second root (identity map + VA_4K+0x30000 -> the other page) */
    la t0, pt_root_ptr
    ld s9, 0(t0)                          /* current root */
    call pt_alloc
    la t0, pt_root_ptr
    sd a0, 0(t0)
    mv s10, a0
    MAP RAM, RAM, 2, RWXAD
    MAP VA_4K + 0x30000, DATA + 0x31000, 0, RWAD
    la t0, pt_root_ptr
    sd s9, 0(t0)
    li t0, SATP_MODE << 60
    srli t1, s10, 12
    or s10, t0, t1
    srli t1, s9, 12
    or s9, t0, t1
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x30000
    csrw satp, s10
    sfence.vma
    ld a0, 0(t0)
    csrw satp, s9
    sfence.vma
    ld a1, 0(t0)
    ecall
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK(a0, 0xbbbb)
    CHECK(a1, 0xaaaa)
    csrr a0, satp
    CHECKR(a0, s9)

    /* ------------------------------------------------------------------ */
    GROUP("non-canonical VAs")
    RUN_IN PRV_S, 1f, 9f
1:  li t0, NONCANON
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, NONCANON)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, NONCANON + 0x1008
    sd a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_STORE_PAGE, NONCANON + 0x1008)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, NONCANON
    jalr t0
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_FETCH_PAGE, NONCANON)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, 0x8000000000000000 | VA_4K     /* upper bits set, bit VA_BITS-1 clear */
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, 0x8000000000000000 | VA_4K)
    RUN_IN PRV_S, 1f, 9f
1:  li t0, (1 << SV) | VA_4K              /* the bit just above the VA */
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  FAULT(CAUSE_LOAD_PAGE, (1 << SV) | VA_4K)

    /* ------------------------------------------------------------------ */
    GROUP("delegated page faults")
    la t0, __strap
    csrw stvec, t0
    li t0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
    csrw medeleg, t0
    .irp c, CAUSE_LOAD_PAGE, CAUSE_STORE_PAGE, CAUSE_FETCH_PAGE
    STRAP_RESET
    RUN_IN PRV_S, 1f, 9f
1:  li t0, VA_4K + 0x3000
    .if \c == CAUSE_LOAD_PAGE
2:  lw a0, 4(t0)
    .elseif \c == CAUSE_STORE_PAGE
2:  sw a0, 4(t0)
    .else
    addi t0, t0, 4
2:  jalr t0
    .endif
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP(CAUSE_ECALL_S)             /* from the S handler */
    CHECK_STRAP(\c)
    CHECK_STRAP_TVAL(VA_4K + 0x3004)
    .if \c != CAUSE_FETCH_PAGE
    CHECK_STRAP_EPC(2b)
    .endif
    CHECK_STRAP_PRV(PRV_S)
    .endr
    STRAP_RESET                           /* from U */
    RUN_U 1f, 9f
1:  li t0, VA_4K
    ld a0, 0(t0)
    ecall                                 /* only reached if nothing trapped */
9:  CHECK_TRAP(CAUSE_ECALL_S)
    CHECK_STRAP(CAUSE_LOAD_PAGE)
    CHECK_STRAP_TVAL(VA_4K)
    CHECK_STRAP_PRV(PRV_U)
    csrw medeleg, zero

    csrw satp, zero
    sfence.vma
    TESTS_DONE

/* ---------------------------------------------------------------------------------------- */
/* page-table helpers (M-mode, physical) */
pt_init:
    la t0, pt_pool
    la t1, pt_next
    sd t0, 0(t1)
    addi sp, sp, -16
    sd ra, 0(sp)
    call pt_alloc
    la t0, pt_root_ptr
    sd a0, 0(t0)
    ld ra, 0(sp)
    addi sp, sp, 16
    ret

pt_alloc:                                 /* a0 = a zeroed page from the pool */
    la t0, pt_next
    ld a0, 0(t0)
    li t1, 4096
    add t1, a0, t1
    la t2, pt_pool_end
    bgeu t1, t2, pt_exhausted
    sd t1, 0(t0)
    mv t0, a0
1:  sd zero, 0(t0)
    addi t0, t0, 8
    bne t0, t1, 1b
    ret
pt_exhausted:
    la a0, pt_msg
    call __puts
    EXIT_WITH(0x7c)

pt_walk:                                  /* a0 = va, a1 = level -> a0 = PTE address */
    addi sp, sp, -32
    sd ra, 0(sp)
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    la t0, pt_root_ptr
    ld s0, 0(t0)                          /* table */
    li s1, LEVELS - 1                     /* level */
    mv s2, a0
1:  li t0, 9
    mul t0, s1, t0
    addi t0, t0, 12
    srl t1, s2, t0
    andi t1, t1, 0x1ff
    slli t1, t1, 3
    add t1, s0, t1                        /* PTE address */
    beq s1, a1, 3f
    ld t2, 0(t1)
    andi t3, t2, PTE_V
    bnez t3, 2f
    mv s0, t1                             /* allocate the next-level table */
    addi sp, sp, -16
    sd a1, 0(sp)
    call pt_alloc
    ld a1, 0(sp)
    addi sp, sp, 16
    srli t2, a0, 12
    slli t2, t2, 10
    ori t2, t2, PTE_V
    sd t2, 0(s0)
2:  srli t2, t2, 10
    slli s0, t2, 12
    addi s1, s1, -1
    j 1b
3:  mv a0, t1
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    addi sp, sp, 32
    ret

map:                                      /* a0 = va, a1 = pa, a2 = level, a3 = flags */
    addi sp, sp, -32
    sd ra, 0(sp)
    sd a1, 8(sp)
    sd a3, 16(sp)
    mv a1, a2
    call pt_walk
    ld a1, 8(sp)
    ld a3, 16(sp)
    srli t0, a1, 12
    slli t0, t0, 10
    or t0, t0, a3
    sd t0, 0(a0)
    ld ra, 0(sp)
    addi sp, sp, 32
    ret

paging_on:
    la t0, pt_root_ptr
    ld t0, 0(t0)
    srli t0, t0, 12
    li t1, SATP_MODE << 60
    or t0, t0, t1
    csrw satp, t0
    sfence.vma
    ret

/* code executed through other mappings: position independent, returns 0x5151 in a0 */
    .align 4
vm_func:
    li a0, 0x5151
    ret

/* straddle_page: a 32-bit instruction at offset 0xffe (after a c.nop at 0xffc) */
    .section .text.straddle, "ax", @progbits
    .balign 4096
straddle_page:
    .space 0xff8
    nop
    .option push
    .option rvc
    c.nop
    .option pop
    addi a0, a0, 1                        /* bytes 0xffe..0x1001 */
    ret

    .section .rodata
pt_msg: .asciz "FAIL: page-table pool exhausted\n"
    .align 3
marker: .dword 0x600d

    .data
    .align 3
pt_next:     .dword 0
pt_root_ptr: .dword 0

    .section .pages, "aw", @nobits
    .align 12
pt_pool:     .space 4096 * 48
pt_pool_end:
