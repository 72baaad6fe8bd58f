; long - long mode: entry from 32-bit protected mode (PAE, EFER.LME, paging, far jump),
; 4-level paging with higher-half aliases, 64-bit IDT (#PF, #GP, #UD, #DE, gate DPL), an IST
; stack, interrupt-stack alignment, 64-bit arithmetic, CMPXCHG16B, FS/GS base MSRs and SWAPGS,
; compatibility-mode code (far call/jmp to a 32-bit code segment), ring 3 through IRETQ and
; SYSCALL/SYSRET (STAR/LSTAR/SFMASK, 64-bit and 32-bit SYSRET), non-canonical addresses.
; Built with -DWITH_QEMU_GAPS it also checks what QEMU 7.2 gets wrong (not compared): #GP for
; WRMSR of a non-canonical FS_BASE, and the error code of an INT3 through a DPL-0 gate from
; ring 3 in 64-bit mode (QEMU: vector*16+2).
%define EXIT_CODE 0x25
%define LONG_MODE
%include "lib32.inc"
%include "lib64.inc"

absolute bss_free64
        alignb 4096
pdpt_hi:        resq 512
pt_test:        resq 512
frameA:         resb 4096
        alignb 16
cx16_area:      resb 64
bt_area:        resb 64
        section .text

WIN     equ 0x800000            ; pt_test[n] maps WIN + n*0x1000
HIGH1   equ 0xFFFFFFFF80000000  ; PML4[511] -> PDPT_hi[510] -> pd0
HIGH2   equ 0xFFFF800000000000  ; PML4[256] -> pdpt0

; FLAGS "label", mask  - print RFLAGS & mask (OF 800 SF 80 ZF 40 AF 10 PF 4 CF 1).
%macro FLAGS 2
        pushfq
        PRINT %1
        push rax
        mov rax, [rsp + 8]
        and eax, %2
        HEX 3, rax
        pop rax
        PRINT 10
        popfq
%endmacro

main:
        call load_gdt32
        PRINT "32-bit protected mode", 10
        mov dword [pd0 + 4 * 8], pt_test | 7
        mov dword [pml4 + 511 * 8], pdpt_hi | 7
        mov dword [pdpt_hi + 510 * 8], pd0 | 7
        mov dword [pml4 + 256 * 8], pdpt0 | 7
        mov dword [pt_test + 0 * 8], frameA | 7                 ; user RW
        mov dword [pt_test + 1 * 8], frameA | 3                 ; supervisor RW
        mov dword [pt_test + 2 * 8], frameA | 7                 ; user RW, XD
        mov dword [pt_test + 2 * 8 + 4], 0x80000000
        mov dword [pt_test + 3 * 8], frameA | 7                 ; user RW, executable
        mov dword [frameA], 0x55667788
        mov dword [frameA + 4], 0x11223344
        mov byte [frameA + 0x100], 0xC3                         ; ret
        call enter_long_mode
        bits 64
        PRINT "64-bit mode", 10
        mov rax, cs
        SHOW "cs ", rax
        mov ecx, 0xC0000080
        rdmsr
        and eax, 0xD01                  ; SCE LME LMA NXE
        SHOW "efer sce|lme|lma|nxe ", rax
        mov rax, cr0
        and eax, 0x80010001
        SHOW "cr0 pg|wp|pe ", rax
        mov rax, cr4
        and eax, 0x20
        SHOW "cr4.pae ", rax

        PRINT "-- 4-level paging, higher-half aliases", 10
        SHOW "[frameA] ", [frameA]
        mov rbx, HIGH1 + frameA
        SHOW "[0xffffffff80000000 + frameA] ", [rbx]
        mov rbx, HIGH2 + frameA
        SHOW "[0xffff800000000000 + frameA] ", [rbx]
        mov rax, 0x0123456789ABCDEF
        mov [rbx + 8], rax
        SHOW "written through alias ", [frameA + 8]
        mov rax, [pml4 + 256 * 8]
        and eax, 0xFFF
        SHOW "pml4[256] (A) ", rax
        mov rax, [pml4 + 511 * 8]
        and eax, 0xFFF
        SHOW "pml4[511] (A) ", rax
        mov rax, [pd0 + 8]
        and eax, 0xFFF
        SHOW "pd0[1] (A, D) ", rax

        PRINT "-- #GP non-canonical", 10
        mov rbx, 0x0000800000000000
        EXPECT mov rax, [rbx]
        mov rbx, 0xFFFF7FFFFFFFFFF8
        EXPECT mov [rbx], rax
        PRINT "-- #PF", 10
        mov rbx, 0x40000000
        EXPECT mov rax, [rbx]
        EXPECT mov [rbx], rax
        mov rbx, 0x0000700000000123
        EXPECT mov al, [rbx]
        mov rbx, WIN + 0x1100
        call rbx
        PRINT "executable supervisor page: ok", 10
        mov rbx, WIN + 0x2100
        mov r13, rsp
        EXPECT call rbx                 ; the call itself completes: the return address is pushed
        sub r13, rsp
        SHOW "rsp change ", r13
        add rsp, r13
        SHOW "XD page readable: ", [rbx - 0x100]
        PRINT "-- #UD", 10
        EXPECT ud2
        EXPECT db 0xCE                  ; into (invalid in 64-bit mode)
        EXPECT db 0x37                  ; aaa
        EXPECT db 0x06                  ; push es
        PRINT "-- #DE", 10
        xor ecx, ecx
        mov eax, 1
        xor edx, edx
        EXPECT div rcx
        mov rax, 0x8000000000000000
        cqo
        mov rcx, -1
        EXPECT idiv rcx

        PRINT "-- IST1 for #BP", 10
        mov eax, 3
        mov rbx, ist_handler
        mov cx, 0x018E                  ; IST 1
        call idt64_set
        mov r12, rsp
int3_site:
        int3
        sub r12, rsp
        SHOW "rsp change ", r12
        PRINT "-- interrupt stack alignment (no IST, same cpl)", 10
        mov eax, 0x81
        mov rbx, align_handler
        mov cx, 0x008E
        call idt64_set
        int 0x81
        sub rsp, 8
        int 0x81
        add rsp, 8

        PRINT "-- 64-bit arithmetic", 10
        call arith64

        PRINT "-- cmpxchg16b", 10
        mov qword [cx16_area], 1
        mov qword [cx16_area + 8], 2
        mov eax, 1
        mov edx, 2
        mov ebx, 3
        mov ecx, 4
        lock cmpxchg16b [cx16_area]
        FLAGS "match: zf ", 0x40
        SHOW "  mem lo ", [cx16_area]
        SHOW "  mem hi ", [cx16_area + 8]
        mov eax, 1
        mov edx, 2
        mov rbx, -1
        mov rcx, -1
        cmpxchg16b [cx16_area]
        FLAGS "mismatch: zf ", 0x40
        SHOW "  rax ", rax
        SHOW "  rdx ", rdx
        SHOW "  mem lo ", [cx16_area]
        PRINT "misaligned:", 10
        EXPECT lock cmpxchg16b [cx16_area + 8]

        PRINT "-- fs/gs base", 10
        mov ecx, 0xC0000100             ; FS_BASE
        mov eax, frameA
        xor edx, edx
        wrmsr
        SHOW "fs:[4] ", [fs:4]
        mov rax, [fs:0]
        SHOW "fs:[0] ", rax
        mov ax, KDATA
        mov fs, ax
        mov ecx, 0xC0000100
        rdmsr
        SHOW "fs_base after mov fs (eax) ", rax
%ifdef WITH_QEMU_GAPS
        PRINT "-- #GP wrmsr FS_BASE non-canonical", 10
        mov ecx, 0xC0000100
        mov eax, 0
        mov edx, 0x00008000
        EXPECT wrmsr
%endif
        call init_syscalls
        mov ecx, 0xC0000102             ; KERNEL_GS_BASE
        mov eax, frameA
        xor edx, edx
        wrmsr
        SHOW "gs:[0] (percpu) ", [gs:0]
        swapgs
        SHOW "after swapgs gs:[0] ", [gs:0]
        mov ecx, 0xC0000101
        rdmsr
        SHOW "gs_base (eax) ", rax
        mov ecx, 0xC0000102
        rdmsr
        SHOW "kernel_gs_base (eax) ", rax
        swapgs
        mov ecx, 0xC0000102
        xor eax, eax
        xor edx, edx
        wrmsr

        PRINT "-- compatibility mode", 10
        mov r12, rsp
        call dword far [compat_call_ptr]
        SHOW "far call returned, eax ", rax
        sub r12, rsp
        SHOW "rsp change ", r12
        jmp dword far [compat_jmp_ptr]
compat_jmp_back:
        PRINT "far jmp back to 64-bit", 10
        mov rax, cs
        SHOW "cs ", rax

        PRINT "-- ring 3 via iretq", 10
        mov qword [syscall_hook], syscall_hook_fn
        mov rax, user64
        mov rbx, ustack_top
        call enter_user64
        PRINT "back in ring 0", 10
        mov ecx, 0xC0000101
        rdmsr
        mov ebx, percpu
        sub eax, ebx
        SHOW "gs_base - percpu (eax) ", rax
        mov rax, kstack_top
        sub rax, rsp
        SHOW "kernel stack depth ", rax
        EXIT_OK

; #BP through IST1: RSP at entry is ist1_top - 40 whatever the interrupted RSP was.
ist_handler:
        push rax
        mov rax, ist1_top
        sub rax, rsp
        SHOW "ist1_top - rsp (after one push) ", rax
        mov rax, [rsp + 8]
        sub rax, int3_site
        SHOW "saved rip - int3 ", rax
        pop rax
        iretq

align_handler:
        push rax
        mov rax, [rsp + 8 + 24]         ; interrupted RSP
        sub rax, rsp
        sub rax, 8
        SHOW "interrupted rsp - frame ", rax
        pop rax
        iretq

arith64:
        mov rax, 0x123456789ABCDEF0
        mov rbx, 0xFEDCBA9876543210
        mul rbx
        SHOW "mul hi ", rdx
        SHOW "mul lo ", rax
        FLAGS "  of/cf ", 0x801
        mov rax, 0x123456789ABCDEF0
        imul rbx
        SHOW "imul hi ", rdx
        SHOW "imul lo ", rax
        mov rdx, 0x0000000012345678
        mov rax, 0x9ABCDEF012345678
        mov rbx, 0x00000000FEDCBA98
        div rbx
        SHOW "div q ", rax
        SHOW "div r ", rdx
        mov rax, -1000000000000
        cqo
        mov rbx, 7
        idiv rbx
        SHOW "idiv q ", rax
        SHOW "idiv r ", rdx
        mov rax, 0x7FFFFFFFFFFFFFFF
        imul rax, rax, 3
        SHOW "imul3 ", rax
        mov rax, 0x8000000000000001
        add rax, rax
        FLAGS "add flags ", 0x8D5
        SHOW "add ", rax
        mov rax, -1
        mov rbx, 1
        mov rcx, 0
        mov rdx, 5
        add rax, rbx
        adc rcx, rdx
        SHOW "128-bit add hi ", rcx
        mov rax, 0x8000000000000000
        sar rax, 63
        SHOW "sar 63 ", rax
        mov rax, 0x8000000000000001
        rol rax, 4
        SHOW "rol 4 ", rax
        mov rax, 0x8000000000000001
        mov cl, 65                      ; count masked to 1
        shr rax, cl
        SHOW "shr 65 ", rax
        mov rax, 0x0123456789ABCDEF
        mov rbx, 0xFEDCBA9876543210
        shld rax, rbx, 20
        SHOW "shld 20 ", rax
        shrd rax, rbx, 44
        SHOW "shrd 44 ", rax
        mov rax, 0x0123456789ABCDEF
        bswap rax
        SHOW "bswap ", rax
        mov rax, 0x0000100000000000
        bsf rbx, rax
        bsr rcx, rax
        SHOW "bsf ", rbx
        SHOW "bsr ", rcx
        mov ecx, 0x80000000
        movsxd rax, ecx
        SHOW "movsxd ", rax
        mov rax, -1
        mov eax, 1
        SHOW "mov eax zero-extends ", rax
        mov rax, -1
        mov ax, 1
        SHOW "mov ax merges ", rax
        mov rax, -1
        add eax, 1
        SHOW "add eax zero-extends ", rax
        mov eax, 0x89ABCDEF
        cdqe
        SHOW "cdqe ", rax
        mov rbx, 0x1000
        mov rcx, 0x20
        lea rax, [rbx + rcx * 8 - 0x12345678]
        SHOW "lea ", rax
        lea eax, [rbx + rcx * 8 - 0x12345678]
        SHOW "lea 32 ", rax
        xor eax, eax
        mov rsi, 0x1122334455667788
        mov sil, 0xAA                   ; REX: SIL, not DH
        SHOW "mov sil ", rsi
        mov rdx, 0x1122334455667788
        mov dh, 0xBB
        SHOW "mov dh ", rdx
        mov r8, 0x1122334455667788
        mov r8b, 0xCC
        mov r9w, 0xDDDD
        mov r9, r8
        SHOW "r8b ", r9
        ; bit string with a register offset reaching beyond the operand
        mov qword [bt_area], 0
        mov qword [bt_area + 8], 0
        mov qword [bt_area + 16], 0
        mov rax, 100
        bts [bt_area + 8], rax
        FLAGS "bts 100 cf ", 1
        SHOW "bt_area[16] ", [bt_area + 16]
        mov rax, -1
        bts [bt_area + 8], rax
        SHOW "bts -1: bt_area[0] ", [bt_area]
        mov rax, 164
        bt [bt_area], rax
        FLAGS "bt 164 cf ", 1
        mov rax, 10
        mov rbx, 32
        xadd rax, rbx
        SHOW "xadd rax ", rax
        SHOW "xadd rbx ", rbx
        mov rax, 42
        mov rbx, 42
        mov rcx, 0x7777
        cmpxchg rbx, rcx
        SHOW "cmpxchg ", rbx
        ret

compat_call_ptr:
        dd compat_func
        dw KCODE
compat_jmp_ptr:
        dd compat_func2
        dw KCODE

        bits 32
compat_func:
        PRINT "compatibility mode (far call)", 10
        mov eax, cs
        SHOW "cs ", eax
        mov eax, 0x10
        db 0x48                         ; dec eax (a REX prefix in 64-bit mode)
        SHOW "dec eax via 0x48 ", eax
        mov ecx, 0xC0000080
        rdmsr
        and eax, 0xD01
        SHOW "efer sce|lme|lma|nxe ", eax
        mov eax, 0xC0DE
        retf

compat_func2:
        PRINT "compatibility mode (far jmp)", 10
        push dword 0x12345678
        pop eax
        SHOW "32-bit push/pop ", eax
        jmp KCODE64:compat_jmp_back
        bits 64

; SYSCALL hook: RAX = 3 report, 4 return to ring 3 in compatibility mode.
syscall_hook_fn:
        cmp eax, 4
        je .compat
        PRINT "syscall: cs "
        mov rax, cs
        HEX 4, rax
        PRINT " ss "
        mov rax, ss
        HEX 4, rax
        PRINT 10
        pushfq
        pop rax
        and eax, 0x40700
        SHOW "  rflags ac|df|if|tf in kernel ", rax
        mov rax, r11
        and eax, 0x40700
        SHOW "  r11 ac|df|if|tf ", rax
        mov rax, rcx
        sub rax, rdx
        SHOW "  rcx - expected ", rax
        mov rax, [gs:8]
        sub rax, rbx
        SHOW "  user rsp - expected ", rax
        mov eax, 0x5C
        ret
.compat:
        mov qword [sysret32], 1
        mov qword [rsp + 16], user_compat
        ret

; ---------------------------------------------------------------------------------------------
user64:
        mov rax, cs
        USHOW "ring 3 (64-bit): cs ", rax
        mov rax, ss
        USHOW "ss ", rax
        UPRINT "-- syscall with DF and AC set", 10
        pushfq
        or qword [rsp], 0x40400
        popfq
        lea rdx, [rel .after]
        mov rbx, rsp
        mov eax, 3
        syscall
.after: mov r12, rax
        pushfq
        pop rax
        and eax, 0x40700
        USHOW "after sysret: rflags ac|df|if|tf ", rax
        cld
        pushfq
        and qword [rsp], ~0x40000
        popfq
        USHOW "syscall result ", r12
        mov rax, cs
        USHOW "cs ", rax
        mov rax, ss
        USHOW "ss ", rax
        UPRINT "-- #GP swapgs in ring 3", 10
        UEXPECT swapgs
        UPRINT "-- #GP rdmsr in ring 3", 10
        mov ecx, 0xC0000080
        UEXPECT rdmsr
        UPRINT "-- #GP cli in ring 3", 10
        UEXPECT cli
%ifdef WITH_QEMU_GAPS
        ; QEMU 7.2 reports vector*16+2 instead of vector*8+2 here.
        UPRINT "-- #GP int3 through a DPL 0 gate", 10
        UEXPECT int3
%endif
        UPRINT "-- #GP non-canonical in ring 3", 10
        mov rbx, 0x8000000000000000
        UEXPECT mov rax, [rbx]
        UPRINT "-- #PF user read of a supervisor page", 10
        mov rbx, WIN + 0x1000
        UEXPECT mov rax, [rbx]
        UPRINT "-- #PF user fetch from an XD page", 10
        mov rbx, WIN + 0x2100
        mov r13, rsp
        UEXPECT call rbx
        mov rsp, r13
        UPRINT "-- user fetch from a user page", 10
        mov rbx, WIN + 0x3100
        call rbx
        UPRINT "ok", 10
        UPRINT "-- 32-bit sysret to compatibility mode", 10
        mov eax, 4
        syscall
        UPRINT "sysret32 did not switch", 10
        UEXIT

        bits 32
user_compat:
        mov eax, cs
        USHOW "ring 3 compatibility mode: cs ", eax
        mov eax, ss
        USHOW "ss ", eax
        ; IRETQ to ring 3 nulled DS/ES; 64-bit code does not mind, but compatibility mode
        ; checks segments as protected mode does (QEMU does not), so load the user data
        ; segment before touching memory.
        mov ds, eax
        mov es, eax
        UPRINT "-- #GP hlt in ring 3 (compatibility mode)", 10
        UEXPECT hlt
        UEXIT
        bits 64

image_end:
