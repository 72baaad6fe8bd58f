; Memory workload: strided loads and stores over a 1 MiB buffer, a byte copy loop and a
; pointer chase through a shuffled ring.
%include "long64.inc"
bits 64
section .bss
align 64
buf: resb 1 << 20
ring: resq 65536
section .text
work:
    ; Build a ring: ring[i] = &ring[(i * 40503 + 1) & 0xffff] (full cycle: odd increment).
    xor ecx, ecx
.build:
    mov eax, ecx
    imul eax, eax, 40503
    inc eax
    and eax, 0xffff
    lea rdx, [ring + rax*8]
    mov [ring + rcx*8], rdx
    inc ecx
    cmp ecx, 65536
    jne .build
    mov r12, ITER / 4096
    xor r8, r8
    mov rsi, ring
.outer:
    ; stores then loads with a 72-byte stride
    xor ecx, ecx
    mov rdx, r12
.fill:
    mov [buf + rcx], rdx
    add rcx, 72
    cmp rcx, (1 << 20) - 8
    jb .fill
    xor ecx, ecx
.sum:
    add r8, [buf + rcx]
    add rcx, 72
    cmp rcx, (1 << 20) - 8
    jb .sum
    ; copy 4 KiB bytewise
    xor ecx, ecx
.copy:
    mov al, [buf + rcx]
    mov [buf + 8192 + rcx], al
    inc ecx
    cmp ecx, 4096
    jne .copy
    ; chase 4096 links
    mov ecx, 4096
.chase:
    mov rsi, [rsi]
    dec ecx
    jnz .chase
    add r8, rsi
    dec r12
    jnz .outer
    mov rax, r8
    ret
