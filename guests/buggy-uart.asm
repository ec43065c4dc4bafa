; buggy-uart: a serial driver with a bug, for docs/walkthrough.md.
;
; A boot sector that prints a banner on the VGA screen, programs COM1 (8N1, 115200 baud,
; FIFOs on) and sends a greeting through its own polled transmit routine. Its author copied
; the wait loop of the receive routine into the transmit routine and did not change the bit
; it waits for, so the guest hangs before the first byte: nothing ever appears on COM1, and
; the VGA banner says it is still sending. The same happens on real hardware and under QEMU.
; docs/walkthrough.md finds the bug with I/O breakpoints, fixes it in memory and continues.
; (The bug is spelled out at the bottom of this file: try the walkthrough first.)
;
; Build: npm run guests
; Run:   node bin/hvmon.js run guests/buggy-uart.img --display none

bits 16
org 0x7c00

COM1        equ 0x3f8
UART_RBR    equ 0            ; receiver buffer (read, DLAB=0)
UART_THR    equ 0            ; transmitter holding (write, DLAB=0)
UART_DLL    equ 0            ; divisor latch low (DLAB=1)
UART_IER    equ 1            ; interrupt enable (DLAB=0)
UART_DLM    equ 1            ; divisor latch high (DLAB=1)
UART_FCR    equ 2            ; FIFO control
UART_LCR    equ 3            ; line control
UART_MCR    equ 4            ; modem control
UART_LSR    equ 5            ; line status
LSR_DR      equ 0x01         ; data ready: a received byte waits in RBR
LSR_THRE    equ 0x20         ; transmitter holding register empty
LCR_DLAB    equ 0x80
LCR_8N1     equ 0x03

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    cld

    ; The banner, straight into VGA text memory (line 0, yellow on blue).
    mov ax, 0xb800
    mov es, ax
    xor di, di
    mov ax, 0x0720
    mov cx, 80 * 25
    rep stosw
    mov si, banner
    xor di, di
    call vga_puts

    ; COM1: no interrupts, divisor 1 (115200 baud), 8N1, FIFOs on, DTR+RTS.
    mov dx, COM1 + UART_IER
    xor al, al
    out dx, al
    mov dx, COM1 + UART_LCR
    mov al, LCR_DLAB
    out dx, al
    mov dx, COM1 + UART_DLL
    mov al, 1
    out dx, al
    mov dx, COM1 + UART_DLM
    xor al, al
    out dx, al
    mov dx, COM1 + UART_LCR
    mov al, LCR_8N1
    out dx, al
    mov dx, COM1 + UART_FCR
    mov al, 0x07
    out dx, al
    mov dx, COM1 + UART_MCR
    mov al, 0x03
    out dx, al

    mov si, greeting
.send:
    lodsb
    test al, al
    jz .sent
    call serial_putc
    jmp .send
.sent:
    mov si, done
    mov di, 160                 ; line 1
    call vga_puts
.halt:
    hlt
    jmp .halt

; Receive: wait until a byte has arrived, return it in AL.
serial_getc:
    push dx
    mov dx, COM1 + UART_LSR
.wait:
    in al, dx
    test al, LSR_DR
    jz .wait
    mov dx, COM1 + UART_RBR
    in al, dx
    pop dx
    ret

; Transmit: wait until the transmitter can take a byte, then send AL.
serial_putc:
    push dx
    push ax
    mov dx, COM1 + UART_LSR
.wait:
    in al, dx
    test al, LSR_DR
    jz .wait
    pop ax
    mov dx, COM1 + UART_THR
    out dx, al
    pop dx
    ret

; DS:SI = string, ES:DI = screen cell; yellow on blue.
vga_puts:
    lodsb
    test al, al
    jz .done
    mov ah, 0x1e
    stosw
    jmp vga_puts
.done:
    ret

banner:   db "buggy-uart: sending a greeting on COM1...", 0
done:     db "buggy-uart: greeting sent.", 0
greeting: db "Hello from buggy-uart! The transmit routine works now.", 13, 10
          db "The quick brown fox jumps over the lazy dog.", 13, 10, 0

; The bug: serial_putc waits for LSR_DR (bit 0, "a byte was received") where it should wait
; for LSR_THRE (bit 5, "the transmitter holding register is empty"). Nothing is ever
; received, so it waits forever. The fix is one byte: the immediate of `test al, LSR_DR`.

times 510 - ($ - $$) db 0
dw 0xaa55
