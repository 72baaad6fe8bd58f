; strings - string instructions: REP MOVS/STOS, REPE/REPNE CMPS/SCAS, LODS with byte, word,
; dword (and qword) elements, DF = 0 and DF = 1, REP with a zero count, overlapping MOVSB, in
; 32-bit and in 64-bit code (plus 32-bit address size in 64-bit mode, and a REP MOVSB that
; page-faults part way and is restarted). Each line shows the final ESI/EDI relative to the
; buffers, ECX, EAX, the arithmetic flags and a checksum of the destination buffer.
;
; -DLINUX_USER builds the 32-bit part as a Linux i386 executable (see lib32.inc) whose output
; must match the first part of the bare-metal output when run natively.
%define EXIT_CODE 0x29
%ifndef LINUX_USER
%define LONG_MODE
%endif
%include "lib32.inc"
%ifndef LINUX_USER
%include "lib64.inc"
%endif

BUF     equ 512

absolute BSS_BASE + 0x10000
        alignb 16
src:            resb BUF
dst:            resb BUF
        alignb 4096
pt_test:        resq 512
page_a:         resb 8192
        section .text

FLAGMASK equ 0x8D5

main:
        PRINT "-- 32-bit code", 10
        call strings32
%ifdef LINUX_USER
        EXIT_OK
%else
        call load_gdt32
        mov dword [pd0 + 4 * 8], pt_test | 3    ; 0x800000: test window
        call enter_long_mode
        bits 64
        PRINT "-- 64-bit code", 10
        call strings64
        EXIT_OK
        bits 32
%endif

; --- 32-bit ----------------------------------------------------------------------------------
; prep: src[i] = i*7+3 (bytes), dst[i] = 0xEE; flags = 0x8D5 pattern (all arithmetic flags
; set) so that "unchanged" is visible. Clobbers nothing but flags (DF cleared).
prep:
        pushad
        xor ecx, ecx
.l:     mov eax, ecx
        imul eax, eax, 7
        add eax, 3
        mov [src + ecx], al
        mov byte [dst + ecx], 0xEE
        inc ecx
        cmp ecx, BUF
        jb .l
        popad
        push dword 0x8D7
        popfd
        ret

; report: "esi+XXX edi+XXX ecx XXXXXXXX eax XXXXXXXX fl XXX df X dst XXXXXXXX".
report:
        pushfd
        pushad
        cld
        PRINT " esi+"
        mov eax, [esp + 4]              ; ESI
        sub eax, src
        HEX 3, eax
        PRINT " edi+"
        mov eax, [esp + 0]              ; EDI
        sub eax, dst
        HEX 3, eax
        PRINT " ecx "
        mov eax, [esp + 24]
        HEX 8, eax
        PRINT " eax "
        mov eax, [esp + 28]
        HEX 8, eax
        PRINT " fl "
        mov eax, [esp + 32]
        and eax, FLAGMASK
        HEX 3, eax
        PRINT " df "
        mov eax, [esp + 32]
        shr eax, 10
        and eax, 1
        HEX 1, eax
        PRINT " dst "
        xor eax, eax
        xor ecx, ecx
.sum:   xor eax, [dst + ecx]
        rol eax, 5
        add eax, 0x9E3779B9
        add ecx, 4
        cmp ecx, BUF
        jb .sum
        HEX 8, eax
        PRINT 10
        popad
        popfd
        cld
        ret

%macro T32 1
        PRINT %1
        call prep
%endmacro

strings32:
        T32 "rep movsb       "
        mov esi, src + 3
        mov edi, dst + 5
        mov ecx, 13
        mov eax, 0x11111111
        rep movsb
        call report
        T32 "rep movsw       "
        mov esi, src + 1
        mov edi, dst + 8
        mov ecx, 7
        rep movsw
        call report
        T32 "rep movsd       "
        mov esi, src + 4
        mov edi, dst + 2
        mov ecx, 9
        rep movsd
        call report
        T32 "std rep movsb   "
        mov esi, src + 200
        mov edi, dst + 300
        mov ecx, 13
        std
        rep movsb
        call report
        T32 "std rep movsw   "
        mov esi, src + 201
        mov edi, dst + 300
        mov ecx, 7
        std
        rep movsw
        call report
        T32 "std rep movsd   "
        mov esi, src + 200
        mov edi, dst + 303
        mov ecx, 9
        std
        rep movsd
        call report
        T32 "movsd (no rep)  "
        mov esi, src + 16
        mov edi, dst + 16
        mov ecx, 5
        movsd
        call report
        T32 "overlap movsb   "
        mov esi, dst + 10
        mov edi, dst + 11
        mov byte [dst + 10], 0x5A
        mov ecx, 20
        rep movsb
        call report
        T32 "overlap std movsd "
        mov esi, dst + 40
        mov edi, dst + 44
        mov dword [dst + 40], 0x01020304
        mov ecx, 6
        std
        rep movsd
        call report
        T32 "rep movsb ecx=0 "
        mov esi, src + 3
        mov edi, dst + 5
        mov ecx, 0
        rep movsb
        call report
        T32 "rep stosb       "
        mov edi, dst + 7
        mov ecx, 11
        mov eax, 0x44332211
        rep stosb
        call report
        T32 "rep stosw       "
        mov edi, dst + 7
        mov ecx, 11
        mov eax, 0x44332211
        rep stosw
        call report
        T32 "std rep stosd   "
        mov edi, dst + 100
        mov ecx, 11
        mov eax, 0x44332211
        std
        rep stosd
        call report
        T32 "rep stosd ecx=0 "
        mov edi, dst + 100
        mov ecx, 0
        mov eax, 0x44332211
        rep stosd
        call report

        ; compares: dst = copy of src with one byte changed at 37
        T32 "repe cmpsb      "
        call copy_src_dst
        mov esi, src + 20
        mov edi, dst + 20
        mov ecx, 40
        repe cmpsb
        call report
        T32 "repe cmpsb (all equal) "
        call copy_src_dst
        mov esi, src + 20
        mov edi, dst + 20
        mov ecx, 10
        repe cmpsb
        call report
        T32 "repe cmpsw      "
        call copy_src_dst
        mov esi, src + 20
        mov edi, dst + 20
        mov ecx, 40
        repe cmpsw
        call report
        T32 "std repe cmpsd  "
        call copy_src_dst
        mov esi, src + 60
        mov edi, dst + 60
        mov ecx, 40
        std
        repe cmpsd
        call report
        T32 "repne cmpsb     "
        call copy_src_dst
        mov byte [dst + 30], 0xEE
        mov esi, src + 20
        mov edi, dst + 21
        mov ecx, 40
        repne cmpsb
        call report
        T32 "cmpsb (no rep)  "
        mov esi, src + 1
        mov edi, src + 2
        cmpsb
        call report
        T32 "repe cmpsb ecx=0 "
        mov esi, src
        mov edi, dst
        mov ecx, 0
        repe cmpsb
        call report
        T32 "repne scasb     "
        mov edi, src
        mov ecx, 100
        mov eax, 3 + 7 * 9
        repne scasb
        call report
        T32 "repne scasb (absent) "
        mov edi, src
        mov ecx, 30
        mov eax, 0x100
        repne scasb
        call report
        T32 "repe scasw      "
        mov edi, dst
        mov ecx, 100
        mov eax, 0xEEEE
        mov word [dst + 20], 0xEEEF
        repe scasw
        call report
        T32 "std repne scasd "
        mov edi, src + 200
        mov ecx, 100
        mov eax, [src + 120]
        std
        repne scasd
        call report
        T32 "repne scasb ecx=0 "
        mov edi, src
        mov ecx, 0
        repne scasb
        call report
        T32 "lodsb           "
        mov esi, src + 9
        lodsb
        call report
        T32 "std lodsw       "
        mov esi, src + 9
        std
        lodsw
        call report
        T32 "rep lodsd       "
        mov esi, src + 9
        mov ecx, 4
        rep lodsd
        call report
        ret

copy_src_dst:
        pushad
        pushfd
        cld
        mov esi, src
        mov edi, dst
        mov ecx, BUF
.l:     mov al, [esi]
        mov [edi], al
        inc esi
        inc edi
        loop .l
        mov byte [dst + 37], 0
        popfd
        popad
        ret

%ifndef LINUX_USER
; --- 64-bit ----------------------------------------------------------------------------------
        bits 64
report64:
        pushfq
        push rax
        push rcx
        push rsi
        push rdi
        cld
        PRINT " rsi+"
        mov rax, [rsp + 8]
        sub rax, src
        HEX 16, rax
        PRINT " rdi+"
        mov rax, [rsp]
        sub rax, dst
        HEX 16, rax
        PRINT " rcx "
        mov rax, [rsp + 16]
        HEX 16, rax
        PRINT " rax "
        mov rax, [rsp + 24]
        HEX 16, rax
        PRINT 10
        PRINT "    fl "
        mov rax, [rsp + 32]
        and eax, FLAGMASK
        HEX 3, rax
        PRINT " df "
        mov rax, [rsp + 32]
        shr eax, 10
        and eax, 1
        HEX 1, rax
        PRINT " dst "
        xor eax, eax
        xor ecx, ecx
.sum:   xor eax, [dst + rcx]
        rol eax, 5
        add eax, 0x9E3779B9
        add ecx, 4
        cmp ecx, BUF
        jb .sum
        HEX 8, rax
        PRINT 10
        pop rdi
        pop rsi
        pop rcx
        pop rax
        popfq
        cld
        ret

%macro T64 1
        PRINT %1
        call prep64
%endmacro

prep64:
        push rax
        push rcx
        xor ecx, ecx
.l:     mov eax, ecx
        imul eax, eax, 7
        add eax, 3
        mov [src + rcx], al
        mov byte [dst + rcx], 0xEE
        inc ecx
        cmp ecx, BUF
        jb .l
        pop rcx
        pop rax
        push qword 0x8D7
        popfq
        ret

copy_src_dst64:
        push rax
        push rcx
        pushfq
        xor ecx, ecx
.l:     mov al, [src + rcx]
        mov [dst + rcx], al
        inc ecx
        cmp ecx, BUF
        jb .l
        mov byte [dst + 37], 0
        popfq
        pop rcx
        pop rax
        ret

strings64:
        T64 "rep movsq"
        mov rsi, src + 3
        mov rdi, dst + 5
        mov rcx, 9
        mov rax, 0x1111111122222222
        rep movsq
        call report64
        T64 "std rep movsq"
        mov rsi, src + 203
        mov rdi, dst + 305
        mov rcx, 9
        std
        rep movsq
        call report64
        T64 "rep movsb"
        mov rsi, src + 3
        mov rdi, dst + 5
        mov rcx, 21
        rep movsb
        call report64
        T64 "std rep movsd"
        mov rsi, src + 203
        mov rdi, dst + 305
        mov rcx, 9
        std
        rep movsd
        call report64
        T64 "rep movsw rcx=0"
        mov rsi, src + 3
        mov rdi, dst + 5
        mov ecx, 0
        rep movsw
        call report64
        T64 "rep stosq"
        mov rdi, dst + 5
        mov rcx, 9
        mov rax, 0x8877665544332211
        rep stosq
        call report64
        T64 "std rep stosw"
        mov rdi, dst + 99
        mov rcx, 9
        mov rax, 0x8877665544332211
        std
        rep stosw
        call report64
        T64 "repe cmpsq"
        call copy_src_dst64
        mov rsi, src + 8
        mov rdi, dst + 8
        mov rcx, 20
        repe cmpsq
        call report64
        T64 "std repne cmpsb"
        call copy_src_dst64
        mov byte [dst + 50], 0xEE
        mov rsi, src + 80
        mov rdi, dst + 81
        mov rcx, 60
        std
        repne cmpsb
        call report64
        T64 "repne scasq"
        mov rdi, src
        mov rcx, 40
        mov rax, [src + 128]
        repne scasq
        call report64
        T64 "repe scasb rcx=0"
        mov rdi, src
        mov ecx, 0
        repe scasb
        call report64
        T64 "lodsq"
        mov rsi, src + 5
        mov rax, -1
        lodsq
        call report64
        T64 "lodsd zero-extends"
        mov rsi, src + 5
        mov rax, -1
        lodsd
        call report64
        T64 "lodsw merges"
        mov rsi, src + 5
        mov rax, -1
        lodsw
        call report64

        PRINT "-- 32-bit address size in 64-bit mode", 10
        T64 "a32 rep movsb"
        mov rsi, 0xFFFFFFFF00000000 + src + 3
        mov rdi, 0x1234567800000000 + dst + 5
        mov rcx, 0xABCDEF0000000000 + 11
        a32 rep movsb
        call report64
        T64 "a32 std rep stosb"
        mov rdi, 0x1234567800000000 + dst + 5
        mov rcx, 0xABCDEF0000000000 + 3
        std
        a32 rep stosb
        call report64

        PRINT "-- rep movsb into a not-present page, restarted", 10
        mov dword [pt_test + 0 * 8], page_a | 3
        mov dword [pt_test + 1 * 8], 0
        invlpg [0x801000]
        mov rcx, 0x800
        mov rdi, page_a
        mov al, 0x33
        rep stosb
        mov qword [exc_hook], map_page1
        call prep64
        mov rsi, src
        mov rdi, 0x801000 - 100
        mov rcx, 300
        mov rax, 0x7777
        SET_FAULT .site, .site          ; the handler maps the page and re-executes the REP
.site:  rep movsb
        SHOW "  rcx at the fault ", [fault_rcx]
        mov rax, [fault_rsi]
        sub rax, src
        SHOW "  rsi+ at the fault ", rax
        SHOW "  rdi at the fault ", [fault_rdi]
        PRINT "after the restart:", 10
        SHOW "  rcx ", rcx
        mov rax, rsi
        sub rax, src
        SHOW "  rsi+ ", rax
        mov rax, rdi
        SHOW "  rdi ", rax
        mov eax, [0x801000 - 4]
        SHOW "  bytes before the boundary ", rax
        mov eax, [0x801000]
        SHOW "  bytes after the boundary ", rax
        mov eax, [0x801000 + 196]
        SHOW "  last bytes ", rax
        ret

; #PF hook: remember RCX/RSI/RDI at the fault and map the page.
map_page1:
        mov rax, [rbp + 8 * 12]         ; saved RCX
        mov [fault_rcx], rax
        mov rax, [rbp + 8 * 10]         ; saved RSI
        mov [fault_rsi], rax
        mov rax, [rbp + 8 * 9]          ; saved RDI
        mov [fault_rdi], rax
        mov dword [pt_test + 1 * 8], (page_a + 0x1000) | 3
        invlpg [0x801000]
        mov qword [exc_hook], 0
        ret

fault_rcx:      dq 0
fault_rsi:      dq 0
fault_rdi:      dq 0
        bits 32
%endif

image_end:
