; alu - integer instructions over a grid of operand values, in 8-, 16- and 32-bit forms (and
; AH/CH high-byte forms), each starting from four different input flag patterns. Every result
; and the architecturally DEFINED flags (undefined flags masked out per instruction, count and
; operand size as the Intel SDM specifies; "unaffected" flags count as defined) are folded into
; one checksum per group, printed as one line per group.
;
; -DALU_TRACE also prints every folded value (long output, for finding the first difference).
; -DLINUX_USER builds a Linux i386 executable of the same program (see lib32.inc): its output
; must be identical when run natively, which checks the expected values against a real CPU.
%define EXIT_CODE 0x28
%include "lib32.inc"

OF equ 0x800
SF equ 0x080
ZF equ 0x040
AF equ 0x010
PF equ 0x004
CF equ 0x001
ALLF equ OF | SF | ZF | AF | PF | CF

absolute bss_free
cksum:          resd 1
mask_tmp:       resd 1
count_tmp:      resd 1
memop:          resd 4
        section .text

; MIX value - fold a 32-bit value (register or memory, not ESP-relative) into cksum. Preserves
; all registers and flags.
%macro MIX 1
        pushfd
        push eax
        mov eax, %1
%ifdef ALU_TRACE
        HEX 8, eax
        PRINT " "
%endif
        xor eax, [cksum]
        rol eax, 5
        add eax, 0x9E3779B9
        mov [cksum], eax
        pop eax
        popfd
%endmacro

; FLAGMIX mask - fold (EFLAGS & mask); clobbers EDX.
%macro FLAGMIX 1
        pushfd
        pop edx
        and edx, %1
        MIX edx
%endmacro

; SETFL - EFLAGS = EBP (input pattern).
%macro SETFL 0
        push ebp
        popfd
%endmacro

%macro BEGIN 0
        mov dword [cksum], 0
%endmacro

%macro END 1
        PRINT %1
        HEX 8, [cksum]
        PRINT 10
%ifdef ALU_TRACE
        PRINT 10
%endif
%endmacro

; PAIRS body - run body for every (a, b) in vals x vals with EBX = a, ECX = b, EBP = flags
; pattern, ESI/EDI = indices. The body may clobber EAX, EDX and the flags.
%macro PAIRS 1
        xor esi, esi
%%i:    xor edi, edi
%%j:    mov ebx, [vals + esi * 4]
        mov ecx, [vals + edi * 4]
        mov eax, esi
        add eax, edi
        and eax, 3
        mov ebp, [flag_pats + eax * 4]
        %1
        inc edi
        cmp edi, NVALS
        jb %%j
        inc esi
        cmp esi, NVALS
        jb %%i
%endmacro

; SINGLES body - run body for every a in vals and each of the 4 flag patterns: EBX = a,
; ECX = a rotated (a second operand), EBP = flags pattern.
%macro SINGLES 1
        xor esi, esi
%%i:    xor edi, edi
%%k:    mov ebx, [vals + esi * 4]
        mov ecx, ebx
        rol ecx, 7
        mov ebp, [flag_pats + edi * 4]
        %1
        inc edi
        cmp edi, 4
        jb %%k
        inc esi
        cmp esi, NVALS
        jb %%i
%endmacro

; Binary op in all widths: op dst, src.
%macro BIN_BODY 2
        SETFL
        mov eax, ebx
        %1 eax, ecx
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax, cx
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 al, cl
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        push ecx
        %1 ah, ch
        pop ecx
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 eax, 0x7F
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax, -3
        FLAGMIX %2
        MIX eax
%endmacro

%macro BINOP 3                          ; "name", mnemonic, flags mask
        BEGIN
        PAIRS {BIN_BODY %2, %3}
        END %1
%endmacro

; Unary op (inc dec neg not) in all widths.
%macro UN_BODY 2
        SETFL
        mov eax, ebx
        %1 eax
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 al
        FLAGMIX %2
        MIX eax
        SETFL
        mov eax, ebx
        %1 ah
        FLAGMIX %2
        MIX eax
%endmacro

main:
        PRINT "alu: checksums of results and defined flags", 10

        BINOP "add  ", add, ALLF
        BINOP "adc  ", adc, ALLF
        BINOP "sub  ", sub, ALLF
        BINOP "sbb  ", sbb, ALLF
        BINOP "cmp  ", cmp, ALLF
        BINOP "and  ", and, OF | SF | ZF | PF | CF
        BINOP "or   ", or, OF | SF | ZF | PF | CF
        BINOP "xor  ", xor, OF | SF | ZF | PF | CF
        BINOP "test ", test, OF | SF | ZF | PF | CF

        BEGIN
        SINGLES {UN_BODY inc, ALLF}
        SINGLES {UN_BODY dec, ALLF}
        END "incdec "
        BEGIN
        SINGLES {UN_BODY neg, ALLF}
        SINGLES {UN_BODY not, ALLF}
        END "negnot "

        ; shifts and rotates: counts 0..33 from CL
        BEGIN
        call shifts
        END "shl/shr/sar "
        BEGIN
        call rotates
        END "rol/ror "
        BEGIN
        call rcls
        END "rcl/rcr "
        BEGIN
        call doubles
        END "shld/shrd "

        BEGIN
        PAIRS call mul_body
        END "mul/imul "
        BEGIN
        PAIRS call div_body
        END "div/idiv "

        BEGIN
        PAIRS call bt_body
        END "bt/bts/btr/btc "
        BEGIN
        SINGLES call bsf_body
        END "bsf/bsr/bswap "
        BEGIN
        PAIRS call xadd_body
        END "xadd/cmpxchg/xchg "
        BEGIN
        call bcd
        END "daa/das/aaa/aas "
        BEGIN
        call aam_aad
        END "aam/aad "
        BEGIN
        PAIRS call setcc_body
        END "setcc/cmovcc "
        BEGIN
        SINGLES call ext_body
        END "movsx/movzx/cbw/cwd/cdq "
        BEGIN
        PAIRS call mem_body
        END "memory operands "
        EXIT_OK

; --- shifts ----------------------------------------------------------------------------------
; For a shift of SIZE bits by CL: flags mask into [mask_tmp].
;   count & 31 == 0: nothing changes (all flags defined as unchanged)
;   otherwise SF ZF PF; OF only for a count of 1; CF unless SHL/SHR with count >= SIZE (EAX=1
;   for SHL/SHR, 0 for SAR); AF undefined.
shift_mask:
        push ecx
        and ecx, 31
        mov dword [mask_tmp], ALLF
        jz .done
        mov dword [mask_tmp], SF | ZF | PF
        cmp ecx, 1
        jne .no_of
        or dword [mask_tmp], OF
.no_of: test eax, eax
        jz .cf
        cmp ecx, edx                    ; EDX = SIZE
        jae .done
.cf:    or dword [mask_tmp], CF
.done:  pop ecx
        ret

%macro SHIFT_ALL 2                      ; mnemonic, is SHL/SHR
        mov eax, %2
        mov edx, 32
        call shift_mask
        SETFL
        mov eax, ebx
        %1 eax, cl
        FLAGMIX [mask_tmp]
        MIX eax
        mov eax, %2
        mov edx, 16
        call shift_mask
        SETFL
        mov eax, ebx
        %1 ax, cl
        FLAGMIX [mask_tmp]
        MIX eax
        mov eax, %2
        mov edx, 8
        call shift_mask
        SETFL
        mov eax, ebx
        %1 al, cl
        FLAGMIX [mask_tmp]
        MIX eax
        SETFL
        mov eax, ebx
        %1 ah, cl
        FLAGMIX [mask_tmp]
        MIX eax
%endmacro

; COUNTS body - body for every value, count 0..33 (ECX), 2 flag patterns.
%macro COUNTS 1
        xor esi, esi
%%i:    xor edi, edi
%%c:    mov ebx, [vals + esi * 4]
        mov ecx, edi
        mov eax, esi
        add eax, edi
        and eax, 3
        mov ebp, [flag_pats + eax * 4]
        %1
        inc edi
        cmp edi, 34
        jb %%c
        inc esi
        cmp esi, NVALS
        jb %%i
%endmacro

%macro SHIFT_IMM 1
        SETFL
        mov eax, ebx
        %1 eax, 1
        FLAGMIX ALLF & ~AF
        MIX eax
        SETFL
        mov eax, ebx
        %1 al, 1
        FLAGMIX ALLF & ~AF
        MIX eax
        SETFL
        mov eax, ebx
        %1 eax, 5
        FLAGMIX SF | ZF | PF | CF
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax, 12
        FLAGMIX SF | ZF | PF | CF
        MIX eax
%endmacro

shifts:
        COUNTS {SHIFT_ALL shl, 1}
        COUNTS {SHIFT_ALL shr, 1}
        COUNTS {SHIFT_ALL sar, 0}
        ; shift by 1 and by an immediate
        SINGLES {SHIFT_IMM shl}
        SINGLES {SHIFT_IMM shr}
        SINGLES {SHIFT_IMM sar}
        ret

; Rotates: count & 31 == 0 -> unchanged; else CF defined, OF only for count 1, SF ZF AF PF
; unchanged.
rot_mask:
        push ecx
        and ecx, 31
        mov dword [mask_tmp], ALLF
        jz .done
        mov dword [mask_tmp], SF | ZF | AF | PF | CF
        cmp ecx, 1
        jne .done
        or dword [mask_tmp], OF
.done:  pop ecx
        ret

%macro ROT_ALL 1
        call rot_mask
        SETFL
        mov eax, ebx
        %1 eax, cl
        FLAGMIX [mask_tmp]
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax, cl
        FLAGMIX [mask_tmp]
        MIX eax
        SETFL
        mov eax, ebx
        %1 al, cl
        FLAGMIX [mask_tmp]
        MIX eax
        SETFL
        mov eax, ebx
        %1 ah, cl
        FLAGMIX [mask_tmp]
        MIX eax
%endmacro

rotates:
        COUNTS {ROT_ALL rol}
        COUNTS {ROT_ALL ror}
        ret
rcls:
        COUNTS {ROT_ALL rcl}
        COUNTS {ROT_ALL rcr}
        ret

; SHLD/SHRD: count & 31 == 0 -> unchanged; 16-bit with count > 16 -> undefined (skipped);
; else SF ZF PF CF, OF for count 1.
dbl_mask:
        push ecx
        and ecx, 31
        mov dword [mask_tmp], ALLF
        jz .done
        mov dword [mask_tmp], SF | ZF | PF | CF
        cmp ecx, 1
        jne .done
        or dword [mask_tmp], OF
.done:  pop ecx
        ret

%macro DBL_ALL 1
        call dbl_mask
        mov edx, [vals + NVALS * 4 - 4]
        xor edx, ebx
        rol edx, 11                     ; second operand
        SETFL
        mov eax, ebx
        %1 eax, edx, cl
        FLAGMIX [mask_tmp]
        MIX eax
        mov eax, ecx
        and eax, 31
        cmp eax, 16
        ja %%skip16
        mov edx, [vals + NVALS * 4 - 4]
        xor edx, ebx
        rol edx, 11
        SETFL
        mov eax, ebx
        %1 ax, dx, cl
        FLAGMIX [mask_tmp]
        MIX eax
%%skip16:
%endmacro

doubles:
        COUNTS {DBL_ALL shld}
        COUNTS {DBL_ALL shrd}
        ret

; --- mul/div ---------------------------------------------------------------------------------
mul_body:
        SETFL
        mov eax, ebx
        mul ecx
        FLAGMIX OF | CF
        MIX eax
        MIX edx
        SETFL
        mov eax, ebx
        mov edx, 0x5555AAAA
        mul cx
        FLAGMIX OF | CF
        MIX eax
        MIX edx
        SETFL
        mov eax, ebx
        mul cl
        FLAGMIX OF | CF
        MIX eax
        SETFL
        mov eax, ebx
        imul ecx
        FLAGMIX OF | CF
        MIX eax
        MIX edx
        SETFL
        mov eax, ebx
        mov edx, 0x5555AAAA
        imul cx
        FLAGMIX OF | CF
        MIX eax
        MIX edx
        SETFL
        mov eax, ebx
        imul cl
        FLAGMIX OF | CF
        MIX eax
        SETFL
        mov eax, ebx
        imul eax, ecx
        FLAGMIX OF | CF
        MIX eax
        SETFL
        mov eax, ebx
        imul ax, cx
        FLAGMIX OF | CF
        MIX eax
        SETFL
        imul eax, ecx, -77
        FLAGMIX OF | CF
        MIX eax
        SETFL
        mov eax, ebx
        imul ax, cx, 0x1234
        FLAGMIX OF | CF
        MIX eax
        ret

; Division: all flags undefined. Each width divides (0:a) by b, then (remainder:a') by b so the
; high half is non-zero but below the divisor (no #DE). Signed: a sign-extended, skipping the
; overflowing MIN / -1.
div_body:
        ; 32-bit unsigned
        test ecx, ecx
        jz .skip32
        mov eax, ebx
        xor edx, edx
        div ecx
        MIX eax
        MIX edx
        mov eax, ebx
        xor eax, 0xDEADBEEF
        div ecx
        MIX eax
        MIX edx
        ; 32-bit signed
        cmp ecx, -1
        jne .s32
        cmp ebx, 0x80000000
        je .skip32
.s32:   mov eax, ebx
        cdq
        idiv ecx
        MIX eax
        MIX edx
.skip32:
        ; 16-bit
        test cx, cx
        jz .skip16
        mov eax, ebx
        mov edx, 0xFFFF0000
        div cx
        MIX eax
        MIX edx
        mov eax, ebx
        xor ax, 0xBEEF
        div cx
        MIX eax
        MIX edx
        cmp cx, -1
        jne .s16
        cmp bx, 0x8000
        je .skip16
.s16:   mov eax, ebx
        cwd
        idiv cx
        MIX eax
        MIX edx
.skip16:
        ; 8-bit
        test cl, cl
        jz .skip8
        mov eax, ebx
        mov ah, 0
        div cl
        MIX eax
        mov al, bl
        xor al, 0xA5
        div cl                          ; AH = remainder < CL
        MIX eax
        cmp cl, -1
        jne .s8
        cmp bl, 0x80
        je .skip8
.s8:    mov eax, ebx
        cbw
        idiv cl
        MIX eax
.skip8:
        ret

; --- bit instructions -----------------------------------------------------------------------
; BT*: CF = the bit; ZF unchanged; OF SF AF PF undefined. Register forms take the offset
; modulo the operand size.
%macro BT_ALL 1
        SETFL
        mov eax, ebx
        %1 eax, ecx
        FLAGMIX ZF | CF
        MIX eax
        SETFL
        mov eax, ebx
        %1 ax, cx
        FLAGMIX ZF | CF
        MIX eax
        SETFL
        mov eax, ebx
        %1 eax, 19
        FLAGMIX ZF | CF
        MIX eax
%endmacro

bt_body:
        BT_ALL bt
        BT_ALL bts
        BT_ALL btr
        BT_ALL btc
        ret

; BSF/BSR: ZF defined; the destination is undefined for a zero source (not folded then).
bsf_body:
        mov eax, ecx
        SETFL
        bsf eax, ebx
        FLAGMIX ZF
        test ebx, ebx
        jz .z32
        MIX eax
        SETFL
        bsr eax, ebx
        FLAGMIX ZF
        MIX eax
.z32:   mov eax, ecx
        SETFL
        bsf ax, bx
        FLAGMIX ZF
        test bx, bx
        jz .z16
        MIX eax
        SETFL
        bsr ax, bx
        FLAGMIX ZF
        MIX eax
.z16:   SETFL
        mov eax, ebx
        bswap eax
        FLAGMIX ALLF
        MIX eax
        ret

; XADD (flags as ADD), CMPXCHG (flags as CMP; equal and unequal cases), XCHG.
xadd_body:
        SETFL
        mov eax, ebx
        mov edx, ecx
        xadd eax, edx
        pushfd
        MIX eax
        MIX edx
        pop edx
        and edx, ALLF
        MIX edx
        SETFL
        mov eax, ebx
        mov edx, ecx
        xadd al, dl
        pushfd
        MIX eax
        MIX edx
        pop edx
        and edx, ALLF
        MIX edx
        ; CMPXCHG: accumulator = a, destination = b or a
        mov edx, ecx
        test edi, 1
        jz .ne
        mov edx, ebx
.ne:    SETFL
        mov eax, ebx
        cmpxchg edx, esi                ; ESI (index) is the new value
        pushfd
        MIX eax
        MIX edx
        pop edx
        and edx, ALLF
        MIX edx
        mov edx, ecx
        test edi, 1
        jz .ne16
        mov edx, ebx
.ne16:  SETFL
        mov eax, ebx
        cmpxchg dx, cx
        pushfd
        MIX eax
        MIX edx
        pop edx
        and edx, ALLF
        MIX edx
        mov edx, ecx
        test edi, 2
        jz .ne8
        mov edx, ebx
.ne8:   SETFL
        mov eax, ebx
        cmpxchg dl, cl
        pushfd
        MIX eax
        MIX edx
        pop edx
        and edx, ALLF
        MIX edx
        mov eax, ebx
        mov edx, ecx
        xchg ah, dl
        MIX eax
        MIX edx
        ret

; --- BCD -------------------------------------------------------------------------------------
; DAA/DAS: CF AF SF ZF PF defined, OF undefined. AAA/AAS: AF CF defined, the rest undefined;
; AX as a whole (AH changes too). AL = 0..255, AH varied, AF/CF from the 4 flag patterns.
bcd:
        xor esi, esi
.al:    xor edi, edi
.fl:    mov ebp, [bcd_pats + edi * 4]
        mov eax, esi
        imul eax, eax, 0x0107           ; AH = something varying
        mov al, 0
        or eax, esi
        mov ebx, eax
        SETFL
        daa
        FLAGMIX CF | AF | SF | ZF | PF
        MIX eax
        mov eax, ebx
        SETFL
        das
        FLAGMIX CF | AF | SF | ZF | PF
        MIX eax
        mov eax, ebx
        SETFL
        aaa
        FLAGMIX CF | AF
        MIX eax
        mov eax, ebx
        SETFL
        aas
        FLAGMIX CF | AF
        MIX eax
        inc edi
        cmp edi, 4
        jb .fl
        inc esi
        cmp esi, 256
        jb .al
        ret

; AAM/AAD: SF ZF PF defined. AL = 0..255 (AH varied) with bases 10, 7 and 16.
aam_aad:
        xor esi, esi
.l:     mov eax, esi
        imul eax, eax, 0x0301
        mov al, 0
        or eax, esi
        mov ebx, eax
        mov ebp, [flag_pats + 4]
        SETFL
        aam
        FLAGMIX SF | ZF | PF
        MIX eax
        mov eax, ebx
        SETFL
        aam 7
        FLAGMIX SF | ZF | PF
        MIX eax
        mov eax, ebx
        SETFL
        aad
        FLAGMIX SF | ZF | PF
        MIX eax
        mov eax, ebx
        SETFL
        aad 16
        FLAGMIX SF | ZF | PF
        MIX eax
        inc esi
        cmp esi, 256
        jb .l
        ret

; --- conditions ------------------------------------------------------------------------------
%macro SETCC_ALL 0
        xor edx, edx
        seto dl
        shl edx, 1
        setno dl
        shl edx, 1
        setb dl
        shl edx, 1
        setae dl
        shl edx, 1
        sete dl
        shl edx, 1
        setne dl
        shl edx, 1
        setbe dl
        shl edx, 1
        seta dl
        shl edx, 1
        sets dl
        shl edx, 1
        setns dl
        shl edx, 1
        setp dl
        shl edx, 1
        setnp dl
        shl edx, 1
        setl dl
        shl edx, 1
        setge dl
        shl edx, 1
        setle dl
        shl edx, 1
        setg dl
        MIX edx
%endmacro

setcc_body:
        cmp ebx, ecx
        SETCC_ALL
        cmp bx, cx
        SETCC_ALL
        cmp bl, cl
        SETCC_ALL
        mov eax, ebx
        cmp eax, ecx
        cmovl eax, ecx
        MIX eax
        mov eax, ebx
        cmp ax, cx
        cmova ax, cx
        MIX eax
        mov eax, ebx
        test eax, ecx
        cmovp eax, ecx
        MIX eax
        mov eax, ebx
        cmp ecx, eax
        cmovg eax, ecx
        MIX eax
        ret

; --- extensions ------------------------------------------------------------------------------
ext_body:
        movsx eax, bl
        MIX eax
        movsx eax, bx
        MIX eax
        movzx eax, bl
        MIX eax
        movzx eax, bh
        MIX eax
        movzx eax, bx
        MIX eax
        mov eax, ebx
        movsx ax, bl
        MIX eax
        mov eax, ebx
        cbw
        MIX eax
        mov eax, ebx
        cwde
        MIX eax
        mov eax, ebx
        mov edx, ecx
        cwd
        MIX edx
        mov eax, ebx
        cdq
        MIX edx
        lea eax, [ebx + ecx * 4 + 0x12345]
        MIX eax
        lea ax, [ebx + ecx * 2 - 7]
        MIX eax
        ret

; --- memory destinations ---------------------------------------------------------------------
mem_body:
        mov [memop], ebx
        SETFL
        add [memop], ecx
        FLAGMIX ALLF
        MIX [memop]
        mov [memop], ebx
        SETFL
        lock sub [memop], ecx
        FLAGMIX ALLF
        MIX [memop]
        mov [memop], ebx
        SETFL
        lock adc word [memop + 1], cx
        FLAGMIX ALLF
        MIX [memop]
        MIX [memop + 4]
        mov [memop], ebx
        SETFL
        rol dword [memop], 3
        FLAGMIX SF | ZF | AF | PF | CF
        MIX [memop]
        mov [memop], ebx
        SETFL
        lock xadd [memop], ecx
        FLAGMIX ALLF
        MIX [memop]
        MIX ecx
        mov ecx, [vals + edi * 4]
        mov [memop], ebx
        mov eax, ecx
        xchg [memop], eax
        MIX [memop]
        MIX eax
        mov [memop], ebx
        SETFL
        neg byte [memop + 2]
        FLAGMIX ALLF
        MIX [memop]
        mov [memop], ebx
        SETFL
        mov edx, ecx
        and edx, 63
        SETFL
        lock bts dword [memop], edx     ; bit string: offset 0..63 from memop
        FLAGMIX CF
        MIX [memop]
        ret

        align 4
vals:
        dd 0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF
        dd 0x10000, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF
        dd 0x12345678, 0xEDCBA987, 0x55555555, 0xAAAAAAAA, 0x00008081, 0x807F0080
NVALS equ ($ - vals) / 4
flag_pats:
        dd 0x002, 0x002 | ALLF, 0x002 | CF, 0x002 | OF | ZF | AF
bcd_pats:
        dd 0x002, 0x002 | AF, 0x002 | CF, 0x002 | AF | CF

image_end:
