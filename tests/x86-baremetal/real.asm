; real - from 32-bit protected mode back to real mode (16-bit protected-mode segment, clear
; CR0.PE, far jump), an IVT with our own handlers, INT n and IRET (saved FLAGS/CS/IP, IF and TF
; cleared in the handler, a handler setting CF in the saved FLAGS), real-mode exceptions (#DE,
; #BP, #OF, #BR, #UD through the IVT), segment arithmetic (seg*16+off), far calls with another
; CS, 32-bit operands and addresses in real mode, LIDT moving the IVT, "unreal" mode (a 4 GiB
; FS limit cached from protected mode), then back to protected mode.
;
; The real-mode code (rm_base .. rm_end) is copied to RM_PHYS and runs with CS = DS = SS =
; RM_SEG, so its labels are used as `label - rm_base`.
%define EXIT_CODE 0x26

RM_PHYS         equ 0x8000
RM_SEG          equ RM_PHYS >> 4
RM_STACK        equ 0xF000              ; SS:SP = RM_SEG:RM_STACK
ALT_IVT         equ 0x7000              ; second IVT (LIDT test)

CODE16          equ 0x30                ; 16-bit code, base RM_PHYS, limit 0xFFFF
DATA16          equ 0x38                ; 16-bit data, base 0, limit 0xFFFF
DATA4G          equ 0x40                ; data, base 0, limit 4 GiB (for "unreal" FS)

%macro GDT_EXTRA 0
        DESC RM_PHYS, 0xFFFF, 0x9B, 0x0
        DESC 0, 0xFFFF, 0x93, 0x0
        DESC 0, 0xFFFFF, 0x93, 0x8
%endmacro

%include "lib32.inc"

%macro RMEXPECT 1+
        mov word [rm_resume - rm_base], %%resume - rm_base
        mov word [rm_site - rm_base], %%site - rm_base
%%site: %1
        PRINT "no fault", 10
        mov word [rm_resume - rm_base], 0
%%resume:
%endmacro

%macro SHOW32 2
        PRINT %1
        push eax
        mov eax, %2
        ror eax, 16
        HEX 4, ax
        ror eax, 16
        HEX 4, ax
        pop eax
        PRINT 10
%endmacro


main:
        call load_gdt32
        PRINT "protected mode", 10
        mov esi, rm_base
        mov edi, RM_PHYS
        mov ecx, rm_end - rm_base
        rep movsb
        mov [saved_esp], esp
        jmp CODE16:(pm16_entry - rm_base)

pm_back:                                ; 32-bit protected mode again
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, [saved_esp]
        PRINT "back in protected mode", 10
        mov eax, cr0
        and eax, 1
        SHOW "cr0.pe ", eax
        mov eax, cs
        SHOW "cs ", eax
        SHOW "value written in real mode ", [rm_result]
        EXIT_OK

saved_esp:      dd 0
rm_result:      dd 0
unreal_magic:   dd 0x0DDBA11

; ---------------------------------------------------------------------------------------------
        bits 16
rm_base:
pm16_entry:                             ; 16-bit protected mode, CS base = RM_PHYS
        mov ax, DATA16
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov gs, ax
        mov ax, DATA4G
        mov fs, ax
        mov eax, cr0
        and eax, ~1
        mov cr0, eax
        jmp RM_SEG:(rm_entry - rm_base)

rm_entry:                               ; real mode
        mov ax, RM_SEG
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, RM_STACK
        lidt [rm_idtr - rm_base]
        PRINT "real mode", 10
        mov eax, cr0
        and ax, 1
        SHOW "cr0.pe ", ax
        mov ax, cs
        SHOW "cs ", ax
        call .here
.here:  pop ax
        SHOW "ip ", ax

        ; IVT: exceptions 0-7 -> rm_exc stubs, 0x30/0x31 services
        xor ax, ax
        mov es, ax
        xor di, di
        mov bx, rm_exc_stubs - rm_base
        mov cx, 8
.ivt:   mov [es:di], bx
        mov word [es:di + 2], RM_SEG
        add bx, 8
        add di, 4
        loop .ivt
        mov word [es:0x30 * 4], int30 - rm_base
        mov word [es:0x30 * 4 + 2], RM_SEG
        mov word [es:0x31 * 4], int31 - rm_base
        mov word [es:0x31 * 4 + 2], RM_SEG
        mov word [es:ALT_IVT + 0x30 * 4], int30_alt - rm_base
        mov word [es:ALT_IVT + 0x30 * 4 + 2], RM_SEG
        mov ax, ds
        mov es, ax

        PRINT "-- int 0x30", 10
        mov ax, 0x1234
        mov bx, 0x1111
        mov [rm_sp0 - rm_base], sp
        stc
int30_site:
        int 0x30
int30_after:
        pushf
        pop cx
        and cx, 0x0001
        SHOW "ax + bx = ", ax
        SHOW "cf preserved ", cx
        PRINT "-- int 0x31 sets cf in the saved flags", 10
        clc
        int 0x31
        pushf
        pop cx
        and cx, 0x0001
        SHOW "cf ", cx

        PRINT "-- lidt moves the ivt", 10
        lidt [rm_idtr_alt - rm_base]
        int 0x30
        lidt [rm_idtr - rm_base]
        SHOW "ax ", ax

        PRINT "-- #DE", 10
        mov ax, 1
        xor dx, dx
        xor cx, cx
        RMEXPECT div cx
        mov ax, 0x8000
        cwd
        mov cx, -1
        RMEXPECT idiv cx
        PRINT "-- #BP", 10
        RMEXPECT int3
        PRINT "-- #OF", 10
        mov al, 0x7F
        add al, 1
        RMEXPECT into
        PRINT "-- #BR", 10
        mov ax, 0x100
        RMEXPECT bound ax, [rm_bounds - rm_base]
        PRINT "-- #UD", 10
        RMEXPECT ud2

        PRINT "-- segment arithmetic", 10
        mov ax, 0x1234
        mov es, ax
        mov word [es:0x0010], 0xBEEF
        mov ax, 0x1235
        mov es, ax
        SHOW "1235:0000 ", [es:0x0000]
        mov ax, 0x1000
        mov es, ax
        SHOW "1000:2350 ", [es:0x2350]
        mov word [es:0x2352], 0xCAFE
        mov ax, 0x1200
        mov es, ax
        mov eax, [es:0x0350]
        SHOW32 "1200:0350 dword ", eax
        mov ax, ds
        mov es, ax
        mov bx, 0x10
        mov si, 0x20
        mov word [bx + si + 0x100 - 0x130 + (rm_scratch - rm_base)], 0x4321
        SHOW "[bx+si+disp] ", [rm_scratch - rm_base]
        mov bp, rm_scratch - rm_base
        SHOW "[bp] (ss) ", [bp]

        PRINT "-- far call with another cs", 10
        call (RM_SEG + 0x10):(far_func - rm_base - 0x100)
        SHOW "returned ax ", ax

        PRINT "-- 32-bit operands and addresses", 10
        mov eax, 0x12345678
        add eax, 0x9ABCDEF0
        pushfd
        SHOW32 "add eax ", eax
        pop eax
        and eax, 0x8D5
        SHOW32 "flags ", eax
        mov ebx, rm_scratch - rm_base
        mov ecx, 2
        mov dword [ebx + ecx * 4], 0xA5A5F00D
        SHOW32 "[ebx+ecx*4] ", [rm_scratch - rm_base + 8]
        mov eax, 0xFFFF0001
        movzx ecx, ax
        SHOW32 "movzx ecx, ax ", ecx
        mov ax, sp
        push sp
        pop bx
        sub ax, bx
        SHOW "push sp pushes the old sp: ", ax

        PRINT "-- unreal mode fs (base 0, 4 GiB limit from protected mode)", 10
        mov eax, [fs:dword unreal_magic]
        SHOW32 "fs:[unreal_magic] ", eax
        mov dword [fs:dword rm_result], 0x5EA1F00D
        SHOW32 "fs:[rm_result] ", [fs:dword rm_result]

        PRINT "-- back to protected mode", 10
        cli
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp dword KCODE:pm_back

; 16-bit output (DS = RM_SEG).
putc16:
        pushf
        push ax
        push dx
        mov ah, al
        mov dx, COM1 + 5
.wait:  in al, dx
        test al, 0x20
        jz .wait
        mov al, ah
        mov dx, COM1
        out dx, al
        pop dx
        pop ax
        popf
        ret

puts16:
        pushf
        push ax
        push si
.next:  mov al, [si]
        inc si
        test al, al
        jz .done
        call putc16
        jmp .next
.done:  pop si
        pop ax
        popf
        ret

; puthex16: the low CL*4 bits of AX as CL hex digits (CL = 1..4).
puthex16:
        pushf
        pusha
        mov dx, ax
        movzx bx, cl
        shl bx, 2
.digit: sub bx, 4
        mov ax, dx
        mov cl, bl
        shr ax, cl
        and ax, 0x0F
        mov si, ax
        mov al, [si + rm_hexdigits - rm_base]
        call putc16
        test bx, bx
        jnz .digit
        popa
        popf
        ret

rm_hexdigits:   db "0123456789abcdef"

; INT 0x30: AX += BX; shows the frame and the flags inside the handler.
int30:
        push bp
        mov bp, sp
        push ax
        mov ax, [bp + 2]
        sub ax, int30_after - rm_base
        SHOW "saved ip - next ", ax
        SHOW "saved cs ", [bp + 4]
        mov ax, [bp + 6]
        and ax, 0x0301
        SHOW "saved flags if|tf|cf ", ax
        mov ax, [rm_sp0 - rm_base]
        sub ax, bp
        SHOW "frame bytes (incl. bp) ", ax
        pushf
        pop ax
        and ax, 0x0300
        SHOW "if|tf in handler ", ax
        pop ax
        add ax, bx
        pop bp
        iret

int31:
        push bp
        mov bp, sp
        or word [bp + 6], 1
        pop bp
        iret

int30_alt:
        PRINT "alternate ivt handler", 10
        mov ax, 0xA17
        iret

far_func:
        mov ax, cs
        SHOW "far_func cs ", ax
        call .here
.here:  pop ax
        SHOW "far_func ip ", ax
        mov ax, 0xFA4
        retf

; Real-mode exception stubs (8 bytes each) and common handler.
        align 8
rm_exc_stubs:
%assign v 0
%rep 8
        align 8
        push word v
        jmp rm_exc_common
%assign v v + 1
%endrep

rm_exc_common:
        push bp
        mov bp, sp                      ; [bp+2] vector, [bp+4] IP, [bp+6] CS, [bp+8] FLAGS
        push ax
        PRINT "rm exc "
        HEX 2, [bp + 2]
        mov ax, [bp + 4]
        sub ax, [rm_site - rm_base]
        PRINT " at +"
        HEX 2, ax
        PRINT " cs "
        HEX 4, [bp + 6]
        PRINT 10
        mov ax, [rm_resume - rm_base]
        test ax, ax
        jnz .resume
        PRINT "unexpected exception", 10
        EXIT EXIT_FAIL
.resume:
        mov [bp + 4], ax
        mov word [rm_resume - rm_base], 0
        pop ax
        pop bp
        add sp, 2
        iret

rm_idtr:        dw 0x3FF
                dd 0
rm_idtr_alt:    dw 0x3FF
                dd ALT_IVT
rm_bounds:      dw 0x10, 0x20
rm_site:        dw 0
rm_resume:      dw 0
rm_sp0:         dw 0
        align 4
rm_scratch:     times 16 db 0
rm_end:
        bits 32

image_end:
