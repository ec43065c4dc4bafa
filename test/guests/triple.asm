; A boot sector that triple-faults on purpose: it prints a line, loads an IDT whose limit is
; 0, and executes INT 3. In real mode the vector lies beyond the IDT limit (#GP), so does #GP's,
; and #DF's: the CPU shuts down. hvmon must stop this VM with a clear message and stay up.
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
    lidt [empty_idt]
    int3
    mov si, survived
    call serial_puts
.hang:
    hlt
    jmp .hang
%include "serial.inc"
empty_idt: dw 0
           dd 0
msg: db "about to triple-fault", 13, 10, 0
survived: db "the CPU went on after a triple fault!", 13, 10, 0
times 510 - ($ - $$) db 0
dw 0xaa55
