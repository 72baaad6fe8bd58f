/* Start-up code, default trap handlers and print/exit routines shared by all test programs.
 * Built twice: normally (NS16550A UART + SiFive test finisher of the `virt` board) and with
 * -DHTIF (console and exit through the riscv-tests tohost/fromhost mailbox). */
#include "test.h"

    .section .text.init, "ax", @progbits
    .globl _start
_start:
    /* only hart 0 runs the test */
    csrr t0, mhartid
    bnez t0, __park
    la sp, __stack_top
    li gp, 0
    li tp, 0
    /* PMP entry 0: NAPOT over the whole address space, RWX, so S/U code can run. A platform
     * without PMP traps on the write: skip it. */
    la t0, 1f
    csrw mtvec, t0
    li t0, -1
    csrw pmpaddr0, t0
    li t0, 0x1f
    csrw pmpcfg0, t0
    .align 2
1:  la t0, __mtrap
    csrw mtvec, t0
    la t0, __trap_state
    csrw mscratch, t0
    csrw mie, zero
    csrw medeleg, zero
    csrw mideleg, zero
    csrw satp, zero
    /* FPU on (FS = Initial), fcsr = 0 */
    li t0, MSTATUS_FS
    csrc mstatus, t0
    li t0, MSTATUS_FS_INITIAL
    csrs mstatus, t0
    csrwi fcsr, 0
    /* clear .bss */
    la t0, __bss_start
    la t1, __bss_end
2:  bgeu t0, t1, 3f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 2b
3:  li a0, 0
    li a1, 0
    call main
    /* main returned: exit with its value (0 = pass) */
    bnez a0, 4f
    call __tests_done
4:  call __exit

__park:
    wfi
    j __park

    .text
/* ------------------------------------------------------------------------------------------ */
/* Default M-mode trap handler. Records the trap in __trap_state; if a resume address is armed
 * (EXPECT_TRAP / RUN_IN) it returns there in M-mode with MIE = 0 and MPRV = 0, otherwise the
 * trap is reported as unexpected and the test fails. t0-t2 are preserved. */
    .align 2
    .globl __mtrap
__mtrap:
    csrrw t0, mscratch, t0
    sd t1, TS_T1(t0)
    sd t2, TS_T2(t0)
    csrr t1, mscratch
    sd t1, TS_T0(t0)
    csrw mscratch, t0
    csrr t1, mcause
    sd t1, TS_CAUSE(t0)
    csrr t1, mepc
    sd t1, TS_EPC(t0)
    csrr t1, mtval
    sd t1, TS_TVAL(t0)
    csrr t1, mstatus
    sd t1, TS_STATUS(t0)
    srli t2, t1, 11
    andi t2, t2, 3
    sd t2, TS_PRV(t0)
    ld t2, TS_COUNT(t0)
    addi t2, t2, 1
    sd t2, TS_COUNT(t0)
    ld t2, TS_RESUME(t0)
    beqz t2, __unexpected_trap
    sd zero, TS_RESUME(t0)
    csrw mepc, t2
    li t2, MSTATUS_MPP
    csrs mstatus, t2
    li t2, MSTATUS_MPRV | MSTATUS_MPIE
    csrc mstatus, t2
    ld t2, TS_T2(t0)
    ld t1, TS_T1(t0)
    ld t0, TS_T0(t0)
    mret

__unexpected_trap:
    la sp, __trap_stack_top
    la a0, .Lstr_trap1
    call __puts
    call __put_group
    la a0, .Lstr_mcause
    call __puts
    csrr a0, mcause
    call __puthex
    la a0, .Lstr_mepc
    call __puts
    csrr a0, mepc
    call __puthex
    la a0, .Lstr_mtval
    call __puts
    csrr a0, mtval
    call __puthex
    li a0, '\n'
    call __putc
    j __fail_exit

/* ------------------------------------------------------------------------------------------ */
/* Default S-mode trap handler (install with stvec = __strap). Records scause/sepc/stval/SPP in
 * __strap_state. If __strap_state.resume is set, returns there in S-mode with SIE = 0;
 * otherwise hands control to M-mode with an ecall (the M handler then resumes as armed). */
    .align 2
    .globl __strap
__strap:
    csrrw t0, sscratch, t0
    la t0, __strap_state
    sd t1, TS_T1(t0)
    sd t2, TS_T2(t0)
    csrr t1, sscratch
    sd t1, TS_T0(t0)
    csrr t1, scause
    sd t1, TS_CAUSE(t0)
    csrr t1, sepc
    sd t1, TS_EPC(t0)
    csrr t1, stval
    sd t1, TS_TVAL(t0)
    csrr t1, sstatus
    sd t1, TS_STATUS(t0)
    srli t2, t1, 8
    andi t2, t2, 1
    sd t2, TS_PRV(t0)
    ld t2, TS_COUNT(t0)
    addi t2, t2, 1
    sd t2, TS_COUNT(t0)
    ld t2, TS_RESUME(t0)
    beqz t2, 1f
    sd zero, TS_RESUME(t0)
    csrw sepc, t2
    li t2, MSTATUS_SPP
    csrs sstatus, t2
    li t2, MSTATUS_SPIE
    csrc sstatus, t2
    ld t2, TS_T2(t0)
    ld t1, TS_T1(t0)
    ld t0, TS_T0(t0)
    sret
1:  ld t2, TS_T2(t0)
    ld t1, TS_T1(t0)
    ld t0, TS_T0(t0)
    ecall

/* ------------------------------------------------------------------------------------------ */
/* Groups and checks */
    .globl __group_begin
__group_begin:             /* a0 = name */
    addi sp, sp, -16
    sd ra, 0(sp)
    sd a0, 8(sp)
    call __group_end
    ld a0, 8(sp)
    la t0, __cur_group
    sd a0, 8(t0)
    ld t1, 0(t0)
    addi t1, t1, 1
    sd t1, 0(t0)
    li gp, 0
    ld ra, 0(sp)
    addi sp, sp, 16
    ret

__group_end:               /* prints "ok N - name (K checks)" for the open group */
    la t0, __cur_group
    ld t1, 8(t0)
    beqz t1, 1f
    addi sp, sp, -16
    sd ra, 0(sp)
    la a0, .Lstr_ok
    call __puts
    call __put_group
    la a0, .Lstr_open
    call __puts
    mv a0, gp
    call __putdec
    la a0, .Lstr_checks
    call __puts
    la t0, __cur_group
    sd zero, 8(t0)
    ld ra, 0(sp)
    addi sp, sp, 16
1:  ret

__put_group:               /* prints "N - name" */
    addi sp, sp, -16
    sd ra, 0(sp)
    la t0, __cur_group
    ld a0, 0(t0)
    call __putdec
    la a0, .Lstr_dash
    call __puts
    la t0, __cur_group
    ld a0, 8(t0)
    bnez a0, 1f
    la a0, .Lstr_none
1:  call __puts
    ld ra, 0(sp)
    addi sp, sp, 16
    ret

    .globl __tests_done
__tests_done:
    call __group_end
    la a0, .Lstr_pass
    call __puts
    li a0, 0
    call __exit

    .globl __check_fail
__check_fail:              /* t4 = source line, t5 = got, t6 = expected */
    la sp, __trap_stack_top
    mv s2, t4
    mv s3, t5
    mv s4, t6
    mv s5, gp
    la a0, .Lstr_fail
    call __puts
    call __put_group
    la a0, .Lstr_check
    call __puts
    addi a0, s5, 1
    call __putdec
    la a0, .Lstr_line
    call __puts
    mv a0, s2
    call __putdec
    la a0, .Lstr_expected
    call __puts
    mv a0, s4
    call __puthex
    la a0, .Lstr_got
    call __puts
    mv a0, s3
    call __puthex
    li a0, '\n'
    call __putc
__fail_exit:
    la t0, __cur_group
    ld a0, 0(t0)
    andi a0, a0, 0xff
    bnez a0, 1f
    li a0, 0xff
1:  call __exit

/* ------------------------------------------------------------------------------------------ */
/* Output. __putc clobbers t0-t2; __puts a0, a1, t0-t2; __puthex/__putdec a0-a3, t0-t2. */
    .globl __putc
__putc:
#ifdef HTIF
    la t0, tohost
    li t1, (1 << 56) | (1 << 48)
    andi t2, a0, 0xff
    or t1, t1, t2
    sd t1, 0(t0)
    /* the host clears tohost once it has consumed the request; bounded wait */
    li t2, 100000
1:  ld t1, 0(t0)
    beqz t1, 2f
    addi t2, t2, -1
    bnez t2, 1b
2:  la t0, fromhost
    sd zero, 0(t0)
    ret
#else
    li t0, UART_BASE
1:  lbu t1, 5(t0)
    andi t1, t1, 0x20
    beqz t1, 1b
    sb a0, 0(t0)
    ret
#endif

    .globl __puts
__puts:
    addi sp, sp, -16
    sd ra, 0(sp)
    mv a1, a0
1:  lbu a0, 0(a1)
    beqz a0, 2f
    call __putc
    addi a1, a1, 1
    j 1b
2:  ld ra, 0(sp)
    addi sp, sp, 16
    ret

    .globl __puthex
__puthex:                  /* "0x" + 16 hex digits */
    addi sp, sp, -16
    sd ra, 0(sp)
    mv a2, a0
    li a0, '0'
    call __putc
    li a0, 'x'
    call __putc
    li a3, 60
1:  srl a0, a2, a3
    andi a0, a0, 15
    li t0, 10
    blt a0, t0, 2f
    addi a0, a0, 'a' - '0' - 10
2:  addi a0, a0, '0'
    call __putc
    addi a3, a3, -4
    bgez a3, 1b
    ld ra, 0(sp)
    addi sp, sp, 16
    ret

    .globl __putdec
__putdec:                  /* unsigned decimal */
    addi sp, sp, -48
    sd ra, 0(sp)
    addi a2, sp, 47
    sb zero, 0(a2)
    li a3, 10
1:  remu t0, a0, a3
    divu a0, a0, a3
    addi t0, t0, '0'
    addi a2, a2, -1
    sb t0, 0(a2)
    bnez a0, 1b
    mv a0, a2
    call __puts
    ld ra, 0(sp)
    addi sp, sp, 48
    ret

/* ------------------------------------------------------------------------------------------ */
    .globl __exit
__exit:                    /* a0 = status; never returns */
#ifdef HTIF
    slli a0, a0, 1
    ori a0, a0, 1
    la t0, tohost
    sd a0, 0(t0)
#else
    li t0, FINISHER_BASE
    li t1, 0x5555
    beqz a0, 1f
    slli t1, a0, 16
    li t2, 0x3333
    or t1, t1, t2
1:  sw t1, 0(t0)
#endif
2:  wfi
    j 2b

/* ------------------------------------------------------------------------------------------ */
    .section .rodata.crt, "a"
.Lstr_ok:       .asciz "ok "
.Lstr_dash:     .asciz " - "
.Lstr_none:     .asciz "(no group)"
.Lstr_open:     .asciz " ("
.Lstr_checks:   .asciz " checks)\n"
.Lstr_pass:     .asciz "PASS\n"
.Lstr_fail:     .asciz "FAIL "
.Lstr_check:    .asciz ": check "
.Lstr_line:     .asciz " (line "
.Lstr_expected: .asciz "): expected "
.Lstr_got:      .asciz " got "
.Lstr_trap1:    .asciz "UNEXPECTED TRAP in "
.Lstr_mcause:   .asciz ": mcause="
.Lstr_mepc:     .asciz " mepc="
.Lstr_mtval:    .asciz " mtval="

    .data
    .align 3
    .globl __cur_group
__cur_group:    .dword 0, 0          /* number, name */

    .bss
    .align 4
    .globl __trap_state, __strap_state
__trap_state:   .space TS_SIZE
__strap_state:  .space TS_SIZE

#ifdef HTIF
    .section .tohost, "aw", @progbits
    .align 6
    .globl tohost
    .type tohost, @object
    .size tohost, 8
tohost: .dword 0
    .align 6
    .globl fromhost
    .type fromhost, @object
    .size fromhost, 8
fromhost: .dword 0
#endif
