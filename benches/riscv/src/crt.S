# Start-up code for the petrel CPU benchmarks (virt board, M-mode, hart 0, --bios none).
    .section .text.init, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    la      t0, trap
    csrw    mtvec, t0
    li      t0, 0x2000              # mstatus.FS = Initial: enable the FPU
    csrs    mstatus, t0
    csrwi   fcsr, 0
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    main
    call    bench_exit              # does not return

# Any trap is a bug: report it and fail.
    .align  4
trap:
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    la      sp, __stack_top
    call    bench_trap
1:  j       1b
