; Two CPUs: the boot processor enables its local APIC, starts the application processor with
; INIT and STARTUP IPIs (the AP begins in real mode at 8000h, where a trampoline was copied),
; and then both count in RAM: the AP at 0700h, the BSP at 0704h. The BSP reports on COM1 once
; it has seen the AP count. Used to test per-vCPU (non-stop) control.
bits 16
org 0x7c00

APIC equ 0xfee00000

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    call serial_init
    mov dword [0x700], 0
    mov dword [0x704], 0
    ; The AP's code goes to 8000h (start-up vector 08h).
    mov si, trampoline
    mov di, 0x8000
    mov cx, trampoline_end - trampoline
    rep movsb
    ; Flat 32-bit protected mode to reach the APIC page.
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm

bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00
    mov dword [APIC + 0xf0], 0x1ff          ; SVR: APIC on, spurious vector FFh
    mov dword [APIC + 0x310], 1 << 24       ; ICR high: APIC 1
    mov dword [APIC + 0x300], 0x00004500    ; INIT, assert
    mov ecx, 10000
.w1: loop .w1
    mov dword [APIC + 0x300], 0x00004608    ; STARTUP, vector 08h
    mov ecx, 10000
.w2: loop .w2
    mov dword [APIC + 0x300], 0x00004608    ; the second STARTUP the MP spec asks for
.wait_ap:
    cmp dword [0x700], 0
    je .wait_ap
    mov esi, msg
.p: lodsb
    test al, al
    jz .count
    mov ah, al
    mov dx, 0x3fd
.t: in al, dx
    test al, 0x20
    jz .t
    mov al, ah
    mov dx, 0x3f8
    out dx, al
    jmp .p
.count:
    inc dword [0x704]
    jmp .count

bits 16
trampoline:
    cli
    xor ax, ax
    mov ds, ax
.l: inc dword [0x700]
    jmp .l
trampoline_end:

%include "serial.inc"
msg: db "smp: the application processor is running", 13, 10, 0
align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff
    dq 0x00cf92000000ffff
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt
times 510 - ($ - $$) db 0
dw 0xaa55
