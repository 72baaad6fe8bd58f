; SSE workload: single and double precision multiply-add over arrays, integer SIMD (paddd,
; pmulld, pshufb), conversions and a horizontal reduction.
%include "long64.inc"
bits 64
section .bss
align 16
fa: resd 1024
fb: resd 1024
da: resq 512
section .data
align 16
shuf: db 3,2,1,0, 7,6,5,4, 11,10,9,8, 15,14,13,12
inc4: dd 1.0, 2.0, 3.0, 4.0
scale: dd 0.999, 0.999, 0.999, 0.999
section .text
work:
    ; fa[i] = i, fb[i] = 1/(i+1), da[i] = i * 0.5
    xor ecx, ecx
.init:
    cvtsi2ss xmm0, ecx
    movss [fa + rcx*4], xmm0
    lea eax, [rcx + 1]
    cvtsi2ss xmm1, eax
    mov eax, 0x3f800000
    movd xmm2, eax
    divss xmm2, xmm1
    movss [fb + rcx*4], xmm2
    cvtsi2sd xmm3, ecx
    mov rax, 0x3fe0000000000000
    movq xmm4, rax
    mulsd xmm3, xmm4
    cmp ecx, 512
    jae .skipd
    movsd [da + rcx*8], xmm3
.skipd:
    inc ecx
    cmp ecx, 1024
    jne .init
    mov r12, ITER / 1024
    pxor xmm7, xmm7
    pxor xmm6, xmm6
    xorpd xmm5, xmm5
    movdqa xmm8, [shuf]
    movaps xmm9, [scale]
.outer:
    xor ecx, ecx
.vec:
    movaps xmm0, [fa + rcx*4]
    movaps xmm1, [fb + rcx*4]
    mulps xmm0, xmm1
    addps xmm7, xmm0
    mulps xmm7, xmm9
    movdqa xmm2, [fa + rcx*4]
    pshufb xmm2, xmm8
    paddd xmm6, xmm2
    pmulld xmm2, xmm2
    pxor xmm6, xmm2
    add ecx, 4
    cmp ecx, 1024
    jne .vec
    xor ecx, ecx
.dbl:
    movapd xmm3, [da + rcx*8]
    mulpd xmm3, xmm3
    addpd xmm5, xmm3
    sqrtpd xmm4, xmm5
    minpd xmm5, xmm4
    add ecx, 2
    cmp ecx, 512
    jne .dbl
    dec r12
    jnz .outer
    ; reduce: bits of the float sum, int lanes, double sum
    haddps xmm7, xmm7
    haddps xmm7, xmm7
    cvttss2si eax, xmm7
    movd edx, xmm6
    pshufd xmm6, xmm6, 0x4e
    movd r8d, xmm6
    xor edx, r8d
    cvttsd2si r9, xmm5
    shl rax, 32
    xor rax, rdx
    xor rax, r9
    ret
