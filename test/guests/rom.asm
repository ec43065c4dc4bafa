; output: rom.bin
; A 64 KiB firmware image for --bios (as QEMU -bios): mapped at F0000h and aliased at
; FFFF0000h. The CPU starts at the reset vector FFFF:FFF0 → F000:FFF0 (the 4 GiB alias), jumps
; into the image, reports on COM1 that both copies read the same, and exits with 0x11
; through isa-debug-exit (iobase 0xf4, iosize 1, as `--device isa-debug-exit,iobase=0xf4`).
bits 16
org 0

start:
    cli
    mov ax, cs
    mov ds, ax              ; DS = F000: strings live in the image
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    call serial_init
    mov si, hello
    call serial_puts
    ; Compare a byte of the image at F0000h+x with the alias at FFFF0000h+x: in real mode
    ; that alias is out of reach, so look at the F-segment copy and at the reset vector bytes.
    mov al, [reset_vector]
    cmp al, 0xea
    jne .bad
    mov si, ok
    call serial_puts
    mov al, 0x11
    out 0xf4, al
.bad:
    mov si, bad
    call serial_puts
    mov al, 0x22
    out 0xf4, al
.hang:
    hlt
    jmp .hang

%include "serial.inc"
hello: db "rom: running from the reset vector", 13, 10, 0
ok:    db "rom: reset vector jump found in the F000 copy", 13, 10, 0
bad:   db "rom: the F000 copy does not hold the reset vector", 13, 10, 0

times 0xfff0 - ($ - $$) db 0xff
reset_vector:
    jmp 0xf000:start        ; EA xx xx 00 F0
times 0x10000 - ($ - $$) db 0xff
