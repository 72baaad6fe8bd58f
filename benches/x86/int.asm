; Integer workload: xorshift/multiply hashing, shifts, compares and data-dependent branches.
%include "long64.inc"
bits 64
work:
    mov rcx, ITER
    mov rax, 0x9E3779B97F4A7C15
    xor r8, r8
    xor r9, r9
.loop:
    mov rdx, rax
    shl rdx, 13
    xor rax, rdx
    mov rdx, rax
    shr rdx, 7
    xor rax, rdx
    mov rdx, rax
    shl rdx, 17
    xor rax, rdx
    imul r10, rax, 0x2545F491
    add r8, r10
    test al, 1
    jz .even
    rol r8, 5
    sub r9, rax
    jmp .next
.even:
    ror r9, 3
    adc r8, r9
.next:
    lea r11, [r8 + r9*4 + 7]
    xor r8, r11
    cmp r8, r9
    cmovb r11, rax
    add r9, r11
    dec rcx
    jnz .loop
    mov rax, r8
    add rax, r9
    ret
