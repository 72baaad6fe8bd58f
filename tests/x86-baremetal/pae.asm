; pae - PAE paging in 32-bit mode: 2 MiB and 4 KiB pages, 64-bit entries, EFER.NXE with
; execute-disable in a PTE and in PDEs (#PF error code bit 4 = instruction fetch), accessed and
; dirty bits. Built with -DWITH_QEMU_GAPS it also checks reserved-bit faults (XD with NXE
; clear, bit 13 of a 2 MiB PDE), whose error code QEMU 7.2 gets wrong (not compared).
;
; Linear layout (PD0 only): 0-4 MiB identity (2 MiB pages), 4-8 MiB alias of 0-4 MiB (2 MiB
; pages), 8-10 MiB test window (pt_test), 10-12 MiB 2 MiB XD page -> physical 2 MiB, 12-14 MiB
; pt_test again through an XD PDE, 14-16 MiB 2 MiB page with reserved bit 13 set.
%define EXIT_CODE 0x24
%include "lib32.inc"
%include "exc32.inc"

absolute bss_free
        alignb 4096
pdpt:           resq 512
pd0:            resq 512
pt_test:        resq 512
frameA:         resb 4096
        section .text

PG_P    equ 0x001
PG_RW   equ 0x002
PG_US   equ 0x004
PG_A    equ 0x020
PG_D    equ 0x040
PG_PS   equ 0x080
XD_HI   equ 0x80000000          ; bit 63, in the high dword

WIN     equ 0x800000            ; pt_test[n] maps WIN + n*0x1000
BIG_XD  equ 0xA00000
WIN_XD  equ 0xC00000            ; pt_test through an XD PDE
BIG_RSV equ 0xE00000

; SETPTE n, low, high
%macro SETPTE 3
        mov dword [pt_test + (%1) * 8], %2
        mov dword [pt_test + (%1) * 8 + 4], %3
        invlpg [WIN + (%1) * 0x1000]
        invlpg [WIN_XD + (%1) * 0x1000]
%endmacro

; SHOW64 "label", address of a qword
%macro SHOW64 2
        PRINT %1
        HEX 8, [%2 + 4]
        PRINT "_"
        HEX 8, [%2]
        PRINT 10
%endmacro

%macro SET_NXE 1
        mov ecx, 0xC0000080
        rdmsr
%if %1
        or eax, 1 << 11
%else
        and eax, ~(1 << 11)
%endif
        wrmsr
%endmacro

main:
        call init_prot
        mov esi, code_stub
        mov edi, frameA
        mov ecx, code_stub_end - code_stub
        rep movsb
        mov dword [frameA + 0x800], 0xDA7A0001

        mov dword [pdpt], pd0 | PG_P
        mov dword [pd0 + 0 * 8], 0x000000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd0 + 1 * 8], 0x200000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd0 + 2 * 8], 0x000000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd0 + 3 * 8], 0x200000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd0 + 4 * 8], pt_test | PG_P | PG_RW | PG_US
        mov dword [pd0 + 5 * 8], 0x200000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd0 + 5 * 8 + 4], XD_HI
        mov dword [pd0 + 6 * 8], pt_test | PG_P | PG_RW | PG_US
        mov dword [pd0 + 6 * 8 + 4], XD_HI
        mov dword [pd0 + 7 * 8], 0x000000 | (1 << 13) | PG_PS | PG_P | PG_RW | PG_US

        mov eax, cr4
        or eax, 1 << 5                  ; PAE
        mov cr4, eax
        mov eax, pdpt
        mov cr3, eax
        SET_NXE 1
        mov eax, cr0
        or eax, 0x80010000              ; PG, WP
        mov cr0, eax
        jmp .paged
.paged: PRINT "pae paging on", 10
        mov eax, cr4
        and eax, 0x000000B0
        SHOW "cr4 pge|pae|pse ", eax
        mov ecx, 0xC0000080
        rdmsr
        and eax, 0xD01
        SHOW "efer sce|lme|lma|nxe ", eax

        PRINT "-- 2 MiB pages", 10
        SHOW64 "pde3 before ", pd0 + 3 * 8
        SHOW "read alias ", [0x400000 + frameA + 0x800]
        SHOW64 "pde3 after read ", pd0 + 3 * 8
        mov dword [0x400000 + frameA + 0x804], 0xDA7A0002
        SHOW "write alias, read identity ", [frameA + 0x804]
        SHOW64 "pde3 after write ", pd0 + 3 * 8

        PRINT "-- execute from an executable 4 KiB page", 10
        SETPTE 0, frameA | PG_P | PG_RW, 0
        xor eax, eax
        call WIN
        SHOW "code returned ", eax
        SHOW64 "pte0 ", pt_test + 0 * 8

        PRINT "-- #PF fetch from an XD 4 KiB page", 10
        SETPTE 1, frameA | PG_P | PG_RW, XD_HI
        EXPECT call WIN + 0x1000
        SHOW "data read from it ", [WIN + 0x1800]
        SHOW64 "pte1 ", pt_test + 1 * 8
        PRINT "-- #PF fetch from a not-present page (NXE=1)", 10
        SETPTE 2, 0, 0
        EXPECT call WIN + 0x2000
        PRINT "-- #PF write to a not-present page", 10
        EXPECT mov dword [WIN + 0x2000], 0
        PRINT "-- #PF fetch from an XD 2 MiB page", 10
        EXPECT call BIG_XD + frameA - 0x200000
        SHOW "data read from it ", [BIG_XD + frameA - 0x200000 + 0x800]
        PRINT "-- #PF fetch through an XD PDE (executable PTE)", 10
        EXPECT call WIN_XD
        PRINT "-- #PF write to a read-only page (WP=1)", 10
        SETPTE 3, frameA | PG_P, 0
        EXPECT mov dword [WIN + 0x3000], 0
%ifdef WITH_QEMU_GAPS
        ; QEMU 7.2 reports reserved-bit faults with P = 0 (error code 0x08); the SDM says
        ; RSVD is only ever set together with P.
        PRINT "-- #PF reserved bit 13 in a 2 MiB PDE", 10
        EXPECT mov eax, [BIG_RSV]
%endif

        SET_NXE 0
        mov ecx, 0xC0000080
        rdmsr
        and eax, 0xD01
        SHOW "efer sce|lme|lma|nxe ", eax
        SETPTE 4, frameA | PG_P | PG_RW, XD_HI
%ifdef WITH_QEMU_GAPS
        PRINT "-- NXE=0: XD bit is reserved", 10
        EXPECT mov eax, [WIN + 0x4800]
        EXPECT mov dword [WIN + 0x4800], 0
        EXPECT call WIN + 0x4000
%endif
        PRINT "-- NXE=0: #PF fetch from a not-present page", 10
        EXPECT call WIN + 0x2000
        PRINT "-- NXE=0: plain page executes", 10
        SETPTE 5, frameA | PG_P | PG_RW, 0
        xor eax, eax
        call WIN + 0x5000
        SHOW "code returned ", eax
%ifdef WITH_QEMU_GAPS
        SHOW64 "pte4 (no A) ", pt_test + 4 * 8
%endif
        SHOW64 "pte5 (A) ", pt_test + 5 * 8
        EXIT_OK

code_stub:
        mov eax, 0x600DC0DE
        ret
code_stub_end:

image_end:
