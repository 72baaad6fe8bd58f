; paging32 - 32-bit paging: 4 KiB and 4 MiB (PSE) pages, #PF error codes and CR2 (not present,
; write to read-only with and without CR0.WP, user access to supervisor pages, PDE/PTE
; permission combination, instruction fetch), accessed/dirty bits written by the CPU, INVLPG,
; global pages (CR4.PGE) and a store that straddles into a not-present page.
;
; Linear layout: 0-4 MiB identity (4 KiB pages, user RW), 4-8 MiB a 4 MiB alias of 0-4 MiB,
; 8-12 MiB test window (pt_test, PTEs changed per test), 12-16 MiB the same page table through a
; supervisor PDE, 16-20 MiB the same page table through a user read-only PDE, 20-24 MiB a
; supervisor 4 MiB page, 24-28 MiB a read-only supervisor 4 MiB page.
%define EXIT_CODE 0x23
%include "lib32.inc"
%include "exc32.inc"

absolute bss_free
        alignb 4096
pd:             resb 4096
pt0:            resb 4096
pt_test:        resb 4096
frameA:         resb 4096
frameB:         resb 4096
frameC:         resb 4096
        section .text

PG_P    equ 0x001
PG_RW   equ 0x002
PG_US   equ 0x004
PG_A    equ 0x020
PG_D    equ 0x040
PG_PS   equ 0x080
PG_G    equ 0x100

WIN     equ 0x800000            ; test window: WIN + n*0x1000 uses pt_test[n]
WIN_S   equ 0xC00000            ; same page table, supervisor PDE
WIN_RO  equ 0x1000000           ; same page table, user read-only PDE
BIG_S   equ 0x1400000           ; 4 MiB supervisor page (-> physical 0)
BIG_RO  equ 0x1800000           ; 4 MiB read-only supervisor page (-> physical 0)

; SETPTE n, value  - pt_test[n] = value; invlpg all three aliases of it.
%macro SETPTE 2
        mov dword [pt_test + (%1) * 4], %2
        invlpg [WIN + (%1) * 0x1000]
        invlpg [WIN_S + (%1) * 0x1000]
        invlpg [WIN_RO + (%1) * 0x1000]
%endmacro

; SHOWPTE "label", n  - print the low 12 bits of pt_test[n].
%macro SHOWPTE 2
        push eax
        mov eax, [pt_test + (%2) * 4]
        and eax, 0xFFF
        SHOW %1, eax
        pop eax
%endmacro

main:
        call init_prot
        mov dword [frameA], 0xAAAA0000
        mov dword [frameB], 0xBBBB0000
        mov dword [frameC], 0xCCCC0000

        ; page tables
        mov edi, pt0
        mov eax, PG_P | PG_RW | PG_US
        mov ecx, 1024
.fill:  mov [edi], eax
        add eax, 0x1000
        add edi, 4
        loop .fill
        mov dword [pd + 0 * 4], pt0 | PG_P | PG_RW | PG_US
        mov dword [pd + 1 * 4], 0x00000000 | PG_PS | PG_P | PG_RW | PG_US
        mov dword [pd + 2 * 4], pt_test | PG_P | PG_RW | PG_US
        mov dword [pd + 3 * 4], pt_test | PG_P | PG_RW
        mov dword [pd + 4 * 4], pt_test | PG_P | PG_US
        mov dword [pd + 5 * 4], 0x00000000 | PG_PS | PG_P | PG_RW
        mov dword [pd + 6 * 4], 0x00000000 | PG_PS | PG_P

        mov eax, cr4
        or eax, 1 << 4                  ; PSE
        mov cr4, eax
        mov eax, pd
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000              ; PG
        mov cr0, eax
        jmp .paged
.paged: PRINT "paging on", 10
        mov eax, cr0
        and eax, 0x80010001
        SHOW "cr0 pg|wp|pe ", eax
        mov eax, cr4
        and eax, 0x000000B0
        SHOW "cr4 pge|pae|pse ", eax

        PRINT "-- 4 MiB page aliasing physical 0-4 MiB", 10
        SHOW "pde1 before ", [pd + 1 * 4]
        SHOW "read alias ", [0x400000 + frameA]
        mov dword [0x400000 + frameA + 4], 0x12345678
        SHOW "write alias, read identity ", [frameA + 4]
        mov eax, [pd + 1 * 4]
        and eax, 0xFFF
        SHOW "pde1 after (A, D) ", eax

        PRINT "-- accessed/dirty bits, 4 KiB page", 10
        SETPTE 0, frameA | PG_P | PG_RW
        SHOWPTE "pte before ", 0
        mov eax, [pd + 2 * 4]
        and eax, 0xFFF
        SHOW "pde2 ", eax
        SHOW "read ", [WIN]
        SHOWPTE "pte after read ", 0
        mov eax, [pd + 2 * 4]
        and eax, 0xFFF
        SHOW "pde2 after read ", eax
        mov dword [WIN + 8], 0x9ABCDEF0
        SHOWPTE "pte after write ", 0
        SHOW "frameA+8 ", [frameA + 8]

        PRINT "-- #PF not present", 10
        SETPTE 1, 0
        EXPECT mov eax, [WIN + 0x1010]
        EXPECT mov dword [WIN + 0x1FFC], 1
        PRINT "-- #PF not-present PDE", 10
        EXPECT mov eax, [0x1C00000 + 0x123]
        PRINT "-- #PF instruction fetch from a not-present page", 10
        EXPECT call WIN + 0x1000

        PRINT "-- supervisor write to a read-only page", 10
        SETPTE 2, frameB | PG_P
        mov dword [WIN + 0x2000], 0xB0B0B0B0
        SHOW "cr0.wp=0: write ok, frameB ", [frameB]
        SHOWPTE "pte (D set) ", 2
        mov eax, cr0
        or eax, 1 << 16                 ; WP
        mov cr0, eax
        EXPECT mov dword [WIN + 0x2004], 0xB1B1B1B1
        SHOW "frameB+4 unchanged ", [frameB + 4]
        PRINT "-- supervisor write to a read-only 4 MiB page (WP=1)", 10
        EXPECT mov dword [BIG_RO + frameC], 1
        SHOW "read of it ", [BIG_RO + frameC]

        PRINT "-- store straddling into a not-present page", 10
        SETPTE 8, frameC | PG_P | PG_RW
        SETPTE 9, 0
        mov dword [frameC + 0xFFC], 0x11111111
        EXPECT mov dword [WIN + 0x8FFE], 0x22222222
        SHOW "frameC+0xffc ", [frameC + 0xFFC]

        PRINT "-- invlpg makes a remapping visible", 10
        SETPTE 6, frameA | PG_P | PG_RW
        SHOW "before ", [WIN + 0x6000]
        mov dword [pt_test + 6 * 4], frameB | PG_P | PG_RW
        invlpg [WIN + 0x6000]
        SHOW "after invlpg ", [WIN + 0x6000]

        PRINT "-- global pages", 10
        mov eax, cr4
        or eax, 1 << 7                  ; PGE
        mov cr4, eax
        mov eax, cr4
        and eax, 0x000000B0
        SHOW "cr4 pge|pae|pse ", eax
        SETPTE 7, frameA | PG_P | PG_RW | PG_G
        SHOW "global page ", [WIN + 0x7000]
        mov dword [pt_test + 7 * 4], frameB | PG_P | PG_RW | PG_G
        mov eax, cr3                    ; does not have to flush the global entry:
        mov cr3, eax                    ; what a read would return now is not defined
        mov eax, cr4
        and eax, ~(1 << 7)
        mov cr4, eax                    ; clearing PGE flushes everything
        or eax, 1 << 7
        mov cr4, eax
        SHOW "after toggling cr4.pge ", [WIN + 0x7000]
        mov dword [pt_test + 7 * 4], frameC | PG_P | PG_RW | PG_G
        invlpg [WIN + 0x7000]
        SHOW "after invlpg ", [WIN + 0x7000]
        SHOWPTE "pte (G, A) ", 7

        PRINT "-- user mode", 10
        SETPTE 3, frameC | PG_P | PG_RW                 ; supervisor
        SETPTE 4, frameC | PG_P | PG_US                 ; user read-only
        SETPTE 5, frameA | PG_P | PG_RW | PG_US         ; user read/write
        mov eax, user_main
        mov ebx, ustack_top
        call enter_user
        PRINT "back in ring 0", 10
        SHOWPTE "pte4 (A, no D) ", 4
        SHOWPTE "pte5 (A, D) ", 5
        SHOW "frameA+0x10 ", [frameA + 0x10]
        EXIT_OK

user_main:
        mov ax, UDATA | 3
        mov ds, ax
        mov es, ax
        UPRINT "-- #PF user read of a supervisor page", 10
        UEXPECT mov eax, [WIN + 0x3000]
        UPRINT "-- user read of a user read-only page", 10
        mov eax, [WIN + 0x4000]
        USHOW "value ", eax
        UPRINT "-- #PF user write to a user read-only page", 10
        UEXPECT mov dword [WIN + 0x4000], 0
        UPRINT "-- #PF user read of a not-present page", 10
        UEXPECT mov eax, [WIN + 0x1000]
        UPRINT "-- #PF user write of a not-present page", 10
        UEXPECT mov dword [WIN + 0x1000], 0
        UPRINT "-- user write to a user page", 10
        mov dword [WIN + 0x5010], 0x5EE5
        USHOW "read back ", [WIN + 0x5010]
        UPRINT "-- #PF user read through a supervisor PDE (user PTE)", 10
        UEXPECT mov eax, [WIN_S + 0x5000]
        UPRINT "-- user read through a read-only user PDE (RW PTE)", 10
        mov eax, [WIN_RO + 0x5000]
        USHOW "value ", eax
        UPRINT "-- #PF user write through a read-only user PDE (RW PTE)", 10
        UEXPECT mov dword [WIN_RO + 0x5000], 0
        UPRINT "-- #PF user read of a supervisor 4 MiB page", 10
        UEXPECT mov eax, [BIG_S + frameA]
        UPRINT "-- #PF user fetch from a supervisor page", 10
        UEXPECT call WIN + 0x3000
        UEXIT

image_end:
