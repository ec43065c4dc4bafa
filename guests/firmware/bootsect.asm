; A hard-disk boot sector for a real BIOS (SeaBIOS). Unlike guests/hello.asm it uses BIOS
; services only: INT 10h teletype for the screen, INT 14h for COM1, INT 12h for the memory
; size, INT 13h for the disk (AH=41h EDD check, AH=08h geometry, AH=02h CHS read, AH=42h
; LBA read). Everything it prints goes to both the screen and COM1. It ends the VM through
; isa-debug-exit at 0F4h: 10h (status 33) when every check passed, 11h (status 35) if not.
;
; The image is 1 MiB: sector 0 is this code; LBA 1 and LBA 1000 carry a magic word and a
; message that the reads must find.
bits 16
org 0x7c00

DEBUG_EXIT equ 0xf4

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [drive], dl
    ; COM1: INT 14h AH=00h, 9600 8N1 (the BIOS's fastest; the UART does not care).
    mov ax, 0x00e3
    xor dx, dx
    int 0x14

    mov si, s_hello
    call puts
    mov al, [drive]
    call puthex8
    call crlf

    ; INT 12h: conventional memory in KiB.
    mov si, s_mem
    call puts
    int 0x12
    call puthex16
    call crlf

    ; INT 13h AH=41h: are the EDD (LBA) extensions there?
    mov si, s_edd
    call puts
    mov ah, 0x41
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    jc fail
    cmp bx, 0xaa55
    jne fail
    mov al, ah                  ; EDD version
    call puthex8
    call crlf

    ; INT 13h AH=08h: geometry (DH = last head, CL[5:0] = sectors per track).
    mov si, s_geom
    call puts
    mov ah, 0x08
    mov dl, [drive]
    int 0x13
    jc fail
    mov al, dh
    call puthex8
    mov al, '/'
    call putc
    mov al, cl
    and al, 0x3f
    call puthex8
    call crlf

    ; INT 13h AH=02h: LBA 1 = cylinder 0, head 0, sector 2, to 0000:7E00.
    mov ax, 0x0201
    mov cx, 0x0002
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x7e00
    int 0x13
    jc fail
    mov si, 0x7e00
    call check

    ; INT 13h AH=42h: LBA 1000 through a disk address packet, to 0000:8000.
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc fail
    mov si, 0x8000
    call check

    mov si, s_ok
    call puts
    mov al, 0x10
    out DEBUG_EXIT, al
    jmp $

fail:
    mov si, s_fail
    call puts
    mov al, 0x11
    out DEBUG_EXIT, al
    jmp $

; SI → a sector that must start with "HVMN"; prints the message after it.
check:
    cmp dword [si], 'HVMN'
    jne fail
    add si, 4
    jmp puts

crlf:
    mov al, 13
    call putc
    mov al, 10
    ; fall through
putc:                           ; AL to the screen (INT 10h AH=0Eh) and COM1 (INT 14h AH=01h)
    pusha
    push ax
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    pop ax
    mov ah, 0x01
    xor dx, dx
    int 0x14
    popa
    ret

puts:                           ; DS:SI, NUL-terminated
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

puthex16:                       ; AX
    push ax
    mov al, ah
    call puthex8
    pop ax
puthex8:                        ; AL
    push ax
    shr al, 4
    call .nib
    pop ax
.nib:
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 'a' - '0' - 10
    jmp putc

align 4
dap:
    db 0x10, 0                  ; size, reserved
    dw 1                        ; sectors
    dw 0x8000, 0                ; buffer offset, segment
    dq 1000                     ; LBA
drive: db 0

s_hello: db "hvmon boot sector: booted by the BIOS from drive ", 0
s_mem:   db "INT 12h: KiB ", 0
s_edd:   db "INT 13h AH=41h: EDD ", 0
s_geom:  db "INT 13h AH=08h: heads-1/sectors ", 0
s_ok:    db "all BIOS checks passed", 13, 10, 0
s_fail:  db "BIOS check FAILED", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xaa55

; LBA 1
    db "HVMN", "LBA 1 read through INT 13h AH=02h (CHS)", 13, 10, 0
    times 1024 - ($ - $$) db 0
    times 1000 * 512 - ($ - $$) db 0
; LBA 1000
    db "HVMN", "LBA 1000 read through INT 13h AH=42h (EDD)", 13, 10, 0
    times 1024 * 1024 - ($ - $$) db 0
