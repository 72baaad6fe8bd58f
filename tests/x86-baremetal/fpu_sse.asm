; fpu_sse - x87 and SSE..SSE4.2 with the exceptions around them: enabling (CR0.MP/EM/NE/TS,
; CR4.OSFXSR/OSXMMEXCPT), x87 arithmetic (raw 80/64-bit results, rounding and precision
; control, FSW flags, FCOMI/FUCOMI), SSE/SSE2 packed and scalar arithmetic with MXCSR rounding
; modes and flags, SSSE3/SSE4.1/SSE4.2 integer and string instructions (PSHUFB, PMULLD, PTEST,
; ROUNDSD, CRC32, PCMPISTRI, ...), #NM (CR0.TS, CR0.EM), #UD (CR0.EM, CR4.OSFXSR clear), #MF
; (CR0.NE), FXSAVE/FXRSTOR round trip, misaligned FXSAVE and MOVAPS (#GP).
; Built with -DWITH_QEMU_GAPS it also checks #XM (and #UD for it with CR4.OSXMMEXCPT clear),
; which QEMU 7.2 does not implement (not compared). -DLINUX_USER builds only the computing
; part (x87 arithmetic .. SSE4.2) as a Linux i386 executable to check it on the host CPU.
%define EXIT_CODE 0x27
%include "lib32.inc"
%include "exc32.inc"

absolute bss_free
        alignb 16
fxarea:         resb 512
fxarea2:        resb 512
tmp:            resb 64
        section .text

; SHOWQ "label", mem  - print a qword in memory (hi_lo).
%macro SHOWQ 2
        PRINT %1
        HEX 8, [%2 + 4]
        PRINT "_"
        HEX 8, [%2]
        PRINT 10
%endmacro

; SHOWT "label", mem  - print a tword (80-bit) in memory: sign/exponent_mantissa.
%macro SHOWT 2
        PRINT %1
        push eax
        movzx eax, word [%2 + 8]
        HEX 4, eax
        pop eax
        PRINT "_"
        HEX 8, [%2 + 4]
        HEX 8, [%2]
        PRINT 10
%endmacro

; SHOWX "label", xmmN  - print an xmm register as 4 dwords, high to low.
%macro SHOWX 2
        movdqu [tmp + 48], %2
        PRINT %1
        HEX 8, [tmp + 60]
        PRINT "_"
        HEX 8, [tmp + 56]
        PRINT "_"
        HEX 8, [tmp + 52]
        PRINT "_"
        HEX 8, [tmp + 48]
        PRINT 10
%endmacro

; FSW "label"  - print the x87 status word without C1 (bit 9) and B (bit 15), and without the
; condition codes C0/C2/C3, which arithmetic instructions leave undefined.
%macro FSW 1
        push eax
        fnstsw ax
        and eax, 0x38FF
        SHOW %1, eax
        pop eax
%endmacro

; FSWCC "label"  - the same with C0/C2/C3 (after compares).
%macro FSWCC 1
        push eax
        fnstsw ax
        and eax, 0x7DFF
        SHOW %1, eax
        pop eax
%endmacro

%macro MXCSR 1
        stmxcsr [tmp + 40]
        SHOW %1, [tmp + 40]
%endmacro

%macro SETCW 1
        mov word [tmp + 40], %1
        fldcw [tmp + 40]
%endmacro

%macro SETMXCSR 1
        mov dword [tmp + 40], %1
        ldmxcsr [tmp + 40]
%endmacro

%macro EFLAGS 2
        pushfd
        push eax
        mov eax, [esp + 4]
        and eax, %2
        SHOW %1, eax
        pop eax
        popfd
%endmacro

main:
%ifdef LINUX_USER
        fninit
        jmp compute
%endif
        call init_prot
        mov eax, cr0
        and eax, ~((1 << 2) | (1 << 3)) ; EM = 0, TS = 0
        or eax, (1 << 1) | (1 << 5)     ; MP, NE
        mov cr0, eax
        mov eax, cr4
        or eax, (1 << 9) | (1 << 10)    ; OSFXSR, OSXMMEXCPT
        mov cr4, eax
        fninit
        mov eax, cr0
        and eax, 0x2E
        SHOW "cr0 ne|ts|em|mp ", eax
        mov eax, cr4
        and eax, 0x600
        SHOW "cr4 osxmmexcpt|osfxsr ", eax
        fnstcw [tmp]
        movzx eax, word [tmp]
        SHOW "fcw after fninit ", eax
        FSW "fsw after fninit "
        MXCSR "mxcsr at reset "

; --- x87 -------------------------------------------------------------------------------------
compute:
        PRINT "-- x87 arithmetic", 10
        fld1
        fldpi
        faddp
        fstp tword [tmp]
        SHOWT "1+pi ", tmp
        fld1
        fld qword [three]
        fdivp
        fld st0
        fstp tword [tmp]
        SHOWT "1/3 ", tmp
        fstp qword [tmp]
        SHOWQ "1/3 as double ", tmp
        FSW "fsw (PE) "
        fnclex
        fld qword [two]
        fsqrt
        fstp tword [tmp]
        SHOWT "sqrt 2 ", tmp
        fld qword [three]
        fmul qword [pi_d]
        fsub qword [two]
        fstp qword [tmp]
        SHOWQ "3*pi-2 ", tmp
        fild dword [int_m7]
        fidiv dword [int_2]
        fstp tword [tmp]
        SHOWT "-7/2 ", tmp
        fld qword [pi_d]
        fchs
        fabs
        fstp qword [tmp]
        SHOWQ "abs(-pi) ", tmp
        FSW "fsw "

        PRINT "-- x87 rounding control (fistp of 2.5 -2.5 3.7 -3.7)", 10
        mov ecx, 0
.rc:    mov eax, ecx
        shl eax, 10
        or eax, 0x037F
        mov [tmp + 40], ax
        fldcw [tmp + 40]
        PRINT "rc "
        HEX 1, ecx
        PRINT ":"
        mov esi, rc_values
        mov edx, 4
.rcv:   fld qword [esi]
        fistp dword [tmp]
        PRINT " "
        HEX 8, [tmp]
        add esi, 8
        dec edx
        jnz .rcv
        fld qword [rc_values + 24]
        frndint
        fstp qword [tmp]
        PRINT " frndint(-3.7) "
        HEX 8, [tmp + 4]
        HEX 8, [tmp]
        PRINT 10
        inc ecx
        cmp ecx, 4
        jb .rc
        SETCW 0x037F
        fnclex

        PRINT "-- x87 precision control", 10
        SETCW 0x007F                    ; PC = single
        fld1
        fdiv qword [three]
        fstp tword [tmp]
        SHOWT "1/3 (24-bit) ", tmp
        SETCW 0x027F                    ; PC = double
        fld1
        fdiv qword [three]
        fstp tword [tmp]
        SHOWT "1/3 (53-bit) ", tmp
        SETCW 0x037F

        PRINT "-- x87 special results and flags", 10
        fnclex
        fld1
        fldz
        fdivp
        fstp tword [tmp]
        SHOWT "1/0 ", tmp
        FSW "fsw (ZE) "
        fnclex
        fldz
        fldz
        fdivp
        fstp tword [tmp]
        SHOWT "0/0 ", tmp
        FSW "fsw (IE) "
        fnclex
        fld qword [big]
        fistp dword [tmp]
        SHOW "fistp 1e20 ", [tmp]
        FSW "fsw (IE) "
        fnclex
        fld qword [tiny]
        fmul qword [tiny]
        fstp qword [tmp]
        SHOWQ "1e-300^2 stored as double ", tmp
        FSW "fsw (UE PE) "
        fnclex
        fld qword [big]
        fmul qword [big]
        fmul qword [big]
        fstp dword [tmp]
        SHOW "1e60 stored as single ", [tmp]
        FSW "fsw (OE PE) "
        fnclex
        fild qword [int64_val]
        fistp qword [tmp]
        SHOWQ "fild/fistp qword ", tmp

        PRINT "-- x87 compares", 10
        fld qword [two]
        fld1
        fcom st1                        ; 1 vs 2
        FSWCC "fcom 1<2 fsw "
        fcomi st0, st1
        EFLAGS "fcomi 1<2 eflags ", 0x8D5
        fxch
        fcomi st0, st1
        EFLAGS "fcomi 2>1 eflags ", 0x8D5
        fstp st0
        fstp st0
        fld qword [qnan]
        fld1
        fucomi st0, st1
        EFLAGS "fucomi 1,nan eflags ", 0x8D5
        FSWCC "fsw "
        fcomi st0, st1
        EFLAGS "fcomi 1,nan eflags ", 0x8D5
        FSWCC "fsw (IE) "
        fstp st0
        fstp st0
        fnclex
        fld1
        fld1
        fcomip st0, st1
        EFLAGS "fcomip 1=1 eflags ", 0x8D5
        fstp st0
        fninit

; --- SSE -------------------------------------------------------------------------------------
        PRINT "-- sse/sse2 arithmetic", 10
        movaps xmm0, [ps_a]
        movaps xmm1, [ps_b]
        addps xmm0, xmm1
        SHOWX "addps ", xmm0
        movaps xmm0, [ps_a]
        mulps xmm0, xmm1
        SHOWX "mulps ", xmm0
        movaps xmm0, [ps_a]
        divps xmm0, xmm1
        SHOWX "divps ", xmm0
        sqrtps xmm2, [ps_b]
        SHOWX "sqrtps ", xmm2
        MXCSR "mxcsr (PE) "
        movapd xmm0, [pd_a]
        mulpd xmm0, [pd_b]
        SHOWX "mulpd ", xmm0
        movapd xmm0, [pd_a]
        addpd xmm0, [pd_b]
        SHOWX "addpd ", xmm0
        movsd xmm0, [three]
        sqrtsd xmm0, xmm0
        SHOWX "sqrtsd ", xmm0
        cvtpd2ps xmm1, [pd_a]
        SHOWX "cvtpd2ps ", xmm1
        cvtdq2ps xmm1, [dq_a]
        SHOWX "cvtdq2ps ", xmm1
        cvttps2dq xmm1, [ps_a]
        SHOWX "cvttps2dq ", xmm1
        mov eax, -123456789
        cvtsi2sd xmm2, eax
        SHOWX "cvtsi2sd ", xmm2
        movaps xmm0, [ps_nan]
        minps xmm0, [ps_a]
        SHOWX "minps nan,a ", xmm0
        movaps xmm0, [ps_a]
        maxps xmm0, [ps_nan]
        SHOWX "maxps a,nan ", xmm0
        movsd xmm0, [two]
        comisd xmm0, [three]
        EFLAGS "comisd 2,3 eflags ", 0x8D5
        ucomisd xmm0, [qnan]
        EFLAGS "ucomisd 2,nan eflags ", 0x8D5
        SETMXCSR 0x1F80

        PRINT "-- cvtsd2si under MXCSR rounding (2.5 -2.5 3.7 -3.7)", 10
        mov ecx, 0
.mrc:   mov eax, ecx
        shl eax, 13
        or eax, 0x1F80
        mov [tmp + 40], eax
        ldmxcsr [tmp + 40]
        PRINT "rc "
        HEX 1, ecx
        PRINT ":"
        mov esi, rc_values
        mov edx, 4
.mrcv:  cvtsd2si eax, [esi]
        PRINT " "
        HEX 8, eax
        add esi, 8
        dec edx
        jnz .mrcv
        cvttsd2si eax, [rc_values + 24]
        PRINT " cvtt "
        HEX 8, eax
        movsd xmm3, [rc_values + 24]
        roundsd xmm3, xmm3, 4           ; MXCSR.RC
        movq [tmp], xmm3
        PRINT " roundsd "
        HEX 8, [tmp + 4]
        HEX 8, [tmp]
        PRINT 10
        inc ecx
        cmp ecx, 4
        jb .mrc
        SETMXCSR 0x1F80
        cvtsd2si eax, [big]
        SHOW "cvtsd2si 1e20 ", eax
        MXCSR "mxcsr (IE) "
        SETMXCSR 0x1F80
        movsd xmm0, [tiny]
        mulsd xmm0, xmm0
        SHOWX "1e-300^2 ", xmm0
        MXCSR "mxcsr (UE PE) "
        SETMXCSR 0x9F80                 ; FTZ
        movsd xmm0, [dmin]
        mulsd xmm0, [half]
        SHOWX "min normal/2 with FTZ ", xmm0
        MXCSR "mxcsr (FTZ UE PE) "
        SETMXCSR 0x1F80
        movsd xmm0, [dmin]
        mulsd xmm0, [half]
        SHOWX "min normal/2 ", xmm0
        MXCSR "mxcsr (UE) "
        SETMXCSR 0x1F80
        movsd xmm0, [three]
        roundsd xmm1, xmm0, 0x0B       ; truncate, precision exception suppressed
        SHOWX "roundsd 3.0 trunc ", xmm1
        movsd xmm0, [rc_values + 16]
        roundsd xmm1, xmm0, 0x02       ; up, inexact reported
        SHOWX "roundsd 3.7 up ", xmm1
        MXCSR "mxcsr (PE) "
        SETMXCSR 0x1F80

        PRINT "-- integer sse", 10
        movdqa xmm0, [bytes_a]
        pshufb xmm0, [shuf_mask]
        SHOWX "pshufb ", xmm0
        movdqa xmm0, [dq_a]
        pmulld xmm0, [dq_b]
        SHOWX "pmulld ", xmm0
        movdqa xmm0, [dq_a]
        pmuludq xmm0, [dq_b]
        SHOWX "pmuludq ", xmm0
        movdqa xmm0, [bytes_a]
        paddusb xmm0, [bytes_b]
        SHOWX "paddusb ", xmm0
        movdqa xmm0, [bytes_a]
        psubsb xmm0, [bytes_b]
        SHOWX "psubsb ", xmm0
        movdqa xmm0, [bytes_a]
        pcmpeqb xmm0, [bytes_b]
        pmovmskb eax, xmm0
        SHOW "pcmpeqb/pmovmskb ", eax
        movdqa xmm0, [bytes_a]
        psadbw xmm0, [bytes_b]
        SHOWX "psadbw ", xmm0
        movdqa xmm0, [dq_a]
        packssdw xmm0, [dq_b]
        SHOWX "packssdw ", xmm0
        movdqa xmm0, [bytes_a]
        punpcklbw xmm0, [bytes_b]
        SHOWX "punpcklbw ", xmm0
        movdqa xmm0, [dq_a]
        pmaddwd xmm0, [dq_b]
        SHOWX "pmaddwd ", xmm0
        pshufd xmm0, [dq_a], 0x1B
        SHOWX "pshufd 1b ", xmm0
        movdqa xmm0, [bytes_a]
        palignr xmm0, [bytes_b], 5
        SHOWX "palignr 5 ", xmm0
        movdqa xmm0, [dq_a]
        pminsd xmm0, [dq_b]
        SHOWX "pminsd ", xmm0
        movdqa xmm0, [dq_a]
        pmaxud xmm0, [dq_b]
        SHOWX "pmaxud ", xmm0
        movdqa xmm0, [dq_a]
        pblendw xmm0, [dq_b], 0xA5
        SHOWX "pblendw a5 ", xmm0
        movdqa xmm0, [dq_a]
        psllq xmm0, 7
        SHOWX "psllq 7 ", xmm0
        movdqa xmm0, [dq_a]
        psrad xmm0, 3
        SHOWX "psrad 3 ", xmm0
        movdqa xmm0, [dq_a]
        psrldq xmm0, 3
        SHOWX "psrldq 3 ", xmm0
        movdqa xmm0, [dq_a]
        pextrd eax, xmm0, 2
        SHOW "pextrd 2 ", eax
        pinsrb xmm0, eax, 15
        SHOWX "pinsrb 15 ", xmm0
        movaps xmm0, [ps_a]
        insertps xmm0, [ps_b + 4], 0x90 ; the single at ps_b+4 -> element 1
        SHOWX "insertps ", xmm0
        movaps xmm0, [ps_mask]
        movaps xmm1, [ps_a]
        blendvps xmm1, [ps_b], xmm0
        SHOWX "blendvps ", xmm1
        movdqa xmm0, [dq_a]
        ptest xmm0, [dq_a]
        EFLAGS "ptest a,a eflags ", 0x8D5
        pxor xmm1, xmm1
        ptest xmm1, [dq_a]
        EFLAGS "ptest 0,a eflags ", 0x8D5
        pcmpeqd xmm2, xmm2
        ptest xmm0, xmm2
        EFLAGS "ptest a,ones eflags ", 0x8D5

        PRINT "-- sse4.2", 10
        mov eax, 0xFFFFFFFF
        mov esi, crc_text
        mov ecx, 9
.crc:   crc32 eax, byte [esi]
        inc esi
        loop .crc
        not eax
        SHOW "crc32c bytes(123456789) ", eax
        mov eax, 0xFFFFFFFF
        crc32 eax, dword [crc_text]
        crc32 eax, word [crc_text + 4]
        SHOW "crc32c dword+word ", eax
        movdqu xmm0, [pcmp_set]
        movdqu xmm1, [pcmp_text]
        pcmpistri xmm0, xmm1, 0x00      ; equal any, unsigned bytes, least significant index
        EFLAGS "pcmpistri eflags ", 0x8D5
        SHOW "pcmpistri ecx ", ecx
        pcmpistrm xmm0, xmm1, 0x40      ; equal any, byte mask
        SHOWX "pcmpistrm ", xmm0

%ifdef LINUX_USER
        EXIT_OK
%endif
; --- exceptions ------------------------------------------------------------------------------
        PRINT "-- #NM with CR0.TS", 10
        mov eax, cr0
        or eax, 1 << 3
        mov cr0, eax
        EXPECT fld1
        EXPECT movaps xmm0, xmm1
        EXPECT fwait                    ; MP = 1
        EXPECT fxsave [fxarea]
        clts
        mov eax, cr0
        and eax, 0x2E
        SHOW "cr0 after clts ", eax
        PRINT "-- CR0.EM: x87 #NM, sse #UD", 10
        mov eax, cr0
        or eax, 1 << 2
        mov cr0, eax
        EXPECT fld1
        EXPECT addps xmm0, xmm1
        fwait
        PRINT "fwait with EM=1 TS=0 executes", 10
        mov eax, cr0
        and eax, ~(1 << 2)
        mov cr0, eax
        PRINT "-- CR4.OSFXSR clear: sse #UD", 10
        mov eax, cr4
        and eax, ~(1 << 9)
        mov cr4, eax
        EXPECT addps xmm0, xmm1
        EXPECT movdqa xmm0, xmm1
        EXPECT ldmxcsr [tmp + 40]
        mov eax, cr4
        or eax, 1 << 9
        mov cr4, eax
%ifdef WITH_QEMU_GAPS
        ; QEMU 7.2 never raises #XM: unmasked SSE exceptions are ignored.
        PRINT "-- #XM divps by zero with ZM clear", 10
        SETMXCSR 0x1D80
        movaps xmm0, [ps_a]
        xorps xmm1, xmm1
        EXPECT divps xmm0, xmm1
        MXCSR "mxcsr (ZE) "
        SHOWX "destination unchanged ", xmm0
        SETMXCSR 0x1D80
        PRINT "-- same with CR4.OSXMMEXCPT clear: #UD", 10
        mov eax, cr4
        and eax, ~(1 << 10)
        mov cr4, eax
        EXPECT divps xmm0, xmm1
        mov eax, cr4
        or eax, 1 << 10
        mov cr4, eax
        SETMXCSR 0x1F80
%endif
        PRINT "-- #MF: fdiv by zero with ZM clear, reported by fwait", 10
        fninit
        SETCW 0x037B                    ; ZM = 0
        fld1
        fldz
        ; Not FDIVP: with an unmasked exception Intel CPUs cancel the pop and QEMU does not.
        fdiv st1, st0
        FSW "fsw after fdiv (ES ZE) "
        EXPECT fwait
        fnclex
        fninit
        PRINT "-- #GP misaligned movaps / fxsave", 10
        EXPECT movaps xmm0, [ps_a + 4]
        EXPECT fxsave [fxarea + 8]
        movups xmm0, [ps_a + 4]
        SHOWX "movups misaligned ok ", xmm0

; --- fxsave / fxrstor --------------------------------------------------------------------------
        PRINT "-- fxsave/fxrstor", 10
        fninit
        SETCW 0x0A7F                    ; RC up, PC double
        fld qword [pi_d]
        fld qword [three]
        fld1
        fldz
        fdiv st1, st0                   ; 1/0 -> ZE (masked)
        SETMXCSR 0x3F84                 ; RC down, ZE flag
        mov ecx, 0
.ld:    mov eax, ecx
        imul eax, 0x01010101
        mov [tmp], eax
        add eax, 0x10101010
        mov [tmp + 4], eax
        add eax, 0x10101010
        mov [tmp + 8], eax
        add eax, 0x10101010
        mov [tmp + 12], eax
        movdqu xmm7, [tmp]
        call rotate_xmm                 ; xmm0 <- xmm1 <- ... <- xmm7
        inc ecx
        cmp ecx, 8
        jb .ld
        fxsave [fxarea]
        movzx eax, word [fxarea + 0]
        SHOW "fcw ", eax
        movzx eax, word [fxarea + 2]
        and eax, 0x38FF
        SHOW "fsw ", eax
        movzx eax, byte [fxarea + 4]
        SHOW "abridged ftw ", eax
        SHOW "mxcsr ", [fxarea + 24]
        SHOWT "st0 ", fxarea + 32
        SHOWT "st1 ", fxarea + 48
        SHOWT "st3 ", fxarea + 80
        fninit
        SETMXCSR 0x1F80
        mov ecx, 8
.clr:   pxor xmm7, xmm7
        call rotate_xmm
        loop .clr
        fxrstor [fxarea]
        fxsave [fxarea2]
        movzx eax, word [fxarea2 + 0]
        SHOW "restored fcw ", eax
        movzx eax, byte [fxarea2 + 4]
        SHOW "restored abridged ftw ", eax
        SHOW "restored mxcsr ", [fxarea2 + 24]
        fstp tword [tmp]
        SHOWT "restored st0 ", tmp
        SHOWX "restored xmm0 ", xmm0
        SHOWX "restored xmm3 ", xmm3
        SHOWX "restored xmm7 ", xmm7
        mov esi, fxarea + 160
        mov edi, fxarea2 + 160
        mov ecx, 128 / 4
        repe cmpsd
        sete al
        movzx eax, al
        SHOW "xmm0-7 images equal ", eax
        fninit
        EXIT_OK

; xmm0 <- xmm1 <- ... <- xmm7 (xmm7 keeps its value)
rotate_xmm:
        movdqa xmm0, xmm1
        movdqa xmm1, xmm2
        movdqa xmm2, xmm3
        movdqa xmm3, xmm4
        movdqa xmm4, xmm5
        movdqa xmm5, xmm6
        movdqa xmm6, xmm7
        ret

        align 16
ps_a:           dd 1.5, -2.25, 100.0, 3.0e7
ps_b:           dd 0.5, 4.0, -3.0, 7.0
ps_nan:         dd 0x7FC00001, 1.0, 0xFFC00002, -0.0
ps_mask:        dd 0x80000000, 0, 0xFFFFFFFF, 0x7FFFFFFF
pd_a:           dq 1.0e100, -0.1
pd_b:           dq 3.0e-50, 7.0
dq_a:           dd 0x12345678, 0x80000000, 0xFFFFFFFF, 0x7FFF0001
dq_b:           dd 0x00010003, 0x7FFFFFFF, 0x00000002, 0x8001FFFF
bytes_a:        db 0x00, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x30, 0x40
                db 0xF0, 0xE0, 0xD0, 0xC0, 0x01, 0x02, 0x03, 0x04
bytes_b:        db 0x00, 0x01, 0x7F, 0x01, 0x10, 0xF0, 0x30, 0x50
                db 0x10, 0x20, 0xD0, 0x40, 0x81, 0x82, 0x83, 0x03
shuf_mask:      db 15, 14, 13, 12, 0x80, 0, 1, 2, 3, 0x8F, 4, 4, 4, 7, 8, 9
pcmp_set:       db "lo", 0
                times 13 db 0
pcmp_text:      db "hello, world", 0, 0, 0, 0
crc_text:       db "123456789"
        align 8
three:          dq 3.0
two:            dq 2.0
half:           dq 0.5
pi_d:           dq 3.141592653589793
big:            dq 1.0e20
tiny:           dq 1.0e-300
dmin:           dq 0x0010000000000000
qnan:           dq 0x7FF8000000000000
rc_values:      dq 2.5, -2.5, 3.7, -3.7
int64_val:      dq -1234567890123456789
int_m7:         dd -7
int_2:          dd 2

image_end:
