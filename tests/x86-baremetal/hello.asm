; hello - COM1 and port 0xE9 output, Multiboot entry state, 16550 register read-back.
%define EXIT_CODE 0x21
%include "lib32.inc"

main:
        PRINT "hello from COM1", 10

        ; Port 0xE9 (QEMU isa-debugcon / petrel debug port): one byte per OUT.
        mov esi, e9_msg
.e9:    mov al, [esi]
        inc esi
        test al, al
        jz .e9_done
        out 0xE9, al
        jmp .e9
.e9_done:

        ; Multiboot entry state.
        SHOW "magic ", [boot_eax]
        mov ebx, [boot_ebx]
        mov eax, [ebx]                  ; flags
        and eax, 1
        SHOW "mbi flags bit0 ", eax
        mov eax, [ebx + 4]
        SHOW "mem_lower ", eax
        mov eax, cr0
        and eax, 0x80000001             ; PG, PE
        SHOW "cr0 pg|pe ", eax
        pushfd
        pop eax
        and eax, 0x00020200             ; VM, IF
        SHOW "eflags vm|if ", eax

        ; 16550 registers read back.
        mov dx, COM1 + 7                ; scratch
        mov al, 0x5A
        out dx, al
        in al, dx
        movzx eax, al
        SHOW "scr ", eax
        mov dx, COM1 + 3
        in al, dx
        movzx eax, al
        SHOW "lcr ", eax
        mov dx, COM1 + 4
        in al, dx
        movzx eax, al
        SHOW "mcr ", eax
        mov dx, COM1 + 1
        in al, dx
        movzx eax, al
        SHOW "ier ", eax
        mov dx, COM1 + 2
        in al, dx
        movzx eax, al
        SHOW "iir ", eax
        mov dx, COM1 + 5
        in al, dx
        movzx eax, al
        SHOW "lsr ", eax
        ; divisor latch read-back with DLAB set
        mov dx, COM1 + 3
        mov al, 0x83
        out dx, al
        mov dx, COM1 + 0
        in al, dx
        mov bl, al
        mov dx, COM1 + 1
        in al, dx
        mov bh, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al
        movzx eax, bx
        SHOW "divisor ", eax

        PRINT "COM1 again", 10
        mov al, 'e'
        out 0xE9, al
        mov al, '9'
        out 0xE9, al
        mov al, 10
        out 0xE9, al
        EXIT_OK

e9_msg: db "hello from port e9", 10, 0

image_end:
