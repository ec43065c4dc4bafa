; A boot sector that says goodbye on COM1 and then asks the host to exit through QEMU's
; isa-debug-exit at port 0x501 (the default) with the value 0x2a: status (0x2a << 1) | 1 = 85.
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
    mov dx, 0x501
    mov al, 0x2a
    out dx, al
.hang:
    hlt
    jmp .hang
%include "serial.inc"
msg: db "exiting with 0x2a", 13, 10, 0
times 510 - ($ - $$) db 0
dw 0xaa55
