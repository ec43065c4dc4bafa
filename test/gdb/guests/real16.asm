; real16: the gdb stub's real-mode test guest. A boot sector (loaded at 0000:7C00, CS = 0, so
; gdb's EIP is also the linear address) that counts forever in a word of memory and, each
; time the count wraps (every 65536 rounds), writes a '.' to COM1's transmit register.
;
; Fixed addresses, for the tests (test/gdb/gdb.test.ts):
;   7C20h  loop      the top of the counting loop (inc word [counter])
;   7C24h            the instruction after it (jnz loop)
;   7C2Dh  tick      out dx, al to COM1 (port 3F8h)
;   7D00h  counter   the word being counted
;   7D02h  wraps     how many times it wrapped
;
; Build: nasm -f bin -o real16.img real16.asm

bits 16
org 0x7c00

COM1 equ 0x3f8

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    mov dx, COM1
    jmp loop

    times 0x20 - ($ - $$) db 0x90
loop:                           ; 7C20h
    inc word [counter]          ; 4 bytes
    jnz loop                    ; 7C24h, 2 bytes
    inc word [wraps]            ; 7C26h, 4 bytes
    mov al, '.'                 ; 7C2Ah, 2 bytes
    nop                         ; 7C2Ch
tick:                           ; 7C2Dh
    out dx, al
    jmp loop

    times 0x100 - ($ - $$) db 0
counter: dw 0                   ; 7D00h
wraps:   dw 0                   ; 7D02h

    times 510 - ($ - $$) db 0
    dw 0xaa55
