; hello: the first guest. A boot sector that greets on COM1 and on the VGA text screen, the
; way a driver does it with no BIOS underneath: program the 16550 (8N1, 115200 baud), poll
; LSR.THRE before each byte, and store characters with attributes at B8000h.
;
; Then it ends through isa-debug-exit (port F4h) with 0, which ends the host with status 1
; when that device is configured (tests do); without it the write goes nowhere and the guest
; halts, so `npm start` keeps showing it.
;
; Build: nasm -f bin -o hello.img hello.asm   (npm run guests)
; Run:   hvmon run guests/hello.img

bits 16
org 0x7c00

COM1        equ 0x3f8
UART_THR    equ 0            ; transmitter holding register (DLAB=0)
UART_DLL    equ 0            ; divisor latch low (DLAB=1)
UART_IER    equ 1            ; interrupt enable (DLAB=0)
UART_DLM    equ 1            ; divisor latch high (DLAB=1)
UART_FCR    equ 2            ; FIFO control
UART_LCR    equ 3            ; line control
UART_MCR    equ 4            ; modem control
UART_LSR    equ 5            ; line status
LSR_THRE    equ 0x20         ; THR empty
LCR_DLAB    equ 0x80
LCR_8N1     equ 0x03

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    cld

    ; UART: no interrupts, divisor 1 (115200 baud), 8N1, FIFOs on, DTR+RTS.
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

    ; Clear the screen: 80x25 cells of space on grey-on-black.
    mov ax, 0xb800
    mov es, ax
    xor di, di
    mov ax, 0x0720
    mov cx, 80 * 25
    rep stosw

    mov si, message
    xor di, di
.next:
    lodsb
    test al, al
    jz .done
    call serial_putc
    cmp al, 10
    je .next                 ; newline: serial only
    cmp al, 13
    je .next
    mov ah, 0x1f             ; white on blue
    stosw
    jmp .next
.done:
    ; Park the VGA cursor after the text: CRTC index 0Eh/0Fh = cursor location.
    mov bx, di
    shr bx, 1
    mov dx, 0x3d4
    mov al, 0x0e
    out dx, al
    inc dx
    mov al, bh
    out dx, al
    dec dx
    mov al, 0x0f
    out dx, al
    inc dx
    mov al, bl
    out dx, al
    xor al, al                  ; isa-debug-exit: status (0 << 1) | 1
    out 0xf4, al
.halt:
    hlt
    jmp .halt

; Send AL to COM1 once the transmitter holding register is empty.
serial_putc:
    push ax
    push dx
    mov ah, al
    mov dx, COM1 + UART_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    mov dx, COM1 + UART_THR
    mov al, ah
    out dx, al
    pop dx
    pop ax
    ret

message: db "Hello from hvmon! This guest talks to COM1 and VGA with no BIOS.", 13, 10, 0

times 510 - ($ - $$) db 0
dw 0xaa55
