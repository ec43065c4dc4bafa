; The monitor's test guest: a loop that touches every kind of trap the debugger can stop on.
; Each round it increments a counter in RAM (a watch target at 0000:0600), calls a function
; (for finish), raises INT 30h (an interrupt-vector breakpoint), reads VGA memory (an MMIO read
; at B8000h) and writes it (a posted MMIO write), reads the UART's LSR and prints "tick N" on
; COM1, reads one byte typed into COM1 if there is one and echoes it as "got X".
bits 16
org 0x7c00

COUNTER equ 0x600

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov word [0x30 * 4], int30        ; IVT entry for INT 30h
    mov word [0x30 * 4 + 2], 0
    mov word [COUNTER], 0
    call serial_init
    mov si, hello
    call serial_puts

round:
    inc word [COUNTER]                ; the watched write
    call work
    int 0x30
    push es
    mov ax, 0xb800
    mov es, ax
    mov al, [es:0]                    ; MMIO read (VGA)
    mov byte [es:2], 'M'              ; MMIO write (VGA, posted)
    mov byte [es:3], 0x2e
    pop es
    mov si, tick
    call serial_puts
    mov ax, [COUNTER]
    call print_dec
    mov al, 13
    call serial_putc
    mov al, 10
    call serial_putc
    ; Echo one received byte, if any (LSR.DR).
    mov dx, COM1 + 5
    in al, dx
    test al, 1
    jz .nothing
    mov dx, COM1
    in al, dx
    mov bl, al
    mov si, got
    call serial_puts
    mov al, bl
    call serial_putc
    mov al, 13
    call serial_putc
    mov al, 10
    call serial_putc
.nothing:
    ; Spin a while so rounds come at a human pace (a few hundred per second at most).
    mov ecx, 20000
.delay:
    dec ecx
    jnz .delay
    jmp round

work:                                 ; a function to finish out of
    push bx
    mov bx, 3
.w: dec bx
    jnz .w
    pop bx
    ret

int30:
    add word [int30_count], 1
    iret

print_dec:                            ; AX unsigned
    push ax
    push bx
    push cx
    push dx
    mov bx, 10
    xor cx, cx
.d: xor dx, dx
    div bx
    push dx
    inc cx
    test ax, ax
    jnz .d
.o: pop ax
    add al, '0'
    call serial_putc
    loop .o
    pop dx
    pop cx
    pop bx
    pop ax
    ret

%include "serial.inc"
int30_count: dw 0
hello: db "montest ready", 13, 10, 0
tick: db "tick ", 0
got: db "got ", 0
times 510 - ($ - $$) db 0
dw 0xaa55
