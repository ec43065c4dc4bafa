; Reads port 0x700, where the tests put a device model that throws on that read.
bits 16
org 0x7c00
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    call serial_init
    mov si, msg
    call serial_puts
    mov dx, 0x700
    in al, dx
    mov si, after
    call serial_puts
.hang:
    hlt
    jmp .hang
%include "serial.inc"
msg: db "reading the faulty register", 13, 10, 0
after: db "read returned", 13, 10, 0
times 510 - ($ - $$) db 0
dw 0xaa55
