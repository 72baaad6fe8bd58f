; prot - 32-bit protected mode: GDT/IDT/TSS, segment loads and their checks, exceptions
; (#DE #BP #OF #BR #UD #TS #NP #SS #GP #DF), a code segment with a non-zero base, ring 3 via
; IRET (data segments nulled, TSS.ESP0 stack switch), INT 0x80 back to ring 0, privileged and
; I/O instructions in ring 3 (IOPL 0, TSS I/O bitmap), an INT to a DPL-0 gate from ring 3, POPF
; in ring 3, and a ring 3 -> ring 0 call gate with a parameter.
;
; Built with -DWITH_QEMU_GAPS it also checks things QEMU's TCG does not implement (data
; segment limit checks, #AC): that variant is for real hardware / KVM and is not compared.
%define EXIT_CODE 0x22

SMALL_DATA      equ 0x30        ; data, base small_data, limit 0xFFF (byte granular)
NP_DATA         equ 0x38        ; data, not present
XO_CODE         equ 0x40        ; execute-only code
RO_DATA         equ 0x48        ; read-only data
BASED_CODE      equ 0x50        ; 32-bit code, base based_code, limit 0xFFF
BASED_DATA      equ 0x58        ; data, base based_data, limit 0xFFF
SMALL_TSS       equ 0x60        ; 32-bit TSS descriptor with limit 0x50 (< 0x67)
CALL_GATE       equ 0x68        ; 32-bit call gate, DPL 3 -> KCODE:gate_target, 1 parameter
SMALL_CODE      equ 0x70        ; 32-bit code, base small_code, limit 0x0F
FRESH_DATA      equ 0x78        ; data with the accessed bit clear

%macro GDT_EXTRA 0
        DESC A(small_data), 0xFFF, 0x93, 0x4            ; 0x30 SMALL_DATA
        DESC 0, 0xFFFFF, 0x13, 0xC                      ; 0x38 NP_DATA (P = 0)
        DESC 0, 0xFFFFF, 0x99, 0xC                      ; 0x40 XO_CODE
        DESC 0, 0xFFFFF, 0x91, 0xC                      ; 0x48 RO_DATA
        DESC A(based_code), 0xFFF, 0x9B, 0x4            ; 0x50 BASED_CODE
        DESC A(based_data), 0xFFF, 0x93, 0x4            ; 0x58 BASED_DATA
        DESC A(small_tss), 0x50, 0x89, 0x0              ; 0x60 SMALL_TSS
        dw A(gate_target) & 0xFFFF                      ; 0x68 CALL_GATE
        dw KCODE
        db 1                                            ;   parameter count
        db 0xEC                                         ;   P, DPL 3, 32-bit call gate
        dw A(gate_target) >> 16
        DESC A(small_code), 0x0F, 0x9B, 0x4             ; 0x70 SMALL_CODE
        DESC 0, 0xFFFFF, 0x92, 0xC                      ; 0x78 FRESH_DATA (A = 0)
%endmacro

%include "lib32.inc"
%include "exc32.inc"

main:
        call init_prot
        PRINT "protected mode, own gdt/idt/tss", 10
        str eax
        and eax, 0xFFFF
        SHOW "tr ", eax
        sldt eax
        and eax, 0xFFFF
        SHOW "ldtr ", eax

        ; IDT tweaks: 0x81 DPL-0 gate, 0x82 not present, 0x83 DPL-3 stack probe.
        mov eax, 0x81
        mov ebx, int81_handler
        mov cl, 0x8E
        call idt_set
        mov eax, 0x82
        mov ebx, int81_handler
        mov cl, 0x0E                    ; P = 0
        call idt_set
        mov eax, 0x83
        mov ebx, int83_handler
        mov cl, 0xEE
        call idt_set

; --- exceptions in ring 0 -------------------------------------------------------------------
        PRINT "-- #DE div by zero", 10
        mov eax, 1
        xor edx, edx
        xor ecx, ecx
        EXPECT div ecx
        PRINT "-- #DE idiv overflow", 10
        mov eax, 0x80000000
        cdq
        mov ecx, -1
        EXPECT idiv ecx
        PRINT "-- #DE 8-bit div quotient overflow", 10
        mov ax, 0x1234
        mov cl, 0x12
        EXPECT div cl

        PRINT "-- #BP int3", 10
        EXPECT int3
        PRINT "-- #BP int 3 (cd 03)", 10
        EXPECT int 3

        PRINT "-- #OF into with OF=1", 10
        mov al, 0x7F
        add al, 1
        EXPECT into
        PRINT "-- into with OF=0", 10
        xor eax, eax
        into
        PRINT "no exception", 10

        PRINT "-- #BR bound", 10
        mov eax, 0x50
        EXPECT bound eax, [bounds]
        mov eax, 0x20
        bound eax, [bounds]
        PRINT "in range: no exception", 10
        mov eax, 0x40
        bound eax, [bounds]
        PRINT "upper bound inclusive: no exception", 10
        mov eax, 0x0F
        EXPECT bound eax, [bounds]

        PRINT "-- #UD ud2", 10
        EXPECT ud2
        PRINT "-- #UD lock nop", 10
        EXPECT db 0xF0, 0x90
%ifdef WITH_QEMU_GAPS
        PRINT "-- #UD lock mov", 10
        EXPECT db 0xF0, 0x89, 0xC0      ; lock mov eax, eax
%endif

; --- segment loads ---------------------------------------------------------------------------
        PRINT "-- #NP mov ds, not-present", 10
        mov ax, NP_DATA
        EXPECT mov ds, ax
        PRINT "-- #SS mov ss, not-present", 10
        EXPECT mov ss, ax
        PRINT "-- #GP selector beyond gdt limit", 10
        mov ax, 0x1F8
        EXPECT mov ds, ax
        PRINT "-- #GP mov ds, execute-only code", 10
        mov ax, XO_CODE
        EXPECT mov ds, ax
        PRINT "-- #GP mov ss, read-only data", 10
        mov ax, RO_DATA
        EXPECT mov ss, ax
        PRINT "-- #GP mov ss, null", 10
        xor eax, eax
        EXPECT mov ss, ax
        PRINT "-- #GP mov ss, selector rpl 3 != cpl", 10
        mov ax, KDATA | 3
        EXPECT mov ss, ax
        PRINT "-- null selector loads into es", 10
        xor eax, eax
        mov es, ax
        mov eax, es
        SHOW "es ", eax
%ifdef WITH_QEMU_GAPS
        PRINT "-- #GP access through null es", 10
        mov ebx, bounds
        EXPECT mov eax, [es:ebx]
%endif
        mov ax, KDATA
        mov es, ax
        PRINT "-- mov ds, execute/read code works", 10
        mov ax, KCODE
        mov fs, ax
        mov eax, [fs:bounds]
        SHOW "fs(code):[bounds] ", eax
        PRINT "-- data segment with base", 10
        mov ax, BASED_DATA
        mov fs, ax
        mov eax, [fs:4]
        SHOW "based fs:[4] ", eax
        mov dword [fs:8], 0xCAFEF00D
        SHOW "based_data+8 ", [based_data + 8]
        mov ax, SMALL_DATA
        mov gs, ax
        mov eax, [gs:0xFFC]
        SHOW "small gs:[0xffc] ", eax
%ifdef WITH_QEMU_GAPS
        PRINT "-- #GP read beyond data segment limit", 10
        EXPECT mov eax, [gs:0xFFD]
        PRINT "-- #GP write beyond data segment limit", 10
        EXPECT mov byte [gs:0x1000], 1
%endif
        mov ax, KDATA
        mov fs, ax
        mov gs, ax

        PRINT "-- accessed bit set by segment load", 10
        mov ax, FRESH_DATA
        lar eax, eax
        and eax, 0x00F0FF00
        SHOW "lar before ", eax
        mov ax, FRESH_DATA
        mov fs, ax
        lar eax, eax
        and eax, 0x00F0FF00
        SHOW "lar after  ", eax
        mov ax, KDATA
        mov fs, ax

        PRINT "-- lsl/lar/verr/verw", 10
        mov ecx, SMALL_DATA
        call show_lsl
        mov ecx, KDATA
        call show_lsl
        mov ecx, TSS_SEL
        call show_lsl
        mov ecx, CALL_GATE
        call show_lsl                   ; call gates have no limit: ZF = 0
        mov ecx, 0x1F8
        call show_lsl                   ; beyond the GDT limit: ZF = 0
        mov ecx, KCODE
        call show_lar
        mov ecx, TSS_SEL
        call show_lar                   ; busy TSS after ltr
        mov ecx, CALL_GATE
        call show_lar
        mov ecx, XO_CODE
        call show_verr
        mov ecx, KCODE
        call show_verr
        mov ecx, RO_DATA
        call show_verw
        mov ecx, KDATA
        call show_verw
        mov ecx, KCODE
        call show_verw

; --- far transfers ---------------------------------------------------------------------------
        PRINT "-- far jmp to a code segment with a base", 10
        jmp BASED_CODE:0
based_back:
        SHOW "offset seen by based code ", eax
        SHOW "cs there ", ebx
        PRINT "-- far call / retf to the based segment", 10
        call BASED_CODE:(based_sub - based_code)
        SHOW "retf returned, eax ", eax
        mov eax, cs
        SHOW "cs ", eax
        PRINT "-- #GP far jmp beyond cs limit", 10
        TRY small_r
        jmp SMALL_CODE:0x10
small_beyond:
        NOFAULT
small_r:
        PRINT "-- far jmp within cs limit", 10
        jmp SMALL_CODE:0x0
small_back:
        SHOW "ran in small segment, eax ", eax
        PRINT "-- #TS jmp to a tss with limit < 0x67", 10
        EXPECT jmp SMALL_TSS:0
        mov ax, SMALL_TSS
        lar eax, eax
        and eax, 0x00F0FF00
        SHOW "small tss still available: lar ", eax

; --- gates -----------------------------------------------------------------------------------
        PRINT "-- int 0x81 from ring 0", 10
        mov eax, 0x1111
        int 0x81
        SHOW "eax after int 0x81 ", eax
        PRINT "-- #NP int to a not-present gate", 10
        EXPECT int 0x82
        PRINT "-- #DF: #GP while the #GP gate is not present", 10
        and byte [idt32 + 13 * 8 + 5], 0x7F
        mov ax, 0x1F8
        EXPECT mov ds, ax
        or byte [idt32 + 13 * 8 + 5], 0x80
        mov ax, 0x1F8
        EXPECT mov ds, ax

; --- ring 3 ----------------------------------------------------------------------------------
        PRINT "-- ring 3", 10
%ifdef WITH_QEMU_GAPS
        mov eax, cr0
        or eax, 1 << 18                 ; CR0.AM
        mov cr0, eax
%endif
        mov ax, KDATA
        mov fs, ax
        mov gs, ax
        mov eax, user_main
        mov ebx, ustack_top
        call enter_user
        PRINT "back in ring 0", 10
        mov eax, cs
        SHOW "cs ", eax
        mov eax, esp
        sub eax, kstack_top
        neg eax
        SHOW "kernel stack depth ", eax
        EXIT_OK

show_lsl:
        PRINT "lsl "
        HEX 4, ecx
        mov eax, 0xDEADBEEF
        lsl eax, ecx
        call show_eax_zf
        ret
show_lar:
        PRINT "lar "
        HEX 4, ecx
        mov eax, 0xDEADBEEF
        lar eax, ecx
        ; Bits 19:16 (the limit's top) are undefined in LAR's result: QEMU clears them, Intel
        ; CPUs keep them.
        pushfd
        and eax, 0x00F0FF00
        popfd
        call show_eax_zf
        ret
show_verr:
        PRINT "verr "
        HEX 4, ecx
        mov eax, 0
        verr cx
        call show_eax_zf
        ret
show_verw:
        PRINT "verw "
        HEX 4, ecx
        mov eax, 0
        verw cx
        call show_eax_zf
        ret
show_eax_zf:
        pushfd
        PRINT " -> "
        HEX 8, eax
        PRINT " zf "
        pop eax
        shr eax, 6
        and eax, 1
        HEX 1, eax
        PRINT 10
        ret

int81_handler:
        PRINT "int 0x81 handler, cpl "
        push eax
        mov eax, cs
        and eax, 3
        HEX 1, eax
        PRINT 10
        pop eax
        add eax, 0x2222
        iretd

; Ring 3 -> ring 0 through a DPL-3 interrupt gate: show the frame on the TSS.ESP0 stack.
int83_handler:
        push ebp
        mov ebp, esp                    ; [ebp+4] EIP, +8 CS, +12 EFLAGS, +16 ESP, +20 SS
        mov eax, istack_top
        sub eax, ebp
        SHOW "int 0x83 frame bytes (incl. push ebp) ", eax
        SHOW "  saved cs ", [ebp + 8]
        mov eax, [ebp + 16]
        sub eax, ustack_top
        SHOW "  saved esp - ustack_top ", eax
        SHOW "  saved ss ", [ebp + 20]
        mov eax, ss
        SHOW "  ss now ", eax
        pop ebp
        iretd

; Call gate target (ring 0), after push ebp: [ebp+4] EIP, +8 CS, +12 parameter, +16 ESP, +20 SS.
gate_target:
        push ebp
        mov ebp, esp
        mov eax, cs
        SHOW "call gate: cs ", eax
        SHOW "  caller cs ", [ebp + 8]
        SHOW "  parameter ", [ebp + 12]
        mov eax, [ebp + 16]
        sub eax, ustack_top
        SHOW "  caller esp - ustack_top ", eax
        SHOW "  caller ss ", [ebp + 20]
        mov eax, istack_top
        sub eax, ebp
        SHOW "  frame bytes (incl. push ebp) ", eax
        mov eax, ss
        SHOW "  ss now ", eax
        pop ebp
        mov eax, 0x600D
        retf 4

; ---------------------------------------------------------------------------------------------
user_main:
        mov eax, ds
        mov ebx, es
        mov ecx, fs
        mov edx, gs
        mov si, UDATA | 3
        mov ds, si
        mov es, si
        USHOW "ring 3: ds after iret ", eax
        USHOW "es after iret ", ebx
        USHOW "fs after iret ", ecx
        USHOW "gs after iret ", edx
        mov eax, cs
        USHOW "cs ", eax
        mov eax, ss
        USHOW "ss ", eax
        int 0x83

        UPRINT "-- #GP cli in ring 3", 10
        UEXPECT cli
        UPRINT "-- #GP sti in ring 3", 10
        UEXPECT sti
        UPRINT "-- #GP hlt in ring 3", 10
        UEXPECT hlt
        UPRINT "-- #GP mov cr0 in ring 3", 10
        UEXPECT mov eax, cr0
        UPRINT "-- #GP int 0x81 (DPL 0 gate)", 10
        UEXPECT int 0x81
        UPRINT "-- #GP mov ds, DPL 0 data", 10
        mov ax, KDATA
        UEXPECT mov ds, ax
        UPRINT "-- #GP in al, 0x80 (I/O bitmap denies)", 10
        UEXPECT in al, 0x80
        UPRINT "-- #GP out 0xe8, ax (bitmap denies 0xe8)", 10
        UEXPECT out 0xE8, ax
        UPRINT "-- out 0xe9 allowed by the I/O bitmap: "
        mov al, 'o'
        out 0xE9, al
        mov al, 'k'
        out 0xE9, al
        mov al, 10
        out 0xE9, al
        UPRINT "-- popfd cannot change IOPL or IF in ring 3", 10
        pushfd
        or dword [esp], 0x3200
        popfd
        pushfd
        pop eax
        and eax, 0x3200
        USHOW "eflags iopl|if ", eax
        UPRINT "-- call gate to ring 0", 10
        mov edi, esp
        push 0x1234ABCD
        call CALL_GATE:0
        USHOW "back in ring 3, eax ", eax
        mov eax, cs
        USHOW "cs ", eax
        sub edi, esp
        USHOW "esp change ", edi
%ifdef WITH_QEMU_GAPS
        UPRINT "-- #AC misaligned load with CR0.AM and EFLAGS.AC", 10
        pushfd
        or dword [esp], 1 << 18
        popfd
        UEXPECT mov eax, [esp + 1]
        pushfd
        and dword [esp], ~(1 << 18)
        popfd
%endif
        UEXIT

; ---------------------------------------------------------------------------------------------
        align 4
bounds:         dd 0x10, 0x40

; Code run with CS = BASED_CODE (base = based_code): EIP values are offsets from here.
        align 16
based_code:
        call .here
.here:  pop eax                         ; = offset of .here within the segment
        mov ebx, cs
        jmp KCODE:based_back
based_sub:
        mov eax, cs
        shl eax, 16
        call .here2
.here2: pop edx
        mov ax, dx
        retf

        align 16
small_code:                             ; CS = SMALL_CODE, limit 0x0F
        mov eax, 0x5A                   ; offset 0
        jmp KCODE:small_back
        align 16, db 0xCC
        jmp KCODE:small_beyond          ; offset 0x10: only reached if the limit is ignored

        align 16
based_data:     dd 0x11111111, 0x22222222, 0x33333333, 0x44444444
small_data:     times 0xFFC db 0
                dd 0x5A5AA5A5
small_tss:      times 0x68 db 0

image_end:
